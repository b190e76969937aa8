"""``pyml.data``: tf.data-style input pipelines (``Dataset``) that ``fit``, ``evaluate`` and ``predict`` accept.

    >>> x, y = np.zeros((10, 3), "float32"), np.arange(10) % 2
    >>> ds = pyml.data.Dataset.from_tensor_slices((x, y)).shuffle(10, seed=0).batch(4).prefetch(pyml.data.AUTOTUNE)
    >>> [xb.shape for xb, yb in ds]
    [(4, 3), (4, 3), (2, 3)]
"""
from pyml.data.dataset import Dataset, TensorSpec  # noqa: F401
from pyml.data.transforms import AUTOTUNE, INFINITE_CARDINALITY, UNKNOWN_CARDINALITY  # noqa: F401
