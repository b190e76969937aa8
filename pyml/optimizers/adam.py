"""The Adam family: ``Adam`` (with ``amsgrad``), ``AdamW``, ``Adamax`` and ``Nadam``. Bias corrections are
computed on the host in float32, as Keras computes them (``beta ** t`` with ``t`` a float32), and reach the
rule as step hyperparameters."""
import numpy as np

from pyml.optimizers.base import F32, Optimizer


class _AdamBase(Optimizer):
    """Adam's two decay rates and epsilon, checked once for the family."""

    def __init__(self, learning_rate, beta_1, beta_2, epsilon, name, **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        for arg, value in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ValueError(f"{type(self).__name__} expects {arg} in [0, 1). Received: {arg}={value!r}")
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def _step(self, offset=1):
        return F32(self.iterations + offset)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Adam(_AdamBase):
    """Adam, as Keras computes it (epsilon outside the square root, bias correction folded into the rate):

    ``m += (g - m)(1 - beta_1)``; ``v += (g² - v)(1 - beta_2)``;
    ``w -= m · alpha / (sqrt(v) + epsilon)`` with ``alpha = lr · sqrt(1 - beta_2^t) / (1 - beta_1^t)``.
    With ``amsgrad``, ``v`` in the last step is the largest ``v`` seen so far.

    Args:
        learning_rate: default 0.001.
        beta_1, beta_2: moment decay rates (0.9, 0.999).
        epsilon: default 1e-7.
        amsgrad: use the maximum of past ``v``.
        **kwargs: the arguments every optimizer takes (``pyml.optimizers.Optimizer``).

    >>> opt = pyml.optimizers.Adam(learning_rate=1e-3, amsgrad=True)
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, name="adam",
                 **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, name, **kwargs)
        self.amsgrad = bool(amsgrad)

    def _slot_specs(self):
        return [("m", 0.0), ("v", 0.0)] + ([("v_hat", 0.0)] if self.amsgrad else [])

    def _hyperparameters(self, learning_rate):
        t = self._step()
        beta_1_power, beta_2_power = F32(self.beta_1) ** t, F32(self.beta_2) ** t
        return {"alpha": learning_rate * np.sqrt(F32(1) - beta_2_power) / (F32(1) - beta_1_power)}

    def _update(self, xp, value, gradient, slots, hyper):
        m = slots["m"] + (gradient - slots["m"]) * (1 - self.beta_1)
        v = slots["v"] + (gradient * gradient - slots["v"]) * (1 - self.beta_2)
        new = {"m": m, "v": v}
        if self.amsgrad:
            v = new["v_hat"] = xp.maximum(slots["v_hat"], v)
        return value - m * hyper["alpha"] / (xp.sqrt(v) + self.epsilon), new

    def get_config(self):
        return {**super().get_config(), "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (default ``weight_decay=0.004``, as Keras).

    >>> opt = pyml.optimizers.AdamW(learning_rate=1e-3, weight_decay=0.01)
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, name="adamw", **kwargs):
        if not weight_decay:
            raise ValueError(f"AdamW expects weight_decay to be a positive float. Received: weight_decay={weight_decay!r}")
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, amsgrad=amsgrad,
                         name=name, weight_decay=weight_decay, **kwargs)


class Adamax(_AdamBase):
    """Adamax, Adam with the infinity norm, as Keras: ``m += (g - m)(1 - beta_1)``;
    ``u = max(beta_2 · u, |g|)``; ``w -= lr · m / ((1 - beta_1^t)(u + epsilon))``.

    Args:
        learning_rate: default 0.001.
        beta_1, beta_2: decay rates of the momentum and of the norm (0.9, 0.999).
        epsilon: default 1e-7.
        **kwargs: the arguments every optimizer takes.

    >>> opt = pyml.optimizers.Adamax(learning_rate=2e-3)
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name="adamax", **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, name, **kwargs)

    def _slot_specs(self):
        return [("m", 0.0), ("u", 0.0)]

    def _hyperparameters(self, learning_rate):
        return {"learning_rate": learning_rate, "beta_1_power": F32(self.beta_1) ** self._step()}

    def _update(self, xp, value, gradient, slots, hyper):
        m = slots["m"] + (gradient - slots["m"]) * (1 - self.beta_1)
        u = xp.maximum(slots["u"] * self.beta_2, xp.abs(gradient))
        step = hyper["learning_rate"] * m / ((1 - hyper["beta_1_power"]) * (u + self.epsilon))
        return value - step, {"m": m, "u": u}


class Nadam(_AdamBase):
    """Nadam, Adam with Nesterov momentum and Keras' momentum schedule
    ``u_t = beta_1 (1 - 0.5 · 0.96^t)``, whose running product ``U_t = u_1 ⋯ u_t`` the optimizer keeps:

    ``m̂ = u_{t+1} m / (1 - U_{t+1}) + (1 - u_t) g / (1 - U_t)``; ``v̂ = v / (1 - beta_2^t)``;
    ``w -= m̂ · lr / (sqrt(v̂) + epsilon)`` (``m``, ``v`` as Adam's).

    Args:
        learning_rate: default 0.001.
        beta_1, beta_2: moment decay rates (0.9, 0.999).
        epsilon: default 1e-7.
        **kwargs: the arguments every optimizer takes.

    >>> opt = pyml.optimizers.Nadam(learning_rate=2e-3)
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name="nadam", **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, name, **kwargs)
        self._u_product = F32(1)

    def _slot_specs(self):
        return [("m", 0.0), ("v", 0.0)]

    def _momentum_schedule(self, t):
        return F32(self.beta_1) * (F32(1) - F32(0.5) * F32(0.96) ** t)

    def _next_u_product(self):
        # Keras multiplies the product by beta_1, then by (1 - 0.5 · 0.96^t): not by u_t, whose rounding differs
        return self._u_product * F32(self.beta_1) * (F32(1) - F32(0.5) * F32(0.96) ** self._step())

    def _hyperparameters(self, learning_rate):
        u_product = self._next_u_product()
        u_next = self._momentum_schedule(self._step(2))
        return {"learning_rate": learning_rate, "u": self._momentum_schedule(self._step()), "u_next": u_next,
                "u_product": u_product, "u_product_next": u_product * u_next,
                "beta_2_power": F32(self.beta_2) ** self._step()}

    def _update(self, xp, value, gradient, slots, hyper):
        beta_1, beta_2 = F32(self.beta_1), F32(self.beta_2)  # 1 - beta in float32 here, as Keras
        m = slots["m"] + (gradient - slots["m"]) * (F32(1) - beta_1)
        v = slots["v"] + (gradient * gradient - slots["v"]) * (F32(1) - beta_2)
        m_hat = (hyper["u_next"] * m / (1 - hyper["u_product_next"])
                 + (1 - hyper["u"]) * gradient / (1 - hyper["u_product"]))
        v_hat = v / (1 - hyper["beta_2_power"])
        return value - m_hat * hyper["learning_rate"] / (xp.sqrt(v_hat) + self.epsilon), {"m": m, "v": v}

    def _advance(self):
        self._u_product = self._next_u_product()

    def scalar_state(self):
        return {**super().scalar_state(), "u_product": np.array(self._u_product, dtype=np.float32)}

    def set_scalar_state(self, state):
        super().set_scalar_state(state)
        self._u_product = F32(state["u_product"])
