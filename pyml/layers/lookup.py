"""``StringLookup`` and ``IntegerLookup``: a vocabulary's terms to indices (Keras 3 semantics), on the host.

Indices (Keras's conventions): in ``"int"`` mode, ``mask_token`` (when set) is index 0, then
``num_oov_indices`` out-of-vocabulary indices, then the terms; in the other modes there is no mask index
(the mask token is dropped) and the OOV indices come first. ``adapt`` ranks terms by count, most frequent
first, ties broken by the term, highest first (``text_ops.ranked``), and keeps ``max_tokens`` entries in all.

    >>> lookup = pyml.layers.StringLookup(vocabulary=["a", "b", "c"])
    >>> lookup(["a", "c", "z"]).numpy()
    array([1, 3, 0], dtype=int32)
    >>> lookup.get_vocabulary()
    ['[UNK]', 'a', 'b', 'c']
"""
import collections
import itertools
import os

import numpy as np

from pyml.checks import boolean
from pyml.layers.host import HostLayer, spec
from pyml.layers.text_ops import ranked, well_formed
from pyml.tensor import Tensor

OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")
_MISSING = -2  # lookup's marker for a term not in the vocabulary
_ALIASES = {"binary": "multi_hot", "tf-idf": "tf_idf"}


def output_mode_of(layer, value):
    value = _ALIASES.get(value, value)
    if value not in OUTPUT_MODES:
        raise ValueError(f"{layer}: output_mode must be one of {', '.join(map(repr, OUTPUT_MODES))}. "
                         f"Received: output_mode={value!r}")
    return value


def describe(data):
    """What ``data`` is, for error messages: ``a float32 array of shape (2, 3)``."""
    if isinstance(data, Tensor):
        return f"a pyml Tensor of dtype {data.dtype} and shape {tuple(data.shape)}"
    if isinstance(data, np.ndarray):
        return f"a {data.dtype} array of shape {data.shape}"
    return f"{type(data).__name__} {data!r}"[:200]


def as_strings(data, where):
    """``data`` (a str, nested lists, or a NumPy array of str or UTF-8 bytes) as an object array of str, each
    made well-formed (``text_ops.well_formed``: what a JavaScript string holding it decodes to).

    Object arrays keep every string whole (NumPy's fixed-width ``<U`` strings drop trailing NULs)."""
    if isinstance(data, Tensor) or (isinstance(data, np.ndarray) and data.dtype.kind not in "USO"):
        raise TypeError(f"{where} expects strings: a str, or a list or NumPy array of str. Received: {describe(data)}")
    array = np.array(data, dtype=object)
    strings = []
    for s in array.reshape(-1):
        if type(s) is not str:
            if not isinstance(s, (str, bytes)):
                kinds = sorted({type(v).__name__ for v in array.reshape(-1) if not isinstance(v, (str, bytes))})
                raise TypeError(f"{where} expects strings: a str, or a list or NumPy array of str. Received: "
                                f"{describe(data)}, holding {', '.join(kinds)} values")
            s = s.decode("utf-8") if isinstance(s, bytes) else str(s)
        strings.append(well_formed(s))
    out = np.empty(len(strings), dtype=object)
    out[:] = strings
    return out.reshape(array.shape)


class IndexLookup(HostLayer):
    """The vocabulary, ``adapt`` and the encodings shared by ``StringLookup`` and ``IntegerLookup``
    (Keras's ``IndexLookup``; not public)."""

    _untracked = ("_layers", "_owner")

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token="[UNK]", vocabulary=None,
                 idf_weights=None, invert=False, output_mode="int", pad_to_max_tokens=False, sparse=False,
                 has_input_vocabulary=None, owner=None, **kwargs):
        super().__init__(**kwargs)
        self._owner = owner  # the layer errors name (a TextVectorization holding this lookup), or None: this one
        where = self._where()
        if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, (int, np.integer))
                                       or max_tokens <= 1):
            raise ValueError(f"{where}: if set, max_tokens must be an integer greater than 1. "
                             f"Received: max_tokens={max_tokens!r}")
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError(f"{where}: pad_to_max_tokens=True needs max_tokens. Received: max_tokens=None")
        if isinstance(num_oov_indices, bool) or not isinstance(num_oov_indices, (int, np.integer)) \
                or num_oov_indices < 0:
            raise ValueError(f"{where}: num_oov_indices must be an integer >= 0. "
                             f"Received: num_oov_indices={num_oov_indices!r}")
        self.output_mode = output_mode_of(where, output_mode)
        if invert and self.output_mode != "int":
            raise ValueError(f"{where}: output_mode must be 'int' when invert is true. "
                             f"Received: output_mode={self.output_mode!r}")
        if sparse:
            raise ValueError(f"{where}: pyml has dense tensors only. Received: sparse=True")
        if idf_weights is not None and self.output_mode != "tf_idf":
            raise ValueError(f"{where}: idf_weights is only used with output_mode='tf_idf'. "
                             f"Received: output_mode={self.output_mode!r}")
        self.max_tokens = None if max_tokens is None else int(max_tokens)
        self.num_oov_indices, self.mask_token, self.oov_token = int(num_oov_indices), mask_token, oov_token
        self.invert, self.sparse = boolean(self, "invert", invert), False
        self.pad_to_max_tokens = boolean(self, "pad_to_max_tokens", pad_to_max_tokens)
        self._has_input_vocabulary = vocabulary is not None if has_input_vocabulary is None else has_input_vocabulary
        self._tokens = None  # the learned or given terms, without mask and OOV entries
        self._index = None  # term -> index, made at the first lookup
        self._idf = None
        self.reset_state()
        if self.output_mode == "tf_idf" and vocabulary is not None and idf_weights is None:
            raise ValueError(f"{where}: with a vocabulary and output_mode='tf_idf', idf_weights must be given too.")
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)

    def _where(self):
        owner = self._owner or self
        return f"{type(owner).__name__} {owner.name!r}"

    # ---- the vocabulary ---------------------------------------------------------------------------------
    def _oov_start(self):
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start(self):
        return self._oov_start() + self.num_oov_indices

    def vocabulary_size(self):
        """Size of the vocabulary, mask and OOV indices included."""
        return self._token_start() + len(self._tokens or [])

    def get_vocabulary(self, include_special_tokens=True):
        """The terms by index (``include_special_tokens=False``: without the mask and OOV entries)."""
        tokens = list(self._tokens or [])
        if not include_special_tokens:
            return tokens
        return [self.mask_token] * self._oov_start() + [self.oov_token] * self.num_oov_indices + tokens

    def _term(self, value, where):
        """One vocabulary term as a Python str or int, or a clear error."""
        raise NotImplementedError

    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Set the vocabulary (and, for ``tf_idf``, the IDF weights) instead of ``adapt``-ing.

        ``vocabulary`` is a list/array of terms or the path of a text file with one term per line; it may
        start with the mask and OOV entries (exactly as ``get_vocabulary()`` returns them) or leave them out.
        """
        where = self._where()
        if self.output_mode == "tf_idf" and idf_weights is None:
            raise ValueError(f"{where}: idf_weights must be set when output_mode is 'tf_idf'.")
        if self.output_mode != "tf_idf" and idf_weights is not None:
            raise ValueError(f"{where}: idf_weights should only be set with output_mode='tf_idf'. "
                             f"Received: output_mode={self.output_mode!r}")
        if isinstance(vocabulary, (str, os.PathLike)):
            with open(vocabulary, encoding="utf-8") as f:
                vocabulary = f.read().splitlines()
            while vocabulary and vocabulary[-1] == "":
                vocabulary.pop()
        if isinstance(vocabulary, Tensor):
            vocabulary = vocabulary.numpy()
        if not isinstance(vocabulary, (list, tuple, np.ndarray)):
            raise TypeError(f"{where}: vocabulary must be a list, tuple or 1-D array of terms, or a file path. "
                            f"Received: {describe(vocabulary)}")
        terms = [self._term(v, f"{where}: vocabulary[{i}]") for i, v in enumerate(np.asarray(vocabulary, object)
                                                                                   .reshape(-1))]
        if not terms:
            raise ValueError(f"{where}: cannot set an empty vocabulary. Received: vocabulary={list(vocabulary)!r}")
        start = self._token_start()
        special = [self.mask_token] * self._oov_start() + [self.oov_token] * self.num_oov_indices
        found_special = terms[:start] == special
        tokens = terms[start:] if found_special else terms
        repeated = [t for t, n in collections.Counter(tokens).items() if n > 1]
        if repeated:
            raise ValueError(f"{where}: the vocabulary has repeated terms {repeated[:10]}; each term must appear once")
        if self.mask_token is not None and self.mask_token in tokens:
            raise ValueError(f"{where}: found the mask token {self.mask_token!r} at index "
                             f"{terms.index(self.mask_token)} of the vocabulary; leave the mask and OOV tokens out, or "
                             f"put them first in exactly this order: {special}")
        if self.invert and self.oov_token is not None and self.oov_token in tokens:
            raise ValueError(f"{where}: found the OOV token {self.oov_token!r} inside the vocabulary of an inverting "
                             f"lookup; leave it out, or put the special tokens first: {special}")
        if self.max_tokens is not None and start + len(tokens) > self.max_tokens:
            raise ValueError(f"{where}: the vocabulary has {start + len(tokens)} entries (mask and OOV included), "
                             f"more than max_tokens={self.max_tokens}")
        if idf_weights is not None:
            idf = np.asarray(idf_weights.numpy() if isinstance(idf_weights, Tensor) else idf_weights, np.float64)
            if idf.ndim != 1 or len(idf) != len(terms):
                raise ValueError(f"{where}: idf_weights must be 1-D, one weight per vocabulary entry ({len(terms)}). "
                                 f"Received: shape {idf.shape}")
            front = [] if found_special else [np.average(idf)] * start
            self._idf = self._pad_idf(np.concatenate([front, idf]))
        self._tokens = tokens
        self._index = None

    def _pad_idf(self, idf):
        back = self.max_tokens - len(idf) if self.pad_to_max_tokens else 0
        return np.concatenate([idf, np.zeros(max(back, 0))]).astype(np.float32)

    # ---- adapt --------------------------------------------------------------------------------------------
    def reset_state(self):
        self._counts, self._document_counts, self._documents = collections.Counter(), collections.Counter(), 0

    def adapt(self, data, batch_size=None, steps=None):
        """Learn the vocabulary (and, for ``tf_idf``, the document frequencies) from ``data``: a list or array
        (one batch), or any iterable of batches (a generator, a dataset); ``steps`` limits the batches read."""
        self.reset_state()
        if isinstance(data, (list, tuple, np.ndarray, Tensor, str)):
            self.update_state(self._one_batch(data))
        else:
            for i, batch in enumerate(data):
                if steps is not None and i >= steps:
                    break
                self.update_state(batch)
        self.finalize_state()

    def _one_batch(self, data):
        """``adapt``'s array data as one batch: a 1-D array is a column (one document per term), as in Keras."""
        return data

    def _adapt_rows(self, data):
        """The rows of terms one batch contributes (one row per document): a 1-D batch is one row, as Keras's
        ``update_state`` takes it."""
        raise NotImplementedError

    def update_state(self, data):
        self.update_state_rows(self._adapt_rows(data))

    def update_state_rows(self, rows):
        """Count the terms of ``rows`` (lists of terms, one per document) towards the vocabulary."""
        if self._has_input_vocabulary:
            raise ValueError(f"{self._where()}: cannot adapt after setting a static vocabulary via the "
                             "`vocabulary` argument (as in Keras)")
        for row in rows:
            self._counts.update(row)
        if self.output_mode == "tf_idf":
            for row in rows:
                self._document_counts.update(set(row))
            self._documents += len(rows)

    def finalize_state(self):
        if self._has_input_vocabulary or not self._counts:
            self._tokens = self._tokens if self._tokens is not None else []
            return
        for special in (self.mask_token, self.oov_token):
            self._counts.pop(special, None)
        tokens = ranked(self._counts)
        if self.max_tokens:
            tokens = tokens[:self.max_tokens - self._token_start()]
        if self.output_mode == "tf_idf":
            counts = np.array([self._document_counts[t] for t in tokens], np.float64)
            idf = np.log(1 + self._documents / (1 + counts)).astype(np.float32)
            mean = idf.mean(dtype=np.float32) if len(idf) else np.float32(0)
            self._idf = self._pad_idf(np.concatenate([[mean] * self._token_start(), idf]))
        self._tokens, self._index = tokens, None
        self.reset_state()

    # ---- encoding -----------------------------------------------------------------------------------------
    def _require_vocabulary(self):
        owner = self._owner or self
        if self._tokens is None:
            raise ValueError(f"Layer {owner.name!r} ({type(owner).__name__}) has no vocabulary yet: call "
                             "adapt(data) or set_vocabulary(...), or pass vocabulary=... when creating it.")

    def depth(self):
        """The width of the non-int outputs: ``max_tokens`` with ``pad_to_max_tokens``, else the vocabulary size."""
        return self.max_tokens if self.pad_to_max_tokens else self.vocabulary_size()

    def lookup(self, terms):
        """Indices of a list of terms (a list of ints): the mask token is 0 in int mode and -1 (dropped) otherwise."""
        self._require_vocabulary()
        if self._index is None:
            start = self._token_start()
            index = {t: start + i for i, t in enumerate(self._tokens)}
            if self.mask_token is not None:
                index[self.mask_token] = 0 if self.output_mode == "int" else -1
            self._index = index
        get = self._index.get
        ids = [get(t, _MISSING) for t in terms]
        if _MISSING in ids:
            missing = [i for i, v in enumerate(ids) if v == _MISSING]
            if self.num_oov_indices == 0:
                found = sorted({terms[i] for i in missing[:10]}, key=str)
                raise ValueError(f"{self._where()}: with num_oov_indices=0 every input must be in the vocabulary; "
                                 f"found out-of-vocabulary values {found}. Consider num_oov_indices=1.")
            buckets = self._oov_bucket([terms[i] for i in missing])
            for k, i in enumerate(missing):
                ids[i] = self._oov_start() + int(buckets[k] if np.ndim(buckets) else buckets)
        return ids

    def _oov_bucket(self, terms):
        return 0

    def encode_rows(self, rows):
        """``(len(rows), depth)`` float32: each row's indices as multi_hot, count or tf_idf."""
        depth = self.depth()
        out = np.zeros((len(rows), depth), np.float32)
        lengths = [len(r) for r in rows]
        ids = np.fromiter(itertools.chain.from_iterable(rows), np.int64, sum(lengths))
        which = np.repeat(np.arange(len(rows)), lengths)
        keep = ids >= 0  # the mask token (-1) counts nowhere
        np.add.at(out, (which[keep], ids[keep]), 1.0)
        if self.output_mode == "multi_hot":
            np.minimum(out, 1.0, out=out)
        elif self.output_mode == "tf_idf":
            out *= self._idf[:depth]
        return out

    def _encode(self, terms):
        """The layer's output for an array of terms (see the class docstrings for the shapes)."""
        if self.invert:
            return self._invert(terms)
        ids = np.array(self.lookup(list(terms.reshape(-1))), np.int64).reshape(terms.shape)
        if self.output_mode == "int":
            return ids.astype(np.int32)
        if self.output_mode == "one_hot":
            flat = ids.reshape(-1)
            out = np.zeros((flat.size, self.depth()), np.float32)
            keep = flat >= 0
            out[np.flatnonzero(keep), flat[keep]] = 1.0
            shape = terms.shape[:-1] if terms.ndim >= 1 and terms.shape[-1:] == (1,) else terms.shape
            return out.reshape(shape + (self.depth(),))
        rows = ids.reshape(-1, ids.shape[-1]) if ids.ndim else ids.reshape(1, 1)
        return self.encode_rows(list(rows)).reshape(ids.shape[:-1] + (self.depth(),))

    def _invert(self, ids):
        vocabulary = self.get_vocabulary()
        flat = [vocabulary[i] if 0 <= i < len(vocabulary) else self.oov_token for i in ids.reshape(-1).tolist()]
        return np.array(flat, dtype=object).reshape(ids.shape)

    def output_spec(self, input_shape):
        if self.output_mode == "int":
            return spec(input_shape, self.host_input_dtype if self.invert else "int32")
        if not self.pad_to_max_tokens:
            self._require_vocabulary()
        shape = tuple(input_shape)
        if self.output_mode == "one_hot":
            shape = shape[:-1] if shape[-1:] == (1,) and len(shape) > 1 else shape
            return spec(shape + (self.depth(),), "float32")
        return spec(shape[:-1] + (self.depth(),), "float32")

    def text_spec(self):
        """The lookup as plain data, for the bundle's ``inputs[i].text`` (docs/internals.md §6)."""
        self._require_vocabulary()
        return {"output_mode": self.output_mode, "vocabulary": self.get_vocabulary(),
                "token_start": self._token_start(), "mask_token": self.mask_token,
                "oov_index": self._oov_start() if self.num_oov_indices else None,
                "depth": None if self.output_mode == "int" else self.depth(),
                "idf_weights": None if self._idf is None else [float(w) for w in self._idf[:self.depth()]]}

    def get_config(self):
        idf = None
        if self._idf is not None:
            idf = [float(w) for w in self._idf[:self.vocabulary_size()]]
        return {**super().get_config(), "max_tokens": self.max_tokens, "num_oov_indices": self.num_oov_indices,
                "mask_token": self.mask_token, "oov_token": self.oov_token, "output_mode": self.output_mode,
                "pad_to_max_tokens": self.pad_to_max_tokens, "sparse": False, "invert": self.invert,
                "vocabulary": None if self._tokens is None else self.get_vocabulary(), "idf_weights": idf,
                "has_input_vocabulary": self._has_input_vocabulary}


class StringLookup(IndexLookup):
    """Maps strings to indices from a vocabulary (Keras ``keras.layers.StringLookup``), on the host.

    Args:
        max_tokens: the most vocabulary entries ``adapt`` keeps, mask and OOV entries included (None: all).
        num_oov_indices: indices for out-of-vocabulary strings: 1 (default) or 0 (OOV input is an error).
            More than one would hash strings with FarmHash64 (Keras): not implemented.
        mask_token: a string standing for padding: index 0 in int mode, dropped in the other modes (None: none).
        oov_token: the vocabulary entry shown for the OOV index (``"[UNK]"``), and what ``invert`` gives for
            unknown indices.
        vocabulary: a list of strings or a file with one per line; else call ``adapt``.
        idf_weights: with ``output_mode="tf_idf"`` and a vocabulary: one weight per entry.
        invert: map indices back to strings (int mode only; the output is a NumPy array of str).
        output_mode: ``"int"`` (indices, int32, the input's shape), ``"one_hot"``, ``"multi_hot"``,
            ``"count"`` or ``"tf_idf"`` (float32, the last axis replaced by ``depth()`` columns).
        pad_to_max_tokens: non-int outputs get ``max_tokens`` columns whatever the vocabulary size.

    >>> lookup = pyml.layers.StringLookup(output_mode="multi_hot")
    >>> lookup.adapt([["b", "a", "b"]])
    >>> lookup.get_vocabulary(), lookup([["a", "a", "q"]]).numpy().tolist()
    (['[UNK]', 'b', 'a'], [[1.0, 0.0, 1.0]])
    """

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token="[UNK]", vocabulary=None,
                 idf_weights=None, invert=False, output_mode="int", pad_to_max_tokens=False, sparse=False,
                 encoding="utf-8", **kwargs):
        if num_oov_indices is not None and not isinstance(num_oov_indices, bool) and isinstance(
                num_oov_indices, (int, np.integer)) and num_oov_indices > 1:
            raise NotImplementedError(f"StringLookup: num_oov_indices={num_oov_indices} would hash strings into OOV "
                                      "buckets with FarmHash64 as Keras does, which pyml does not implement; "
                                      "use 0 or 1")
        for what, value in (("mask_token", mask_token), ("oov_token", oov_token)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"StringLookup: {what} must be a str or None. Received: {what}={value!r}")
        super().__init__(max_tokens, num_oov_indices, mask_token, oov_token, vocabulary, idf_weights, invert,
                         output_mode, pad_to_max_tokens, sparse, **kwargs)

    def _term(self, value, where):
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        if not isinstance(value, str):
            raise TypeError(f"{where} must be a str. Received: {describe(value)}")
        return well_formed(str(value))

    def _strings(self, data):
        return as_strings(data, f"{type(self).__name__} {self.name!r}")

    def text_spec(self):
        return {**super().text_spec(), "standardize": None, "split": None, "ngrams": None,
                "output_sequence_length": None}

    def _one_batch(self, data):
        terms = self._strings(data)
        return terms.reshape(-1, 1) if terms.ndim == 1 else terms

    def _adapt_rows(self, data):
        return _rows(self._strings(data))

    def preprocess(self, inputs):
        if self.invert:
            return self._encode(_integers(inputs, f"StringLookup {self.name!r} (invert=True)"))
        return self._encode(self._strings(inputs))


def _rows(terms):
    """An array of terms as rows of Python values: a scalar or 1-D array is one row, else one per last-axis row."""
    return [list(row) for row in (terms.reshape(1, -1) if terms.ndim < 2 else terms.reshape(-1, terms.shape[-1]))]


def _integers(data, where):
    array = data.numpy() if isinstance(data, Tensor) else np.asarray(data)
    if array.dtype.kind not in "iub" and not (array.dtype.kind == "f" and np.all(np.mod(array, 1) == 0)):
        raise TypeError(f"{where} expects integers. Received: {describe(data)}")
    return array.astype(np.int64)


class IntegerLookup(IndexLookup):
    """Maps integers to indices from a vocabulary (Keras ``keras.layers.IntegerLookup``), on the host.

    Arguments as ``StringLookup``, with integer terms: ``mask_token`` (None), ``oov_token`` (-1). With
    ``num_oov_indices > 1`` an OOV value ``v`` gets the OOV index ``v mod num_oov_indices`` (Keras's default
    ``oov_method="floormod"``).

    >>> lookup = pyml.layers.IntegerLookup(vocabulary=[12, 36, 1138, 42])
    >>> lookup([[12, 1138, 42], [42, 1000, 36]]).numpy().tolist()
    [[1, 3, 4], [4, 0, 2]]
    """

    host_input_dtype = "int32"

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1, vocabulary=None,
                 vocabulary_dtype="int64", idf_weights=None, invert=False, output_mode="int", sparse=False,
                 pad_to_max_tokens=False, **kwargs):
        for what, value in (("mask_token", mask_token), ("oov_token", oov_token)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
                raise TypeError(f"IntegerLookup: {what} must be an int or None. Received: {what}={value!r}")
        mask_token = None if mask_token is None else int(mask_token)
        super().__init__(max_tokens, num_oov_indices, mask_token, int(oov_token), vocabulary, idf_weights, invert,
                         output_mode, pad_to_max_tokens, sparse, **kwargs)

    def _term(self, value, where):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{where} must be an int. Received: {describe(value)}")
        return int(value)

    def _oov_bucket(self, terms):
        return np.mod(np.array(terms, np.int64), max(self.num_oov_indices, 1))

    def _one_batch(self, data):
        values = _integers(data, f"IntegerLookup {self.name!r}")
        return values.reshape(-1, 1) if values.ndim == 1 else values

    def _adapt_rows(self, data):
        return _rows(_integers(data, f"IntegerLookup {self.name!r}").astype(object))

    def preprocess(self, inputs):
        values = _integers(inputs, f"IntegerLookup {self.name!r}")
        out = self._encode(values.astype(object) if not self.invert else values)
        return out.astype(np.int32) if self.invert else out
