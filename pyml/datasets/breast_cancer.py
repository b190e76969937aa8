"""The Wisconsin breast cancer table (569 rows, 30 features, malignant / benign), from scikit-learn."""
import numpy as np

from pyml.datasets._sklearn import sklearn_datasets, split

CLASS_NAMES = ("malignant", "benign")


def load_data(test_split=0.2, seed=113):
    """``(x_train, y_train), (x_test, y_test)``: float32 ``(n, 30)`` features (unscaled: normalize them) and
    uint8 labels indexing ``CLASS_NAMES`` (1 = benign, as scikit-learn); rows shuffled with
    ``np.random.RandomState(seed)``, the last ``test_split`` for testing.

        >>> (x_train, y_train), (x_test, y_test) = pyml.datasets.breast_cancer.load_data()
        >>> x_train.shape, x_test.shape
        ((455, 30), (114, 30))
    """
    bunch = sklearn_datasets().load_breast_cancer()
    return split(bunch.data.astype(np.float32), bunch.target.astype(np.uint8), test_split, seed)
