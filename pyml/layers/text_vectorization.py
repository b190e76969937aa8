"""``TextVectorization``: strings to token ids or bag-of-words vectors (Keras 3's layer), on the host.

Each string is standardized, split into tokens and (optionally) cut into n-grams by the rules of
``pyml.layers.text_ops`` (the same rules ``web/src/text.js`` follows), then looked up in a vocabulary
(``StringLookup`` with ``mask_token=""``): in ``"int"`` mode ``""`` is index 0 (padding) and ``"[UNK]"`` index 1.

    >>> layer = pyml.layers.TextVectorization(output_sequence_length=5)
    >>> layer.adapt(["The cat sat.", "the DOG sat!"])
    >>> layer.get_vocabulary()
    ['', '[UNK]', 'the', 'sat', 'dog', 'cat']
    >>> layer(["the bird sat"]).numpy()
    array([[2, 1, 3, 0, 0]], dtype=int32)
"""
import numpy as np

from pyml.layers import text_ops
from pyml.layers.host import HostLayer, spec
from pyml.layers.lookup import StringLookup, as_strings, output_mode_of


class TextVectorization(HostLayer):
    """Turns strings into token ids (``output_mode="int"``) or vectors over the vocabulary.

    Args:
        max_tokens: the most vocabulary entries ``adapt`` keeps, padding and OOV included (None: all).
        standardize: ``"lower_and_strip_punctuation"`` (default), ``"lower"``, ``"strip_punctuation"``, None,
            or a callable taking and returning a NumPy array of str (Python only: a model using one cannot be
            exported or saved). Lowercasing changes ASCII ``A``–``Z`` only, as Keras (``text_ops``).
        split: ``"whitespace"`` (default: runs of ASCII whitespace), ``"character"`` (code points) or None.
        ngrams: None, an int n (all n-grams up to n), or a tuple of widths.
        output_mode: ``"int"``, ``"multi_hot"``, ``"count"`` or ``"tf_idf"``.
        output_sequence_length: int mode: pad with 0 or cut every sequence to this length (None: the longest
            in the batch; a layer inside a model needs it, for static shapes).
        pad_to_max_tokens: non-int modes: ``max_tokens`` columns whatever the vocabulary size.
        vocabulary: a list of strings or a file with one per line; else call ``adapt``.
        idf_weights: ``tf_idf`` with a vocabulary: one weight per entry.

    Input: strings, shape ``(batch,)`` or ``(batch, 1)`` (a single str gives the output without batch axis).
    Output: int32 ``(batch, sequence_length)`` ids, or float32 ``(batch, depth)``.

    >>> layer = pyml.layers.TextVectorization(output_mode="count", vocabulary=["a", "b"])
    >>> layer(["a b a z"]).numpy()
    array([[1., 2., 1.]], dtype=float32)
    """

    _untracked = ("_layers", "_lookup")

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation", split="whitespace", ngrams=None,
                 output_mode="int", output_sequence_length=None, pad_to_max_tokens=False, vocabulary=None,
                 idf_weights=None, sparse=False, ragged=False, encoding="utf-8", name=None, **kwargs):
        has_input_vocabulary = kwargs.pop("has_input_vocabulary", vocabulary is not None)
        kwargs.pop("vocabulary_size", None)
        super().__init__(name=name, **kwargs)
        where = f"TextVectorization {self.name!r}"
        if not (standardize is None or callable(standardize) or standardize in text_ops.STANDARDIZE):
            raise ValueError(f"{where}: standardize must be one of {', '.join(map(repr, text_ops.STANDARDIZE))}, None "
                             f"or a callable. Received: standardize={standardize!r}")
        if not (split is None or split in text_ops.SPLIT):
            raise ValueError(f"{where}: split must be 'whitespace', 'character' or None (pyml takes no callable "
                             f"split). Received: split={split!r}")
        output_mode = output_mode_of(where, output_mode)
        if output_mode == "one_hot":
            raise NotImplementedError(f"{where}: output_mode='one_hot' is not implemented for text; use 'multi_hot'")
        if output_sequence_length is not None:
            if output_mode != "int":
                raise ValueError(f"{where}: output_sequence_length must not be set unless output_mode is 'int'. "
                                 f"Received: output_sequence_length={output_sequence_length!r}")
            if isinstance(output_sequence_length, bool) or not isinstance(output_sequence_length, (int, np.integer)) \
                    or output_sequence_length < 1:
                raise ValueError(f"{where}: output_sequence_length must be None or a positive integer. "
                                 f"Received: output_sequence_length={output_sequence_length!r}")
        if sparse or ragged:
            raise ValueError(f"{where}: pyml has dense tensors only. Received: sparse={sparse}, ragged={ragged}")
        if encoding not in ("utf-8", "UTF-8", "utf8"):
            raise ValueError(f"{where}: only UTF-8 is supported. Received: encoding={encoding!r}")
        self.standardize, self.split, self.output_mode = standardize, split, output_mode
        self._ngrams_arg = list(ngrams) if isinstance(ngrams, tuple) else ngrams
        self.ngrams = text_ops.ngram_widths(ngrams, where)
        if self.ngrams and split is None:
            raise NotImplementedError(f"{where}: ngrams without split (each string one token) is not implemented; "
                                      "use split='whitespace' or 'character'")
        self.output_sequence_length = None if output_sequence_length is None else int(output_sequence_length)
        self._lookup = StringLookup(max_tokens=max_tokens, vocabulary=vocabulary, idf_weights=idf_weights,
                                    pad_to_max_tokens=pad_to_max_tokens, mask_token="", output_mode=output_mode,
                                    has_input_vocabulary=has_input_vocabulary, name=f"{self.name}_lookup",
                                    owner=self)

    # ---- vocabulary (the inner StringLookup's) -----------------------------------------------------------
    def get_vocabulary(self, include_special_tokens=True):
        """The tokens by index; with ``include_special_tokens`` (default), ``""`` and ``"[UNK]"`` first in int
        mode (``"[UNK]"`` only otherwise), so that a token's position is its id."""
        return self._lookup.get_vocabulary(include_special_tokens)

    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Set the vocabulary (a list of strings, with or without the special tokens first, or a file path)."""
        self._lookup.set_vocabulary(vocabulary, idf_weights)

    def vocabulary_size(self):
        """The vocabulary size, padding and OOV entries included."""
        return self._lookup.vocabulary_size()

    def adapt(self, data, batch_size=None, steps=None):
        """Learn the vocabulary from ``data``: a list or array of strings, or an iterable of batches of strings.

        Tokens are ranked by count, most frequent first; equal counts by the token, highest code points
        first (Keras's order); ``max_tokens`` keeps the first ones. Every string is one document for ``tf_idf``.
        """
        self._lookup.reset_state()
        if isinstance(data, (list, tuple, np.ndarray, str)):
            self.update_state(data)
        else:
            for i, batch in enumerate(data):
                if steps is not None and i >= steps:
                    break
                self.update_state(batch)
        self._lookup.finalize_state()

    def update_state(self, data):
        rows, _ = self._token_rows(data)
        self._lookup.update_state_rows(rows)

    # ---- strings -> tokens -> ids ---------------------------------------------------------------------------
    def _token_rows(self, data):
        """``(rows of tokens, shape of the rows' array)``: one row per string (split), or per last-axis row."""
        where = f"TextVectorization {self.name!r}"
        strings = as_strings(data, where)
        shape = strings.shape
        if callable(self.standardize):
            strings = as_strings(self.standardize(strings.astype(str)), f"{where}: its standardize callable's output")
            standardized = strings
        else:
            flat = [text_ops.standardize(s, self.standardize) for s in strings.reshape(-1)]
            standardized = np.array(flat, dtype=object).reshape(shape)
        if self.split is None:
            rows = [list(r) for r in (standardized.reshape(-1, shape[-1]) if len(shape) > 1 else
                                      standardized.reshape(-1, 1))]
        else:
            if len(shape) > 1 and (len(shape) > 2 or shape[-1] != 1):
                raise ValueError(f"{where}: to split strings, the input must have shape (batch,) or (batch, 1). "
                                 f"Received: input shape {shape}")
            rows = [text_ops.split(s, self.split) for s in standardized.reshape(-1)]
        if self.ngrams:
            rows = [text_ops.ngrams(r, self.ngrams) for r in rows]
        return rows, shape

    def preprocess(self, inputs):
        self._lookup._require_vocabulary()
        rows, shape = self._token_rows(inputs)
        ids = [self._lookup.lookup(r) for r in rows]
        if self.output_mode != "int":
            out = self._lookup.encode_rows(ids)
            return out[0] if shape == () else out
        length = self.output_sequence_length
        if self.split is None and length is None and len(shape) <= 1:
            out = np.array([r[0] for r in ids], np.int32)  # one id per string, as Keras's dense lookup
            return out[0] if shape == () else out
        if length is None:
            length = max((len(r) for r in ids), default=0)
        out = np.zeros((len(ids), length), np.int32)
        for i, r in enumerate(ids):
            r = r[:length]
            out[i, :len(r)] = r
        return out[0] if shape == () else out

    def output_spec(self, input_shape):
        shape = tuple(input_shape)
        if not shape or len(shape) > 2 or (len(shape) == 2 and self.split is not None and shape[1] != 1):
            raise ValueError(f"TextVectorization {self.name!r} takes strings of shape (batch,) or (batch, 1). "
                             f"Received: input shape {shape}")
        if self.output_mode != "int":
            return self._lookup.output_spec((shape[0], None))
        if self.split is None and self.output_sequence_length is None:
            return spec(shape, "int32")  # one id per string
        if self.output_sequence_length is None:
            raise ValueError(f"TextVectorization {self.name!r}: inside a model it needs output_sequence_length, so "
                             "that the ids have a static shape (pyml models have static shapes). "
                             "Received: output_sequence_length=None")
        return spec((shape[0], self.output_sequence_length), "int32")

    def text_spec(self):
        """What this layer does, as plain data (the bundle's ``inputs[i].text``, docs/internals.md §6)."""
        if callable(self.standardize):
            raise ValueError(f"TextVectorization {self.name!r} has a callable standardize, which runs in Python only: "
                             "it cannot be exported. Use one of the built-in modes.")
        self._lookup._require_vocabulary()
        return {**self._lookup.text_spec(), "standardize": self.standardize, "split": self.split,
                "ngrams": list(self.ngrams) if self.ngrams else None,
                "output_sequence_length": self.output_sequence_length}

    # ---- config ---------------------------------------------------------------------------------------------
    def get_config(self):
        if callable(self.standardize):
            raise ValueError(f"TextVectorization {self.name!r} has a callable standardize, which pyml cannot save "
                             "(nothing is ever imported by name); use a built-in mode, or set the layer up again "
                             "after loading.")
        lookup = self._lookup.get_config()
        return {**super().get_config(), "max_tokens": lookup["max_tokens"], "standardize": self.standardize,
                "split": self.split, "ngrams": self._ngrams_arg, "output_mode": self.output_mode,
                "output_sequence_length": self.output_sequence_length,
                "pad_to_max_tokens": lookup["pad_to_max_tokens"], "sparse": False, "ragged": False,
                "vocabulary": lookup["vocabulary"], "idf_weights": lookup["idf_weights"], "encoding": "utf-8",
                "vocabulary_size": self.vocabulary_size(), "has_input_vocabulary": lookup["has_input_vocabulary"]}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("ngrams"), list):
            config["ngrams"] = tuple(config["ngrams"])
        return cls(**config)
