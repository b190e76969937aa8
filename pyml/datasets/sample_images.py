"""The two photos scikit-learn ships (``china.jpg``, ``flower.jpg``, 427x640 RGB), e.g. to try image layers."""
import numpy as np

from pyml.datasets._sklearn import sklearn_datasets

NAMES = ("china.jpg", "flower.jpg")


def load_data():
    """uint8 images ``(2, 427, 640, 3)``, in ``NAMES`` order. Needs scikit-learn and Pillow.

        >>> images = pyml.datasets.sample_images.load_data()
        >>> images.shape, images.dtype
        ((2, 427, 640, 3), dtype('uint8'))
    """
    from pyml.utils.images import pillow

    pillow()  # scikit-learn decodes the JPEGs with Pillow: say so before it fails
    bunch = sklearn_datasets().load_sample_images()
    by_name = {path.replace("\\", "/").rsplit("/", 1)[-1]: image for path, image in zip(bunch.filenames, bunch.images)}
    return np.stack([by_name[name] for name in NAMES])
