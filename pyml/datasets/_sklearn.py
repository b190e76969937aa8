"""Loading scikit-learn's bundled datasets and splitting them as Keras' ``load_data`` functions do."""
import numpy as np


def sklearn_datasets():
    """``sklearn.datasets``, or an ImportError naming the package and the extra that brings it."""
    try:
        from sklearn import datasets
    except ImportError as error:
        raise ImportError("This dataset is read from scikit-learn's bundled data: pip install scikit-learn "
                          "(or pip install 'pyml[demos]')") from error
    return datasets


def split(x, y, test_split, seed):
    """``(x_train, y_train), (x_test, y_test)``: rows shuffled by ``np.random.RandomState(seed)``, the last
    ``test_split`` fraction for testing (the rule of Keras' ``boston_housing.load_data``)."""
    if not 0 <= test_split < 1:
        raise ValueError(f"test_split must be in [0, 1). Received: test_split={test_split}")
    order = np.random.RandomState(seed).permutation(len(x))
    x, y = x[order], y[order]
    cut = int(len(x) * (1 - test_split))
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])
