"""Data-parallel scaling of ``pyml.distribute.MPIStrategy`` on this machine: training samples/s of ``fit`` on
the Keras MNIST convnet at a global batch of 256 (Adam), on 2 MPI ranks with one BLAS/pyml thread each, against
one single-threaded process on the same global batches. Rounds are interleaved (one process, then 2 ranks, ...)
and each run times epochs after a warm-up epoch (the trace); the report gives medians and the ratio (target
≥ 1.6x, issue #9), and beside it the ratio of CPU seconds (one process's / the busiest rank's), which is what
the wall-clock ratio becomes when every rank has a core of its own.

    PYTHONPATH=$PWD python benchmarks/mpi_scaling.py [--rounds 3] [--steps 6] [--ranks 2]

The machine's load (``os.getloadavg``) is printed before and after: other work on the cores lowers the ratio.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
BATCH = 256


def _train(steps, epochs, distributed):
    """Run in each rank: fit for ``epochs`` timed epochs after a warm-up one; prints samples/s on rank 0."""
    import models
    import pyml

    strategy = pyml.distribute.MPIStrategy() if distributed else None
    rng = np.random.default_rng(0)
    x = rng.random((steps * BATCH, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, steps * BATCH).astype("int32")
    model = models.build("convnet")
    if strategy:
        with strategy.scope():
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    else:
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)  # traces the step
    if strategy:
        strategy.comm.Barrier()
    start, cpu = time.perf_counter(), time.process_time()
    model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    if strategy:  # the busiest rank's CPU time bounds the run on a machine with a free core per rank
        cpu = strategy.comm.allreduce(cpu, op=strategy._mpi.MAX)
    if strategy is None or strategy.is_chief:
        print(json.dumps({"samples_per_s": steps * BATCH * epochs / seconds, "cpu_s": cpu}))


def _run(ranks, steps, epochs):
    env = {**os.environ, "PYML_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, __file__, "--worker", "--steps", str(steps), "--epochs", str(epochs)]
    if ranks > 1:
        command = [str(Path(sys.executable).parent / "mpiexec"), "-n", str(ranks)] + command + ["--distributed"]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True, timeout=900).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=6, help="global batches per epoch")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per run")
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--distributed", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return _train(args.steps, args.epochs, args.distributed)
    load_before = os.getloadavg()
    single, several, cpu_ratios = [], [], []
    for _ in range(args.rounds):
        one, many = _run(1, args.steps, args.epochs), _run(args.ranks, args.steps, args.epochs)
        single.append(one["samples_per_s"])
        several.append(many["samples_per_s"])
        cpu_ratios.append(one["cpu_s"] / many["cpu_s"])
        print(f"round: 1 process {single[-1]:.0f} samples/s, {args.ranks} ranks {several[-1]:.0f} samples/s; "
              f"CPU-time ratio {cpu_ratios[-1]:.2f}", flush=True)
    report = {"model": "Keras MNIST convnet", "global_batch": BATCH, "ranks": args.ranks,
              "one_process_samples_per_s": round(statistics.median(single), 1),
              "ranks_samples_per_s": round(statistics.median(several), 1),
              "ratio": round(statistics.median(several) / statistics.median(single), 2),
              "ratios_per_round": [round(b / a, 2) for a, b in zip(single, several)],
              # one process's CPU seconds / the busiest rank's, for the same samples: the ratio a machine with
              # a free core per rank would give (MPICH's waiting ranks spin, so waits count as CPU time)
              "cpu_time_ratio": round(statistics.median(cpu_ratios), 2),
              "load_before": [round(v, 2) for v in load_before], "load_after": [round(v, 2) for v in os.getloadavg()],
              "cpus": os.cpu_count()}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
