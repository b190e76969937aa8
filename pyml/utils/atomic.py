"""Atomic writes that survive ``kill -9``: a reader sees the old complete file (or folder) or the new one.

A file is written to a temporary sibling ``.<name>.tmp-<pid>-<random>`` in the same folder, flushed to disk
(``fsync``), then moved over the target with ``os.replace`` (atomic on POSIX and Windows), and the folder is
fsynced so the rename itself survives a power cut. A folder (a web bundle) is built in a sibling of the same
name pattern and swapped in (``replace_folder``).

A process killed mid-write leaves its temporary sibling behind; the next write to the same target removes every
such sibling whose process (the pid in its name) is gone (``remove_stale``). A sibling whose pid was reused by
a live process stays until that process ends.

    >>> write_file("model.pyml", lambda f: f.write(data))    # doctest: +SKIP
"""
import errno
import os
import re
import secrets
import shutil

from pyml import checks

KINDS = ("tmp", "old")  # a file or folder being written; a replaced folder on its way out


def temp_path(path, kind="tmp"):
    """A fresh sibling name for ``path``: ``.<name>.<kind>-<pid>-<random>`` (recognisable, and tied to this
    process so ``remove_stale`` can tell a dead writer's leftovers from a live writer's)."""
    directory, name = os.path.split(os.path.abspath(path))
    return os.path.join(directory, f".{name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}")


def _siblings(path):
    """``[(sibling path, kind, pid)]``: the temporary siblings of ``path`` (any process's)."""
    directory, name = os.path.split(os.path.abspath(path))
    pattern = re.compile(rf"\.{re.escape(name)}\.({'|'.join(KINDS)})-(\d+)-[0-9a-f]+")
    try:
        entries = os.listdir(directory)
    except FileNotFoundError:
        return []
    found = []
    for entry in entries:
        match = pattern.fullmatch(entry)
        if match:
            found.append((os.path.join(directory, entry), match.group(1), int(match.group(2))))
    return found


def _alive(pid):
    if pid == os.getpid():
        return False  # this process writes one target at a time: a leftover of its own is from a failed write
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process (EPERM): alive
        return True
    return True


def remove_stale(path):
    """Remove the temporary siblings of ``path`` left by writers that are no longer running.

    For a folder killed between the two renames of ``replace_folder``'s fallback (the target briefly absent),
    the old complete folder (``.old-``) is first moved back into place, so the target exists again."""
    stale = [(p, kind) for p, kind, pid in _siblings(path) if not _alive(pid)]
    if not os.path.lexists(path):
        for sibling, kind in stale:
            if kind == "old":
                os.rename(sibling, path)
                stale.remove((sibling, kind))
                break
    for sibling, _ in stale:
        if os.path.isdir(sibling) and not os.path.islink(sibling):
            shutil.rmtree(sibling, ignore_errors=True)
        else:
            try:
                os.unlink(sibling)
            except FileNotFoundError:
                pass


def fsync_folder(directory):
    """Flush a folder's entries (a rename into it) to disk; a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_file(path, write, overwrite=True):
    """Write ``path`` atomically: ``write(f)`` fills a temporary sibling, which replaces ``path`` once flushed.

    Raises FileExistsError when ``path`` exists and ``overwrite`` is False, FileNotFoundError when its folder
    does not exist. On any error the temporary file is removed and ``path`` is untouched."""
    path = checks.path("save", "filepath", path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"Cannot save to {path}: it is a folder; give a file name in it.")
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path} already exists. Pass overwrite=True to replace it. Received: overwrite=False")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"Cannot save to {path}: the folder {directory} does not exist.")
    remove_stale(path)
    temp = temp_path(path)
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)  # less the umask
    except OSError as exc:  # a read-only or special folder (/proc): name the target, not the temporary
        raise type(exc)(exc.errno, f"Cannot save to {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
    fsync_folder(directory)


def replace_folder(staging, target):
    """Move the complete folder ``staging`` (a sibling of ``target``, from ``temp_path``) to ``target``.

    On Linux the two are swapped in one step (``renameat2(RENAME_EXCHANGE)``), so a reader, or a process killed
    at any moment, sees the old complete folder or the new one, never neither. Where that call is missing
    (other systems, some filesystems), the old folder is renamed aside (``.old-``) then the new one into place:
    between those two renames (microseconds) ``target`` is absent, and a process killed there leaves the old
    folder aside, which the next ``remove_stale`` moves back."""
    staging, target = os.fspath(staging), os.fspath(target)
    for folder in {os.path.dirname(staging), os.path.dirname(target)}:
        fsync_folder(folder)  # (the files inside were fsynced by the caller)
    if not os.path.lexists(target):
        os.rename(staging, target)
    elif _exchange(staging, target):
        shutil.rmtree(staging, ignore_errors=True)  # now the old folder
    else:
        old = temp_path(target, "old")
        os.rename(target, old)
        try:
            os.rename(staging, target)
        except BaseException:
            os.rename(old, target)
            raise
        shutil.rmtree(old, ignore_errors=True)
    fsync_folder(os.path.dirname(target))


_RENAME_EXCHANGE = 2
_renameat2 = None


def _exchange(a, b):
    """Swap paths ``a`` and ``b`` atomically; False where the system or filesystem cannot."""
    global _renameat2
    if _renameat2 is None:
        _renameat2 = False
        if os.name == "posix":
            import ctypes
            import ctypes.util

            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
                _renameat2 = libc.renameat2
                _renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
            except (OSError, AttributeError):
                _renameat2 = False
    if not _renameat2:
        return False
    import ctypes

    at_fdcwd = -100
    if _renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV, errno.EPERM):
        return False
    raise OSError(error, f"could not swap {a} into place: {os.strerror(error)}", b)
