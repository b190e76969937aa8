"""``compile``, ``fit``, ``evaluate`` and ``predict``: the Keras training API, mixed into ``Model``.

The training step is eager autodiff::

    with GradientTape() as tape:
        y_pred = model(x, training=True)
        loss = model.compute_loss(x, y, y_pred, sample_weight)
    grads = tape.gradient(loss, model.trainable_weights)
    model.optimizer.apply_gradients(zip(grads, model.trainable_weights))

``fit`` and ``train_on_batch`` trace that step once per batch shape into the graph IR and run it compiled
(``pyml.models.compiled_step``), as Keras jit-compiles it. ``compile(run_eagerly=True)`` (or
``jit_compile=False``) keeps the eager step, for debugging; a model whose step does not trace runs eagerly
after one warning that says why, unless ``compile(jit_compile=True)`` asked for compilation, which then
raises instead. Both paths compute the same numbers, to float32 rounding.
"""
import warnings

import numpy as np

from pyml import callbacks as callbacks_module
from pyml import checks
from pyml import metrics as metrics_module
from pyml import optimizers, regularizers
from pyml.autodiff import GradientTape, no_grad
from pyml.distribute import context as distribute_context
from pyml.distribute.step import DistributedTrainStep
from pyml.layers import host
from pyml.models import compile_utils, data_adapter
from pyml.models.compiled_step import CompiledTrainStep, NotTraceable
from pyml.models.progbar import Progbar
from pyml.tensor import Tensor


def _verbosity(verbose):
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 'auto', 0, 1 or 2. Received: verbose={verbose!r}")
    return verbose


def _check_counts(method, **counts):
    """Each of ``counts`` None or a positive int (batch sizes, step counts), else a ValueError naming it."""
    for name, value in counts.items():
        if value is not None:
            checks.positive_int(method, name, value)


def _callbacks(method, callbacks):
    """``callbacks`` as a list of Callbacks, else a ValueError naming ``method``."""
    found = [] if callbacks is None else list(callbacks) if isinstance(callbacks, (list, tuple)) else None
    if found is None or not all(isinstance(cb, callbacks_module.Callback) for cb in found):
        raise ValueError(f"{method} expects `callbacks` to be a list of pyml.callbacks.Callback. "
                         f"Received: callbacks={callbacks!r}")
    return found


def _tensor(value):
    if value is None:
        return None
    if isinstance(value, list):
        return [_tensor(v) for v in value]
    if isinstance(value, np.ndarray) and value.dtype.kind in "USO":
        return value  # strings, for text layers a subclassed model calls (pyml.layers.host)
    return value if isinstance(value, Tensor) else Tensor(value)


def _numpy(out):
    """A batch's predictions as NumPy: an array, a list or a dict of them."""
    if isinstance(out, dict):
        return {key: value.numpy() for key, value in out.items()}
    return [o.numpy() for o in out] if isinstance(out, (list, tuple)) else out.numpy()


class Trainer:
    """The training half of ``Model`` (see ``pyml.models.Model``)."""

    def _init_training(self):
        self.compiled = False
        self.optimizer = None
        self.loss = None
        self.stop_training = False
        self.history = None
        self._compile_config = None
        self.run_eagerly = False
        self.jit_compile = "auto"
        self._compiled_step = None  # a CompiledTrainStep, built at the first batch; False once given up
        self._compile_loss = self._compile_metrics = None
        self._initial_epoch = None  # set by a callback's on_train_begin to resume (BackupAndRestore)
        self._distribution = None  # the pyml.distribute strategy whose scope() compile() ran in

    # ---- compile ------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, weighted_metrics=None,
                run_eagerly=None, steps_per_execution=1, jit_compile=None, auto_scale_loss=True):
        """Configure training.

        Args:
            optimizer: name (``"adam"``, ``"sgd"``, ``"rmsprop"``, ...) or optimizer instance.
            loss: name (``"sparse_categorical_crossentropy"``, ``"mse"``, ``"ce"``...), function or ``Loss``;
                for several outputs, one for all, a list per output or a dict by output name (None: that
                output is not trained on).
            metrics: list of names (``"accuracy"``, ``"mae"``, ...), functions or ``Metric`` objects; for
                several outputs, a list per output or a dict by output name. They ignore ``sample_weight``.
            weighted_metrics: like ``metrics``, but weighted by ``sample_weight``.
            loss_weights: a float scaling the loss (the reported ``loss`` and the gradients); for several
                outputs, a list per output or a dict by output name (see ``pyml.models.compile_utils``).
            run_eagerly: run the training step eagerly, op by op (for debugging); by default ``fit``
                compiles it (see the module docstring).
            jit_compile: ``"auto"`` (default, also None): compile the step, or run eagerly after a warning
                when it does not trace; ``True``: compile it or raise; ``False``: run eagerly (as Keras on JAX).
            steps_per_execution, auto_scale_loss: accepted so Keras scripts run unchanged.

        >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])  # doctest: +SKIP
        """
        names = compile_utils.model_output_names(self)
        loss_weights = compile_utils.loss_weights_config(loss_weights, len(names) if names else 1)
        self.optimizer = optimizers.get(optimizer)
        self.loss = loss
        self._compile_loss = compile_utils.CompileLoss(loss, loss_weights, names) if loss is not None else None
        self._compile_metrics = compile_utils.CompileMetrics(metrics, weighted_metrics, names)
        self._loss_tracker = metrics_module.Mean(name="loss")
        self._compile_config = {"optimizer": optimizer, "loss": loss, "metrics": metrics,
                                "loss_weights": loss_weights, "weighted_metrics": weighted_metrics}
        if jit_compile not in (None, "auto", True, False):
            raise ValueError(f'jit_compile must be "auto", True or False. Received: jit_compile={jit_compile!r}')
        self.run_eagerly = False if run_eagerly is None else checks.boolean("compile", "run_eagerly", run_eagerly)
        checks.positive_int("compile", "steps_per_execution", steps_per_execution)
        self.jit_compile = "auto" if jit_compile is None else jit_compile
        if self.run_eagerly and self.jit_compile is True:
            warnings.warn("If `run_eagerly` is True, then `jit_compile` cannot also be True. Disabling `jit_compile`.",
                          stacklevel=2)
            self.jit_compile = False
        self._compiled_step = None
        self._distribution = distribute_context.get_strategy()
        self.compiled = True

    def _require_compiled(self, method):
        if not getattr(self, "compiled", False):
            raise RuntimeError(f"You must call `compile()` before `{method}()` on model {self.name!r}.")
        if self._compile_loss is None and method != "predict":
            raise ValueError(f"Model {self.name!r} was compiled without a loss; `{method}()` needs one. "
                             "Received: loss=None")

    @property
    def metrics(self):
        """The metric objects ``fit`` and ``evaluate`` keep, in Keras 3's order: the loss tracker, the compiled
        metrics (once built by the first batch), then each output's loss tracker."""
        if not getattr(self, "compiled", False):
            return []
        return [self._loss_tracker] + self._compile_metrics.metrics + self._loss_trackers()

    @property
    def metrics_names(self):
        """The names of ``evaluate``'s list result, in its order: ``loss``, ``<output>_loss`` for each output
        with a loss (several outputs), then the metrics (see ``compile_utils.ordered_names``). Keras 3 lists
        its metric containers here instead (``["loss", "compile_metrics", ...]``)."""
        if not getattr(self, "compiled", False):
            return []
        metrics = self._compile_metrics
        trackers = [t.name for t in self._loss_trackers()]
        names = ["loss", *trackers, *getattr(metrics, "log_names", [])]
        return compile_utils.ordered_names(names, metrics.sub_names, trackers)

    def _loss_trackers(self):
        return self._compile_loss.trackers if self._compile_loss is not None else []

    # ---- steps --------------------------------------------------------------------------------
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
        """The compiled loss of ``y_pred`` against ``y``: each output's loss times its ``loss_weights``
        entry, summed, plus the sum of ``self.losses`` (``add_loss``, activity and weight penalties, as Keras 3)
        (a scalar Tensor). ``y``, ``y_pred`` and ``sample_weight`` hold one entry per output (a
        list) for a model with several outputs."""
        return regularizers.add_penalties(self._compile_loss(y, y_pred, sample_weight), self.losses)

    def train_step(self, x, y, sample_weight=None):
        """One optimizer update on one batch; returns the loss and predictions."""
        variables = self.trainable_weights
        with GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x, y, y_pred, sample_weight)
        grads = tape.gradient(loss, variables)
        if self._distribution is not None:  # every rank's shard: the global batch's mean gradient
            grads = self._distribution.reduce_gradients(grads)
        self.optimizer.apply_gradients(zip(grads, variables))
        return loss, y_pred

    def _train_batch(self, step, x, y, sample_weight):
        """One training step on NumPy batches, by ``step`` (``_compiled_train_step()``, None: eager);
        ``(loss, y_pred, each output's unweighted loss)``. Under a strategy, this rank trains on its shard of
        the batch and the results are the whole batch's (``pyml.distribute.mpi``)."""
        if self._distribution is not None:
            return self._distribution.train_batch(self, lambda *shard: self._local_train_batch(step, *shard),
                                                  x, y, sample_weight)
        return self._local_train_batch(step, x, y, sample_weight)

    def _local_train_batch(self, step, x, y, sample_weight):
        if step and self._compiled_step is step:
            try:
                # The traced loss sees no label values: check them against the last step's predictions before this
                # step runs (after it, on the first step, whose losses are resolved while tracing).
                known = getattr(step, "last_predictions", None)
                if known is not None:
                    self._compile_loss.check_targets(y, known)
                result = step(x, y, sample_weight)
                if known is None:
                    self._compile_loss.check_targets(y, result[1])
                step.last_predictions = result[1]
                return result
            except NotTraceable as exc:  # raised while tracing, before anything ran
                if self.jit_compile is True:
                    self._stop_compiling(exc, stacklevel=4)
                # Eagerly first: a model the eager step refuses too (a bad target shape, ...) raises its
                # own error, with no warning about compiling in front of it.
                result = self._eager_step(self.train_step, x, y, sample_weight)
                self._stop_compiling(exc, stacklevel=4)
                return result
        return self._eager_step(self.train_step, x, y, sample_weight)

    def _eager_step(self, step, x, y, sample_weight):
        """``step`` (train_step or test_step) on Tensors; ``(loss, y_pred, each output's loss as a float)``."""
        self._compile_loss.last_values = []  # a compute_loss that skips the compiled loss leaves it empty
        loss, y_pred = step(_tensor(x), _tensor(y), _tensor(sample_weight))
        return loss, y_pred, [float(v) for v in self._compile_loss.last_values]

    def _compiled_train_step(self):
        """The compiled step (built on first use), or None when the step runs eagerly. Called when training
        starts (fit, train_on_batch), so that the checks here are not paid per batch."""
        if self.run_eagerly or self.jit_compile is False or self._compiled_step is False:
            return None
        step = self._compiled_step
        if step is not None and not step.matches(self):  # layers frozen or unfrozen since: trace again
            step.detach()
            step = None
        if step is None:
            try:
                step = self._compiled_step = (CompiledTrainStep(self) if self._distribution is None
                                              else DistributedTrainStep(self, self._distribution))
            except NotTraceable as exc:
                self._stop_compiling(exc, stacklevel=4)
                return None
        return step

    def _stop_compiling(self, exc, stacklevel):
        if self._compiled_step:
            self._compiled_step.detach()
        self._compiled_step = False
        if self.jit_compile is True:
            raise ValueError(f"Model {self.name!r} was compiled with jit_compile=True, but its training step cannot "
                             f"be compiled: {exc}") from exc
        warnings.warn(f"Model {self.name!r}: fit runs the training step eagerly (slower), because it cannot be "
                      f"compiled: {exc}. Pass run_eagerly=True to compile() to choose the eager step and silence "
                      "this warning.", stacklevel=stacklevel)  # the user's fit or train_on_batch call

    def _end_of_training(self):
        if self._compiled_step:
            self._compiled_step.detach()

    def test_step(self, x, y, sample_weight=None):
        with no_grad():
            y_pred = self(x, training=False)
            return self.compute_loss(x, y, y_pred, sample_weight), y_pred

    def _update_metrics(self, loss, output_losses, x, y, y_pred, sample_weight):
        with no_grad():
            size = float((x[0] if isinstance(x, list) else x).shape[0])
            # the epoch's loss is the mean over samples, so each batch counts by its size (as Keras)
            self._loss_tracker.update_state(float(loss), sample_weight=size)
            trackers = self._loss_trackers()
            if len(output_losses) == len(trackers):
                for tracker, value in zip(trackers, output_losses):
                    tracker.update_state(value, sample_weight=size)
            self._compile_metrics.update_state(y, y_pred, sample_weight)
        return self._logs()

    def _logs(self):
        # Keras sorts the logs by name: accuracy, loss, ...
        logs = {"loss": float(self._loss_tracker.result()), **self._compile_metrics.result()}
        logs.update((tracker.name, float(tracker.result())) for tracker in self._loss_trackers())
        return dict(sorted(logs.items()))

    def _reset_metrics(self):
        for metric in [self._loss_tracker, *self._loss_trackers()]:
            metric.reset_state()
        self._compile_metrics.reset_state()

    def _check_batch(self, x, y, method):
        if y is None:
            raise ValueError(f"`{method}()` needs targets: pass y, or an iterable yielding (x, y) batches. "
                             "Received: y=None")
        self._check_input_shape(x)

    def _declared_input_shape(self):
        """The input shape data must have (None where any size goes), or None when the model does not say."""
        return None

    def _check_input_shape(self, x):
        """Compare data with the model's declared input shape, naming both (before any layer fails)."""
        expected = self._declared_input_shape()
        if expected is not None and not isinstance(expected, list) and isinstance(x, list) and len(x) != 1:
            raise ValueError(f'Model "{self.name}" has one input, so x must be one array. Received: a list of '
                             f"{len(x)} arrays")
        if expected is None or isinstance(expected, list) or isinstance(x, list) or host.chains(self):
            return  # several inputs are checked by their layers, text by the host layers (pyml.layers.host)
        received = tuple(np.shape(x))
        if len(received) != len(expected) or any(e is not None and e != r for e, r in zip(expected[1:], received[1:])):
            raise ValueError(f'Input of model "{self.name}" is incompatible with the model: expected shape '
                             f"{expected}. Received: data of shape {received}")

    # ---- fit ----------------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1):
        """Train for ``epochs`` passes over the data; returns a ``History``.

        Args:
            x: inputs (NumPy array, Tensor, list of arrays for several inputs) or an iterable of
                ``(x, y)`` / ``(x, y, sample_weight)`` batches.
            y: targets (with array ``x``).
            batch_size: rows per step (default 32).
            epochs: index of the last epoch (training runs ``initial_epoch .. epochs - 1``).
            verbose: ``"auto"``/1 (progress bar on a terminal, one line per epoch otherwise), 2 (one line
                per epoch), 0 (silent).
            callbacks: list of ``pyml.callbacks.Callback``.
            validation_split: fraction of the (last) samples held out for validation.
            validation_data: ``(x_val, y_val)`` or ``(x_val, y_val, sample_weight_val)``.
            shuffle: reshuffle the training rows every epoch.
            class_weight: ``{class: weight}``, turned into per-sample weights.
            sample_weight: one weight per sample.
            initial_epoch: epoch to start at (to resume training).
            steps_per_epoch, validation_steps: limit the batches per epoch / per validation.
            validation_batch_size: batch size for validation (default ``batch_size``).
            validation_freq: validate every this many epochs.

        Returns:
            ``History``: ``history.history`` maps ``loss``, each metric, and ``val_*`` to per-epoch lists.
        """
        self._require_compiled("fit")
        verbose = _verbosity(verbose)
        strategy = self._distribution
        if strategy is not None and not strategy.is_chief:
            verbose = 0  # rank 0 prints the progress
        epochs = checks.non_negative_int("fit", "epochs", epochs)
        initial_epoch = checks.non_negative_int("fit", "initial_epoch", initial_epoch)
        validation_freq = checks.positive_int("fit", "validation_freq", validation_freq)
        validation_split = checks.real("fit", "validation_split", validation_split, low=0, high=1, high_open=True)
        shuffle = checks.boolean("fit", "shuffle", shuffle)
        _check_counts("fit", batch_size=batch_size, steps_per_epoch=steps_per_epoch,
                      validation_batch_size=validation_batch_size, validation_steps=validation_steps)
        if class_weight is not None and not isinstance(class_weight, dict):
            raise ValueError(f"fit expects `class_weight` to be a dict {{class: weight}}. "
                             f"Received: class_weight={class_weight!r}")
        if validation_data is not None and (isinstance(validation_data, str)
                                            or not hasattr(validation_data, "__iter__")):
            raise ValueError("fit expects `validation_data` as (x_val, y_val), (x_val, y_val, sample_weight_val) or "
                             f"an iterable of batches. Received: validation_data={validation_data!r}")
        if data_adapter.is_array_data(x):
            x, y, sample_weight = data_adapter.adapt(self, x, y, sample_weight)
            if y is None:
                raise ValueError("fit() needs targets y with array inputs x. Received: y=None")
            data_adapter.check_lengths(x, y, sample_weight)
            if class_weight is not None and isinstance(y, list):
                raise ValueError("class_weight is for models with one output; with several, pass sample_weight "
                                 f"per output. Received: class_weight and y for {len(y)} outputs")
            if class_weight is not None:
                weights = data_adapter.class_weights_to_sample_weights(y, class_weight)
                sample_weight = weights if sample_weight is None else sample_weight * weights
            if validation_split and validation_data is None:
                (x, y, sample_weight), validation_data = data_adapter.split_validation(
                    x, y, sample_weight, validation_split)
            self._check_input_shape(x)
        elif validation_split:
            raise ValueError("validation_split needs array data; with an iterable of batches pass validation_data. "
                             f"Received: x of type {type(x).__name__}")
        batches = data_adapter.make_batches(x, y, sample_weight, batch_size, shuffle, steps_per_epoch)
        if class_weight is not None and not data_adapter.is_array_data(x):
            batches = data_adapter.ClassWeightedBatches(batches, class_weight)
        history = callbacks_module.History()
        all_callbacks = _callbacks("fit", callbacks) + [history]
        if verbose and not any(isinstance(cb, callbacks_module.ProgbarLogger) for cb in all_callbacks):
            all_callbacks.append(callbacks_module.ProgbarLogger(verbose))
        cbs = callbacks_module.CallbackList(all_callbacks, model=self, epochs=epochs, steps=batches.steps,
                                            verbose=verbose)
        self.stop_training = False
        cbs.on_train_begin()
        initial_epoch, self._initial_epoch = self._initial_epoch or initial_epoch, None
        if strategy is not None:  # rank 0's epoch and random state now, its weights at the first batch
            initial_epoch = strategy.begin_fit(self, initial_epoch)
        logs = {}
        step_function = self._compiled_train_step()
        try:
            for epoch in range(initial_epoch, epochs):
                self._reset_metrics()
                cbs.on_epoch_begin(epoch)
                for step, (xb, yb, swb) in enumerate(batches):
                    cbs.on_train_batch_begin(step)
                    xb, yb, swb = data_adapter.standardize(self, xb, yb, swb)
                    self._check_batch(xb, yb, "fit")
                    xb, skip = host.preprocess(self, xb)
                    with host.skipping(skip):
                        loss, y_pred, output_losses = self._train_batch(step_function, xb, yb, swb)
                    logs = self._update_metrics(loss, output_losses, xb, yb, y_pred, swb)
                    cbs.on_train_batch_end(step, logs)
                    if self.stop_training:
                        break
                epoch_logs = dict(logs)
                if validation_data is not None and (epoch + 1) % validation_freq == 0:
                    val_logs = self._evaluate_quietly(validation_data, validation_batch_size or batch_size,
                                                      validation_steps)
                    epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
                cbs.on_epoch_end(epoch, epoch_logs)
                logs = epoch_logs
                if self.stop_training:
                    break
        finally:
            self._end_of_training()
        if epochs > 0:  # with use_ema, the weights become their moving averages (as Keras)
            self.optimizer.finalize_variable_values(self.trainable_weights)
        cbs.on_train_end(logs)
        self.history = history
        return history

    def _evaluate_quietly(self, validation_data, batch_size, steps):
        if data_adapter.is_array_data(validation_data) and isinstance(validation_data, (tuple, list)):
            if len(validation_data) not in (2, 3):
                raise ValueError("validation_data must be (x_val, y_val) or (x_val, y_val, sample_weight_val). "
                                 f"Received: a sequence of {len(validation_data)} items")
            vx, vy, vsw = (list(validation_data) + [None])[:3]
            return self.evaluate(vx, vy, batch_size=batch_size, verbose=0, sample_weight=vsw, steps=steps,
                                 return_dict=True)
        return self.evaluate(validation_data, batch_size=batch_size, verbose=0, steps=steps, return_dict=True)

    # ---- evaluate / predict -------------------------------------------------------------------
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):
        """Loss and metrics on the data, in inference mode.

        Returns:
            The loss (a float) when no metrics were compiled, else ``[loss, *metrics]`` in
            ``metrics_names`` order; a dict with ``return_dict=True``.
        """
        self._require_compiled("evaluate")
        verbose = _verbosity(verbose)
        _check_counts("evaluate", batch_size=batch_size, steps=steps)
        x, y, sample_weight = data_adapter.adapt(self, x, y, sample_weight)
        batches = data_adapter.make_batches(x, y, sample_weight, batch_size, False, steps)
        cbs = callbacks_module.CallbackList(_callbacks("evaluate", callbacks), model=self, steps=batches.steps,
                                            verbose=verbose)
        progbar = Progbar(batches.steps, verbose=verbose) if verbose else None
        self._reset_metrics()
        cbs.on_test_begin()
        logs = {}
        for step, (xb, yb, swb) in enumerate(batches):
            cbs.on_test_batch_begin(step)
            xb, yb, swb = data_adapter.standardize(self, xb, yb, swb)
            self._check_batch(xb, yb, "evaluate")
            xb, skip = host.preprocess(self, xb)
            with host.skipping(skip):
                loss, y_pred, output_losses = self._eager_step(self.test_step, xb, yb, swb)
            logs = self._update_metrics(loss, output_losses, xb, yb, y_pred, swb)
            cbs.on_test_batch_end(step, logs)
            if progbar:
                progbar.update(step + 1, logs)
        if not logs:
            raise ValueError(f"evaluate() got no data for model {self.name!r}. Received: an empty dataset")
        if progbar:
            progbar.finish(logs)
        cbs.on_test_end(logs)
        if return_dict:
            return logs
        if len(logs) == 1:
            return logs["loss"]
        return [logs[name] for name in self.metrics_names]

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Model outputs for ``x`` (inference mode, batched) as a NumPy array (a list for several outputs, a
        dict for a functional model whose outputs were given as a dict)."""
        verbose = _verbosity(verbose)
        _check_counts("predict", batch_size=batch_size, steps=steps)
        if x is None:
            raise ValueError(f"predict() needs inputs for model {self.name!r}. Received: x=None")
        x = data_adapter.adapt(self, x)[0]
        batches = data_adapter.make_batches(x, None, None, batch_size, False, steps)
        if isinstance(batches, data_adapter.ArrayBatches):
            self._check_input_shape(batches.x)
        cbs = callbacks_module.CallbackList(_callbacks("predict", callbacks), model=self, steps=batches.steps,
                                            verbose=verbose)
        progbar = Progbar(batches.steps, verbose=verbose) if verbose else None
        cbs.on_predict_begin()
        outputs = []
        with no_grad():
            for step, (xb, _, _) in enumerate(batches):
                cbs.on_predict_batch_begin(step)
                xb, skip = host.preprocess(self, data_adapter.standardize(self, xb)[0])
                with host.skipping(skip):
                    out = self(_tensor(xb), training=False)
                outputs.append(_numpy(out))
                cbs.on_predict_batch_end(step, {"outputs": outputs[-1]})
                if progbar:
                    progbar.update(step + 1)
        if progbar:
            progbar.finish()
        cbs.on_predict_end()
        if not outputs:
            raise ValueError(f"predict() got no data for model {self.name!r}. Received: an empty dataset")
        if isinstance(outputs[0], dict):  # a functional model's dict of outputs (Keras returns a dict too)
            return {key: np.concatenate([batch[key] for batch in outputs]) for key in outputs[0]}
        if isinstance(outputs[0], list):
            return [np.concatenate(parts) for parts in zip(*outputs)]
        return np.concatenate(outputs)

    def train_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """One training step on one batch; returns the loss (and metrics) of that batch."""
        self._require_compiled("train_on_batch")
        xb, yb, swb = data_adapter.adapt(self, x, y, sample_weight)
        self._check_batch(xb, yb, "train_on_batch")
        self._reset_metrics()
        xb, skip = host.preprocess(self, xb)
        try:
            with host.skipping(skip):
                loss, y_pred, output_losses = self._train_batch(self._compiled_train_step(), xb, yb, swb)
        finally:
            self._end_of_training()
        logs = self._update_metrics(loss, output_losses, xb, yb, y_pred, swb)
        return logs if return_dict else (logs["loss"] if len(logs) == 1 else [logs[n] for n in self.metrics_names])

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """Loss (and metrics) on one batch, in inference mode."""
        return self.evaluate(x, y, batch_size=data_adapter.num_samples(data_adapter.adapt(self, x)[0]), verbose=0,
                             sample_weight=sample_weight, return_dict=return_dict)

    def predict_on_batch(self, x):
        """Outputs for one batch as NumPy."""
        return self.predict(x, batch_size=data_adapter.num_samples(data_adapter.adapt(self, x)[0]), verbose=0)
