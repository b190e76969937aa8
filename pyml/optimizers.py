"""Optimizers, in the shape of Keras' ``optimizers/sgd.py``: ``build(variables)`` makes the slots,
``update_step(gradient, variable, learning_rate)`` applies one update, ``apply_gradients`` drives them.

    >>> w = pyml.Variable([1.0, 2.0], name="w")
    >>> opt = pyml.optimizers.SGD(learning_rate=0.1)
    >>> opt.apply_gradients([(pyml.Tensor([1.0, 1.0]), w)])
    >>> w.numpy()
    array([0.9, 1.9], dtype=float32)
    >>> opt.iterations
    1

Optimizer state is training-only (it is never exported), so updates work on backend arrays
(``Variable.data``, NumPy or CuPy) through ``Variable.assign``, outside autodiff.
"""
import math

from pyml import backend
from pyml.tensor import Tensor


class Optimizer:
    """Base class.

    Args:
        learning_rate: a float, or a callable ``schedule(iterations) -> float``.
        weight_decay: decoupled weight decay (``variable -= variable * weight_decay * lr``), or None.
        clipnorm: clip each gradient to this L2 norm.
        clipvalue: clip each gradient entry to ``[-clipvalue, clipvalue]``.
        global_clipnorm: clip all gradients together to this global L2 norm.
            At most one of ``clipnorm``, ``clipvalue`` and ``global_clipnorm`` may be set (as Keras).
        name: name of the optimizer.

    A built-in optimizer states its rule once, as a pure function ``_update(xp, value, gradient, slots,
    hyper) -> (new value, new slots)`` written with operators and ``xp.sqrt``/``xp.maximum``: eagerly
    ``xp`` is NumPy and the arguments are one variable's arrays; in ``fit``'s compiled step ``xp`` is
    ``pyml.ops`` and they are every parameter at once, as one flat tensor (see ``pyml.models.compiled_step``).
    ``_slot_specs`` names the slots and ``_hyperparameters`` gives the per-step numbers (the learning rate,
    Adam's bias-corrected rate), which the compiled step takes as inputs, so schedules and callbacks that
    change the learning rate keep working.

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
                 name=None):
        if not callable(learning_rate) and (isinstance(learning_rate, bool) or
                                            not isinstance(learning_rate, (int, float)) or learning_rate < 0):
            raise ValueError(f"{type(self).__name__} expects learning_rate to be a non-negative float or a schedule. "
                             f"Received: learning_rate={learning_rate!r}")
        if sum(arg is not None for arg in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(f"{type(self).__name__}: Only one of clipnorm, clipvalue and global_clipnorm can be set. "
                             f"Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                             f"global_clipnorm={global_clipnorm}")
        self._learning_rate = learning_rate if callable(learning_rate) else float(learning_rate)
        self.weight_decay, self.clipnorm, self.clipvalue = weight_decay, clipnorm, clipvalue
        self.global_clipnorm = global_clipnorm
        self.name = name or type(self).__name__.lower()
        self.iterations = 0
        self.built = False
        self._slots = {}  # (id(variable), slot name) -> backend array
        self._tracked = {}  # id(variable) -> variable, for every variable built (keeps ids from being reused)

    @property
    def learning_rate(self):
        """The current learning rate (a schedule is evaluated at ``iterations``)."""
        lr = self._learning_rate
        return float(lr(self.iterations)) if callable(lr) else lr

    @learning_rate.setter
    def learning_rate(self, value):
        self._learning_rate = value if callable(value) else float(value)

    def build(self, variables):
        """Create the optimizer's slots for ``variables`` (those ``_slot_specs`` names)."""
        for variable in variables:
            for name, value in self._slot_specs():
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

    # ---- the rule, stated once (see the class docstring) -------------------------------------------
    def _slot_specs(self):
        """``[(slot name, initial value)]``: the state this optimizer keeps per variable."""
        return []

    def _hyperparameters(self, learning_rate):
        """The numbers ``_update`` reads for the step at ``self.iterations`` (Python floats)."""
        return {"learning_rate": learning_rate}

    def _update(self, xp, value, gradient, slots, hyper):
        """``(new value, {slot: new array})`` from a value, its gradient, its slots and ``hyper``."""
        raise NotImplementedError(f"{type(self).__name__} implements neither _update nor update_step")

    def step_hyperparameters(self):
        """Every number one step reads, for the current iteration: ``_hyperparameters`` at the current
        learning rate, plus ``weight_decay`` (the factor ``weight_decay * lr``) when decay is on."""
        lr = self.learning_rate
        hyper = self._hyperparameters(lr)
        if self.weight_decay:
            hyper["weight_decay"] = self.weight_decay * lr
        return hyper

    def update_step(self, gradient, variable, learning_rate):
        """Update ``variable`` in place from ``gradient`` (backend arrays), by ``_update``."""
        slots = {name: self.slot(variable, name) for name, _ in self._slot_specs()}
        value, new_slots = self._update(backend.xp(), variable.data, gradient, slots,
                                        self._hyperparameters(learning_rate))
        for name, array in new_slots.items():
            self.set_slot(variable, name, array)
        variable.assign(value)

    def clip_gradients(self, xp, grads):
        """``grads`` clipped as configured (``xp``: NumPy on arrays, or ``pyml.ops`` on tensors)."""
        if self.clipvalue is not None:
            grads = [xp.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        if self.clipnorm is not None:
            grads = [g * xp.minimum(1.0, self.clipnorm / (xp.sqrt(xp.sum(g * g)) + 1e-12)) for g in grads]
        if self.global_clipnorm is not None:
            norm = xp.sqrt(sum(xp.sum(g * g) for g in grads))
            grads = [g * xp.minimum(1.0, self.global_clipnorm / (norm + 1e-12)) for g in grads]
        return grads

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
        grads = self.clip_gradients(backend.xp(), [g.astype(v.dtype, copy=False) for g, v in zip(grads, variables)])
        lr = self.learning_rate
        for g, v in zip(grads, variables):
            if self.weight_decay:
                v.assign(decay(v.data, self.weight_decay * lr))
            self.update_step(g, v, lr)
        self.iterations += 1
        apply_constraints(variables)

    def track(self, variables):
        """Build the slots of the variables not seen before."""
        missing = [v for v in variables if id(v) not in self._tracked]
        if missing:
            self.build(missing)
            self._tracked.update((id(v), v) for v in missing)

    def minimize(self, loss_fn, var_list):
        """One step on ``loss_fn()`` (a function returning a scalar Tensor) over ``var_list``."""
        from pyml.autodiff import GradientTape

        with GradientTape() as tape:
            loss = loss_fn()
        self.apply_gradients(zip(tape.gradient(loss, list(var_list)), var_list))
        return loss

    def get_config(self):
        lr = self._learning_rate
        return {"name": self.name, "learning_rate": lr if not callable(lr) else None,
                "weight_decay": self.weight_decay, "clipnorm": self.clipnorm, "clipvalue": self.clipvalue,
                "global_clipnorm": self.global_clipnorm}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("learning_rate") is None:
            config.pop("learning_rate", None)
        return cls(**config)


def apply_constraints(variables):
    """Project each variable that has a ``constraint`` (``Layer.add_weight(constraint=...)``) after its update,
    as Keras 3's optimizers do; ``fit``'s compiled step does the same in its graph (``compiled_step``)."""
    from pyml.autodiff import no_grad

    with no_grad():
        for variable in variables:
            if variable.constraint is not None:
                variable.assign(variable.constraint(variable))


def decay(value, factor):
    """Decoupled weight decay: ``value - value * factor`` (``factor = weight_decay * lr``)."""
    return value - value * factor


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum, as Keras:

    ``velocity = momentum * velocity - lr * g``; then ``w += velocity`` (or, with Nesterov,
    ``w += momentum * velocity - lr * g``). Without momentum, ``w -= lr * g``.

    Args:
        learning_rate: default 0.01.
        momentum: float in [0, 1].
        nesterov: use Nesterov momentum.

    >>> opt = pyml.optimizers.SGD(learning_rate=0.1, momentum=0.9)
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name="SGD", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if not isinstance(momentum, (int, float)) or not 0 <= momentum <= 1:
            raise ValueError(f"SGD expects momentum in [0, 1]. Received: momentum={momentum!r}")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def _slot_specs(self):
        return [("momentum", 0.0)] if self.momentum else []

    def _update(self, xp, value, gradient, slots, hyper):
        lr = hyper["learning_rate"]
        if not self.momentum:
            return value - lr * gradient, {}
        velocity = self.momentum * slots["momentum"] - lr * gradient
        if self.nesterov:
            return value + self.momentum * velocity - lr * gradient, {"momentum": velocity}
        return value + velocity, {"momentum": velocity}

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam, as Keras computes it (epsilon outside the square root, bias correction folded into the rate):

    ``m += (g - m)(1 - beta_1)``; ``v += (g² - v)(1 - beta_2)``;
    ``w -= lr · sqrt(1 - beta_2^t) / (1 - beta_1^t) · m / (sqrt(v) + epsilon)``.

    Args:
        learning_rate: default 0.001.
        beta_1, beta_2: moment decay rates (0.9, 0.999).
        epsilon: default 1e-7.
        amsgrad: use the maximum of past ``v``.

    >>> opt = pyml.optimizers.Adam(learning_rate=1e-3)
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, name="adam",
                 **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        for arg, value in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ValueError(f"{type(self).__name__} expects {arg} in [0, 1). Received: {arg}={value!r}")
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = float(beta_1), float(beta_2), float(epsilon), amsgrad

    def _slot_specs(self):
        return [("m", 0.0), ("v", 0.0)] + ([("v_hat", 0.0)] if self.amsgrad else [])

    def _hyperparameters(self, learning_rate):
        t = self.iterations + 1  # the bias correction of step t, in float64 on the host
        return {"alpha": learning_rate * math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)}

    def _update(self, xp, value, gradient, slots, hyper):
        m = slots["m"] + (gradient - slots["m"]) * (1 - self.beta_1)
        v = slots["v"] + (gradient * gradient - slots["v"]) * (1 - self.beta_2)
        new = {"m": m, "v": v}
        if self.amsgrad:
            v = new["v_hat"] = xp.maximum(slots["v_hat"], v)
        return value - hyper["alpha"] * m / (xp.sqrt(v) + self.epsilon), new

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (default ``weight_decay=0.004``, as Keras).

    >>> opt = pyml.optimizers.AdamW(learning_rate=1e-3, weight_decay=0.01)
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, name="adamw", **kwargs):
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, amsgrad=amsgrad,
                         name=name, weight_decay=weight_decay, **kwargs)


class RMSprop(Optimizer):
    """RMSprop, as Keras: ``s = rho · s + (1 - rho) g²``; ``w -= lr · g / sqrt(s + epsilon)``.

    With ``centered=True`` the denominator is ``sqrt(s - mean_g² + epsilon)``; with ``momentum > 0``
    the increments accumulate: ``velocity = momentum · velocity + increment``; ``w -= velocity``.

    Args:
        learning_rate: default 0.001.
        rho: decay of the squared-gradient average (0.9).
        momentum: default 0.
        epsilon: default 1e-7.
        centered: normalise by the gradient's variance estimate.

    >>> opt = pyml.optimizers.RMSprop(learning_rate=1e-3)
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, name="rmsprop",
                 **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = float(rho), float(momentum), float(epsilon), centered

    def _slot_specs(self):
        return ([("velocity", 0.0)] + ([("momentum", 0.0)] if self.momentum else [])
                + ([("average_gradient", 0.0)] if self.centered else []))

    def _update(self, xp, value, gradient, slots, hyper):
        velocity = self.rho * slots["velocity"] + (1 - self.rho) * gradient * gradient
        new = {"velocity": velocity}
        denominator = velocity + self.epsilon
        if self.centered:
            average = new["average_gradient"] = self.rho * slots["average_gradient"] + (1 - self.rho) * gradient
            denominator = denominator - average * average
        increment = hyper["learning_rate"] * gradient / xp.sqrt(denominator)
        if self.momentum:
            increment = new["momentum"] = self.momentum * slots["momentum"] + increment
        return value - increment, new

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}


class Adagrad(Optimizer):
    """Adagrad, as Keras: ``acc += g²``; ``w -= lr · g / sqrt(acc + epsilon)``.

    Args:
        learning_rate: default 0.001.
        initial_accumulator_value: starting value of ``acc`` (0.1).
        epsilon: default 1e-7.

    >>> opt = pyml.optimizers.Adagrad(learning_rate=0.01)
    """

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, name="adagrad", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.initial_accumulator_value, self.epsilon = float(initial_accumulator_value), float(epsilon)

    def _slot_specs(self):
        return [("accumulator", self.initial_accumulator_value)]

    def _update(self, xp, value, gradient, slots, hyper):
        accumulator = slots["accumulator"] + gradient * gradient
        return (value - hyper["learning_rate"] * gradient / xp.sqrt(accumulator + self.epsilon),
                {"accumulator": accumulator})

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


_CLASSES = {cls.__name__: cls for cls in (SGD, Adam, AdamW, RMSprop, Adagrad)}
_NAMES = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad}


def serialize(optimizer):
    """``{"class_name", "config"}`` for an optimizer (JSON-ready).

    >>> pyml.optimizers.serialize(pyml.optimizers.SGD())["config"]["learning_rate"]
    0.01
    """
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def get(identifier, custom_objects=None):
    """An optimizer from a name (``"adam"``, ``"sgd"``, ``"rmsprop"``, ...), a serialized dict or an instance.

    >>> pyml.optimizers.get("adam").learning_rate
    0.001
    """
    custom_objects = custom_objects or {}
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        name = identifier.get("class_name")
        cls = custom_objects.get(name) or _CLASSES.get(name)
        if cls is None:
            raise ValueError(f"Unknown optimizer class: known ones are {', '.join(sorted(_CLASSES))}. "
                             f"Received: {identifier!r}")
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, str):
        cls = custom_objects.get(identifier) or _NAMES.get(identifier.lower()) or _CLASSES.get(identifier)
        if cls is not None:
            return cls()
    raise ValueError(f"Unknown optimizer: known ones are {', '.join(sorted(_NAMES))}. "
                     f"Received: optimizer={identifier!r}")
