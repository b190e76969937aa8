"""conv primitives and their public ops. See shared/STYLE.md §1 for the stanza each primitive follows."""
__all__ = []
