"""Rank awareness without MPI: the scope a model is compiled in, and the callbacks that write only on rank 0."""
import numpy as np

import pyml
from pyml.distribute import context


def _model():
    model = pyml.Sequential([pyml.Input((3,)), pyml.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    return model


class _Rank:
    """What the training code asks of a strategy, for one rank (MPIStrategy needs MPI)."""

    def __init__(self, rank):
        self.rank, self.is_chief = rank, rank == 0


def test_a_model_trains_under_the_scope_it_was_compiled_in():
    assert pyml.distribute.get_strategy() is None and pyml.distribute.is_chief()
    strategy = _Rank(1)
    context.push(strategy)
    try:
        model = _model()
        assert pyml.distribute.get_strategy() is strategy and not pyml.distribute.is_chief()
    finally:
        context.pop(strategy)
    assert model._distribution is strategy and not pyml.distribute.is_chief(model)
    assert _model()._distribution is None and pyml.distribute.is_chief(_model())


def test_checkpoint_callbacks_write_on_rank_0_only(tmp_path):
    x, y = np.ones((4, 3), "float32"), np.ones((4, 2), "float32")
    for rank, expected in ((1, []), (0, ["backup", "model.weights.h5"])):
        folder = tmp_path / f"rank{rank}"
        folder.mkdir()
        model = _model()
        model.fit(x, y, epochs=1, verbose=0)  # built, with optimizer state, before it "joins" a strategy
        model._distribution = _Rank(rank)
        checkpoint = pyml.callbacks.ModelCheckpoint(str(folder / "model.weights.h5"), save_weights_only=True,
                                                    monitor="loss")
        backup = pyml.callbacks.BackupAndRestore(str(folder / "backup"), delete_checkpoint=False)
        for callback in (checkpoint, backup):
            callback.set_model(model)
        checkpoint.on_epoch_end(0, {"loss": 1.0})
        backup.on_epoch_end(0, {"loss": 1.0})
        assert sorted(p.name for p in folder.iterdir()) == expected, rank
