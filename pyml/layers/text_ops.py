"""Text to tokens, defined once, for ``TextVectorization`` here and ``web/src/text.js`` in the browser.

Both sides follow these rules to the code point (docs/internals.md §6, ``inputs[i].text``), which are
Keras 3's (TensorFlow's string ops) where Keras is precise, and pinned down where it is not:

1. **Well-formed**: a lone surrogate code point (U+D800–U+DFFF, which UTF-8 cannot encode) becomes
   U+FFFD, as JavaScript's ``String.prototype.toWellFormed`` does. Any other string is left as is (no
   Unicode normalisation: "é" and "e" + U+0301 are different tokens, as in Keras).
2. **lower**: ``A``–``Z`` become ``a``–``z`` and nothing else changes. This is ``tf.strings.lower`` with its
   default ``encoding=""``, which Keras calls: ASCII only. (Python's ``str.lower`` and JavaScript's
   ``toLowerCase`` disagree on "İ" and on the final sigma, and both would differ from Keras.)
3. **strip_punctuation**: delete the 32 ASCII punctuation characters ``!"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~``
   (Keras's regex class; the same set as Python's ``string.punctuation``). Unicode punctuation stays.
4. **whitespace split**: cut at runs of the six ASCII whitespace characters (tab, LF, VT, FF, CR, space),
   dropping empty pieces: ``tf.strings.split`` uses C's ``isspace``. NBSP, U+2003 and friends are part of
   tokens (Python's ``str.split`` and JavaScript's ``\\s`` would cut there).
5. **character split**: one token per code point (an emoji outside the BMP is one token; a combining mark
   is a token of its own), as ``tf.strings.unicode_split``.
6. **ngrams** ``(w1, w2, ...)``: for each width in order, every run of ``w`` consecutive tokens joined by one
   space, as ``tf.strings.ngrams`` (no padding; a row shorter than ``w`` gives none of that width).

    >>> from pyml.layers.text_ops import tokens
    >>> tokens("Hello, WORLD!  İzmir\\u00a0Çay", "lower_and_strip_punctuation", "whitespace")
    ['hello', 'world', 'İzmir\\xa0Çay']
    >>> tokens("a b c", None, "whitespace", widths=(1, 2))
    ['a', 'b', 'c', 'a b', 'b c']
"""
import re

import numpy as np

STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
SPLIT = ("whitespace", "character")
PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
WHITESPACE = "\t\n\v\f\r "

# Rules 2 and 3 touch ASCII only, and in UTF-8 an ASCII byte is never part of another character: they run on
# the UTF-8 bytes, in one bytes.translate.
_LOWER = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz")
_STRIP = PUNCTUATION.encode("ascii")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_WHITESPACE_RUN = re.compile("[\t\n\v\f\r ]+")


def well_formed(text):
    """``text`` with each lone surrogate replaced by U+FFFD (rule 1)."""
    return text if text.isascii() else _LONE_SURROGATE.sub("\ufffd", text)


def standardize(text, mode):
    """Rules 1–3 for one string; ``mode`` is one of ``STANDARDIZE`` or None (rule 1 only)."""
    text = well_formed(text)
    if mode is None:
        return text
    lower = _LOWER if mode in ("lower", "lower_and_strip_punctuation") else None
    strip = _STRIP if mode in ("strip_punctuation", "lower_and_strip_punctuation") else b""
    return text.encode("utf-8").translate(lower, strip).decode("utf-8")


def split(text, mode):
    """Rules 4–5: the tokens of one standardized string; ``mode`` None keeps the string whole."""
    if mode == "whitespace":
        return [t for t in _WHITESPACE_RUN.split(text) if t]
    if mode == "character":
        return list(text)
    return [text]


def ngrams(row, widths):
    """Rule 6: the n-grams of one row of tokens, width by width."""
    return [" ".join(row[i:i + w]) for w in widths for i in range(len(row) - w + 1)]


def tokens(text, standardize_mode, split_mode, widths=None):
    """The tokens of one string: standardize, split, then n-grams when ``widths`` (a tuple) is given."""
    row = split(standardize(text, standardize_mode), split_mode)
    return ngrams(row, widths) if widths else row


def ngram_widths(value, where):
    """Keras's ``ngrams`` argument (None, an int n meaning 1..n, or a tuple of widths) as a tuple or None."""
    if value is None:
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1:
        return tuple(range(1, int(value) + 1))
    if isinstance(value, (tuple, list)) and value and all(
            isinstance(w, (int, np.integer)) and not isinstance(w, bool) and w >= 1 for w in value):
        return tuple(int(w) for w in value)
    raise ValueError(f"{where}: ngrams must be None, a positive integer, or a tuple of positive integers. "
                     f"Received: ngrams={value!r}")


def ranked(counts):
    """Tokens by count, most frequent first; ties broken by the token, highest first (Keras's
    ``np.lexsort((tokens, counts))[::-1]``: for strings the order of their UTF-8 bytes, which is code point
    order, for integers their value)."""
    return [token for token, _ in sorted(counts.items(), key=lambda item: (item[1], item[0]), reverse=True)]
