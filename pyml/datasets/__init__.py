"""``pyml.datasets``: small datasets that load offline, as Keras' ``keras.datasets`` modules do.

- ``digits``, ``iris``, ``breast_cancer``: the tables scikit-learn ships, split Keras-style into
  ``(x_train, y_train), (x_test, y_test)`` by a seeded shuffle (needs ``pip install scikit-learn``).
- ``sample_images``: scikit-learn's two sample photos (also needs Pillow).
- ``synthetic``: seeded generators (``spirals``, ``blobs``, ``sine_sequences``), no dependency.

    >>> (x_train, y_train), (x_test, y_test) = pyml.datasets.iris.load_data()
    >>> x_train.shape, x_test.shape, y_train.dtype
    ((120, 4), (30, 4), dtype('uint8'))
"""
from pyml.datasets import breast_cancer, digits, iris, sample_images, synthetic  # noqa: F401
