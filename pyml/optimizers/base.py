"""The optimizer base class: learning rate (a float or a schedule), gradient clipping, decoupled weight decay,
the moving average of the weights (EMA) and the per-variable state ("slots"), in the shape of Keras 3's
``BaseOptimizer``. The update rules live in ``sgd.py``, ``adam.py`` and ``adaptive.py``.

    >>> w = pyml.Variable([1.0, 2.0], name="w")
    >>> opt = pyml.optimizers.SGD(learning_rate=0.5)
    >>> opt.apply_gradients([(pyml.Tensor([1.0, 1.0]), w)])
    >>> w.numpy()
    array([0.5, 1.5], dtype=float32)
    >>> opt.iterations
    1

Optimizer state is training-only (it is never exported), so updates work on backend arrays
(``Variable.data``, NumPy or CuPy) through ``Variable.assign``, outside autodiff. Every number of a step is
float32, computed as Keras computes it (``1 - beta_1 ** t`` with ``t`` and the power in float32), so long
runs track Keras to float32 rounding.
"""
import re

import numpy as np

from pyml import backend
from pyml.tensor import Tensor

F32 = np.float32


class Optimizer:
    """Base class.

    Args:
        learning_rate: a float, a ``pyml.optimizers.schedules.LearningRateSchedule``, or a callable
            ``schedule(iterations) -> float``.
        weight_decay: decoupled weight decay, applied before the update: ``variable -= variable * wd * lr``.
        clipnorm: clip each gradient to this L2 norm.
        clipvalue: clip each gradient entry to ``[-clipvalue, clipvalue]``.
        global_clipnorm: clip all gradients together to this global L2 norm.
            At most one of ``clipnorm``, ``clipvalue`` and ``global_clipnorm`` may be set (as Keras).
        use_ema: keep an exponential moving average of the weights (``average = m * average + (1 - m) *
            variable``, the first step copying the variable); ``fit`` ends by writing the averages into the
            weights (``finalize_variable_values``), as Keras does.
        ema_momentum: ``m`` above (0.99).
        ema_overwrite_frequency: every this many steps, write the averages into the weights (None: never).
        gradient_accumulation_steps: update every this many steps (>= 2), with the mean of their gradients;
            in between, the gradients add up in the slot ``gradient_accumulator``. ``iterations`` then counts
            updates (``steps_seen // gradient_accumulation_steps``), schedules read the steps seen (as Keras).
        loss_scale_factor: accepted as None only (not implemented).
        name: name of the optimizer.

    A built-in optimizer states its rule once, as a pure function ``_update(xp, value, gradient, slots,
    hyper) -> (new value, new slots)`` written with operators and ``xp.sqrt``/``xp.maximum``: eagerly
    ``xp`` is NumPy and the arguments are one variable's arrays; in ``fit``'s compiled step ``xp`` is
    ``pyml.ops`` and they are every parameter at once, as one flat tensor (see ``pyml.models.compiled_step``).
    ``_slot_specs`` names the slots and ``_hyperparameters`` gives the per-step float32 numbers (the learning
    rate, Adam's bias-corrected rate), which the compiled step takes as inputs, so schedules and callbacks
    that change the learning rate keep working without tracing again.

    A subclass may instead update one variable in ``update_step``, as in Keras (``fit`` then runs eagerly):

    >>> class SignSGD(pyml.optimizers.Optimizer):
    ...     def update_step(self, gradient, variable, learning_rate):
    ...         variable.assign(variable.data - learning_rate * np.sign(gradient))
    >>> w = pyml.Variable([1.0, 1.0])
    >>> SignSGD(learning_rate=0.5).apply_gradients([(pyml.Tensor([3.0, -0.1]), w)])
    >>> w.numpy()
    array([0.5, 1.5], dtype=float32)
    """

    def __init__(self, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None):
        cls = type(self).__name__
        _check_learning_rate(cls, learning_rate)
        if sum(arg is not None for arg in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(f"{cls}: Only one of clipnorm, clipvalue and global_clipnorm can be set. "
                             f"Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                             f"global_clipnorm={global_clipnorm}")
        for arg, value in (("weight_decay", weight_decay), ("clipnorm", clipnorm), ("clipvalue", clipvalue),
                           ("global_clipnorm", global_clipnorm)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
                raise ValueError(f"{cls} expects {arg} to be None or a non-negative float. Received: {arg}={value!r}")
        if not 0 <= ema_momentum <= 1:
            raise ValueError(f"{cls} expects ema_momentum in [0, 1]. Received: ema_momentum={ema_momentum!r}")
        if ema_overwrite_frequency is not None and (not isinstance(ema_overwrite_frequency, int)
                                                    or ema_overwrite_frequency < 1):
            raise ValueError(f"{cls} expects ema_overwrite_frequency to be None or an int >= 1. "
                             f"Received: ema_overwrite_frequency={ema_overwrite_frequency!r}")
        if gradient_accumulation_steps is not None and (not isinstance(gradient_accumulation_steps, int)
                                                        or gradient_accumulation_steps < 2):
            raise ValueError(f"{cls} expects gradient_accumulation_steps to be None or an int >= 2. "
                             f"Received: gradient_accumulation_steps={gradient_accumulation_steps!r}")
        if loss_scale_factor is not None:
            raise NotImplementedError(f"{cls}: loss_scale_factor is not supported by pyml yet; pass None. "
                                      f"Received: loss_scale_factor={loss_scale_factor!r}")
        self._learning_rate = learning_rate if callable(learning_rate) else F32(learning_rate)
        self.weight_decay, self.clipnorm, self.clipvalue = weight_decay, clipnorm, clipvalue
        self.global_clipnorm = global_clipnorm
        self.use_ema, self.ema_momentum = bool(use_ema), float(ema_momentum)
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.name = name or cls.lower()
        self.steps_seen = 0  # calls to apply_gradients (Keras' _iterations); iterations counts updates
        self.built = False
        self._slots = {}  # (id(variable), slot name) -> backend array
        self._tracked = {}  # id(variable) -> variable, for every variable built (keeps ids from being reused)
        self._exclude_ids, self._exclude_pattern = set(), None

    @property
    def iterations(self):
        """The number of updates made (steps taken, or with gradient accumulation, groups of them)."""
        steps = self.gradient_accumulation_steps
        return self.steps_seen // steps if steps else self.steps_seen

    # ---- learning rate --------------------------------------------------------------------------------
    @property
    def learning_rate(self):
        """The current learning rate, a Python float holding a float32 value (a schedule is evaluated at
        the steps seen). Setting a float replaces it; a schedule's rate cannot be set (as Keras)."""
        return float(self._current_learning_rate())

    @learning_rate.setter
    def learning_rate(self, value):
        from pyml.optimizers.schedules import LearningRateSchedule

        if isinstance(self._learning_rate, LearningRateSchedule) and not callable(value):
            raise TypeError(f"{type(self).__name__} was created with a LearningRateSchedule as its learning_rate, "
                            f"so its learning rate cannot be set to a number. Received: learning_rate={value!r}")
        _check_learning_rate(type(self).__name__, value)
        self._learning_rate = value if callable(value) else F32(value)

    def _current_learning_rate(self):
        lr = self._learning_rate
        return F32(lr(self.steps_seen)) if callable(lr) else lr

    # ---- slots -----------------------------------------------------------------------------------------
    def build(self, variables):
        """Create the optimizer's slots for ``variables`` (those ``slot_specs`` names)."""
        for variable in variables:
            for name, value in self.slot_specs():
                self.add_slot(variable, name, value)
        self.built = True

    def add_slot(self, variable, name, value=0.0):
        """A backend array like ``variable``, filled with ``value``, stored under ``(variable, name)``."""
        array = backend.xp().full(variable.shape, value, dtype=variable.dtype)
        self._slots[(id(variable), name)] = array
        return array

    def slot(self, variable, name):
        return self._slots[(id(variable), name)]

    def set_slot(self, variable, name, array):
        self._slots[(id(variable), name)] = array

    def slot_specs(self):
        """``[(slot name, initial value)]`` for every variable: the rule's slots, then the EMA ``average`` and
        the ``gradient_accumulator`` when they are on."""
        return (self._slot_specs() + ([("average", 0.0)] if self.use_ema else [])
                + ([("gradient_accumulator", 0.0)] if self.gradient_accumulation_steps else []))

    def track(self, variables):
        """Build the slots of the variables not seen before."""
        missing = [v for v in variables if id(v) not in self._tracked]
        if missing:
            self.build(missing)
            self._tracked.update((id(v), v) for v in missing)

    def untrack(self, variables):
        """Forget ``variables`` and their slots (the compiled step leaves out variables with no gradient)."""
        for variable in variables:
            if self._tracked.pop(id(variable), None) is not None:
                for name, _ in self.slot_specs():
                    self._slots.pop((id(variable), name), None)

    # ---- the rule, stated once (see the class docstring) -------------------------------------------
    def _slot_specs(self):
        """``[(slot name, initial value)]``: the state this optimizer's rule keeps per variable."""
        return []

    def _hyperparameters(self, learning_rate):
        """The float32 numbers ``_update`` reads for the step at ``self.iterations``."""
        return {"learning_rate": learning_rate}

    def _update(self, xp, value, gradient, slots, hyper):
        """``(new value, {slot: new array})`` from a value, its gradient, its slots and ``hyper``."""
        raise NotImplementedError(f"{type(self).__name__} implements neither _update nor update_step")

    def step_hyperparameters(self):
        """Every number one step reads (float32), for the current iteration: ``_hyperparameters`` at the
        current learning rate, plus ``weight_decay`` and ``learning_rate`` when decay is on and
        ``ema_momentum`` (0 at the first step, as Keras) with EMA."""
        lr = self._current_learning_rate()
        hyper = self._hyperparameters(lr)
        if self.weight_decay:
            hyper.update(weight_decay=F32(self.weight_decay), learning_rate=lr)
        if self.use_ema:
            hyper["ema_momentum"] = F32(self.ema_momentum if self.iterations else 0.0)
        if self.gradient_accumulation_steps:
            hyper["apply_update"] = F32(self._updates_now())
        return hyper

    def _updates_now(self):
        """Whether this step updates the weights (with gradient accumulation, every steps-th one)."""
        steps = self.gradient_accumulation_steps
        return not steps or (self.steps_seen + 1) % steps == 0

    def apply_rule(self, xp, value, gradient, slots, hyper, decay_mask=None, raw_gradient=None):
        """The whole step on flat arrays (the compiled step's buffers): weight decay, the rule, the moving
        average. ``decay_mask`` (1 where decay applies, 0 where excluded) or None (all). With gradient
        accumulation, ``gradient`` is the mean of the group (used on update steps) and ``raw_gradient``
        this step's own: the update is computed every step and kept on update steps only (as Keras on JAX)."""
        new_value = self._decayed(value, hyper, decay_mask) if "weight_decay" in hyper else value
        new_value, new_slots = self._update(xp, new_value, gradient, slots, hyper)
        if self.gradient_accumulation_steps:
            update = hyper["apply_update"] > 0.5
            new_value = xp.where(update, new_value, value)
            new_slots = {name: xp.where(update, array, slots[name]) for name, array in new_slots.items()}
            new_slots["gradient_accumulator"] = xp.where(update, xp.zeros_like(raw_gradient),
                                                         slots["gradient_accumulator"] + raw_gradient)
        if self.use_ema:
            new_slots["average"] = self._averaged(slots["average"], new_value, hyper)
        return new_value, new_slots

    def accumulated_gradients(self, grads, accumulators):
        """With gradient accumulation, the gradients an update step applies: ``(g + accumulated) / steps``."""
        return [(g + a) / self.gradient_accumulation_steps for g, a in zip(grads, accumulators)]

    @staticmethod
    def _decayed(value, hyper, mask=None):
        """``value - value * weight_decay * lr`` (Keras' order of operations); times 0 where masked out."""
        decay = value * hyper["weight_decay"] * hyper["learning_rate"]
        return value - (decay if mask is None else decay * mask)

    @staticmethod
    def _averaged(average, value, hyper):
        momentum = hyper["ema_momentum"]
        return momentum * average + (1 - momentum) * value

    def update_step(self, gradient, variable, learning_rate):
        """Update ``variable`` in place from ``gradient`` (backend arrays), by ``_update``."""
        slots = {name: self.slot(variable, name) for name, _ in self._slot_specs()}
        value, new_slots = self._update(backend.xp(), variable.data, gradient, slots,
                                        self._hyperparameters(F32(learning_rate)))
        for name, array in new_slots.items():
            self.set_slot(variable, name, array)
        variable.assign(value)

    def clip_gradients(self, xp, grads):
        """``grads`` clipped as Keras does (``xp``: NumPy on arrays, or ``pyml.ops`` on tensors):
        ``g * clipnorm / max(‖g‖, clipnorm)``; all by ``clipnorm * min(1 / ‖all‖, 1 / clipnorm)``; or clipped
        entries."""
        if self.clipnorm:
            return [g * self.clipnorm / xp.maximum(xp.sqrt(xp.sum(g * g)), self.clipnorm) for g in grads]
        if self.global_clipnorm:
            norm = xp.sqrt(sum(xp.sum(g * g) for g in grads))
            scale = self.global_clipnorm * xp.minimum(1.0 / norm, 1.0 / self.global_clipnorm)
            return [g * scale for g in grads]
        if self.clipvalue:
            return [xp.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    # ---- weight decay exclusions -------------------------------------------------------------------
    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Leave out of weight decay the variables in ``var_list`` and those whose name contains one of
        ``var_names`` (e.g. ``["bias"]``). Call before training starts.

        >>> opt = pyml.optimizers.AdamW(weight_decay=0.01)
        >>> opt.exclude_from_weight_decay(var_names=["bias"])
        """
        if self.built:
            raise ValueError(f"{type(self).__name__}: exclude_from_weight_decay() must be called before the "
                             "optimizer is built (before the first training step)")
        self._exclude_ids = {id(v) for v in var_list or []}
        names = sorted(set(var_names or []))
        self._exclude_pattern = re.compile("|".join(map(re.escape, names))) if names else None

    def uses_weight_decay(self, variable):
        """Whether ``weight_decay`` applies to ``variable`` (see ``exclude_from_weight_decay``)."""
        if not self.weight_decay or id(variable) in self._exclude_ids:
            return False
        return self._exclude_pattern is None or not self._exclude_pattern.search(variable.name or "")

    # ---- a step ------------------------------------------------------------------------------------------
    def apply_gradients(self, grads_and_vars):
        """Apply one update to each variable from its gradient; pairs whose gradient is None are skipped.

        Args:
            grads_and_vars: iterable of ``(gradient, variable)`` (gradients as Tensors or arrays).
        """
        pairs = [(g, v) for g, v in grads_and_vars if g is not None]
        if not pairs:
            return
        variables = [v for _, v in pairs]
        self.track(variables)
        grads = [g.data if isinstance(g, Tensor) else backend.asarray(g) for g, _ in pairs]
        for g, v in zip(grads, variables):
            if tuple(g.shape) != v.shape:
                raise ValueError(f"{type(self).__name__}: gradient for variable {v.name!r} has shape "
                                 f"{tuple(g.shape)}, the variable has shape {v.shape}")
        grads = [g.astype(v.dtype, copy=False) for g, v in zip(grads, variables)]
        hyper = self.step_hyperparameters()
        updates = self._updates_now()
        if self.gradient_accumulation_steps:
            accumulators = [self.slot(v, "gradient_accumulator") for v in variables]
            for g, a, v in zip(grads, accumulators, variables):
                self.set_slot(v, "gradient_accumulator", backend.xp().zeros_like(a) if updates else a + g)
            grads = self.accumulated_gradients(grads, accumulators)
        if updates:
            grads = self.clip_gradients(backend.xp(), grads)
            lr = self._current_learning_rate()
            for g, v in zip(grads, variables):
                if self.uses_weight_decay(v):
                    v.assign(self._decayed(v.data, hyper))
                self.update_step(g, v, lr)
            apply_constraints(variables)
        if self.use_ema:
            for v in variables:
                self.set_slot(v, "average", self._averaged(self.slot(v, "average"), v.data, hyper))
        self.finish_step(variables)

    def finish_step(self, variables):
        """After a step's updates (eager, or the compiled step's): count it, and every
        ``ema_overwrite_frequency`` updates write the moving averages into ``variables``."""
        overwrite = self.use_ema and self.ema_overwrite_frequency and (
            (self.iterations + 1) % self.ema_overwrite_frequency == 0)  # before counting, as Keras
        if self._updates_now():
            self._advance()
        self.steps_seen += 1
        if overwrite:
            self.finalize_variable_values(variables)

    def _advance(self):
        """Move host-side state that a step changes (Nadam's momentum product) to the next step."""

    def finalize_variable_values(self, var_list):
        """With ``use_ema``, write the moving averages into ``var_list`` (``fit`` calls this at its end)."""
        if self.use_ema:
            for variable in var_list:
                if id(variable) in self._tracked:
                    variable.assign(backend.xp().array(self.slot(variable, "average"), copy=True))

    def minimize(self, loss_fn, var_list):
        """One step on ``loss_fn()`` (a function returning a scalar Tensor) over ``var_list``."""
        from pyml.autodiff import GradientTape

        with GradientTape() as tape:
            loss = loss_fn()
        self.apply_gradients(zip(tape.gradient(loss, list(var_list)), var_list))
        return loss

    # ---- state saved with a model ------------------------------------------------------------------
    def scalar_state(self):
        """``{name: NumPy scalar}``: state kept for the whole optimizer (saved with the model)."""
        return {"iterations": np.array(self.steps_seen, dtype=np.int64)}  # steps seen, as Keras saves it

    def set_scalar_state(self, state):
        self.steps_seen = int(state["iterations"])

    # ---- config ------------------------------------------------------------------------------------------
    def get_config(self):
        from pyml.optimizers import schedules

        lr = self._learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            lr = schedules.serialize(lr)
        elif callable(lr):
            lr = None  # a plain function cannot be saved; from_config falls back to the default rate
        else:
            lr = float(lr)
        return {"name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue,
                "use_ema": self.use_ema, "ema_momentum": self.ema_momentum,
                "ema_overwrite_frequency": self.ema_overwrite_frequency, "loss_scale_factor": None,
                "gradient_accumulation_steps": self.gradient_accumulation_steps}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from pyml.optimizers import schedules

        config = dict(config)
        if config.get("learning_rate") is None:
            config.pop("learning_rate", None)
        elif isinstance(config["learning_rate"], dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"], custom_objects)
        return cls(**config)


def _check_learning_rate(cls, learning_rate):
    if not callable(learning_rate) and (isinstance(learning_rate, bool) or
                                        not isinstance(learning_rate, (int, float, np.floating)) or learning_rate < 0):
        raise ValueError(f"{cls} expects learning_rate to be a non-negative float or a schedule. "
                         f"Received: learning_rate={learning_rate!r}")


def apply_constraints(variables):
    """Project each variable that has a ``constraint`` (``Layer.add_weight(constraint=...)``) after its update,
    as Keras 3's optimizers do; ``fit``'s compiled step does the same in its graph (``compiled_step``)."""
    from pyml.autodiff import no_grad

    with no_grad():
        for variable in variables:
            if variable.constraint is not None:
                variable.assign(variable.constraint(variable))
