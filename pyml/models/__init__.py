"""pyml.models: ``Model`` (functional or subclassed) and ``Sequential``, with Keras' training API.

    >>> model = pyml.Sequential([pyml.Input(shape=(64,)), pyml.layers.Dense(10, activation="softmax")])
    >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
"""
from pyml.models.model import Model  # noqa: F401
from pyml.models.functional import Functional  # noqa: F401
from pyml.models.sequential import Sequential  # noqa: F401
