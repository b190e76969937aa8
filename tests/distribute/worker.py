"""The training script the MPI tests run under ``mpiexec -n N`` (and import, to train the one-process reference).

    python -m tests.distribute.worker MODEL BATCH OUT_DIR [--eager] [--die RANK] [--checkpoint]

Each rank writes ``OUT_DIR/rank<r>.npz``: its final weights and the logs of every epoch.
"""
import argparse
import os
import sys

import numpy as np

import pyml

SAMPLES = 96


def data(model):
    """``(x, y, sample_weight)``: the "weighted" mlp has sample weights, the "extras" model two targets."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(SAMPLES, 8, 8, 1) if model == "conv" else (SAMPLES, 12)).astype("float32")
    flat = x.reshape(SAMPLES, -1)
    y = (flat.sum(axis=1) > 0).astype("int32") + (flat[:, 0] > 0)
    if model == "extras":
        return x, [y, flat[:, :2] * 2.0], None
    return x, y, rng.uniform(0.2, 2.0, SAMPLES).astype("float32") if model == "weighted" else None


def build(model, seed=7):
    pyml.set_random_seed(seed)
    if model == "extras":  # two outputs, a constrained and penalized kernel
        inputs = pyml.Input((12,))
        hidden = pyml.layers.Dense(16, activation="relu", kernel_constraint=pyml.constraints.MaxNorm(0.5),
                                   kernel_regularizer=pyml.regularizers.L2(1e-2))(inputs)
        return pyml.Model(inputs, [pyml.layers.Dense(3, name="classes")(hidden),
                                   pyml.layers.Dense(2, name="values")(hidden)])
    if model == "lazy":  # built by its first batch: rank 0 sends its weights once they exist
        return pyml.Sequential([pyml.layers.Dense(16, activation="relu"), pyml.layers.Dense(3)])
    if model in ("mlp", "weighted"):
        layers = [pyml.Input((12,)), pyml.layers.Dense(16, activation="relu"), pyml.layers.Dense(3)]
    else:
        layers = [pyml.Input((8, 8, 1)), pyml.layers.Conv2D(4, 3, activation="relu"), pyml.layers.MaxPooling2D(),
                  pyml.layers.Flatten(), pyml.layers.Dense(3)]
    return pyml.Sequential(layers)


def train(model_name, batch_size, eager=False, callbacks=(), epochs=2, seed=7):
    """Build, compile (inside the open strategy scope, if any) and fit; returns (model, history). The MPI runs
    seed each rank differently: only rank 0's weights and random state (seed 7, as the reference's) may count."""
    model = build(model_name, seed)
    classes = pyml.losses.SparseCategoricalCrossentropy(from_logits=True)
    if model_name == "extras":  # clipping, decay and accumulation act on the averaged gradient
        optimizer = pyml.optimizers.AdamW(0.01, weight_decay=0.05, global_clipnorm=0.3,
                                          gradient_accumulation_steps=2)
        model.compile(optimizer=optimizer, loss=[classes, "mse"], loss_weights=[1.0, 0.5], run_eagerly=eager,
                      metrics=[["accuracy"], ["mae"]])
    else:
        model.compile(optimizer=pyml.optimizers.Adam(0.01), metrics=["accuracy"], run_eagerly=eager,
                      loss=classes, weighted_metrics=["accuracy"] if model_name == "weighted" else None)
    x, y, sample_weight = data(model_name)
    history = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=True,
                        sample_weight=sample_weight, callbacks=list(callbacks))
    return model, history


class Die(pyml.callbacks.Callback):
    def __init__(self, rank, how):
        self.rank, self.how = rank, how

    def on_train_batch_end(self, batch, logs=None):
        if batch == 1 and self.rank == self.model._distribution.rank:
            if self.how == "exit":
                os._exit(3)
            raise RuntimeError("this rank was told to fail")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("batch", type=int)
    parser.add_argument("out")
    parser.add_argument("--eager", action="store_true")
    parser.add_argument("--die", type=int, default=None)
    parser.add_argument("--how", default="raise")
    parser.add_argument("--checkpoint", action="store_true")
    args = parser.parse_args()
    strategy = pyml.distribute.MPIStrategy()
    callbacks = []
    if args.die is not None:
        callbacks.append(Die(args.die, args.how))
    if args.checkpoint:
        # a file name per rank, so the test sees which ranks wrote
        path = os.path.join(args.out, f"rank{strategy.rank}-{{epoch}}.weights.h5")
        callbacks.append(pyml.callbacks.ModelCheckpoint(path, save_weights_only=True, monitor="loss"))
    with strategy.scope():
        model, history = train(args.model, args.batch, args.eager, callbacks, seed=7 + strategy.rank)
    logs = {f"log_{k}": np.array(v) for k, v in history.history.items()}
    np.savez(os.path.join(args.out, f"rank{strategy.rank}.npz"), *model.get_weights(), **logs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
