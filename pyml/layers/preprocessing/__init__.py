"""Preprocessing layers (Keras 3): deterministic ones that export with the model (``basic``) and image
augmentations that act only in training and export as the identity (``augmentation``)."""
from pyml.layers.preprocessing.basic import CenterCrop, Normalization, Rescaling, Resizing  # noqa: F401
from pyml.layers.preprocessing.augmentation import (  # noqa: F401
    RandomBrightness, RandomContrast, RandomFlip, RandomRotation, RandomTranslation, RandomZoom)
