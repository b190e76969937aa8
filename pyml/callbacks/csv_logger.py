"""``CSVLogger``: one row of logs per epoch in a CSV file."""
import collections.abc
import csv
import os

from pyml.callbacks.core import Callback


class CSVLogger(Callback):
    """Writes each epoch's logs as a CSV row, as Keras does: an ``epoch`` column (from 0), then the log keys
    sorted by name; when the first epoch has no ``val_*`` keys, ``val_*`` columns are added anyway and hold
    ``NA``. Each row is flushed at once, so the file is readable while training runs.

    Args:
        filename: the CSV file.
        separator: the column separator (``","``).
        append: add to an existing file (no second header) instead of replacing it.

    >>> logger = pyml.callbacks.CSVLogger("training.csv", separator=";", append=True)
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.sep, self.append = os.fspath(filename), separator, append
        self.csv_file = self.writer = self.keys = None
        self.append_header = True

    def on_train_begin(self, logs=None):
        self.append_header = True
        if self.append and os.path.exists(self.filename):
            with open(self.filename) as f:
                self.append_header = not f.readline()
        self._close()
        self.csv_file = open(self.filename, "a" if self.append else "w", newline="")
        self.writer = self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(key.startswith("val_") for key in self.keys):
                self.keys += [f"val_{key}" for key in self.keys]
        if self.writer is None:
            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + self.keys, delimiter=self.sep,
                                         lineterminator="\n")
            if self.append_header:
                self.writer.writeheader()
        self.writer.writerow({"epoch": epoch, **{key: _cell(logs.get(key, "NA")) for key in self.keys}})
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        self._close()

    def _close(self):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


def _cell(value):
    if isinstance(value, str) or not isinstance(value, collections.abc.Iterable) or getattr(value, "ndim", 1) == 0:
        return value
    return f'"[{", ".join(map(str, value))}]"'
