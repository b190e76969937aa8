"""The callback protocol (``Callback``, ``CallbackList``) and the everyday callbacks: ``History``,
``ProgbarLogger``, ``EarlyStopping``, ``LambdaCallback``, ``ModelCheckpoint``, ``LearningRateScheduler``
(``TerminateOnNaN`` is in ``pyml.callbacks.terminate``).

    >>> stop = pyml.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    >>> history = model.fit(x, y, validation_split=0.2, epochs=100, callbacks=[stop])  # doctest: +SKIP

``logs`` dicts hold Python floats keyed like Keras: ``loss``, ``accuracy``, ``val_loss``, ...
"""
import os
import warnings

from pyml.distribute import context as distribute_context
from pyml.models.progbar import Progbar, is_interactive


class Callback:
    """Base class: override the hooks you need. ``self.model`` is the model being trained.

    Epoch and batch hooks get ``(epoch_or_batch, logs)``, the others ``(logs)``; ``logs`` is a dict of
    Python floats (or None where there is nothing to report).

    >>> class PrintLoss(pyml.callbacks.Callback):
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         print(f"epoch {epoch}: loss {logs['loss']:.3f}")
    """

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_batch_begin(self, batch, logs=None):
        """Alias called by the default ``on_train_batch_begin`` (Keras 2 name)."""

    def on_batch_end(self, batch, logs=None):
        """Alias called by the default ``on_train_batch_end`` (Keras 2 name)."""

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs)

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass


class CallbackList:
    """Calls a hook on every callback in order. ``fit`` adds ``History`` and (if verbose) ``ProgbarLogger``.

    >>> hooks = pyml.callbacks.CallbackList([pyml.callbacks.History()], model=None, epochs=1)
    >>> hooks.on_train_begin()
    """

    def __init__(self, callbacks=None, model=None, **params):
        self.callbacks = list(callbacks or [])
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be pyml.callbacks.Callback instances. Received: {cb!r}")
            cb.set_model(model)
            cb.set_params(params)

    def __getattr__(self, hook):
        if not hook.startswith("on_"):
            raise AttributeError(hook)
        # epoch and batch hooks take (index, logs), the others (logs); logs is always passed (None when
        # there are none), as Keras does, so hooks written without a default for it still work
        arity = 2 if hook.startswith("on_epoch_") or "_batch_" in hook else 1

        def call(*args):
            args += (None,) * (arity - len(args))
            for cb in self.callbacks:
                getattr(cb, hook)(*args)

        return call


def _monitor_mode(callback, mode, monitor):
    """``"min"`` or ``"max"``; ``"auto"`` picks max for accuracy-like keys (``acc``, ``auc``, ...), else min."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{callback} expects mode in ('auto', 'min', 'max'). Received: mode={mode!r}")
    if mode != "auto":
        return mode
    return "max" if any(k in monitor for k in ("acc", "auc", "precision", "recall")) else "min"


class History(Callback):
    """Records each epoch's logs: ``history.history["loss"]`` is a list with one float per epoch.

    ``fit`` returns one (also kept as ``model.history``).

    >>> history = model.fit(x, y, epochs=3, verbose=0)  # doctest: +SKIP
    >>> sorted(history.history)  # doctest: +SKIP
    ['accuracy', 'loss']
    """

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        self.model.history = self


class ProgbarLogger(Callback):
    """Prints progress with the time per step (``3ms/step``), as Keras: a live bar per epoch on a terminal,
    one line per epoch otherwise (CI logs).

    Args:
        verbose: 1 (bar on a terminal, a line per epoch elsewhere) or 2 (always a line per epoch); None
            (Keras' ``ProgbarLogger()``) takes ``fit``'s ``verbose``.

    ``fit(verbose=1)`` adds one unless ``callbacks`` holds one already:

    >>> logger = pyml.callbacks.ProgbarLogger()
    """

    def __init__(self, verbose=None):
        super().__init__()
        self.verbose = self._verbose = verbose
        self.progbar = None
        self.epochs = 1
        self.prefix = ""

    def on_train_begin(self, logs=None):
        self.epochs = self.params.get("epochs", 1)
        self.verbose = self._verbose if self._verbose is not None else self.params.get("verbose", 1)

    def on_epoch_begin(self, epoch, logs=None):
        if not self.verbose:  # ProgbarLogger() in a fit(verbose=0): silent, as Keras
            return
        interactive = self.verbose == 1 and is_interactive()
        header = f"Epoch {epoch + 1}/{self.epochs}"
        if interactive:
            print(header, flush=True)
        self.progbar = Progbar(self.params.get("steps"), verbose=self.verbose, prefix="" if interactive else header)

    def on_train_batch_end(self, batch, logs=None):
        if self.verbose:
            self.progbar.update(batch + 1, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.verbose:
            self.progbar.finish(logs)


class EarlyStopping(Callback):
    """Stops training when ``monitor`` has stopped improving for ``patience`` epochs.

    Args:
        monitor: the log key to watch (default ``"val_loss"``).
        min_delta: smallest change that counts as an improvement.
        patience: epochs without improvement before stopping.
        verbose: 1 prints a line when it stops.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (max for accuracy-like keys, else min).
        baseline: training stops unless the value beats this within ``patience`` epochs.
        restore_best_weights: end training with the weights of the best epoch (whether or not training
            stopped early, as in Keras 3).
        start_from_epoch: epochs to wait before monitoring.

    >>> stop = pyml.callbacks.EarlyStopping(monitor="loss", patience=2)
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor, self.patience, self.verbose = monitor, int(patience), verbose
        self.baseline, self.restore_best_weights, self.start_from_epoch = baseline, restore_best_weights, start_from_epoch
        self.mode = _monitor_mode("EarlyStopping", mode, monitor)
        self.min_delta = abs(min_delta) if self.mode == "max" else -abs(min_delta)
        self.wait = self.stopped_epoch = self.best_epoch = 0
        self.best = None
        self.best_weights = None

    def _improved(self, value, reference):
        if reference is None:
            return True
        if self.mode == "max":
            return value - self.min_delta > reference
        return value - self.min_delta < reference

    def on_train_begin(self, logs=None):
        self.wait = self.stopped_epoch = self.best_epoch = 0
        self.best, self.best_weights = None, None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            known = ", ".join(sorted(logs or {}))
            warnings.warn(f"EarlyStopping: monitor {self.monitor!r} is not in the logs (available: {known}); "
                          "skipping.", stacklevel=2)
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
        self.wait += 1
        if self._improved(value, self.best):
            self.best, self.best_epoch = value, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._improved(value, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:  # stopped early or not, as Keras 3
            if self.verbose:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class LambdaCallback(Callback):
    """A callback from plain functions, e.g. ``LambdaCallback(on_epoch_end=lambda epoch, logs: print(logs))``.

    Args: any hook of ``Callback`` by name: ``on_train_begin``, ``on_train_end`` (``logs``),
    ``on_epoch_begin``, ``on_epoch_end`` (``epoch, logs``), ``on_train_batch_begin``,
    ``on_train_batch_end`` (``batch, logs``), the Keras 2 names ``on_batch_begin``, ``on_batch_end``,
    and the ``on_test_*`` / ``on_predict_*`` hooks.

    >>> cb = pyml.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))
    """

    HOOKS = tuple(sorted(name for name in vars(Callback) if name.startswith("on_")))

    def __init__(self, **hooks):
        super().__init__()
        unknown = sorted(set(hooks) - set(self.HOOKS))
        if unknown:
            raise ValueError(f"LambdaCallback accepts {', '.join(self.HOOKS)}. Received: {', '.join(unknown)}")
        for name, fn in hooks.items():
            if fn is not None:
                setattr(self, name, fn)


class ModelCheckpoint(Callback):
    """Saves the model (or its weights) at the end of each epoch, or only when ``monitor`` improves.

    Each save is atomic (``model.save``): a run killed mid-save, even by ``kill -9``, leaves the previous
    checkpoint whole, and the next save removes the temporary file it left.

    Args:
        filepath: where to save; may hold ``{epoch}`` and log keys, e.g. ``"ckpt-{epoch:02d}.pyml"``.
        monitor: log key used with ``save_best_only``.
        verbose: 1 prints a line on each save.
        save_best_only: save only when ``monitor`` improves (the file is overwritten).
        save_weights_only: call ``save_weights`` instead of ``save``.
        mode: ``"min"``, ``"max"`` or ``"auto"``.
        save_freq: only ``"epoch"`` (Keras' default).
        initial_value_threshold: with ``save_best_only``, the value the first save must beat.

    >>> checkpoint = pyml.callbacks.ModelCheckpoint("best.pyml", monitor="val_loss", save_best_only=True)
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__()
        self.filepath, self.monitor, self.verbose = os.fspath(filepath), monitor, verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        if save_freq != "epoch":
            raise ValueError("ModelCheckpoint saves at the end of each epoch (save_freq='epoch'); saving every N "
                             f"batches is not supported yet. Received: save_freq={save_freq!r}")
        self.mode = _monitor_mode("ModelCheckpoint", mode, monitor)
        self.best = initial_value_threshold

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self.save_best_only:
            value = logs.get(self.monitor)
            if value is None:
                warnings.warn(f"ModelCheckpoint: monitor {self.monitor!r} is not in the logs (available: "
                              f"{', '.join(sorted(logs))}); skipping.", stacklevel=2)
                return
            better = self.best is None or (value > self.best if self.mode == "max" else value < self.best)
            if not better:
                return
            if self.verbose:
                print(f"Epoch {epoch + 1}: {self.monitor} improved from {self.best} to {value:.5f}, saving to {path}")
            self.best = value
        elif self.verbose:
            print(f"Epoch {epoch + 1}: saving model to {path}")
        if not distribute_context.is_chief(self.model):
            return  # under pyml.distribute, rank 0 writes the file (every rank has the same weights)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


class LearningRateScheduler(Callback):
    """Sets the optimizer's learning rate at the start of each epoch from ``schedule(epoch, lr)``.

    >>> cb = pyml.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.9)
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = float(self.schedule(epoch, self.model.optimizer.learning_rate))
        self.model.optimizer.learning_rate = lr
        if self.verbose:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self.model.optimizer.learning_rate
