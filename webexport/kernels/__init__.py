"""The WGSL kernel families. Importing this package registers every lowering into ``common.LOWERINGS``.

Each family module (``<family>.py`` beside ``<family>.wgsl.j2``) registers its lowerings with
``@lowering(...)`` when imported; the coverage test (tests/webexport/test_coverage.py) lists every
primitive left without a lowering.

A family may declare zero-copy primitives in a module-level ``ALIASES`` (names, e.g. ``{"reshape"}``):
their lowering returns ``[]`` and the output shares its first input's buffer (docs/internals.md §6).

    >>> sorted(aliases())
    ['reshape']
"""
from webexport.kernels import conv, elementwise, image, linalg, movement, recurrent, reduction

FAMILIES = (elementwise, reduction, movement, linalg, conv, recurrent, image)


def aliases():
    """Every primitive a family declares zero-copy: ``{name, ...}``."""
    return {name for module in FAMILIES for name in getattr(module, "ALIASES", ())}
