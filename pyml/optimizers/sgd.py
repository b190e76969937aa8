"""Momentum rules: ``SGD`` (plain, momentum, Nesterov) and ``Lion`` (the sign of an interpolated momentum)."""
from pyml.optimizers.base import F32, Optimizer


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum, as Keras:

    ``velocity = momentum * velocity - lr * g``; then ``w += velocity`` (or, with Nesterov,
    ``w += momentum * velocity - lr * g``). Without momentum, ``w -= lr * g``.

    Args:
        learning_rate: default 0.01.
        momentum: float in [0, 1].
        nesterov: use Nesterov momentum.
        **kwargs: the arguments every optimizer takes (``pyml.optimizers.Optimizer``).

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
            return value + (self.momentum * velocity - lr * gradient), {"momentum": velocity}
        return value + velocity, {"momentum": velocity}

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Lion(Optimizer):
    """Lion (EvoLved Sign Momentum), as Keras: ``w -= lr * sign(beta_1 * m + (1 - beta_1) * g)``, then
    ``m = beta_2 * m + (1 - beta_2) * g``. Every entry moves by exactly ``lr``, so Lion wants a learning rate
    3-10x smaller than Adam's.

    Args:
        learning_rate: default 0.001.
        beta_1: the interpolation of the update (0.9).
        beta_2: the decay of the momentum (0.99).
        **kwargs: the arguments every optimizer takes.

    >>> w = pyml.Variable([1.0, 1.0])
    >>> pyml.optimizers.Lion(learning_rate=0.5).apply_gradients([(pyml.Tensor([3.0, -0.1]), w)])
    >>> w.numpy()
    array([0.5, 1.5], dtype=float32)
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, name="lion", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if not isinstance(beta_1, (int, float)) or not 0 < beta_1 <= 1:
            raise ValueError(f"Lion expects beta_1 in (0, 1]. Received: beta_1={beta_1!r}")
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)

    def _slot_specs(self):
        return [("momentum", 0.0)]

    def _update(self, xp, value, gradient, slots, hyper):
        # Keras takes 1 - beta in float32 here (not in Python floats, as Adam does)
        m, beta_1, beta_2 = slots["momentum"], F32(self.beta_1), F32(self.beta_2)
        step = hyper["learning_rate"] * xp.sign(m * beta_1 + gradient * (F32(1) - beta_1))
        return value - step, {"momentum": m * beta_2 + gradient * (F32(1) - beta_2)}

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}
