"""Data-parallel training over MPI ranks (``pyml launch -n N script.py`` or ``mpiexec -n N python script.py``).

    >>> strategy = pyml.distribute.MPIStrategy()                        # doctest: +SKIP
    >>> with strategy.scope():                                          # doctest: +SKIP
    ...     model = make_model()
    ...     model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    >>> model.fit(x, y, batch_size=256, epochs=3)                       # doctest: +SKIP
    >>> if strategy.is_chief:                                           # doctest: +SKIP
    ...     model.save("model.pyml")

See ``pyml.distribute.mpi`` for what each rank does. Importing this package does not import mpi4py; creating
an ``MPIStrategy`` does.
"""
from pyml.distribute.context import get_strategy, is_chief
from pyml.distribute.mpi import MPIStrategy

__all__ = ["MPIStrategy", "get_strategy", "is_chief"]
