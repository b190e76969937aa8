"""The metric base classes: ``Metric`` (the stateful contract), ``Mean`` and ``MeanMetricWrapper``.

Metrics run on the numbers a batch produced, not on the autodiff graph: every class here turns its
inputs into NumPy arrays (``to_numpy``) and keeps its running state in float64 NumPy values.
"""
import numbers

import numpy as np

from pyml.errors import OpError

EPSILON = 1e-7  # Keras' backend.epsilon(), used where Keras adds it to a denominator


def to_numpy(x, dtype=None):
    """``x`` (a Tensor, array, list or number) as a NumPy array."""
    if hasattr(x, "numpy") and not isinstance(x, np.ndarray):
        x = x.numpy()
    return np.asarray(x, dtype=dtype)


def match_ranks(y_true, y_pred):
    """NumPy ``(y_true, y_pred)`` with a trailing axis of 1 added or dropped on ``y_true`` when the ranks differ
    by it (Keras' ``squeeze_or_expand_to_same_rank``)."""
    if y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1:
        y_true = y_true[..., None]
    elif y_pred.ndim == y_true.ndim - 1 and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    return y_true, y_pred


def broadcast_weights(sample_weight, shape, name="sample_weight"):
    """``sample_weight`` (None, a number, per sample or per entry) as a float64 array of ``shape``.

    Per-sample weights ``(batch,)`` align with the leading axis, as Keras aligns them.
    """
    if sample_weight is None:
        return np.ones(shape)
    weight = to_numpy(sample_weight, "float64")
    while weight.ndim > len(shape) and weight.shape[-1] == 1:
        weight = weight[..., 0]
    weight = weight.reshape(weight.shape + (1,) * (len(shape) - weight.ndim))
    try:
        return np.broadcast_to(weight, shape)
    except ValueError:
        raise ValueError(f"{name} of shape {to_numpy(sample_weight).shape} does not broadcast to the "
                         f"values of shape {tuple(shape)}") from None


def log_value(value):
    """A metric result as ``fit`` logs it: a Python float, or a NumPy array for vector results (as Keras logs
    ``F1Score(average=None)`` or ``Precision`` with several thresholds)."""
    array = to_numpy(value)
    return float(array) if array.ndim == 0 else array


def check_real(value, argument, owner, low=None, high=None, low_open=False):
    """``value`` as a float, or a ValueError naming ``argument`` when it is not a number in the range
    (``low``/``high`` None: unbounded; ``low_open``: ``low`` itself excluded)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    ok = ok and (low is None or (value > low if low_open else value >= low)) and (high is None or value <= high)
    if not ok:
        bounds = "" if low is None else f" in {'(' if low_open else '['}{low}, {'inf)' if high is None else f'{high}]'}"
        raise ValueError(f"{owner}: argument `{argument}` must be a number{bounds}. Received: {argument}={value!r}")
    return float(value)


class Metric:
    """Base class: ``update_state(...)`` accumulates, ``result()`` reports a Python float (or a NumPy array for
    vector results), ``reset_state()`` starts over.

    Calling a metric updates it and returns the result.

    Args:
        name: the name in logs and History.
        dtype: kept for Keras compatibility (states are float64, results Python floats).

    >>> class Count(pyml.metrics.Metric):
    ...     def __init__(self, name="count"):
    ...         super().__init__(name=name)
    ...         self.reset_state()
    ...     def update_state(self, y_true, y_pred, sample_weight=None):
    ...         self.seen += len(y_true)
    ...     def result(self):
    ...         return float(self.seen)
    ...     def reset_state(self):
    ...         self.seen = 0
    >>> Count()([1, 0, 1], [1, 1, 1])
    3.0
    """

    def __init__(self, name=None, dtype=None):
        from pyml.layers.base import to_snake_case

        self.name = name or to_snake_case(type(self).__name__)
        self.dtype = dtype or "float32"

    def update_state(self, *args, **kwargs):
        raise NotImplementedError

    def result(self):
        raise NotImplementedError

    def reset_state(self):
        raise NotImplementedError

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class Mean(Metric):
    """Running (weighted) mean of the values passed to ``update_state``.

    >>> m = pyml.metrics.Mean()
    >>> m.update_state([1.0, 3.0]); m.update_state([5.0])
    >>> m.result()
    3.0
    """

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.reset_state()

    def reset_state(self):
        self.total, self.count = 0.0, 0.0

    def update_state(self, values, sample_weight=None):
        if isinstance(values, numbers.Real) and isinstance(sample_weight, (numbers.Real, type(None))):
            weight = 1.0 if sample_weight is None else float(sample_weight)  # fit's loss tracker, every batch
            self.total += float(values) * weight
            self.count += weight
            return
        values = to_numpy(values, "float64")
        weight = broadcast_weights(sample_weight, values.shape)
        self.total += float(np.sum(values * weight))
        self.count += float(np.sum(weight))

    def result(self):
        return self.total / self.count if self.count else 0.0


class MeanMetricWrapper(Mean):
    """The running mean of ``fn(y_true, y_pred, **kwargs)`` over all samples seen.

    >>> m = pyml.metrics.MeanMetricWrapper(pyml.metrics.accuracy, name="acc")
    >>> m.update_state(np.array([1, 2]), np.array([1, 2]))
    >>> m.result()
    1.0
    """

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", "mean_metric"), dtype=dtype)
        self._fn, self._fn_kwargs = fn, kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        try:
            values = self._fn(y_true, y_pred, **self._fn_kwargs)
        except OpError as exc:  # shapes the metric cannot pair: say which metric, not only which op
            raise ValueError(f"Metric {self.name!r} cannot compare y_true of shape {np.shape(y_true)} with y_pred of "
                             f"shape {np.shape(y_pred)} ({exc})") from exc
        super().update_state(values, sample_weight)

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs}


def wrapper_class(class_name, fn, default_name, doc, example, module, **defaults):
    """A ``MeanMetricWrapper`` subclass over ``fn`` with Keras' constructor ``(name, dtype, **defaults)`` and a
    docstring whose example (``(y_true, y_pred, result)`` as source text) runs under doctest."""
    def __init__(self, name=default_name, dtype=None, **kwargs):
        unknown = sorted(set(kwargs) - set(defaults))
        if unknown:
            raise TypeError(f"{class_name} got unexpected argument(s) {unknown}; it takes name, dtype"
                            f"{''.join(', ' + k for k in defaults)}")
        MeanMetricWrapper.__init__(self, fn, name=name, dtype=dtype, **{**defaults, **kwargs})

    y_true, y_pred, result = example
    doc += (f"\n\n    >>> m = pyml.metrics.{class_name}()\n    >>> m.update_state({y_true}, {y_pred})\n"
            f"    >>> round(m.result(), 4)\n    {result}\n    ")
    return type(class_name, (MeanMetricWrapper,), {"__init__": __init__, "__doc__": doc, "__module__": module})
