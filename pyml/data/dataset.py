"""``pyml.data.Dataset``: a tf.data-style input pipeline over NumPy elements.

A dataset is a recipe: each ``iter(dataset)`` starts a fresh pass, so ``fit`` iterates it once per epoch.
Elements are NumPy arrays, or tuples / dicts of them (``(x, y)``, ``({"image": x}, y)``).

    >>> ds = pyml.data.Dataset.from_tensor_slices((np.arange(6), np.arange(6) * 10))
    >>> ds = ds.map(lambda x, y: (x + 1, y)).filter(lambda x, y: x % 2 == 0).batch(2)
    >>> [(x.tolist(), y.tolist()) for x, y in ds]
    [([2, 4], [10, 30]), ([6], [50])]
    >>> ds.cardinality() == pyml.data.UNKNOWN_CARDINALITY  # filter cannot know how many remain
    True

Transformations (``map``, ``shuffle``, ``batch``...) return new datasets and leave the input unchanged; they
are defined in ``pyml.data.transforms``. Iteration happens on the host in Python and NumPy; ``prefetch``
runs the pipeline in a background thread so batches are ready while the model trains.
"""
import itertools

import numpy as np

from pyml.data import structure
from pyml.data.transforms import _END, INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Transformations


class Dataset(Transformations):
    """A sequence of elements, re-iterable: every ``iter()`` is a new pass (an epoch).

    Build one with ``Dataset.from_tensor_slices``, ``from_tensors``, ``from_generator`` or ``range``, then chain
    transformations. Iterating yields NumPy arrays (or tuples / dicts of them).

        >>> ds = pyml.data.Dataset.range(5).shuffle(5, seed=1).batch(2, drop_remainder=True)
        >>> ds.cardinality(), [batch.shape for batch in ds]
        (2, [(2,), (2,)])
    """

    def __init__(self, iterate, cardinality, **attributes):
        self._iterate, self._cardinality = iterate, int(cardinality)
        self.__dict__.update(attributes)

    def __iter__(self):
        return iter(self._iterate())

    def as_numpy_iterator(self):
        """An iterator over the elements (already NumPy: the same as ``iter(dataset)``).

            >>> list(pyml.data.Dataset.range(3).as_numpy_iterator())
            [np.int64(0), np.int64(1), np.int64(2)]
        """
        return iter(self)

    def cardinality(self):
        """The number of elements, or ``INFINITE_CARDINALITY`` (-1) / ``UNKNOWN_CARDINALITY`` (-2).

            >>> pyml.data.Dataset.range(10).batch(3).cardinality(), pyml.data.Dataset.range(2).repeat().cardinality()
            (4, -1)
        """
        return self._cardinality

    def __len__(self):
        if self._cardinality == INFINITE_CARDINALITY:
            raise TypeError("The dataset is infinite (Dataset.repeat()); it has no length.")
        if self._cardinality == UNKNOWN_CARDINALITY:
            raise TypeError("The dataset length is unknown (after filter, from_generator or unbatch); "
                            "count it by iterating.")
        return self._cardinality

    def __bool__(self):  # a dataset is a recipe: never falsy, even when empty or of unknown length
        return True

    def __repr__(self):
        return f"<Dataset cardinality={self._cardinality}>"

    def _derive(self, iterate, cardinality):
        return Dataset(iterate, cardinality)

    def apply(self, transformation):
        """``transformation(self)``: chain a function that maps a dataset to a dataset.

            >>> pyml.data.Dataset.range(4).apply(lambda ds: ds.skip(1)).cardinality()
            3
        """
        return transformation(self)

    # ---- sources --------------------------------------------------------------------------------
    @staticmethod
    def from_tensor_slices(tensors):
        """One element per row of ``tensors`` (an array, or a tuple / dict of arrays with one first dimension).

        A list is one array (``[[1, 2], [3, 4]]`` gives two rows), as in tf.data; group several arrays in a
        tuple. Text becomes object arrays of ``str``.

            >>> ds = pyml.data.Dataset.from_tensor_slices({"a": np.arange(3), "b": np.ones((3, 2))})
            >>> next(iter(ds))
            {'a': np.int64(0), 'b': array([1., 1.])}
        """
        tensors = structure.map_structure(_read_only, tensors)
        rows = structure.num_rows(tensors)
        return Dataset._from_rows(tensors, lambda: iter(range(rows)), rows)

    @staticmethod
    def _from_rows(tensors, indices, cardinality):
        """Rows ``indices()`` of in-memory ``tensors``. Transformations that only pick and order elements
        (shuffle, repeat, take, skip, cache) then work on the row numbers, and ``batch`` gathers a whole
        batch with one indexing per array instead of stacking rows one by one."""
        def iterate():
            for i in indices():
                yield structure.map_structure(lambda a: a[i], tensors)
        return Dataset(iterate, cardinality, _rows=(tensors, indices))

    @staticmethod
    def from_tensors(tensors):
        """A dataset of one element, ``tensors`` itself.

            >>> [x.shape for x in pyml.data.Dataset.from_tensors(np.zeros((2, 3)))]
            [(2, 3)]
        """
        element = structure.map_structure(structure.as_array, tensors)
        return Dataset(lambda: iter([element]), 1)

    @staticmethod
    def range(*args):
        """Integers as ``range(start, stop, step)`` does, as ``int64`` scalars.

            >>> [int(v) for v in pyml.data.Dataset.range(1, 8, 3)]
            [1, 4, 7]
        """
        return Dataset.from_tensor_slices(np.arange(*args, dtype=np.int64))

    @staticmethod
    def from_generator(generator, output_signature=None, args=None):
        """Elements yielded by ``generator(*args)``, called anew for each pass.

        Args:
            generator: a callable returning an iterator (a generator function), not a generator object, so
                that every epoch restarts it.
            output_signature: optional structure of ``pyml.data.TensorSpec`` matching each element; elements
                are converted to its dtypes and their shapes checked (``None`` matches any size).
            args: optional tuple of arguments for ``generator``.

            >>> def gen():
            ...     for i in range(3):
            ...         yield np.full((2,), i), i
            >>> spec = (pyml.data.TensorSpec((None,), "float32"), pyml.data.TensorSpec((), "int32"))
            >>> x, y = next(iter(pyml.data.Dataset.from_generator(gen, output_signature=spec)))
            >>> x.dtype, y.dtype
            (dtype('float32'), dtype('int32'))
        """
        if not callable(generator):
            raise TypeError("from_generator needs a callable that returns an iterator (a generator function), "
                            "so that each pass can restart it. Received: "
                            f"generator of type {type(generator).__name__}")
        args = tuple(args or ())

        def iterate():
            for index, element in enumerate(generator(*args)):
                if output_signature is None:
                    yield element
                    continue
                try:
                    yield structure.map_structure(lambda spec, value: spec.convert(value), output_signature, element)
                except (TypeError, ValueError) as error:
                    raise ValueError(f"from_generator: element {index} does not match output_signature "
                                     f"{output_signature!r}: {error}") from None
        return Dataset(iterate, UNKNOWN_CARDINALITY)

    @staticmethod
    def zip(*datasets):
        """Elements of several datasets side by side, as a tuple (or the dict / tuple structure given);
        stops with the shortest.

            >>> a, b = pyml.data.Dataset.range(3), pyml.data.Dataset.range(10, 12)
            >>> [(int(x), int(y)) for x, y in pyml.data.Dataset.zip(a, b)]
            [(0, 10), (1, 11)]
        """
        nest = datasets[0] if len(datasets) == 1 and isinstance(datasets[0], (tuple, dict)) else datasets
        members = structure.leaves(nest)
        if not members or not all(isinstance(d, Dataset) for d in members):
            raise TypeError(f"Dataset.zip expects datasets (or a tuple / dict of them). Received: {datasets!r}")
        sizes = [d.cardinality() for d in members]
        if UNKNOWN_CARDINALITY in sizes:
            size = UNKNOWN_CARDINALITY
        else:
            finite = [s for s in sizes if s != INFINITE_CARDINALITY]
            size = min(finite) if finite else INFINITE_CARDINALITY

        def iterate():
            iterators = structure.map_structure(iter, nest)
            while True:
                element = structure.map_structure(lambda it: next(it, _END), iterators)
                if any(part is _END for part in structure.leaves(element)):
                    return
                yield element
        return Dataset(iterate, size)

    def concatenate(self, dataset):
        """This dataset's elements, then ``dataset``'s.

            >>> [int(v) for v in pyml.data.Dataset.range(2).concatenate(pyml.data.Dataset.range(5, 6))]
            [0, 1, 5]
        """
        sizes = (self.cardinality(), dataset.cardinality())
        if INFINITE_CARDINALITY in sizes:
            size = INFINITE_CARDINALITY
        elif UNKNOWN_CARDINALITY in sizes:
            size = UNKNOWN_CARDINALITY
        else:
            size = sum(sizes)
        return Dataset(lambda: itertools.chain(self, dataset), size)


def _read_only(value):
    """A read-only view of ``value`` as an array: elements are views of the caller's arrays, so a ``map`` that
    wrote into one in place would change the caller's data (an error instead)."""
    view = structure.as_array(value).view()
    view.flags.writeable = False
    return view


class TensorSpec:
    """The shape and dtype of one component of an element (for ``from_generator``'s ``output_signature``).

    Args:
        shape: a tuple of ints or ``None`` (any size in that dimension).
        dtype: a NumPy dtype name; values are cast to it (within its kind: ``float64`` to ``float32`` yes,
            ``float`` to ``int`` no).
        name: optional label.

        >>> pyml.data.TensorSpec((None, 3), "float32").convert([[1, 2, 3]]).dtype
        dtype('float32')
    """

    def __init__(self, shape, dtype="float32", name=None):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = np.dtype(object if dtype in ("string", str) else dtype)
        self.name = name

    def convert(self, value):
        """``value`` as an array of this spec's dtype, after checking its shape and kind."""
        array = structure.as_array(value)
        if self.dtype != object and not np.can_cast(array.dtype, self.dtype, "same_kind"):
            raise TypeError(f"expected dtype {self.dtype}, received {array.dtype}")
        if array.ndim != len(self.shape) or any(d is not None and d != n for d, n in zip(self.shape, array.shape)):
            raise ValueError(f"expected shape {self.shape}, received {array.shape}")
        return array.astype(self.dtype, copy=False)

    def __repr__(self):
        return f"TensorSpec(shape={self.shape}, dtype={self.dtype.name})"
