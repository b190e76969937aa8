"""Fisher's iris flowers (150 rows, 4 measurements in cm, 3 species), from scikit-learn."""
import numpy as np

from pyml.datasets._sklearn import sklearn_datasets, split

CLASS_NAMES = ("setosa", "versicolor", "virginica")
FEATURE_NAMES = ("sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)")


def load_data(test_split=0.2, seed=113):
    """``(x_train, y_train), (x_test, y_test)``: float32 ``(n, 4)`` (``FEATURE_NAMES``) and uint8 labels
    indexing ``CLASS_NAMES``; rows shuffled with ``np.random.RandomState(seed)``, the last ``test_split`` for
    testing.

        >>> (x_train, y_train), _ = pyml.datasets.iris.load_data(test_split=0.5, seed=0)
        >>> x_train.shape, x_train.dtype
        ((75, 4), dtype('float32'))
    """
    bunch = sklearn_datasets().load_iris()
    return split(bunch.data.astype(np.float32), bunch.target.astype(np.uint8), test_split, seed)
