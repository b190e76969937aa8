"""What image augmentation costs in ``fit``: a small CNN on 32x32 RGB images, with and without augmentation layers.

    $ python benchmarks/augmentation_fit.py                  # 5 rounds, 512 images, batch 32
    $ python benchmarks/augmentation_fit.py --rounds 9 --images 1024

Three models, the same CNN (Conv2D 16 → MaxPooling2D → Conv2D 32 → GlobalAveragePooling2D → Dense 10) after:

- ``none``: nothing;
- ``flip+color``: RandomFlip, RandomContrast, RandomBrightness (ops on the batch, a few parameters per image);
- ``all``: those and RandomRotation, RandomZoom, RandomTranslation (a sampling table per image computed on the
  host in NumPy, then a gather of 4 cells per pixel in the compiled step).

Each model is compiled once and fit for one epoch per round; rounds interleave the models, so a change in machine
load touches all of them. Prints the median seconds per epoch of each and its ratio to ``none``.
"""
import argparse
import statistics
import time

import numpy as np

import pyml
from pyml import layers


def augmentations(kind):
    color = [layers.RandomFlip("horizontal", seed=1), layers.RandomContrast(0.2, value_range=(0, 1), seed=2),
             layers.RandomBrightness(0.1, value_range=(0, 1), seed=3)]
    geometric = [layers.RandomRotation(0.1, seed=4), layers.RandomZoom(0.1, seed=5),
                 layers.RandomTranslation(0.1, 0.1, seed=6)]
    return {"none": [], "flip+color": color, "all": color + geometric}[kind]


def build(kind):
    model = pyml.Sequential([pyml.Input(shape=(32, 32, 3)), *augmentations(kind),
                             layers.Conv2D(16, 3, activation="relu"), layers.MaxPooling2D(),
                             layers.Conv2D(32, 3, activation="relu"), layers.GlobalAveragePooling2D(),
                             layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--images", type=int, default=512)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.random((args.images, 32, 32, 3), dtype=np.float32)
    y = rng.integers(0, 10, args.images)
    models = {kind: build(kind) for kind in ("none", "flip+color", "all")}
    for model in models.values():  # compile the step (the first epoch traces it)
        model.fit(x[:64], y[:64], epochs=1, batch_size=32, verbose=0)
    times = {kind: [] for kind in models}
    for _ in range(args.rounds):
        for kind, model in models.items():
            start = time.perf_counter()
            model.fit(x, y, epochs=1, batch_size=32, verbose=0)
            times[kind].append(time.perf_counter() - start)
    base = statistics.median(times["none"])
    for kind, seconds in times.items():
        median = statistics.median(seconds)
        print(f"{kind:11s} {median:7.3f} s/epoch  x{median / base:5.2f}")


if __name__ == "__main__":
    main()
