"""Weight initializers, by Keras name: ``"glorot_uniform"``, ``"he_normal"``, ``"zeros"``, ...

An initializer is called with a shape and a dtype and returns a NumPy array (the initial value
of a ``Variable``); random ones draw from pyml's seeded generator (``pyml.set_random_seed``).

    >>> init = pyml.initializers.get("glorot_uniform")
    >>> init((64, 10)).shape
    (64, 10)
    >>> pyml.initializers.Constant(0.5)((2,))
    array([0.5, 0.5], dtype=float32)
"""
import math

import numpy as np

from pyml import configurable, dtypes, random
from pyml.configurable import Configurable


class Initializer(Configurable):
    """Base class: ``__call__(shape, dtype)`` returns a NumPy array; ``get_config`` describes it.

    >>> class Arange(pyml.initializers.Initializer):
    ...     def __call__(self, shape, dtype="float32"):
    ...         return np.arange(np.prod(shape), dtype=dtype).reshape(shape)
    >>> pyml.layers.Dense(2, kernel_initializer=Arange())(np.ones((1, 2))).numpy()
    array([[2., 4.]], dtype=float32)
    """

    def __call__(self, shape, dtype="float32"):
        raise NotImplementedError


class Zeros(Initializer):
    """All zeros.

    >>> pyml.initializers.Zeros()((2,))
    array([0., 0.], dtype=float32)
    """

    def __call__(self, shape, dtype="float32"):
        return np.zeros(tuple(shape), dtype=dtypes.canonical(dtype))


class Ones(Initializer):
    """All ones.

    >>> pyml.initializers.Ones()((2,))
    array([1., 1.], dtype=float32)
    """

    def __call__(self, shape, dtype="float32"):
        return np.ones(tuple(shape), dtype=dtypes.canonical(dtype))


class Constant(Initializer):
    """Every element equal to ``value``.

    >>> pyml.initializers.Constant(3.0)((2,))
    array([3., 3.], dtype=float32)
    """

    def __init__(self, value=0.0):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ValueError(f"Constant expects a Python number. Received: value={value!r}")
        self.value = float(value)

    def __call__(self, shape, dtype="float32"):
        return np.full(tuple(shape), self.value, dtype=dtypes.canonical(dtype))

    def get_config(self):
        return {"value": self.value}


class _Seeded(Initializer):
    """An initializer with an optional ``seed``: with one, its draws are reproducible on their own."""

    def __init__(self, seed=None):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"{type(self).__name__} expects seed to be an int or None. Received: seed={seed!r}")
        self.seed = seed
        self._generator = None if seed is None else random.generator(seed)

    def _rng(self):
        return random.generator() if self._generator is None else self._generator

    def get_config(self):
        return {"seed": self.seed}


class RandomNormal(_Seeded):
    """Normal samples with ``mean`` and ``stddev``.

    >>> bool(pyml.initializers.RandomNormal(stddev=0.01, seed=1)((3, 3)).std() < 0.05)
    True
    """

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = float(mean), float(stddev)

    def __call__(self, shape, dtype="float32"):
        return random.normal(shape, self.mean, self.stddev, dtypes.canonical(dtype), seed=self._rng())

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class RandomUniform(_Seeded):
    """Samples uniform in ``[minval, maxval)``.

    >>> w = pyml.initializers.RandomUniform(-1.0, 1.0, seed=1)((100,))
    >>> bool(w.min() >= -1.0 and w.max() < 1.0)
    True
    """

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        if not minval < maxval:
            raise ValueError(f"RandomUniform expects minval < maxval. Received: minval={minval}, maxval={maxval}")
        self.minval, self.maxval = float(minval), float(maxval)

    def __call__(self, shape, dtype="float32"):
        return random.uniform(shape, self.minval, self.maxval, dtypes.canonical(dtype), seed=self._rng())

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, **super().get_config()}


class TruncatedNormal(RandomNormal):
    """Normal samples, redrawn beyond two standard deviations from the mean.

    >>> w = pyml.initializers.TruncatedNormal(stddev=1.0, seed=0)((1000,))
    >>> bool(abs(w).max() <= 2.0)
    True
    """

    def __call__(self, shape, dtype="float32"):
        return random.truncated_normal(shape, self.mean, self.stddev, dtypes.canonical(dtype), seed=self._rng())


def compute_fans(shape):
    """``(fan_in, fan_out)`` of a kernel shape, Keras convention: ``(..., in, out)`` with a receptive field.

    >>> pyml.initializers.compute_fans((3, 3, 8, 16))         # a 3x3 Conv2D kernel from 8 to 16 channels
    (72, 144)
    """
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


class VarianceScaling(_Seeded):
    """Samples scaled to the kernel's fan: variance ``scale / n``, with ``n`` from ``mode``.

    Args:
        scale: positive float.
        mode: ``"fan_in"``, ``"fan_out"`` or ``"fan_avg"``.
        distribution: ``"truncated_normal"``, ``"untruncated_normal"`` or ``"uniform"``.
        seed: optional int.

    >>> w = pyml.initializers.VarianceScaling(2.0, "fan_in", "uniform", seed=0)((1000, 10))
    >>> round(float(w.var() * 1000), 1)
    2.0
    """

    MODES = ("fan_in", "fan_out", "fan_avg")
    DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(seed)
        if not scale > 0:
            raise ValueError(f"VarianceScaling expects scale > 0. Received: scale={scale}")
        if mode not in self.MODES:
            raise ValueError(f"VarianceScaling expects mode in {self.MODES}. Received: mode={mode!r}")
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in self.DISTRIBUTIONS:
            raise ValueError(
                f"VarianceScaling expects distribution in {self.DISTRIBUTIONS}. Received: distribution={distribution!r}")
        self.scale, self.mode, self.distribution = float(scale), mode, distribution

    def __call__(self, shape, dtype="float32"):
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        dtype = dtypes.canonical(dtype)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return random.uniform(shape, -limit, limit, dtype, seed=self._rng())
        if self.distribution == "untruncated_normal":
            return random.normal(shape, 0.0, math.sqrt(variance), dtype, seed=self._rng())
        # std of a unit normal truncated to [-2, 2], so the result keeps the target variance
        stddev = math.sqrt(variance) / 0.87962566103423978
        return random.truncated_normal(shape, 0.0, stddev, dtype, seed=self._rng())

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, **super().get_config()}


class Orthogonal(_Seeded):
    """A random orthogonal matrix (Keras semantics): the shape is flattened to ``(prod(shape[:-1]), shape[-1])``, a
    normal matrix of that shape (transposed when it has fewer rows than columns) is QR-factorised, ``q`` is made
    unique by the signs of ``r``'s diagonal, and multiplied by ``gain``. Keras' default for recurrent kernels.

    >>> q = pyml.initializers.Orthogonal(seed=0)((4, 4))
    >>> bool(np.allclose(q @ q.T, np.eye(4), atol=1e-5))
    True
    """

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = float(gain)

    def __call__(self, shape, dtype="float32"):
        shape = tuple(shape)
        if len(shape) < 2:
            raise ValueError(f"Orthogonal needs a shape of rank >= 2. Received: shape={shape}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = random.normal((max(rows, cols), min(rows, cols)), 0.0, 1.0, "float64", seed=self._rng())
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))  # unique: the distribution is uniform over orthogonal matrices
        if rows < cols:
            q = q.T
        return (self.gain * q).reshape(shape).astype(dtypes.canonical(dtype))

    def get_config(self):
        return {"gain": self.gain, **super().get_config()}


def _preset(class_name, scale, mode, distribution, doc):
    def __init__(self, seed=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self):
        return {"seed": self.seed}

    doc += (f"\n\n    >>> pyml.initializers.{class_name}(seed=0)((64, 32)).shape\n    (64, 32)\n    ")
    return type(class_name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config, "__doc__": doc})


GlorotUniform = _preset("GlorotUniform", 1.0, "fan_avg", "uniform",
                        "Uniform in ±sqrt(6 / (fan_in + fan_out)) (Keras default for kernels).")
GlorotNormal = _preset("GlorotNormal", 1.0, "fan_avg", "truncated_normal",
                       "Truncated normal with stddev sqrt(2 / (fan_in + fan_out)).")
HeUniform = _preset("HeUniform", 2.0, "fan_in", "uniform", "Uniform in ±sqrt(6 / fan_in).")
HeNormal = _preset("HeNormal", 2.0, "fan_in", "truncated_normal", "Truncated normal with stddev sqrt(2 / fan_in).")
LecunUniform = _preset("LecunUniform", 1.0, "fan_in", "uniform", "Uniform in ±sqrt(3 / fan_in).")
LecunNormal = _preset("LecunNormal", 1.0, "fan_in", "truncated_normal", "Truncated normal with stddev sqrt(1 / fan_in).")

_CLASSES = {cls.__name__: cls for cls in (
    Zeros, Ones, Constant, RandomNormal, RandomUniform, TruncatedNormal, VarianceScaling, Orthogonal,
    GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal)}
_ALIASES = {
    "zeros": Zeros, "ones": Ones, "constant": Constant, "random_normal": RandomNormal,
    "random_uniform": RandomUniform, "uniform": RandomUniform, "normal": RandomNormal,
    "truncated_normal": TruncatedNormal, "variance_scaling": VarianceScaling, "orthogonal": Orthogonal,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal, "he_uniform": HeUniform,
    "he_normal": HeNormal, "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
}


def serialize(initializer):
    """``{"class_name": ..., "config": ...}`` for an initializer (JSON-ready).

    >>> pyml.initializers.serialize(pyml.initializers.Constant(2.0))
    {'class_name': 'Constant', 'config': {'value': 2.0}}
    """
    return configurable.serialize(initializer)


def get(identifier):
    """An initializer from a Keras name, a serialized dict, an instance or a callable.

    >>> pyml.initializers.get("he_normal")
    HeNormal(seed=None)
    """
    if isinstance(identifier, Initializer) or (callable(identifier) and not isinstance(identifier, type)):
        return identifier
    if isinstance(identifier, dict):
        return configurable.from_class_dict(identifier, "initializer", _CLASSES)
    if isinstance(identifier, str):
        cls = _ALIASES.get(identifier) or _CLASSES.get(identifier)
        if cls is not None:
            return cls()
    raise ValueError(f"Unknown initializer: known ones are {', '.join(sorted(_ALIASES))}. "
                     f"Received: initializer={identifier!r}")
