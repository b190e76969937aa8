"""CPU training throughput: pyml ``fit`` (compiled, and eager) vs PyTorch eager, Keras 3 on JAX and a
hand-written NumPy loop, on the mlp 784-512-512-10, the Keras MNIST convnet and an LSTM, batch 128, Adam.

    $ pip install torch==2.13.0 keras jax      # the pinned CPU PyTorch build; never an unpinned torch (CUDA)
    $ python benchmarks/train_compare.py       # 3 interleaved rounds, every model, 2 threads each
    $ python benchmarks/train_compare.py --rounds 5 --models convnet --threads 2
    $ python benchmarks/train_compare.py --models lstm --threads 1 --clock cpu   # on a busy machine

Every library trains the same architecture on the same data (scikit-learn's 1,797 digits, upscaled 3x and
padded to 28x28; flattened to 784 for the mlp; nothing is downloaded) with Adam (lr 1e-3, epsilon 1e-7),
sparse cross-entropy, batch 128, a fresh shuffle each epoch, and the running loss and accuracy Keras's fit
reports. Each run is its own subprocess, pinned to ``--threads`` CPUs (``sched_setaffinity``, plus the
OpenMP/BLAS thread variables and ``torch.set_num_threads``), so no library's threads disturb another's;
rounds interleave the libraries (rotating their order), and each figure is the median over rounds of
samples/s over the timed epochs (the first epoch, which compiles or traces, is not timed).

- pyml: ``model.fit``, compiled (the default) and ``compile(run_eagerly=True)``.
- PyTorch 2.13 (CPU build), eager, logits + ``CrossEntropyLoss``, NCHW convolutions.
- Keras 3 on JAX (``KERAS_BACKEND=jax``): ``model.fit``, jit-compiled (Keras's default on JAX).
- NumPy: ``benchmarks/numpy_train.py``, written as a NumPy user would.

The LSTM model (issue #6's): Embedding(64 tokens, 32) -> LSTM(128) over 50 steps -> Dense(64, softmax), trained
on 2,048 synthetic sequences (seeded uniform tokens; the label is the first token, so the last state must
remember it): PyTorch's ``nn.LSTM`` (eager, its fused CPU kernel) and Keras's ``LSTM`` (a ``lax.scan`` under
jit) against pyml's ``LSTM`` (one ``rnn_scan`` primitive and its BPTT kernel). NumPy has no LSTM here.

Prints samples/s per library and the ratio pyml (compiled) / best of PyTorch and Keras-JAX per model (above 1
means pyml trains faster). A missing library is skipped with the command that installs it.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import common

LIBRARIES = ("pyml", "pyml-eager", "torch", "keras-jax", "numpy")
INCUMBENTS = ("torch", "keras-jax")
UNSUPPORTED = {("numpy", "lstm")}  # (library, model) pairs that are not written
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = CLOCKS["wall"]  # the worker's timer: --clock cpu counts the CPU time of the worker's threads instead
MODELS = {"mlp": 15, "convnet": 2, "lstm": 3}  # model -> timed epochs (about 1-10 s each)
BATCH_SIZE = 128
INSTALL = {"torch": "torch==2.13.0", "keras-jax": "keras jax"}


def digits_28():
    """The digits, 8x8 upscaled 3x to 24x24 and padded to 28x28, in [0, 1]: ``(x (n, 28, 28, 1), y)``."""
    import numpy as np
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    images = np.kron(x.reshape(-1, 8, 8) / 16.0, np.ones((3, 3)))
    images = np.pad(images, ((0, 0), (2, 2), (2, 2)))
    return images[..., None].astype("float32"), y.astype("int64")


def tokens_50():
    """2,048 sequences of 50 tokens out of 64 (seeded) and their first token as the label: ``(x int32, y)``."""
    import numpy as np

    x = np.random.default_rng(0).integers(0, LSTM_TOKENS, (2048, LSTM_STEPS)).astype("int32")
    return x, x[:, 0].astype("int64")


LSTM_TOKENS, LSTM_STEPS, LSTM_EMBED, LSTM_UNITS = 64, 50, 32, 128


def keras_layers(lib, model_name):
    """The model's layers in pyml or Keras (the same API): the mlp, the Keras MNIST convnet, or Embedding ->
    LSTM -> Dense softmax."""
    layers = lib.layers
    if model_name == "lstm":
        return [lib.Input(shape=(LSTM_STEPS,), dtype="int32"), layers.Embedding(LSTM_TOKENS, LSTM_EMBED),
                layers.LSTM(LSTM_UNITS), layers.Dense(LSTM_TOKENS, activation="softmax")]
    if model_name == "mlp":
        return [lib.Input(shape=(784,)), layers.Dense(512, activation="relu"), layers.Dense(512, activation="relu"),
                layers.Dense(10, activation="softmax")]
    return [lib.Input(shape=(28, 28, 1)), layers.Conv2D(32, 3, activation="relu"),
            layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
            layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")]


def fit_timed(model, x, y, epochs):
    """One untimed epoch, then ``epochs`` timed ones: (samples/s, last loss, last accuracy)."""
    model.fit(x, y, batch_size=BATCH_SIZE, epochs=1, verbose=0)
    start = clock()
    history = model.fit(x, y, batch_size=BATCH_SIZE, epochs=epochs, verbose=0)
    seconds = clock() - start
    return len(x) * epochs / seconds, history.history["loss"][-1], history.history["accuracy"][-1]


def torch_lstm():
    from torch import nn

    class LSTMModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(LSTM_TOKENS, LSTM_EMBED)
            self.lstm = nn.LSTM(LSTM_EMBED, LSTM_UNITS, batch_first=True)
            self.dense = nn.Linear(LSTM_UNITS, LSTM_TOKENS)

        def forward(self, x):
            sequence, _ = self.lstm(self.embedding(x))
            return self.dense(sequence[:, -1])  # logits

    return LSTMModel()


# ---- the workers (one subprocess each) -------------------------------------------------------------------------
def run_pyml(model_name, x, y, epochs, eager):
    import pyml

    pyml.set_random_seed(0)
    model = pyml.Sequential(keras_layers(pyml, model_name))
    model.compile(optimizer=pyml.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  run_eagerly=eager)
    return fit_timed(model, x.reshape(len(x), -1) if model_name == "mlp" else x, y, epochs)


def run_keras(model_name, x, y, epochs):
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(keras_layers(keras, model_name))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return fit_timed(model, x.reshape(len(x), -1) if model_name == "mlp" else x, y, epochs)


def run_torch(model_name, x, y, epochs, threads):
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if model_name == "lstm":
        x, model = torch.from_numpy(x.astype("int64")), torch_lstm()
    elif model_name == "mlp":
        x = torch.from_numpy(x.reshape(len(x), -1))
        model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    else:
        x = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
        model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Linear(128, 10))
    y = torch.from_numpy(y)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()

    def epoch():
        return common.torch_epoch(model, optimizer, loss_fn, x, y, BATCH_SIZE)

    epoch()
    start = clock()
    for _ in range(epochs):
        loss, accuracy = epoch()
    return len(x) * epochs / (clock() - start), loss, accuracy


def worker(library, model_name, epochs, threads):
    """Run one library on one model in this (pinned) process; prints one JSON line."""
    import numpy  # noqa: F401  (loaded first, so that threadpoolctl finds its BLAS)
    from threadpoolctl import threadpool_limits

    limits = threadpool_limits(threads)  # noqa: F841  (kept for the life of the process)
    x, y = tokens_50() if model_name == "lstm" else digits_28()
    if library in ("pyml", "pyml-eager"):
        import pyml.threads

        pyml.threads.set_num_threads(threads)
        result = run_pyml(model_name, x, y, epochs, eager=library == "pyml-eager")
    elif library == "torch":
        result = run_torch(model_name, x, y, epochs, threads)
    elif library == "keras-jax":
        result = run_keras(model_name, x, y, epochs)
    else:
        import numpy_train

        result = numpy_train.train(model_name, x, y, epochs, BATCH_SIZE)
    print(json.dumps(dict(zip(("samples_per_second", "loss", "accuracy"), map(float, result)))))


# ---- the driver ----------------------------------------------------------------------------------------------
def available(library):
    """None if ``library`` can run here, else the command that installs it."""
    module = {"torch": "torch", "keras-jax": "keras"}.get(library)
    if module is None:
        return None
    probe = subprocess.run([sys.executable, "-c", f"import {module}" + (", jax" if module == "keras" else "")],
                           capture_output=True, env=dict(os.environ, KERAS_BACKEND="jax"))
    return None if probe.returncode == 0 else f"{sys.executable} -m pip install {INSTALL[library]}"


def measure(library, model_name, epochs, threads):
    cpus = sorted(os.sched_getaffinity(0))[:threads]
    env = dict(os.environ, KERAS_BACKEND="jax", OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads), PYML_NUM_THREADS=str(threads), JAX_PLATFORMS="cpu",
               PYTHONPATH=os.pathsep.join([str(common.ROOT), str(common.HERE)]))
    command = [sys.executable, __file__, "--worker", library, model_name, "--epochs", str(epochs),
               "--threads", str(threads), "--clock", next(k for k, v in CLOCKS.items() if v is clock)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, preexec_fn=lambda: os.sched_setaffinity(0, cpus))
    if done.returncode != 0:
        raise common.BenchmarkError(f"{library} on {model_name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--libraries", default=",".join(LIBRARIES))
    parser.add_argument("--epochs", type=int, default=None, help="timed epochs (default: 15 mlp, 2 convnet)")
    parser.add_argument("--clock", choices=CLOCKS, default="wall",
                        help="cpu: samples per CPU-second of the worker (time waiting for a busy core is not "
                             "counted; meaningful with --threads 1 on a shared machine)")
    parser.add_argument("--worker", nargs=2, metavar=("LIBRARY", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    global clock
    clock = CLOCKS[args.clock]
    if args.worker:
        worker(*args.worker, args.epochs, args.threads)
        return 0
    models = args.models.split(",")
    libraries = []
    for library in args.libraries.split(","):
        missing = available(library)
        if missing:
            print(f"skipping {library}: not installed; install it with\n    {missing}")
        else:
            libraries.append(library)
    print(f"machine: {common.machine_summary()}")
    print(f"{args.rounds} rounds, {args.threads} threads per library, batch {BATCH_SIZE}, Adam")
    results = {(m, lib): [] for m in models for lib in libraries}
    for round_index in range(args.rounds):
        for model_name in models:
            order = libraries[round_index % len(libraries):] + libraries[:round_index % len(libraries)]
            for library in order:
                if (library, model_name) in UNSUPPORTED:
                    continue
                result = measure(library, model_name, args.epochs or MODELS[model_name], args.threads)
                results[model_name, library].append(result)
                print(f"  round {round_index + 1} {model_name:8s} {library:10s} "
                      f"{result['samples_per_second']:9,.0f} samples/s  loss {result['loss']:.3f}", flush=True)
    for model_name in models:
        rows, medians = [], {}
        for library in libraries:
            if (library, model_name) in UNSUPPORTED:
                continue
            speeds = [r["samples_per_second"] for r in results[model_name, library]]
            medians[library] = statistics.median(speeds)
            rows.append([library, medians[library], min(speeds), max(speeds),
                         results[model_name, library][-1]["accuracy"]])
        best = max((medians[lib], lib) for lib in INCUMBENTS if lib in medians) if any(
            lib in medians for lib in INCUMBENTS) else (None, None)
        notes = [f"pyml (compiled) / best incumbent ({best[1]}): "
                 f"{common.ratio(medians.get('pyml'), best[0])} (above 1: pyml trains faster)"]
        if "pyml-eager" in medians:
            notes.append(f"pyml compiled / pyml eager: {common.ratio(medians.get('pyml'), medians['pyml-eager'])}")
        unit = "samples per CPU-second" if args.clock == "cpu" else "samples/s"
        common.print_table(f"{model_name}: {unit} (median over {args.rounds} rounds)",
                           ["library", "median", "min", "max", "train accuracy"], rows, notes=notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
