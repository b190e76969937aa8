"""``MPIStrategy``: synchronous data-parallel training on mpi4py, one process (rank) per CPU socket, machine or GPU.

Every rank runs the same script on the same data. ``fit`` then, on every rank:

1. at the start, takes rank 0's weights, optimizer state, random generator state (so every rank shuffles the
   same way) and starting epoch (``BackupAndRestore``);
2. cuts each global batch (``batch_size`` rows, as in Keras) into contiguous shards, rank r taking rows
   ``[n*r//N, n*(r+1)//N)``, and computes the gradient of its shard's mean loss;
3. sums ``gradient * shard_rows / batch_rows`` over the ranks, so every rank holds the global batch's mean
   gradient, in place in buckets of ``bucket_bytes`` (one ``Iallreduce`` per bucket, not one per variable, all
   in flight together);
4. applies the same update on every rank, so the weights stay equal without being sent again;
5. reduces the loss the same way and gathers the predictions, so that every rank updates its metrics on the
   whole global batch and logs the numbers one process would.

N ranks thus compute what one process computes on the same global batches, to float32 rounding (tested). Only
rank 0 prints the progress bar and writes checkpoints (``ModelCheckpoint``, ``BackupAndRestore``); guard your own
``model.save`` and ``webexport.export`` with ``strategy.is_chief``. An exception on one rank prints its traceback
prefixed with the rank and aborts every rank (``MPI_Abort``), so a failed rank never leaves the others waiting.

Not shared between ranks: Dropout masks and the moving statistics of BatchNormalization (each rank's come from
its own shard, as in Keras' MirroredStrategy without synchronized batch norm). Validation and ``evaluate`` run
whole on every rank.
"""
import contextlib
import sys
import time
import weakref

import numpy as np

from pyml import backend, random
from pyml.autodiff import no_grad
from pyml.distribute import context

BUCKET_BYTES = 4 * 2 ** 20  # large enough that the per-call latency is small, small enough to stay in cache
POLL_S = 1e-4  # the sleep between two polls of an allreduce in flight


class MPIStrategy:
    """Data-parallel training over the ranks of an MPI communicator (see the module docstring).

    Args:
        comm: the mpi4py communicator (default ``MPI.COMM_WORLD``).
        bucket_bytes: the gradient is reduced in slices of this many bytes.
        abort_on_error: install a ``sys.excepthook`` that aborts every rank when one raises (default True).

    >>> strategy = pyml.distribute.MPIStrategy()   # doctest: +SKIP
    >>> strategy.num_replicas_in_sync, strategy.rank  # doctest: +SKIP
    (2, 0)
    """

    def __init__(self, comm=None, bucket_bytes=BUCKET_BYTES, abort_on_error=True):
        try:
            from mpi4py import MPI
        except ImportError as exc:
            raise ImportError("pyml.distribute.MPIStrategy needs mpi4py and an MPI library: "
                              "pip install 'pyml[distributed]'") from exc
        if isinstance(bucket_bytes, bool) or not isinstance(bucket_bytes, int) or bucket_bytes <= 0:
            raise ValueError(f"bucket_bytes must be a positive integer. Received: bucket_bytes={bucket_bytes!r}")
        self._mpi = MPI
        self.comm = comm if comm is not None else MPI.COMM_WORLD
        self.rank, self.num_replicas_in_sync = self.comm.Get_rank(), self.comm.Get_size()
        self.bucket_bytes = bucket_bytes
        self._shard_weight = 1.0  # this rank's share of the current global batch's rows
        self._synced = weakref.WeakSet()  # the models that hold rank 0's weights since their fit began
        if abort_on_error:
            _abort_on_error(self.comm)

    @property
    def is_chief(self):
        """True on rank 0, the rank that prints and writes files."""
        return self.rank == 0

    @contextlib.contextmanager
    def scope(self):
        """Models compiled inside train with this strategy (as Keras' ``strategy.scope()``)."""
        context.push(self)
        try:
            yield self
        finally:
            context.pop(self)

    def __repr__(self):
        return f"MPIStrategy(rank={self.rank}, num_replicas_in_sync={self.num_replicas_in_sync})"

    # ---- start of fit ----------------------------------------------------------------------------------------
    def begin_fit(self, model, initial_epoch):
        """Give every rank rank 0's random generator state (the same shuffles) and return rank 0's
        ``initial_epoch``; rank 0's weights follow at the first batch, once the model is built (``train_batch``,
        which sends them before the first batch of ``train_on_batch`` calls too)."""
        state = self.comm.bcast((random.generator().bit_generator.state, initial_epoch), root=0)
        random.generator().bit_generator.state = state[0]
        self._synced.discard(model)  # a callback may have restored rank 0's weights (BackupAndRestore)
        return state[1]

    def _broadcast_model(self, model):
        """Give every rank rank 0's weights and optimizer state."""
        optimizer, trainable = model.optimizer, model.trainable_weights
        tracked = [i for i, v in enumerate(trainable) if id(v) in optimizer._tracked]
        slots = [name for name, _ in optimizer.slot_specs()]
        payload = None
        if self.is_chief:
            payload = {"weights": [backend.to_numpy(v.data) for v in model.weights],
                       "scalars": optimizer.scalar_state(), "tracked": tracked,
                       "slots": [[backend.to_numpy(optimizer.slot(trainable[i], s)) for s in slots] for i in tracked]}
        payload = self.comm.bcast(payload, root=0)
        if not self.is_chief:
            for variable, array in zip(model.weights, payload["weights"]):
                variable.assign(array)
            optimizer.set_scalar_state(payload["scalars"])
            optimizer.track([trainable[i] for i in payload["tracked"]])
            for i, arrays in zip(payload["tracked"], payload["slots"]):
                for name, array in zip(slots, arrays):
                    optimizer.set_slot(trainable[i], name, backend.asarray(array))

    # ---- one step --------------------------------------------------------------------------------------------
    def shard(self, rows):
        """This rank's ``slice`` of a global batch of ``rows`` rows."""
        n = self.num_replicas_in_sync
        if rows < n:
            raise ValueError(f"MPIStrategy: a batch of {rows} rows cannot be shared among {n} ranks (each needs "
                             f"at least one row); use a batch_size and a dataset size with at least {n} rows in "
                             "the last batch, or fewer ranks")
        return slice(rows * self.rank // n, rows * (self.rank + 1) // n)

    def train_batch(self, model, step, x, y, sample_weight):
        """``step(x, y, sample_weight)`` (``model``'s compiled or eager training step, which calls
        ``reduce_gradient``) on this rank's shard of the global batch; returns the global batch's ``(loss,
        predictions, each output's loss)``, the same on every rank."""
        rows = _rows(x)
        part = self.shard(rows)
        self._shard_weight = (part.stop - part.start) / rows
        shard = [_take(value, part) for value in (x, y, sample_weight)]
        if model not in self._synced:  # the first batch of a fit (or of train_on_batch calls)
            if not model.built:  # a model built by its first batch: build it now, so there are weights to send
                with no_grad():
                    model(_tensors(shard[0]), training=False)
            self._broadcast_model(model)
            self._synced.add(model)
        loss, y_pred, output_losses = step(*shard)
        losses = np.array([float(loss), *output_losses], np.float64) * self._shard_weight
        self.comm.Allreduce(self._mpi.IN_PLACE, losses, op=self._mpi.SUM)
        return float(losses[0]), self._gather(y_pred), [float(v) for v in losses[1:]]

    def reduce_gradient(self, flat):
        """Replace the flat gradient array ``flat`` of this rank's shard, in place, by the global batch's mean
        gradient: each rank's gradient weighed by its share of the rows, summed bucket by bucket."""
        flat *= flat.dtype.type(self._shard_weight)
        step = max(1, self.bucket_bytes // flat.itemsize)
        self._wait([self.comm.Iallreduce(self._mpi.IN_PLACE, flat[start:start + step], op=self._mpi.SUM)
                    for start in range(0, flat.size, step)])
        return flat

    def _wait(self, requests):
        """Wait for ``requests``, sleeping between polls: MPICH's own wait polls without pause, which on a busy
        (or oversubscribed) machine takes the core from a rank that is still computing its gradient."""
        while not self._mpi.Request.Testall(requests):
            time.sleep(POLL_S)

    def reduce_gradients(self, grads):
        """``reduce_gradient`` for a list of per-variable gradients (the eager step): one flat buffer, reduced,
        cut back (None stays None: every rank has the same unconnected variables)."""
        present = [backend.to_numpy(g.data) for g in grads if g is not None]
        if not present:
            return grads
        flat = self.reduce_gradient(np.concatenate([g.reshape(-1) for g in present]))
        out, start = [], 0
        for g in grads:
            if g is None:
                out.append(None)
                continue
            size = int(np.prod(g.shape, dtype=np.int64))
            out.append(backend.asarray(flat[start:start + size].reshape(g.shape)))
            start += size
        return out

    def _gather(self, y_pred):
        """Every rank's predictions, concatenated in rank order (the global batch's rows)."""
        parts = self.comm.allgather(_numpy(y_pred))
        if isinstance(y_pred, dict):
            return {key: np.concatenate([part[key] for part in parts]) for key in y_pred}
        if isinstance(y_pred, (list, tuple)):
            return [np.concatenate(column) for column in zip(*parts)]
        return np.concatenate(parts)


def _tensors(x):
    from pyml.tensor import Tensor

    return [Tensor(a) for a in x] if isinstance(x, (list, tuple)) else Tensor(x)


def _rows(x):
    return int(np.shape(x[0] if isinstance(x, (list, tuple)) else x)[0])


def _numpy(value):
    """Predictions (Tensors or arrays, alone, in a list or in a dict) as NumPy arrays."""
    if isinstance(value, dict):
        return {key: _numpy(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_numpy(v) for v in value]
    return backend.to_numpy(getattr(value, "data", value))


def _take(value, part):
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [None if v is None else v[part] for v in value]
    return value[part]


_hooked = []  # the communicator whose abort hook is installed


def _abort_on_error(comm):
    """Make an uncaught exception on any rank abort every rank (not leave them waiting in a collective), after
    printing the traceback under a line naming the rank."""
    if _hooked:
        return
    _hooked.append(comm)
    previous = sys.excepthook

    def hook(kind, value, tb):
        rank, size = comm.Get_rank(), comm.Get_size()
        sys.stderr.write(f"pyml.distribute: rank {rank} of {size} failed with {kind.__name__}: {value}; "
                         "aborting every rank\n")
        previous(kind, value, tb)
        sys.stderr.flush()
        # MPICH's launcher forwards this rank's output through its proxy; aborting at once can tear the proxy
        # down before it forwards the lines above (seen on a loaded machine), so give it a moment
        time.sleep(1.0)
        comm.Abort(1)

    sys.excepthook = hook
