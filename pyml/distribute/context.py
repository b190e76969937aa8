"""Which strategy a model trains under: the one whose ``scope()`` was open when it was compiled.

Kept apart from ``pyml.distribute.mpi`` so that the training code can ask without importing mpi4py.
"""
_scopes = []  # the strategies whose scope() is open, innermost last


def get_strategy():
    """The strategy whose ``scope()`` is open (the innermost), or None.

    >>> pyml.distribute.get_strategy() is None
    True
    """
    return _scopes[-1] if _scopes else None


def is_chief(model=None):
    """Whether this process writes files: True unless ``model`` (or, without a model, the open scope) trains
    under a strategy on a rank other than 0. Checkpoint callbacks ask this, so only rank 0 writes.

    >>> pyml.distribute.is_chief()
    True
    """
    strategy = getattr(model, "_distribution", None) if model is not None else get_strategy()
    return strategy is None or strategy.is_chief


def push(strategy):
    _scopes.append(strategy)


def pop(strategy):
    _scopes.remove(strategy)
