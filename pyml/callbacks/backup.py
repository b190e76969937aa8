"""``BackupAndRestore``: resume a training run that crashed, at the epoch it reached."""
import json
import os

import safetensors.numpy

from pyml import random
from pyml.callbacks.core import Callback
from pyml.distribute import context as distribute_context
from pyml.utils import atomic

BACKUP_FORMAT = "pyml-backup"


class BackupAndRestore(Callback):
    """Backs up the training state so a ``fit`` interrupted by a crash resumes where it stopped.

    At the end of each epoch (or every ``save_freq`` batches) it writes ONE file, ``backup_dir/latest.backup``
    (safetensors): the weights, the optimizer state (``iterations``, slots) and, in its metadata, the epoch
    reached and pyml's random generator state (so the next epochs shuffle and drop out as an uninterrupted
    run would). The file is written to a temporary file and moved into place (``pyml.utils.atomic``), so a
    crash or ``kill -9`` while saving leaves the previous backup whole. A later ``fit`` with the same
    ``backup_dir`` on a fresh model of the same architecture, compiled the same way, restores it in
    ``on_train_begin`` and starts at that epoch; with
    ``save_freq`` a number (of batches, counted across epochs), a crash mid-epoch restarts that epoch from
    the weights of the last save, as in Keras. When training ends normally the backup is deleted (``delete_checkpoint``).

    Args:
        backup_dir: the folder for the backup (created if missing); use one per training run.
        save_freq: ``"epoch"`` or a number of batches.
        double_checkpoint: also keep the previous backup (``latest.backup.bkp``), used when the latest
            cannot be read.
        delete_checkpoint: delete the backup files when ``fit`` ends without an error.

    >>> backup = pyml.callbacks.BackupAndRestore("/tmp/run-1-backup")
    >>> history = model.fit(x, y, epochs=10, callbacks=[backup])  # doctest: +SKIP
    """

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False, delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ValueError(f"BackupAndRestore needs a backup_dir. Received: backup_dir={backup_dir!r}")
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(f"BackupAndRestore expects save_freq 'epoch' or an int >= 1. Received: save_freq={save_freq!r}")
        self.backup_dir, self.save_freq = os.fspath(backup_dir), save_freq
        self.double_checkpoint, self.delete_checkpoint = double_checkpoint, delete_checkpoint
        self.path = os.path.join(self.backup_dir, "latest.backup")
        self.previous_path = self.path + ".bkp"
        self._epoch, self._batches_since_save = 0, 0

    # ---- restoring -------------------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._epoch, self._batches_since_save = 0, 0
        if not self.model.built:
            raise ValueError("BackupAndRestore needs a built model before fit() (start it with pyml.Input or call "
                             f"build()); model {self.model.name!r} is not built")
        try:
            self._restore(self.path)
        except (OSError, ValueError):
            if not os.path.exists(self.previous_path):
                raise
            self._restore(self.previous_path)

    def _restore(self, path):
        from pyml import saving
        from pyml.optimizers import state

        if not os.path.exists(path):
            return
        with open(path, "rb") as f:
            data = f.read()
        arrays = saving._load_safetensors(data, path)
        with safetensors.safe_open(path, framework="numpy") as f:
            metadata = f.metadata() or {}
        if metadata.get("format") != BACKUP_FORMAT:
            raise ValueError(f"{path} is not a BackupAndRestore backup (format {metadata.get('format')!r})")
        weights = {k[len("weights/"):]: v for k, v in arrays.items() if k.startswith("weights/")}
        # a fresh model names its layers anew (dense_2, ...): the saved order matches them by position
        order = json.loads(metadata["order"])
        saving.assign_weights(self.model, weights, path, order)
        optimizer = {k[len("optimizer/"):]: v for k, v in arrays.items() if k.startswith("optimizer/")}
        state.restore_state(self.model.optimizer, optimizer, dict(zip(order, self.model.weights)), path)
        random.generator().bit_generator.state = json.loads(metadata["random_state"])
        self._epoch = self.model._initial_epoch = int(metadata["epoch"])

    # ---- saving ----------------------------------------------------------------------------------------
    def on_epoch_end(self, epoch, logs=None):
        self._epoch = epoch + 1
        if self.save_freq == "epoch":
            self._save()

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq != "epoch":
            self._batches_since_save += 1
            if self._batches_since_save >= self.save_freq:
                self._batches_since_save = 0
                self._save()

    def _save(self):
        if not distribute_context.is_chief(self.model):
            return  # under pyml.distribute, rank 0 writes the backup (and restores it for every rank)
        from pyml import saving
        from pyml.optimizers import state

        weights = saving.weights_by_name(self.model)
        arrays = {f"weights/{name}": array for name, array in weights.items()}
        optimizer = state.state_arrays(self.model.optimizer, self.model.trainable_weights)
        arrays.update((f"optimizer/{name}", array) for name, array in optimizer.items())
        metadata = {"format": BACKUP_FORMAT, "epoch": str(self._epoch), "order": json.dumps(list(weights)),
                    "random_state": json.dumps(random.generator().bit_generator.state)}
        data = safetensors.numpy.save(arrays, metadata=metadata)
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint and os.path.exists(self.path):
            with open(self.path, "rb") as f:
                previous = f.read()
            atomic.write_file(self.previous_path, lambda f: f.write(previous), True)
        atomic.write_file(self.path, lambda f: f.write(data), True)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and distribute_context.is_chief(self.model):
            for path in (self.path, self.previous_path):
                if os.path.exists(path):
                    os.remove(path)
            if os.path.isdir(self.backup_dir) and not os.listdir(self.backup_dir):
                os.rmdir(self.backup_dir)
