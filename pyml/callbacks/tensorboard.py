"""``TensorBoard``: scalar logs that TensorBoard reads, written through the ``tensorboardX`` package."""
import os
import time

from pyml.callbacks.core import Callback


class TensorBoard(Callback):
    """Writes the logs of training as TensorBoard scalars, named as Keras 3 names them: in ``log_dir/train``
    ``epoch_loss``, ``epoch_<metric>``, ``epoch_learning_rate`` (and ``epoch_steps_per_second`` with
    ``write_steps_per_second``); in ``log_dir/validation`` ``epoch_loss``, ``epoch_<metric>`` of the
    validation data and ``evaluation_<name>_vs_iterations`` (at the optimizer's step). With ``update_freq``
    a number, ``batch_<name>`` every that many batches, at the global batch index. View them with
    ``tensorboard --logdir logs``.

    Needs ``tensorboardX`` (``pip install tensorboardX``, or ``pip install pyml[tensorboard]``); the event files
    are TensorBoard's own format, written by that package.

    Args:
        log_dir: the folder of the event files (``"logs"``).
        write_steps_per_second: also log the training speed.
        update_freq: ``"epoch"``, ``"batch"`` (every batch) or a number of batches.
        write_graph: accepted for Keras scripts; pyml writes no graph.
        histogram_freq, write_images, profile_batch, embeddings_freq, embeddings_metadata: only their
            defaults (off) are supported.

    >>> board = pyml.callbacks.TensorBoard(log_dir="logs", update_freq=10)  # doctest: +SKIP
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
                 embeddings_metadata=None):
        super().__init__()
        try:
            import tensorboardX
        except ImportError as exc:
            raise ImportError("pyml.callbacks.TensorBoard writes its event files with the tensorboardX package, "
                              "which is not installed: pip install tensorboardX (or pip install "
                              "'pyml[tensorboard]')") from exc
        for arg, value in (("histogram_freq", histogram_freq), ("write_images", write_images),
                           ("profile_batch", profile_batch), ("embeddings_freq", embeddings_freq),
                           ("embeddings_metadata", embeddings_metadata)):
            if value:
                raise NotImplementedError(f"pyml's TensorBoard callback writes scalars only; {arg} is not supported. "
                                          f"Received: {arg}={value!r}")
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and (isinstance(update_freq, bool) or not isinstance(update_freq, int)
                                       or update_freq < 1):
            raise ValueError(f"TensorBoard expects update_freq 'epoch', 'batch' or an int >= 1. "
                             f"Received: update_freq={update_freq!r}")
        self._writer_class = tensorboardX.SummaryWriter
        self.log_dir, self.write_graph = os.fspath(log_dir), write_graph
        self.write_steps_per_second, self.update_freq = write_steps_per_second, update_freq
        self._writers = {}
        self._global_batch = 0
        self._epoch_start, self._epoch_batches = None, 0

    def _writer(self, name):
        if name not in self._writers:
            self._writers[name] = self._writer_class(logdir=os.path.join(self.log_dir, name))
        return self._writers[name]

    def on_train_begin(self, logs=None):
        self._global_batch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start, self._epoch_batches = time.perf_counter(), 0

    def on_train_batch_end(self, batch, logs=None):
        self._global_batch += 1
        self._epoch_batches += 1
        if self.update_freq != "epoch" and self._global_batch % self.update_freq == 0:
            writer = self._writer("train")
            for name, value in (logs or {}).items():
                writer.add_scalar(f"batch_{name}", value, self._global_batch)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        train["learning_rate"] = self.model.optimizer.learning_rate
        if self.write_steps_per_second and self._epoch_start is not None:
            train["steps_per_second"] = self._epoch_batches / max(time.perf_counter() - self._epoch_start, 1e-9)
        writer = self._writer("train")
        for name, value in train.items():
            writer.add_scalar(f"epoch_{name}", value, epoch)
        writer.flush()
        validation = {k[len("val_"):]: v for k, v in logs.items() if k.startswith("val_")}
        if validation:
            writer = self._writer("validation")
            for name, value in validation.items():
                writer.add_scalar(f"epoch_{name}", value, epoch)
                writer.add_scalar(f"evaluation_{name}_vs_iterations", value, self.model.optimizer.iterations)
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
