"""``ReduceLROnPlateau``: lower the learning rate when a monitored value stops improving."""
import warnings

import numpy as np

from pyml.callbacks.core import Callback, _monitor_mode


class ReduceLROnPlateau(Callback):
    """Multiplies the learning rate by ``factor`` after ``patience`` epochs without improvement of ``monitor``
    (Keras semantics). The new rate is read by the next step, compiled or eager. Each epoch's logs get the
    rate used during it as ``learning_rate``.

    Args:
        monitor: the log key to watch (``"val_loss"``).
        factor: the multiplier, < 1 (0.1).
        patience: epochs without improvement before reducing (10).
        verbose: 1 prints a line on each reduction.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (max for accuracy-like keys, else min).
        min_delta: an improvement must beat the best value by more than this (1e-4).
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: the rate never goes below this.

    >>> reduce = pyml.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, min_lr=1e-5)
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        super().__init__()
        if not factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received: factor={factor!r}")
        self.monitor, self.factor, self.patience, self.verbose = monitor, factor, patience, verbose
        self.mode = _monitor_mode("ReduceLROnPlateau", mode, monitor)
        self.min_delta, self.cooldown, self.min_lr = abs(min_delta), cooldown, min_lr
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def _improved(self, value):
        if self.best is None:
            return True
        if self.mode == "max":
            return value - self.min_delta > self.best
        return value + self.min_delta < self.best

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        optimizer = self.model.optimizer
        logs["learning_rate"] = optimizer.learning_rate
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(f"ReduceLROnPlateau: monitor {self.monitor!r} is not in the logs (available: "
                          f"{', '.join(sorted(logs))}); skipping.", stacklevel=2)
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(value):
            self.best, self.wait = value, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = optimizer.learning_rate
                if old > np.float32(self.min_lr):
                    new = max(old * self.factor, self.min_lr)
                    optimizer.learning_rate = new
                    if self.verbose:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.")
                    self.cooldown_counter, self.wait = self.cooldown, 0
