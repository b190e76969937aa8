"""The 8x8 handwritten digits of scikit-learn (1,797 images, UCI), an offline stand-in for MNIST."""
import numpy as np

from pyml.datasets._sklearn import sklearn_datasets, split


def load_data(test_split=0.2, seed=113):
    """``(x_train, y_train), (x_test, y_test)``: uint8 images ``(n, 8, 8)`` with values 0-16 and uint8
    labels 0-9; rows shuffled with ``np.random.RandomState(seed)``, the last ``test_split`` for testing.

        >>> (x_train, y_train), (x_test, y_test) = pyml.datasets.digits.load_data()
        >>> x_train.shape, x_test.shape, int(x_train.max()), sorted(set(y_test.tolist())) == list(range(10))
        ((1437, 8, 8), (360, 8, 8), 16, True)
    """
    bunch = sklearn_datasets().load_digits()
    return split(bunch.images.astype(np.uint8), bunch.target.astype(np.uint8), test_split, seed)
