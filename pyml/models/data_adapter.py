"""Feeding ``fit``/``evaluate``/``predict``: NumPy-like arrays cut into (shuffled) batches, or any
iterable of ``(x, y)`` / ``(x, y, sample_weight)`` batches (a generator, a ``pyml.data`` dataset).

Several inputs or outputs come as a list of arrays (in the model's order, entries None where an output has
no targets or weights) or as a dict by name, which ``by_names`` turns into that list.

This is data handling, done in NumPy on the host: batches become Tensors only when they reach the model.
"""
import itertools
import math
import warnings

import numpy as np

from pyml import random
from pyml.data import INFINITE_CARDINALITY, Dataset
from pyml.tensor import Tensor


def to_numpy(value, what="data"):
    """A NumPy array from an array-like or Tensor; a list/tuple of arrays (several inputs) stays a list.
    ``what`` names the value in errors (``"x"``, ``"y"``)."""
    if value is None:
        return None
    if isinstance(value, Tensor):
        return value.numpy()
    if isinstance(value, dict):
        return {key: to_numpy(v, f"{what}[{key!r}]") for key, v in value.items()}  # by name: see by_names
    if isinstance(value, (list, tuple)) and _arrays(value):
        return [to_numpy(v, f"{what}[{i}]") for i, v in enumerate(value)]  # several inputs, as Keras reads them
    first = value
    while isinstance(first, (list, tuple)) and first:
        first = first[0]
    if isinstance(first, str):
        return np.array(value, dtype=object)  # text, whole: NumPy's "<U" strings would drop trailing NULs
    try:
        array = np.asarray(value)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"Expected {what} as an array (nested lists of one shape). Received: {what} that NumPy "
                         f"cannot make one array of ({exc})") from None
    if array.dtype.kind not in "biufUSO":  # text comes as strings or objects (pyml.layers.host)
        raise ValueError(f"Expected {what} as numbers, booleans or text. Received: {what} of dtype {array.dtype}")
    # float64 data becomes float32 once here, as Keras standardises to floatx (not once per batch per layer)
    return array.astype(np.float32) if array.dtype == np.float64 else array


def _arrays(values):
    """Whether a list holds arrays (several inputs or outputs; None for an output without targets)."""
    present = [v for v in values if v is not None]
    return bool(present) and all(isinstance(v, (np.ndarray, Tensor)) for v in present)


def by_names(value, names, argument, what, allow_missing=False):
    """``value`` given as a dict keyed by name, as a list in ``names`` order (the one value for one name);
    anything else as it is. ``allow_missing``: names the dict leaves out get None (an output with no target).

    >>> from pyml.models.data_adapter import by_names
    >>> by_names({"b": 2, "a": 1}, ["a", "b"], "x", "input")
    [1, 2]
    """
    if not isinstance(value, dict):
        return value
    if names is None:
        raise ValueError(f"{argument} is a dict, but the model has no {what} names to match its keys against "
                         f"(a functional model names them after its layers). Received: {argument} keys {list(value)}")
    values = dict_entries(value, names, argument, what, allow_missing)
    return values if len(names) > 1 else values[0]


def dict_entries(value, names, argument, what, allow_missing=False):
    """The entries of the dict ``value`` in ``names`` order (None for a name it leaves out, with
    ``allow_missing``); a key that is not a name, or a missing name, raises listing the names."""
    unknown = [key for key in value if key not in names]
    missing = [name for name in names if name not in value]
    if unknown or (missing and not allow_missing):
        raise ValueError(f"{argument} is a dict by {what} name, so its keys must be the model's {what} names "
                         f"{names}{' (or some of them)' if allow_missing else ''}. Received: {argument} keys "
                         f"{list(value)}")
    return [value.get(name) for name in names]


def standardize(model, x, y=None, sample_weight=None):
    """``x``, ``y`` and ``sample_weight`` given as dicts by name (``model``'s ``Input`` and output names), as
    lists in the model's order (see ``by_names``); anything else as it is."""
    from pyml.models.compile_utils import model_input_names, model_output_names

    if isinstance(x, dict):
        x = by_names(x, model_input_names(model), "x", "input")
    if isinstance(y, dict) or isinstance(sample_weight, dict):
        names = model_output_names(model)
        y = by_names(y, names, "y", "output", allow_missing=True)
        sample_weight = by_names(sample_weight, names, "sample_weight", "output", allow_missing=True)
    return x, y, sample_weight


def adapt(model, x, y=None, sample_weight=None):
    """Array data as NumPy, dicts by name as lists (``standardize``); an iterable of batches as it is."""
    if is_array_data(x):
        named = ((x, "x"), (y, "y"), (sample_weight, "sample_weight"))
        return standardize(model, *(to_numpy(value, what) for value, what in named))
    return x, y, sample_weight


def is_array_data(x):
    """Whether ``x`` is array data (NumPy, Tensor, nested lists, a dict by name) rather than an iterable of
    batches."""
    if isinstance(x, (np.ndarray, Tensor, dict)):
        return True
    if isinstance(x, list) and x and isinstance(x[0], tuple):
        return False  # a list of (x, y) batches
    if isinstance(x, (list, tuple)):
        return True
    return hasattr(x, "__array__") and hasattr(x, "shape")


def num_samples(x, what="x"):
    """Rows of ``x`` (of its first array when ``x`` is a list of inputs); ``what`` names it in errors."""
    first = next(v for v in x if v is not None) if isinstance(x, list) else x
    if np.ndim(first) == 0:
        raise ValueError(f"Expected {what} as arrays with a batch axis. Received: {what}={first!r}, a scalar")
    return len(first)


def take(x, index):
    """Rows ``index`` (a slice or index array) of an array or of each array in a list."""
    if x is None:
        return None
    if isinstance(x, list):
        return [None if v is None else v[index] for v in x]
    return x[index]


def check_lengths(x, y=None, sample_weight=None):
    """The number of samples, after checking that x's arrays, y and sample_weight all have it."""
    n = num_samples(x)
    if isinstance(x, list):
        sizes = [len(v) for v in x]
        if len(set(sizes)) > 1:
            raise ValueError(f"All input arrays must have the same number of samples. Received: sizes {sizes}")
    for what, value in (("y", y), ("sample_weight", sample_weight)):
        for array in (value if isinstance(value, list) else [value]):
            if array is not None and num_samples(array, what) != n:
                raise ValueError(f"x and {what} must have the same number of samples. "
                                 f"Received: x has {n} samples, {what} has {num_samples(array, what)}")
    return n


def class_weights_to_sample_weights(y, class_weight):
    """Per-sample weights ``class_weight[label]`` from integer or one-hot targets."""
    labels = np.asarray(y)
    if labels.ndim > 1 and labels.shape[-1] > 1:
        labels = labels.argmax(axis=-1)
    labels = labels.reshape(len(labels), -1)[:, 0].astype(np.int64)
    if not all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in class_weight):
        raise ValueError(f"class_weight maps int class ids to weights. Received: class_weight={class_weight}")
    unknown = sorted(set(np.unique(labels).tolist()) - set(int(k) for k in class_weight))
    if unknown:
        raise ValueError(f"class_weight has no entry for classes {unknown}. Received: class_weight={class_weight}")
    table = {int(k): float(v) for k, v in class_weight.items()}
    return np.array([table[int(c)] for c in labels], dtype=np.float32)


def split_validation(x, y, sample_weight, validation_split):
    """Keras' rule: the *last* ``validation_split`` fraction of the samples (before shuffling) validates."""
    if not 0 <= validation_split < 1:
        raise ValueError(f"validation_split must be in [0, 1). Received: validation_split={validation_split}")
    n = num_samples(x)
    cut = int(math.floor(n * (1.0 - validation_split)))
    if cut == 0 or cut == n:
        raise ValueError(f"validation_split={validation_split} leaves no samples for training or validation "
                         f"out of {n}. Received: validation_split={validation_split}")
    head, tail = slice(0, cut), slice(cut, n)
    train = (take(x, head), take(y, head), take(sample_weight, head))
    validation = (take(x, tail), take(y, tail), take(sample_weight, tail))
    return train, validation


class ArrayBatches:
    """Batches of ``batch_size`` rows of array data; reshuffled every epoch when ``shuffle``."""

    def __init__(self, x, y=None, sample_weight=None, batch_size=32, shuffle=False, steps=None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer. Received: batch_size={batch_size!r}")
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.n = check_lengths(x, y, sample_weight)
        self.batch_size, self.shuffle = int(batch_size), shuffle
        self.steps = math.ceil(self.n / self.batch_size)
        if steps is not None:
            self.steps = min(self.steps, int(steps))

    def __iter__(self):
        order = random.permutation(self.n) if self.shuffle else None
        for step in range(self.steps):
            rows = slice(step * self.batch_size, min((step + 1) * self.batch_size, self.n))
            index = order[rows] if order is not None else rows
            yield take(self.x, index), take(self.y, index), take(self.sample_weight, index)


class IterableBatches:
    """Batches from an iterable of ``x`` or ``(x, y[, sample_weight])``; restarted each epoch if possible."""

    def __init__(self, data, steps=None):
        self.data = data
        length = len(data) if hasattr(data, "__len__") else None
        self.steps = length if steps is None else (int(steps) if length is None else min(int(steps), length))
        self._iterator = None

    def __iter__(self):
        restartable = hasattr(self.data, "__len__") or not hasattr(self.data, "__next__")
        if restartable or self._iterator is None:
            self._iterator = iter(self.data)
        for step, batch in enumerate(self._iterator):
            if isinstance(batch, (list, tuple)) and 1 < len(batch) <= 3:
                parts = [to_numpy(b) for b in batch] + [None] * (3 - len(batch))
            else:
                parts = [to_numpy(batch), None, None]
            yield tuple(parts)
            if self.steps is not None and step + 1 >= self.steps:
                break


class DatasetBatches:
    """Batches from a ``pyml.data.Dataset`` of ``x`` or ``(x, y[, sample_weight])``, as Keras reads tf.data.

    Without ``steps`` every epoch is a fresh pass. With ``steps`` (``steps_per_epoch``) one pass runs on across
    epochs, so a repeated dataset continues where the last epoch stopped; when a finite pass runs out it warns
    (the epoch ends short) and the next epoch starts a new pass. Dict parts (named inputs) are kept as dicts.
    """

    def __init__(self, dataset, steps=None):
        self.dataset, self.limited = dataset, steps is not None
        self.size = dataset.cardinality() if dataset.cardinality() >= 0 else None
        if steps is None and dataset.cardinality() == INFINITE_CARDINALITY:
            raise ValueError("The dataset is infinite (Dataset.repeat()): pass steps_per_epoch (fit) or steps "
                             "(evaluate, predict) to say how many batches make an epoch. Received: steps=None")
        self.steps = int(steps) if self.limited else self.size
        self._iterator, self._seen = None, 0

    def __iter__(self):
        if self._iterator is None or not self.limited:
            self._iterator, self._seen = iter(self.dataset), 0
        for _ in range(self.steps) if self.steps is not None else itertools.count():
            finished = self.size is not None and self._seen >= self.size  # a known size: no next() past it
            batch = None if finished else next(self._iterator, None)
            if batch is None:
                if self.limited:
                    warnings.warn(f"The dataset ran out of data after {self._seen} batches, before steps={self.steps} "
                                  "were done; the epoch ends here. Use Dataset.repeat() to feed every epoch.",
                                  stacklevel=2)
                self._iterator = None
                return
            self._seen += 1
            parts = [to_numpy(p) for p in (batch if isinstance(batch, tuple) and 1 <= len(batch) <= 3 else [batch])]
            yield tuple(parts + [None] * (3 - len(parts)))
        if self.size is not None and self._seen >= self.size:
            self._iterator = None


class ClassWeightedBatches:
    """Batches of a Dataset or iterable with ``fit(class_weight=...)`` turned into per-sample weights batch by
    batch (multiplying any weights the batch carries), as Keras does for tf.data."""

    def __init__(self, batches, class_weight):
        self.batches, self.class_weight = batches, class_weight

    @property
    def steps(self):
        return self.batches.steps

    def __iter__(self):
        for x, y, sample_weight in self.batches:
            if isinstance(y, (list, dict)):
                raise ValueError("class_weight is for models with one output; with several, yield sample weights "
                                 f"per output. Received: class_weight and targets for {len(y)} outputs")
            weights = class_weights_to_sample_weights(y, self.class_weight)
            yield x, y, weights if sample_weight is None else sample_weight * weights


def make_batches(x, y=None, sample_weight=None, batch_size=None, shuffle=False, steps=None):
    """``ArrayBatches`` for array data, ``DatasetBatches`` for a ``pyml.data.Dataset``, ``IterableBatches`` for
    any other iterable of batches."""
    if isinstance(x, Dataset):
        if y is not None or sample_weight is not None:
            raise ValueError("A Dataset must yield the targets (and sample weights) itself; do not pass y or "
                             f"sample_weight. Received: y={type(y).__name__}, "
                             f"sample_weight={type(sample_weight).__name__}")
        return DatasetBatches(x, steps)
    if is_array_data(x):
        return ArrayBatches(to_numpy(x), to_numpy(y), to_numpy(sample_weight), 32 if batch_size is None else batch_size,
                            shuffle, steps)
    if y is not None:
        raise ValueError("When x is an iterable of batches, it must yield the targets too; do not pass y. "
                         f"Received: x of type {type(x).__name__} and y")
    return IterableBatches(x, steps)
