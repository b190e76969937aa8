"""Per-entry adaptive rates from accumulated squared gradients: ``RMSprop``, ``Adagrad``, ``Adadelta``
and ``Ftrl``. Each ``_update`` follows Keras' order of operations, so float32 results match it."""
from pyml.optimizers.base import F32, Optimizer


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
        **kwargs: the arguments every optimizer takes (``pyml.optimizers.Optimizer``).

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
        velocity = self.rho * slots["velocity"] + (1 - self.rho) * (gradient * gradient)
        new = {"velocity": velocity}
        if self.centered:
            average = new["average_gradient"] = self.rho * slots["average_gradient"] + (1 - self.rho) * gradient
            denominator = velocity - average * average + self.epsilon
        else:
            denominator = velocity + self.epsilon
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
        **kwargs: the arguments every optimizer takes.

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


class Adadelta(Optimizer):
    """Adadelta, as Keras: ``a = rho · a + (1 - rho) g²``;
    ``delta = -sqrt(d + epsilon) · g / sqrt(a + epsilon)``; ``d = rho · d + (1 - rho) delta²``;
    ``w += lr · delta``.

    Args:
        learning_rate: default 0.001 (Keras' default; the paper's method has no rate, i.e. 1.0).
        rho: decay rate (0.95).
        epsilon: default 1e-7.
        **kwargs: the arguments every optimizer takes.

    >>> opt = pyml.optimizers.Adadelta(learning_rate=1.0)
    """

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, name="adadelta", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.rho, self.epsilon = float(rho), float(epsilon)

    def _slot_specs(self):
        return [("accumulated_grad", 0.0), ("accumulated_delta_var", 0.0)]

    def _update(self, xp, value, gradient, slots, hyper):
        rho = self.rho
        accumulated_grad = rho * slots["accumulated_grad"] + (1 - rho) * (gradient * gradient)
        delta = -(xp.sqrt(slots["accumulated_delta_var"] + self.epsilon) * gradient) / xp.sqrt(
            accumulated_grad + self.epsilon)
        accumulated_delta = rho * slots["accumulated_delta_var"] + (1 - rho) * (delta * delta)
        return (value + hyper["learning_rate"] * delta,
                {"accumulated_grad": accumulated_grad, "accumulated_delta_var": accumulated_delta})

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Ftrl(Optimizer):
    """FTRL-Proximal ("Follow The Regularized Leader"), as Keras, with L1, L2 and L2-shrinkage terms:

    ``n' = n + g²``; ``z += g + 2·λ_s·w - (n'^(-p) - n^(-p)) / lr · w``;
    ``w = (clip(z, -λ₁, λ₁) - z) / (n'^(-p) / lr + 2·(λ₂ + beta / (2·lr)))``; ``n = n'``
    (``p`` is ``learning_rate_power``).

    Args:
        learning_rate: default 0.001.
        learning_rate_power: ``p`` <= 0 (-0.5).
        initial_accumulator_value: starting ``n`` (0.1), >= 0.
        l1_regularization_strength, l2_regularization_strength: λ₁, λ₂ >= 0.
        l2_shrinkage_regularization_strength: λ_s >= 0 (a magnitude penalty on the gradient).
        beta: default 0.
        **kwargs: the arguments every optimizer takes.

    >>> opt = pyml.optimizers.Ftrl(learning_rate=0.1, l1_regularization_strength=0.01)
    """

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 l2_shrinkage_regularization_strength=0.0, beta=0.0, name="ftrl", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if learning_rate_power > 0:
            raise ValueError(f"Ftrl expects learning_rate_power <= 0. Received: learning_rate_power={learning_rate_power}")
        for arg, value in (("initial_accumulator_value", initial_accumulator_value),
                           ("l1_regularization_strength", l1_regularization_strength),
                           ("l2_regularization_strength", l2_regularization_strength),
                           ("l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength)):
            if value < 0:
                raise ValueError(f"Ftrl expects {arg} >= 0. Received: {arg}={value}")
        self.learning_rate_power = float(learning_rate_power)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.l1_regularization_strength = float(l1_regularization_strength)
        self.l2_regularization_strength = float(l2_regularization_strength)
        self.l2_shrinkage_regularization_strength = float(l2_shrinkage_regularization_strength)
        self.beta = float(beta)

    def _slot_specs(self):
        return [("accumulator", self.initial_accumulator_value), ("linear", 0.0)]

    def _hyperparameters(self, learning_rate):
        l2 = F32(self.l2_regularization_strength) + F32(self.beta) / (F32(2) * learning_rate)
        return {"learning_rate": learning_rate, "l2": l2}

    def _update(self, xp, value, gradient, slots, hyper):
        lr, power, l1 = hyper["learning_rate"], -self.learning_rate_power, self.l1_regularization_strength
        accumulator, linear = slots["accumulator"], slots["linear"]
        grad_to_use = gradient + 2 * self.l2_shrinkage_regularization_strength * value
        new_accumulator = accumulator + gradient * gradient
        new_power = xp.power(new_accumulator, power)
        linear = linear + (grad_to_use - (new_power - xp.power(accumulator, power)) / lr * value)
        quadratic = new_power / lr + 2 * hyper["l2"]
        value = (xp.clip(linear, -l1, l1) - linear) / quadratic
        return value, {"accumulator": new_accumulator, "linear": linear}

    def get_config(self):
        return {**super().get_config(), "learning_rate_power": self.learning_rate_power,
                "initial_accumulator_value": self.initial_accumulator_value,
                "l1_regularization_strength": self.l1_regularization_strength,
                "l2_regularization_strength": self.l2_regularization_strength,
                "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
                "beta": self.beta}
