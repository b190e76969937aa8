"""Array helpers a Keras script calls on its data: ``to_categorical``, ``normalize``, ``pad_sequences``.

    >>> pyml.utils.to_categorical([0, 2, 1])
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 1., 0.]])
"""
import numpy as np


def to_categorical(x, num_classes=None):
    """One-hot rows for integer class labels (Keras ``to_categorical``).

    A trailing axis of size 1 is dropped first (labels of shape ``(n, 1)`` give ``(n, num_classes)``).

    Args:
        x: integer labels, ``0 <= label < num_classes``, of any shape.
        num_classes: number of classes; ``None`` infers ``max(x) + 1``.

    Returns:
        A float64 array of shape ``x.shape + (num_classes,)`` (as Keras returns for NumPy input).

        >>> pyml.utils.to_categorical(np.array([[1], [0]]), num_classes=3)
        array([[0., 1., 0.],
               [1., 0., 0.]])
    """
    labels = np.asarray(x)
    if labels.size and not np.all(np.equal(np.mod(labels, 1), 0)):
        raise ValueError(f"to_categorical expects integer class labels. Received: values like {labels.flat[0]!r}")
    labels = labels.astype(np.int64)
    shape = labels.shape[:-1] if labels.ndim > 1 and labels.shape[-1] == 1 else labels.shape
    labels = labels.reshape(-1)
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    bad = labels[(labels < 0) | (labels >= num_classes)]
    if bad.size:
        raise ValueError(f"to_categorical: labels must be in [0, num_classes={num_classes}). "
                         f"Received: label {int(bad[0])}")
    out = np.zeros((labels.size, int(num_classes)))
    out[np.arange(labels.size), labels] = 1
    return out.reshape(shape + (int(num_classes),))


def normalize(x, axis=-1, order=2):
    """``x`` divided by its ``order``-norm along ``axis`` (rows of zeros stay zero), as Keras for NumPy input.

        >>> pyml.utils.normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
        array([[0.6, 0.8],
               [0. , 0. ]])
    """
    x = np.asarray(x)
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, axis if axis is not None else -1)


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """Sequences of different lengths as one ``(len(sequences), maxlen)`` array (Keras ``pad_sequences``).

    Sequences shorter than ``maxlen`` are padded with ``value``, longer ones cut, at the start (``"pre"``, the
    default for both) or the end (``"post"``). Elements may be arrays themselves (all of one shape).

    Args:
        sequences: a list of sequences (lists or arrays).
        maxlen: output length; ``None``: the longest sequence.
        dtype: output dtype (``object`` for strings of any length).
        padding: ``"pre"`` or ``"post"``: where to pad.
        truncating: ``"pre"`` or ``"post"``: where to cut sequences longer than ``maxlen``.
        value: padding value.

        >>> pyml.utils.pad_sequences([[1, 2, 3], [4]], maxlen=2)
        array([[2, 3],
               [0, 4]], dtype=int32)
        >>> pyml.utils.pad_sequences([[1, 2, 3], [4]], padding="post", truncating="post", value=-1)
        array([[ 1,  2,  3],
               [ 4, -1, -1]], dtype=int32)
    """
    for name, where in (("padding", padding), ("truncating", truncating)):
        if where not in ("pre", "post"):
            raise ValueError(f'{name} must be "pre" or "post". Received: {name}={where!r}')
    if not hasattr(sequences, "__len__"):
        raise ValueError(f"sequences must be a list of sequences. Received: {type(sequences).__name__}")
    lengths, sample_shape = [], None
    for i, s in enumerate(sequences):
        if not hasattr(s, "__len__"):
            raise ValueError(f"sequences must be a list of sequences. Received: sequences[{i}]={s!r}")
        lengths.append(len(s))
        if sample_shape is None and len(s):
            sample_shape = np.asarray(s).shape[1:]
    sample_shape = sample_shape or ()
    if maxlen is None:
        maxlen = max(lengths, default=0)
    is_text = np.issubdtype(np.dtype(dtype), np.str_) or np.issubdtype(np.dtype(dtype), np.bytes_)
    if isinstance(value, str) and np.dtype(dtype) != object and not is_text:
        raise ValueError(f"pad_sequences: a str value needs dtype=object (or a str dtype). Received: dtype={dtype}, "
                         f"value={value!r}")
    out = np.full((len(sequences), maxlen) + sample_shape, value, dtype=dtype)
    for i, s in enumerate(sequences):
        if not len(s) or not maxlen:
            continue
        kept = np.asarray(s[-maxlen:] if truncating == "pre" else s[:maxlen], dtype=dtype)
        if kept.shape[1:] != sample_shape:
            raise ValueError(f"pad_sequences: sequences[{i}] has elements of shape {kept.shape[1:]}, the first "
                             f"non-empty sequence {sample_shape}")
        if padding == "post":
            out[i, :len(kept)] = kept
        else:
            out[i, -len(kept):] = kept
    return out
