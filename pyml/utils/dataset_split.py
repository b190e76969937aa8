"""``split_dataset``: two ``pyml.data.Dataset``s (e.g. train / test) from arrays or a finite dataset."""
import random as _py_random

from pyml.data import Dataset, structure


def _split_sizes(left_size, right_size, total):
    """Integer sizes from fractions or counts, Keras' rules: each in (0, 1) or (0, total), together <= total."""
    if left_size is None and right_size is None:
        raise ValueError("split_dataset needs left_size or right_size. Received: left_size=None, right_size=None")
    sizes = []
    for name, size in (("left_size", left_size), ("right_size", right_size)):
        if size is not None and (isinstance(size, bool) or not isinstance(size, (int, float))):
            raise TypeError(f"{name} must be an int (samples) or a float (fraction). Received: {name}={size!r}")
        if isinstance(size, float) and not 0 < size < 1 or isinstance(size, int) and not 0 < size < total:
            raise ValueError(f"{name} must be a fraction in (0, 1) or a count in (0, {total}). Received: {name}={size}")
        sizes.append(round(size * total) if isinstance(size, float) else size)
    left, right = sizes
    left = total - right if left is None else left
    right = total - left if right is None else right
    if left + right > total or not left or not right:
        raise ValueError(f"split_dataset: left_size={left_size} and right_size={right_size} give {left} + {right} "
                         f"samples out of {total}; each side needs at least one and together at most {total}")
    return left, right


def split_dataset(dataset, left_size=None, right_size=None, shuffle=False, seed=None):
    """Split the samples of ``dataset`` in two, as Keras ``split_dataset``: the first ``left_size`` and the
    last ``right_size`` (fractions or counts; one may be None for the rest), after an optional seeded shuffle.

    Args:
        dataset: an array, a tuple / dict of arrays with one first dimension, or a finite ``Dataset``
            (whose elements are the samples).
        left_size, right_size: float fraction in (0, 1) or int count.
        shuffle: shuffle the samples first (with Python's ``random.Random(seed)``, as Keras does).
        seed: int seed for the shuffle.

    Returns:
        ``(left, right)``: two ``Dataset``s of samples (batch them yourself).

        >>> left, right = pyml.utils.split_dataset(np.arange(10), left_size=0.8)
        >>> [int(v) for v in left], [int(v) for v in right]
        ([0, 1, 2, 3, 4, 5, 6, 7], [8, 9])
    """
    if isinstance(dataset, Dataset):
        if dataset.cardinality() < 0:
            raise ValueError("split_dataset needs a finite dataset of known length. Received: a dataset of "
                             f"cardinality {dataset.cardinality()}")
        samples = list(dataset)
    else:
        samples = list(Dataset.from_tensor_slices(dataset))
    if shuffle:
        _py_random.Random(seed).shuffle(samples)
    left, right = _split_sizes(left_size, right_size, len(samples))
    return (Dataset.from_tensor_slices(structure.stack(samples[:left])),
            Dataset.from_tensor_slices(structure.stack(samples[len(samples) - right:])))
