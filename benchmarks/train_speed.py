"""Training the digits MLP on CPU: pyml ``fit`` vs the same training loop in PyTorch.

    $ pip install torch==2.13.0                 # the pinned CPU build this comparison was measured with
    $ python benchmarks/train_speed.py          # 20 epochs each, batch 32
    $ python benchmarks/train_speed.py --epochs 50 --threads 0      # each library's default thread count

Both train Dense 64 relu -> Dense 10 softmax (the digits demo's ``build_model``) on the demo's 80/20 split
of scikit-learn's digits, on the CPU, in the same process, one after the other:

- pyml: ``model.fit(x, y, epochs, batch_size=32)`` as the demo compiles it (Adam, sparse categorical
  cross-entropy, accuracy metric; the compiled training step, ``fit``'s default), timed per epoch by a callback.
- PyTorch: ``nn.Sequential(Linear, ReLU, Linear)`` with Keras's defaults copied (Glorot-uniform kernels,
  zero biases, Adam lr 1e-3 and epsilon 1e-7), cross-entropy on the logits, a fresh shuffle each epoch,
  batches sliced from tensors (no DataLoader), and the running loss and accuracy that Keras's fit keeps.

Both run single-threaded by default (``--threads 1``): at this size (batches of 32 x 64) a second thread
buys nothing, and PyTorch's spinning OpenMP workers slow it down many times over (28x measured) when other
processes share the cores, which would flatter pyml. ``--threads 0`` keeps each library's own default.

Prints the seconds per epoch of each (mean over epochs after the first, the first apart), the ratio
pyml / PyTorch (above 1 means pyml is slower), and both final test accuracies. Without torch installed
it says how to install it and exits 2.
"""
import argparse
import statistics
import sys
import time

import numpy as np

import common

TORCH_VERSION = "2.13.0"
BATCH_SIZE = 32


def require_torch():
    try:
        import torch
    except ModuleNotFoundError:
        print(f"error: PyTorch is not installed; this benchmark compares against it. Install the pinned CPU build "
              f"into this Python with\n    {sys.executable} -m pip install torch=={TORCH_VERSION}", file=sys.stderr)
        raise SystemExit(2) from None
    if not torch.__version__.startswith(TORCH_VERSION):
        print(f"note: torch {torch.__version__} is installed; the README's figures used torch {TORCH_VERSION}")
    return torch


def train_pyml(demo, data, epochs, seed):
    """The demo's model through ``fit``; returns (seconds of each epoch, test accuracy)."""
    import pyml

    class EpochTimer(pyml.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.start)

    x_train, x_test, y_train, y_test = data
    pyml.set_random_seed(seed)
    model = demo.build_model()
    timer = EpochTimer()
    model.fit(x_train, y_train, epochs=epochs, batch_size=BATCH_SIZE, verbose=0, callbacks=[timer])
    probabilities = np.asarray(model.predict(x_test, verbose=0))
    return timer.seconds, float(np.mean(probabilities.argmax(axis=1) == y_test))


def train_torch(torch, data, epochs, seed):
    """The same model and loop in PyTorch; returns (seconds of each epoch, test accuracy)."""
    from torch import nn

    x_train, x_test, y_train, y_test = (torch.from_numpy(np.asarray(a)) for a in data)
    y_train = y_train.long()
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    for layer in (model[0], model[2]):  # Keras Dense defaults
        nn.init.xavier_uniform_(layer.weight)
        nn.init.zeros_(layer.bias)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        common.torch_epoch(model, optimizer, loss_fn, x_train, y_train, BATCH_SIZE)
        seconds.append(time.perf_counter() - start)
    model.eval()
    with torch.no_grad():
        accuracy = float((model(x_test).argmax(1).numpy() == y_test.numpy()).mean())
    return seconds, accuracy


def summary(seconds):
    """(first epoch, mean of the rest, median of the rest) in seconds."""
    rest = seconds[1:] or seconds
    return seconds[0], statistics.fmean(rest), statistics.median(rest)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads for both (OpenBLAS via threadpoolctl, torch.set_num_threads); 0 keeps each "
                             "library's default (default: 1, see the module docstring)")
    args = parser.parse_args(argv)
    torch = require_torch()
    demo = common.load_digits_demo()
    data = demo.load_data(args.seed)
    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)  # a plain call keeps the limit for the rest of the process
        torch.set_num_threads(args.threads)
    from threadpoolctl import threadpool_info

    blas = ", ".join(f"{p['prefix']} {p['num_threads']}" for p in threadpool_info() if p["user_api"] == "blas")
    print(f"machine: {common.machine_summary()}")
    print(f"threads: numpy BLAS {blas or 'none found'}; torch {torch.__version__}: {torch.get_num_threads()}")
    print(f"digits: {len(data[0])} train / {len(data[1])} test, {args.epochs} epochs, batch {BATCH_SIZE}")

    pyml_seconds, pyml_accuracy = train_pyml(demo, data, args.epochs, args.seed)
    torch_seconds, torch_accuracy = train_torch(torch, data, args.epochs, args.seed)
    rows = []
    for name, seconds, accuracy in (("pyml", pyml_seconds, pyml_accuracy), ("PyTorch", torch_seconds, torch_accuracy)):
        first, mean, median = summary(seconds)
        rows.append([name, first, mean, median, len(data[0]) / mean, f"{accuracy:.1%}"])
    p, t = rows[0][2], rows[1][2]
    common.print_table(f"Training the digits MLP on CPU, seconds per epoch ({args.epochs} epochs, batch {BATCH_SIZE})",
                       ["library", "epoch 1 s", "mean s", "median s", "samples/s", "test accuracy"], rows,
                       notes=[f"pyml / PyTorch, mean seconds per epoch after the first: {common.ratio(p, t)} "
                              "(above 1 means pyml is slower)",
                              "pyml's fit runs its compiled step (the default), PyTorch runs eagerly; PyTorch's loss is "
                              "fused cross-entropy on logits, pyml's is "
                              "softmax then sparse categorical cross-entropy, as the demo compiles it"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
