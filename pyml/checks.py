"""Argument checks for the public API (layer constructors, ``fit``/``evaluate``/``predict``, ops).

Each returns the value normalised (an ``int``, ``bool`` or ``float``) or raises a ValueError whose message names
the owner (a string such as ``"fit"``, or a layer, named by its class) and the argument, and ends with what it
received, in pyml's style:

    >>> pyml.checks.positive_int("Dense", "units", 2.5)
    Traceback (most recent call last):
    ValueError: Dense expects `units` to be a positive integer. Received: units=2.5

Python bools are refused where a number is expected (``units=True`` is a slip, not 1), and NaN and infinities
where a finite real is (``epsilon=nan`` would only show up as NaN outputs later).
"""
import math
import numbers
import os

import numpy as np


def _name(owner):
    """A layer (or other object) as its class name; a string as itself."""
    return owner if isinstance(owner, str) else type(owner).__name__


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def positive_int(owner, arg, value):
    """``value`` as an int > 0.

    >>> pyml.checks.positive_int("Dense", "units", np.int64(4))
    4
    """
    if not _is_int(value) or value <= 0:
        raise ValueError(f"{_name(owner)} expects `{arg}` to be a positive integer. Received: {arg}={value!r}")
    return int(value)


def non_negative_int(owner, arg, value):
    """``value`` as an int >= 0.

    >>> pyml.checks.non_negative_int("fit", "epochs", 0)
    0
    """
    if not _is_int(value) or value < 0:
        raise ValueError(f"{_name(owner)} expects `{arg}` to be a non-negative integer. Received: {arg}={value!r}")
    return int(value)


def boolean(owner, arg, value):
    """``value`` as a bool; only True and False (and NumPy's) pass: ``use_bias="no"`` would read as True.

    >>> pyml.checks.boolean("Dense", "use_bias", np.bool_(False))
    False
    """
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{_name(owner)} expects `{arg}` to be True or False. Received: {arg}={value!r}")
    return bool(value)


def real(owner, arg, value, low=None, high=None, low_open=False, high_open=False):
    """``value`` as a finite float in the range (``low``/``high`` None: unbounded; ``*_open``: the bound excluded).

    >>> pyml.checks.real("Dropout", "rate", 0.25, low=0, high=1)
    0.25
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        where = "" if low is None and high is None else " in " + (
            f"{'(' if low_open or low is None else '['}{'-inf' if low is None else low}, "
            f"{'inf' if high is None else high}{')' if high_open or high is None else ']'}")
        raise ValueError(f"{_name(owner)} expects `{arg}` to be a finite number{where}. Received: {arg}={value!r}")
    return float(value)


def axes(owner, arg, value):
    """``value`` as an int, or a non-empty list of ints (axes; their range is checked against the input's rank
    later, when it is known).

    >>> pyml.checks.axes("LayerNormalization", "axis", (1, 2))
    [1, 2]
    """
    if _is_int(value):
        return int(value)
    if isinstance(value, (list, tuple)) and value and all(_is_int(a) for a in value):
        return [int(a) for a in value]
    raise ValueError(f"{_name(owner)} expects `{arg}` to be an int or a list of ints. Received: {arg}={value!r}")


def path(owner, arg, value):
    """``value`` (a str, bytes or ``os.PathLike``) as a non-empty str path.

    >>> import pathlib
    >>> pyml.checks.path("save", "filepath", pathlib.Path("m.pyml"))
    'm.pyml'
    """
    if not isinstance(value, (str, bytes, os.PathLike)) or not os.fspath(value):
        raise TypeError(f"{_name(owner)} expects `{arg}` to be a file path (a non-empty str or os.PathLike). "
                        f"Received: {arg}={value!r}")
    path = os.fsdecode(value)
    if "\x00" in path:  # the OS would refuse it with a bare "embedded null byte"
        raise ValueError(f"{_name(owner)} expects `{arg}` to be a file path without NUL characters. "
                         f"Received: {arg}={value!r}")
    return path
