"""Learning-rate schedules (Keras ``keras.optimizers.schedules``): ``schedule(step) -> learning rate``,
evaluated on the host in float32 (as Keras evaluates them) at the optimizer's ``iterations`` before each step.
A schedule passed as ``learning_rate`` advances every step of ``fit``, compiled or eager, without tracing the
step again (the rate is an input of the compiled step).

    >>> schedule = pyml.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    >>> round(float(schedule(10)), 6)
    0.05
    >>> opt = pyml.optimizers.SGD(learning_rate=schedule)
    >>> round(opt.learning_rate, 6)  # the rate at iterations = 0
    0.1
"""
import math

import numpy as np

F32 = np.float32


class LearningRateSchedule:
    """Base class: implement ``__call__(step)`` (a float32 value) and ``get_config()``.

    >>> class Halving(pyml.optimizers.schedules.LearningRateSchedule):
    ...     def __call__(self, step):
    ...         return np.float32(1.0) / np.float32(2.0) ** np.float32(step)
    ...     def get_config(self):
    ...         return {}
    >>> float(Halving()(3))
    0.125
    """

    def __call__(self, step):
        raise NotImplementedError(f"Learning rate schedule {type(self).__name__!r} must override __call__(self, step)")

    def get_config(self):
        raise NotImplementedError(f"Learning rate schedule {type(self).__name__!r} must override get_config() to be "
                                  "saved")

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _positive(cls, **values):
    for arg, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"{cls} expects {arg} > 0. Received: {arg}={value!r}")


class _RateDecay(LearningRateSchedule):
    """What ``ExponentialDecay`` and ``InverseTimeDecay`` share: their arguments, and the progress
    ``step / decay_steps`` (floored with ``staircase``) their formulas take."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name=None):
        _positive(type(self).__name__, decay_steps=decay_steps)
        self.initial_learning_rate, self.decay_steps, self.decay_rate = initial_learning_rate, decay_steps, decay_rate
        self.staircase, self.name = staircase, name or type(self).__name__

    def _progress(self, step):
        p = F32(step) / F32(self.decay_steps)
        return np.floor(p) if self.staircase else p

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class ExponentialDecay(_RateDecay):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``; with ``staircase`` the exponent is
    floored, so the rate drops every ``decay_steps`` steps.

    >>> s = pyml.optimizers.schedules.ExponentialDecay(1.0, decay_steps=2, decay_rate=0.5, staircase=True)
    >>> [float(s(step)) for step in range(5)]
    [1.0, 1.0, 0.5, 0.5, 0.25]
    """

    def __call__(self, step):
        p = self._progress(step)
        return F32(self.initial_learning_rate) * F32(self.decay_rate) ** p


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[i]`` while ``boundaries[i-1] < step <=
    boundaries[i]``, ``values[-1]`` after the last boundary.

    >>> s = pyml.optimizers.schedules.PiecewiseConstantDecay([2, 4], [1.0, 0.5, 0.25])
    >>> [float(s(step)) for step in range(6)]
    [1.0, 1.0, 1.0, 0.5, 0.5, 0.25]
    """

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        if len(values) != len(boundaries) + 1:
            raise ValueError("PiecewiseConstantDecay expects one more value than boundaries. Received: "
                             f"{len(boundaries)} boundaries and {len(values)} values")
        if list(boundaries) != sorted(boundaries):
            raise ValueError(f"PiecewiseConstantDecay expects increasing boundaries. Received: boundaries={boundaries!r}")
        self.boundaries, self.values, self.name = list(boundaries), list(values), name

    def __call__(self, step):
        index = int(np.searchsorted(self.boundaries, step, side="left"))  # the first boundary >= step
        return F32(self.values[index])

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """``(initial - end) * (1 - step / decay_steps) ** power + end``, with ``step`` capped at ``decay_steps``;
    with ``cycle`` the decay restarts instead, over ``decay_steps * ceil(step / decay_steps)`` steps.

    >>> s = pyml.optimizers.schedules.PolynomialDecay(1.0, decay_steps=4, end_learning_rate=0.0)
    >>> [float(s(step)) for step in (0, 2, 4, 8)]
    [1.0, 0.5, 0.0, 0.0]
    """

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False,
                 name="PolynomialDecay"):
        _positive("PolynomialDecay", decay_steps=decay_steps)
        self.initial_learning_rate, self.decay_steps = initial_learning_rate, decay_steps
        self.end_learning_rate, self.power, self.cycle, self.name = end_learning_rate, power, cycle, name

    def __call__(self, step):
        step, decay_steps = F32(step), F32(self.decay_steps)
        if self.cycle:
            decay_steps = decay_steps * (F32(1) if step == 0 else np.ceil(step / decay_steps))
        else:
            step = min(step, decay_steps)
        p = step / decay_steps
        initial, end = F32(self.initial_learning_rate), F32(self.end_learning_rate)
        return (initial - end) * (F32(1) - p) ** F32(self.power) + end

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power, "cycle": self.cycle,
                "name": self.name}


class InverseTimeDecay(_RateDecay):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)`` (the ratio floored with ``staircase``).

    >>> s = pyml.optimizers.schedules.InverseTimeDecay(1.0, decay_steps=1, decay_rate=1.0)
    >>> [float(s(step)) for step in (0, 1, 3)]
    [1.0, 0.5, 0.25]
    """

    def __call__(self, step):
        p = self._progress(step)
        return F32(self.initial_learning_rate) / (F32(1) + F32(self.decay_rate) * p)


def _cosine(fraction):
    return F32(0.5) * (F32(1) + np.cos(F32(math.pi) * fraction))


class CosineDecay(LearningRateSchedule):
    """Cosine decay, with an optional linear warmup first (as Keras 3):

    without ``warmup_target``: ``initial * ((1 - alpha) * 0.5 (1 + cos(pi · s / decay_steps)) + alpha)``,
    ``s = min(step, decay_steps)``; with it, the rate rises linearly from ``initial_learning_rate`` to
    ``warmup_target`` over ``warmup_steps``, then decays from ``warmup_target`` as above.

    >>> s = pyml.optimizers.schedules.CosineDecay(0.0, decay_steps=4, warmup_target=1.0, warmup_steps=2)
    >>> [round(float(s(step)), 4) for step in (0, 1, 2, 4, 6, 9)]
    [0.0, 0.5, 1.0, 0.5, 0.0, 0.0]
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay", warmup_target=None,
                 warmup_steps=0):
        _positive("CosineDecay", decay_steps=decay_steps)
        self.initial_learning_rate, self.decay_steps, self.alpha, self.name = (initial_learning_rate, decay_steps,
                                                                               alpha, name)
        self.warmup_target, self.warmup_steps = warmup_target, warmup_steps

    def _decay(self, step, decay_from):
        decayed = F32(1 - self.alpha) * _cosine(step / F32(self.decay_steps)) + F32(self.alpha)
        return decay_from * decayed

    def __call__(self, step):
        initial, decay_steps, step = F32(self.initial_learning_rate), F32(self.decay_steps), F32(step)
        if self.warmup_target is None:
            return self._decay(min(step, decay_steps), initial)
        target, warmup_steps = F32(self.warmup_target), F32(self.warmup_steps)
        step = min(step, decay_steps + warmup_steps)
        if step < warmup_steps:
            return (target - initial) * (step / warmup_steps) + initial
        return self._decay(step - warmup_steps, target)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR): the first period lasts ``first_decay_steps``, each next one
    ``t_mul`` times longer and starting ``m_mul`` times lower; within a period, as ``CosineDecay``.

    >>> s = pyml.optimizers.schedules.CosineDecayRestarts(1.0, first_decay_steps=2, t_mul=1.0, m_mul=0.5)
    >>> [round(float(s(step)), 4) for step in (0, 1, 2, 3, 4)]
    [1.0, 0.5, 0.5, 0.25, 0.25]
    """

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0, name="SGDRDecay"):
        _positive("CosineDecayRestarts", first_decay_steps=first_decay_steps)
        self.initial_learning_rate, self.first_decay_steps = initial_learning_rate, first_decay_steps
        self._t_mul, self._m_mul, self.alpha, self.name = t_mul, m_mul, alpha, name

    def __call__(self, step):
        t_mul, m_mul, alpha = F32(self._t_mul), F32(self._m_mul), F32(self.alpha)
        fraction = F32(step) / F32(self.first_decay_steps)
        if t_mul == 1:
            restart = np.floor(fraction)
            fraction = fraction - restart
        else:  # periods grow geometrically: find the period by the sum of the series
            restart = np.floor(np.log(F32(1) - fraction * (F32(1) - t_mul)) / np.log(t_mul))
            done = (F32(1) - t_mul ** restart) / (F32(1) - t_mul)
            fraction = (fraction - done) / t_mul ** restart
        cosine = F32(0.5) * m_mul ** restart * (F32(1) + np.cos(F32(math.pi) * fraction))
        return F32(self.initial_learning_rate) * ((F32(1) - alpha) * cosine + alpha)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "first_decay_steps": self.first_decay_steps,
                "t_mul": self._t_mul, "m_mul": self._m_mul, "alpha": self.alpha, "name": self.name}


_CLASSES = {cls.__name__: cls for cls in (ExponentialDecay, PiecewiseConstantDecay, PolynomialDecay,
                                          InverseTimeDecay, CosineDecay, CosineDecayRestarts)}


def serialize(schedule):
    """``{"class_name", "config"}`` for a schedule (JSON-ready)."""
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config, custom_objects=None):
    """A schedule from ``serialize``'s output; custom schedule classes come from ``custom_objects``."""
    name = config.get("class_name") if isinstance(config, dict) else None
    cls = (custom_objects or {}).get(name) or _CLASSES.get(name)
    if cls is None:
        raise ValueError(f"Unknown learning rate schedule: known ones are {', '.join(sorted(_CLASSES))} (custom ones "
                         f"go in custom_objects). Received: {config!r}")
    return cls.from_config(config.get("config", {}))


__all__ = ["LearningRateSchedule", *_CLASSES, "serialize", "deserialize"]
