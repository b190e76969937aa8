"""The property every public call must have, and the hypothesis strategies of bad inputs the API tests share.

The property (``attempt``): a call on any input either returns (and then the test compares the result with a
NumPy reference where the input was valid) or raises a ValueError or TypeError (pyml's own errors subclass
them, pyml/errors.py) whose message names the argument, op or layer at fault: never another exception (an
IndexError, AttributeError, KeyError, ZeroDivisionError, OverflowError or MemoryError from deep inside), never a
message that is only NumPy's ("could not broadcast", "invalid literal for int()"), never a hang.

CI runs a fixed number of examples per test (6 to 40), derandomized (the same examples every run; a failure prints its
example as hypothesis does). ``scripts/fuzz_api.py`` is the long run: ``PYML_API_FUZZ_EXAMPLES`` raises the
count and a seed replaces derandomizing.
"""
import math
import os
import signal
from contextlib import contextmanager

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

LONG_RUN = int(os.environ.get("PYML_API_FUZZ_EXAMPLES", "0"))
TIME_LIMIT_S = 20  # a call slower than this on tiny inputs hangs (the CI machine is 2 shared cores)

# Messages that are NumPy's or Python's own, not pyml's: a message may quote one, but not open with it.
RAW = ("could not broadcast", "setting an array element", "invalid literal for int()", "object is not iterable",
       "not supported between instances", "argument must be a string or a real number", "has no len()",
       "only integer scalar arrays", "could not convert string to float", "unhashable type", "list index out",
       "tuple index out", "unsupported operand type", "object cannot be interpreted")


def examples(ci_count):
    """hypothesis settings: ``ci_count`` derandomized examples in CI, ``PYML_API_FUZZ_EXAMPLES`` in the long run."""
    return settings(max_examples=LONG_RUN or ci_count, deadline=None, derandomize=not LONG_RUN, database=None,
                    print_blob=True, suppress_health_check=list(HealthCheck))


class Refused:
    """What ``attempt`` returns for a call refused with a clear error (``error``: the exception)."""

    def __init__(self, error):
        self.error = error

    def __repr__(self):
        return f"Refused({type(self.error).__name__}: {self.error})"


@contextmanager
def time_limit(seconds=TIME_LIMIT_S):
    def hung(signum, frame):
        raise AssertionError(f"the call hung (over {seconds} s)")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def attempt(call, names, errors=(ValueError, TypeError)):
    """``call()``'s result, or ``Refused`` when it raised one of ``errors`` naming one of ``names`` (case-insensitive);
    any other exception, an unnamed refusal or a hang fails the test."""
    try:
        with time_limit():
            return call()
    except errors as exc:
        message = str(exc)
        assert any(str(name).lower() in message.lower() for name in names), (
            f"{type(exc).__name__} names none of {list(names)}: {message}")
        opening = message[:80]
        assert not any(raw in opening for raw in RAW), f"a raw NumPy/Python message: {message}"
        return Refused(exc)


def refused(result):
    return isinstance(result, Refused)


# ---- bad values --------------------------------------------------------------------------------------
HUGE = st.integers(min_value=10**13, max_value=2**80)  # fails to allocate at once (never a slow, swapping size)
NOT_NUMBERS = st.one_of(st.none(), st.text(max_size=3), st.lists(st.integers(0, 3), max_size=2),
                        st.dictionaries(st.text(max_size=1), st.integers(), max_size=1), st.just(object()),
                        st.just(1 + 2j))
FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64)


def positive_ints(high=4):
    """Valid small sizes."""
    return st.integers(1, high)


def bad_ints():
    """Values a size/count argument must refuse: zero, negatives, floats (even whole ones: 2.0), bools, huge
    numbers that no memory holds, and non-numbers."""
    return st.one_of(st.integers(-5, 0), FLOATS, st.booleans(), NOT_NUMBERS, st.just(np.float32(2.0)))


def bad_bools():
    return st.one_of(st.integers(-2, 3), FLOATS, NOT_NUMBERS, st.sampled_from(["True", "false", "yes", ""]))


def bad_reals():
    """Non-finite or non-numbers (a finite float may be valid or out of range, depending on the argument)."""
    return st.one_of(st.sampled_from([math.nan, math.inf, -math.inf]), st.booleans(), NOT_NUMBERS)


def is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_real(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)) \
        and math.isfinite(value)


def small_shapes(min_dims=0, max_dims=4, min_side=0, max_side=3):
    return st.lists(st.integers(min_side, max_side), min_size=min_dims, max_size=max_dims).map(tuple)


DTYPES = ("float32", "float64", "int32", "int64", "bool", "uint8", "float16", "complex64", "object", "str")


def arrays(shape, dtype, seed=0):
    """A deterministic array of ``shape`` and ``dtype`` (values small, so every op stays finite on floats)."""
    values = np.random.default_rng(seed).uniform(-2, 2, size=shape)
    if dtype == "object":
        return values.astype(object)
    if dtype == "str":
        return values.astype(str)
    if dtype == "bool":
        return values > 0
    return values.astype(dtype)
