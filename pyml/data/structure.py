"""Dataset elements as nests: an element is an array (a leaf), or a tuple or dict of elements (tf.data's
nested structures). Lists are leaves, converted to arrays, as tf.data converts a list to one tensor.

    >>> from pyml.data import structure
    >>> structure.map_structure(lambda a, b: a + b, (1, {"k": 2}), (10, {"k": 20}))
    (11, {'k': 22})
    >>> structure.stack([(np.float32(1), "a"), (np.float32(2), "b")])
    (array([1., 2.], dtype=float32), array(['a', 'b'], dtype=object))
"""
import numpy as np


def map_structure(fn, *elements):
    """``fn`` applied leaf by leaf to elements of one structure; tuples and dicts are rebuilt."""
    first = elements[0]
    if len(elements) == 1:  # one element: nothing to check (the common case, once per element)
        if isinstance(first, tuple):
            return tuple(map_structure(fn, item) for item in first)
        if isinstance(first, dict):
            return {key: map_structure(fn, value) for key, value in first.items()}
        return fn(first)
    if isinstance(first, tuple):
        if any(not isinstance(e, tuple) or len(e) != len(first) for e in elements):
            raise ValueError(f"Elements do not share a structure: expected tuples of {len(first)} items. "
                             f"Received: {[_describe(e) for e in elements]}")
        return tuple(map_structure(fn, *parts) for parts in zip(*elements))
    if isinstance(first, dict):
        if any(not isinstance(e, dict) or e.keys() != first.keys() for e in elements):
            raise ValueError(f"Elements do not share a structure: expected dicts with keys {sorted(first)}. "
                             f"Received: {[_describe(e) for e in elements]}")
        return {key: map_structure(fn, *(e[key] for e in elements)) for key in first}
    return fn(*elements)


def leaves(element):
    """The arrays of ``element``, in order (tuple items, then dict values in key order)."""
    if isinstance(element, tuple):
        return [leaf for item in element for leaf in leaves(item)]
    if isinstance(element, dict):
        return [leaf for key in element for leaf in leaves(element[key])]
    return [element]


def as_array(value):
    """A NumPy array; text becomes an object array of ``str`` (NumPy's ``<U`` would drop trailing NULs)."""
    if isinstance(value, np.ndarray) and value.dtype.kind not in "US":
        return value
    first = value
    while isinstance(first, (list, tuple)) and first:
        first = first[0]
    if isinstance(first, (str, bytes)):
        return np.array(value, dtype=object)
    array = np.asarray(value)
    return array.astype(object) if array.dtype.kind in "US" else array


def stack(elements):
    """One element whose leaves stack the leaves of ``elements`` on a new first axis (``batch``)."""
    def stack_leaves(*values):
        arrays = [as_array(v) for v in values]
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            raise ValueError("Cannot batch elements of different shapes; give them one shape first (map a resize "
                             f"or pad). Received: shapes {sorted(shapes)}")
        if arrays[0].dtype == object:  # np.stack would try to broadcast objects that are sequences
            out = np.empty((len(arrays),) + arrays[0].shape, dtype=object)
            for i, a in enumerate(arrays):
                out[i, ...] = a  # the element's contents, not the 0-d array itself
            return out
        return np.stack(arrays)
    return map_structure(stack_leaves, *elements)


def num_rows(element, what="from_tensor_slices"):
    """The common first dimension of the leaves of ``element``; an error names any mismatch."""
    sizes = [np.shape(leaf)[0] if np.ndim(leaf) else None for leaf in leaves(element)]
    if None in sizes:
        raise ValueError(f"{what}: every component needs a first axis to slice along. Received: shapes "
                         f"{[np.shape(leaf) for leaf in leaves(element)]}")
    if len(set(sizes)) != 1:
        raise ValueError(f"{what}: every component must have the same first dimension. Received: sizes {sizes}")
    return sizes[0]


def _describe(element):
    if isinstance(element, (tuple, dict)):
        return map_structure(lambda leaf: np.shape(leaf), element)
    return type(element).__name__
