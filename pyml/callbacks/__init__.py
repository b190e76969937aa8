"""Callbacks: hooks that ``fit``, ``evaluate`` and ``predict`` call at the start and end of training,
epochs and batches (Keras ``keras.callbacks``).

    >>> stop = pyml.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    >>> history = model.fit(x, y, validation_split=0.2, epochs=100, callbacks=[stop])  # doctest: +SKIP

``logs`` dicts hold Python floats keyed like Keras: ``loss``, ``accuracy``, ``val_loss``, ...
"""
from pyml.callbacks.backup import BackupAndRestore
from pyml.callbacks.core import (Callback, CallbackList, EarlyStopping, History, LambdaCallback,
                                 LearningRateScheduler, ModelCheckpoint, ProgbarLogger)
from pyml.callbacks.csv_logger import CSVLogger
from pyml.callbacks.plateau import ReduceLROnPlateau
from pyml.callbacks.tensorboard import TensorBoard
from pyml.callbacks.terminate import TerminateOnNaN

__all__ = ["Callback", "CallbackList", "History", "ProgbarLogger", "EarlyStopping", "LambdaCallback",
           "ModelCheckpoint", "TerminateOnNaN", "LearningRateScheduler", "ReduceLROnPlateau", "CSVLogger",
           "BackupAndRestore", "TensorBoard"]
