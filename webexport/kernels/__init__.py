"""The WGSL kernel families. Importing this package registers every lowering into ``common.LOWERINGS``.

Each family module (``<family>.py`` beside ``<family>.wgsl.j2``) registers its lowerings with
``@lowering(...)`` when imported; a family that has not landed yet is simply absent, and the coverage
test (tests/webexport/test_coverage.py) lists every primitive left without a lowering.

A family may declare zero-copy primitives in a module-level ``ALIASES`` (names, e.g. ``{"reshape"}``):
their lowering returns ``[]`` and the output shares its first input's buffer (docs/internals.md §6).
"""
import importlib

FAMILIES = ("elementwise", "reduction", "movement", "linalg", "conv")
MODULES = {}

for _family in FAMILIES:
    try:
        MODULES[_family] = importlib.import_module(f"webexport.kernels.{_family}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"webexport.kernels.{_family}":
            raise


def aliases():
    """Every primitive a family declares zero-copy: ``{name, ...}``."""
    names = set()
    for module in MODULES.values():
        names.update(getattr(module, "ALIASES", ()))
    return names
