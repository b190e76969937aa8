"""``pyml launch -n N script.py [args]``: run a training script on N MPI ranks with the venv's ``mpiexec``.

The ``mpiexec`` used is the one next to the running Python (``pip install 'pyml[distributed]'`` puts MPICH's
there). It runs with ``-print-all-exitcodes``; when a rank ends with an error, the launcher names it (a rank
that raises names itself, see ``pyml.distribute.mpi``; one that is killed or calls ``os._exit`` cannot, and
MPICH then stops the other ranks).

    >>> launch(2, "train.py", ["--epochs", "3"])       # doctest: +SKIP
    0
"""
import os
import re
import subprocess
import sys

_EXIT_CODES = re.compile(r"Exit codes: (.*)$")
_HOST_CODES = re.compile(r"\[([^\]]*)\]\s*([0-9,]+)")


def find_mpiexec():
    """The path of the ``mpiexec`` next to this Python, or a clear error naming how to install it."""
    path = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if not os.path.exists(path):
        raise FileNotFoundError(f"pyml launch needs mpiexec next to {sys.executable} (not found: {path}); "
                                "install MPI into this environment with: pip install 'pyml[distributed]'")
    return path


def command(ranks, script, args=(), mpiexec_args=()):
    """The ``mpiexec`` command line that ``launch`` runs."""
    if isinstance(ranks, bool) or not isinstance(ranks, int) or ranks < 1:
        raise ValueError(f"the number of ranks must be a positive integer. Received: -n {ranks!r}")
    return [find_mpiexec(), "-print-all-exitcodes", *mpiexec_args, "-n", str(ranks), sys.executable, script, *args]


def failed_ranks(line):
    """``[(rank, description)]`` for the ranks that failed, from MPICH's ``Exit codes:`` line (ranks numbered
    in the order the hosts list them, as MPICH places consecutive ranks on a host)."""
    match = _EXIT_CODES.search(line)
    if not match:
        return []
    statuses = [int(s) for _, codes in _HOST_CODES.findall(match.group(1)) for s in codes.split(",") if s]
    failed = []
    for rank, status in enumerate(statuses):
        if status & 0x7F:
            failed.append((rank, f"was killed by signal {status & 0x7F}"))
        elif status >> 8:
            failed.append((rank, f"exited with status {status >> 8}"))
    return failed


def launch(ranks, script, args=(), mpiexec_args=()):
    """Run ``script`` with ``args`` on ``ranks`` ranks; returns mpiexec's exit status. The ranks' output
    passes through (MPICH prints the exit codes on standard output: the launcher reads them there), followed
    on standard error by a line per failed rank."""
    process = subprocess.Popen(command(ranks, script, args, mpiexec_args), stdout=subprocess.PIPE, text=True,
                               bufsize=1)
    failed = []
    for line in process.stdout:
        found = _EXIT_CODES.search(line)
        if found:
            failed = failed_ranks(line)
            continue  # the raw statuses: replaced by the lines below
        sys.stdout.write(line)
        sys.stdout.flush()
    status = process.wait()
    for rank, what in failed:
        sys.stderr.write(f"pyml launch: rank {rank} of {ranks} {what}\n")
    return status
