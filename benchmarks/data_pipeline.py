"""Input pipelines on the host: pyml.data and image_dataset_from_directory against what a user would use instead.

    $ python benchmarks/data_pipeline.py                 # ~1 min on 2 busy cores; --rounds, --images
    $ python benchmarks/data_pipeline.py --markdown      # tables ready for a README

Three tables, medians of interleaved rounds:

1. **Batches from arrays**: one shuffled epoch of 60,000 x 784 float32 rows (MNIST's size) in batches of 128,
   no model: ``fit``'s own array batching (the baseline), ``Dataset.from_tensor_slices((x, y)).shuffle(60000)
   .batch(128)`` (shuffle and batch pick row numbers, one gather per batch), the same after a ``map`` (every
   element moves through Python), and PyTorch's ``DataLoader(TensorDataset(x, y), 128, shuffle=True)`` when
   torch is installed.
2. **Images from a folder**: one epoch of ``--images`` PNGs (96x96, 4 class folders) decoded and resized to
   64x64 in batches of 32: ``image_dataset_from_directory`` (Pillow, ``map`` on one thread per CPU) against a
   hand-written sequential loop (``Image.open``, ``convert``, ``resize``, ``np.stack``).
3. **Prefetch**: ``fit`` for one epoch on that folder (Flatten -> Dense 256 -> Dense 4) with the pipeline
   ``paths -> map(load) -> batch(32)``, without and with ``.prefetch(2)``, beside the pipeline alone and the
   training alone (the same batches from memory): with overlap the epoch nears the larger of the two, without
   it their sum.
"""
import argparse
import os
import statistics
import tempfile
import time

import numpy as np

import common


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def drain(iterable):
    for _ in iterable:
        pass


def array_batches(rounds):
    from pyml.data import Dataset
    from pyml.models import data_adapter

    rng = np.random.default_rng(0)
    x, y = rng.random((60_000, 784), dtype=np.float32), rng.integers(0, 10, 60_000)
    cells = {
        "fit's array batches (baseline)": lambda: drain(data_adapter.make_batches(x, y, batch_size=128, shuffle=True)),
        "Dataset: shuffle(60000).batch(128)": lambda: drain(Dataset.from_tensor_slices((x, y)).shuffle(60_000)
                                                            .batch(128)),
        "Dataset: map(...).shuffle(60000).batch(128)": lambda: drain(Dataset.from_tensor_slices((x, y))
                                                                     .map(lambda a, b: (a, b)).shuffle(60_000)
                                                                     .batch(128)),
    }
    try:
        import torch
        from torch.utils.data import DataLoader, TensorDataset

        torch.set_num_threads(1)
        loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=128, shuffle=True)
        cells[f"PyTorch {torch.__version__} DataLoader(shuffle=True)"] = lambda: drain(loader)
    except ModuleNotFoundError:
        print("note: torch is not installed: the DataLoader row is left out (pip install torch==2.13.0)")
    return _table(cells, rounds, 60_000, "samples/s")


def write_images(root, count):
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(count):
        folder = os.path.join(root, f"class_{i % 4}")
        os.makedirs(folder, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)).save(os.path.join(folder, f"{i}.png"))


def by_hand(root):
    """What a script without a pipeline does: walk, decode and resize one image after another."""
    from PIL import Image

    images = []
    for folder in sorted(os.listdir(root)):
        for name in sorted(os.listdir(os.path.join(root, folder))):
            with Image.open(os.path.join(root, folder, name)) as image:
                images.append(np.asarray(image.convert("RGB").resize((64, 64), Image.Resampling.BILINEAR),
                                         dtype=np.float32))
            if len(images) == 32:
                np.stack(images)
                images = []


def image_folder(root, count, rounds):
    import pyml

    cells = {
        "sequential Pillow loop (baseline)": lambda: by_hand(root),
        "image_dataset_from_directory (threads)": lambda: drain(pyml.utils.image_dataset_from_directory(
            root, image_size=(64, 64), batch_size=32, seed=0)),
    }
    return _table(cells, rounds, count, "images/s")


def prefetch_overlap(root, rounds):
    import pyml
    from pyml.data import Dataset
    from pyml.utils.directory_datasets import IMAGE_FORMATS, index_directory
    from pyml.utils.images import load_image

    paths, labels, _ = index_directory(root, "inferred", IMAGE_FORMATS, seed=0)
    rows = Dataset.from_tensor_slices((np.array(paths, dtype=object), labels))
    pipeline = rows.map(lambda path, label: (load_image(path, (64, 64)) / 255.0, label)).batch(32)
    in_memory = Dataset.from_tensor_slices(tuple(np.concatenate(parts) for parts in zip(*pipeline))).batch(32)
    pyml.set_random_seed(0)
    model = pyml.Sequential([pyml.Input(shape=(64, 64, 3)), pyml.layers.Flatten(),
                             pyml.layers.Dense(256, activation="relu"), pyml.layers.Dense(4)])
    model.compile("adam", pyml.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(in_memory, epochs=1, verbose=0)  # compile the step before timing
    cells = {
        "pipeline alone": lambda: drain(pipeline),
        "training alone (batches in memory)": lambda: model.fit(in_memory, epochs=1, verbose=0),
        "fit, no prefetch": lambda: model.fit(pipeline, epochs=1, verbose=0),
        "fit, prefetch(2)": lambda: model.fit(pipeline.prefetch(2), epochs=1, verbose=0),
    }
    return _table(cells, rounds, len(paths), "images/s")


def _table(cells, rounds, count, unit):
    seconds = {name: [] for name in cells}
    for _ in range(rounds):  # interleaved: each round runs every cell once, so load changes hit all alike
        for name, fn in cells.items():
            seconds[name].append(timed(fn))
    first = next(iter(cells))
    base = statistics.median(seconds[first])
    return [[name, f"{statistics.median(s):.3f}", f"{count / statistics.median(s):,.0f}",
             common.ratio(statistics.median(s), base)] for name, s in seconds.items()], unit


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    print(common.machine_summary())
    headers = ["pipeline", "s/epoch", None, "time ÷ first"]
    with tempfile.TemporaryDirectory() as root:
        write_images(root, args.images)
        for title, (rows, unit) in (
                ("Batches from arrays (60,000 x 784, batch 128)", array_batches(args.rounds)),
                (f"Images from a folder ({args.images} PNGs 96x96 -> 64x64, batch 32)",
                 image_folder(root, args.images, args.rounds)),
                ("Prefetch: fit one epoch on the folder (Flatten -> Dense 256 -> Dense 4)",
                 prefetch_overlap(root, args.rounds))):
            headers[2] = unit
            common.print_table(title, headers, rows, markdown=args.markdown)


if __name__ == "__main__":
    main()
