"""image_dataset_from_directory / text_dataset_from_directory on file trees the tests write, against Pillow and
Keras 3's documented rules (sorted classes, seeded shuffle, the last validation_split fraction)."""
import os
import sys

import numpy as np
import pytest
from PIL import Image

import pyml
from pyml.utils import image_dataset_from_directory, text_dataset_from_directory

CLASSES = {"cat": 5, "dog": 3, "Zebra": 4}  # sorted(): "Zebra" < "cat" < "dog"


def _write_tree(root, suffix=".png"):
    """Solid images whose colour encodes (class, file): red = 40 * class rank, green = 20 * file index."""
    names = sorted(CLASSES)
    for rank, name in enumerate(names):
        os.makedirs(root / name)
        for i in range(CLASSES[name]):
            size = (7 + i, 5 + rank)  # various sizes: every one gets resized
            Image.new("RGB", size, (40 * rank, 20 * i, 100)).save(root / name / f"img_{i}{suffix}")
    return names


def _decode(images):
    """(class rank, file index) of each solid image, from its colour."""
    return [(int(round(img[0, 0, 0] / 40)), int(round(img[0, 0, 1] / 20))) for img in images]


def _all(ds):
    images, labels = zip(*ds)
    return np.concatenate(images), np.concatenate(labels)


def test_labels_follow_sorted_class_folders_and_every_image_comes_once(tmp_path):
    names = _write_tree(tmp_path)
    ds = image_dataset_from_directory(tmp_path, image_size=(6, 9), batch_size=5, seed=1)
    assert ds.class_names == names == ["Zebra", "cat", "dog"]
    images, labels = _all(ds)
    assert images.shape == (12, 6, 9, 3) and images.dtype == np.float32 and labels.dtype == np.int32
    found = _decode(images)
    assert sorted(found) == sorted((r, i) for r, n in enumerate(names) for i in range(CLASSES[n]))
    assert [r for r, _ in found] == labels.tolist()
    assert [b[0].shape[0] for b in ds] == [5, 5, 2] and ds.cardinality() == 3
    assert all(p.startswith(str(tmp_path)) for p in ds.file_paths) and len(ds.file_paths) == 12


def test_unshuffled_order_is_sorted_paths_and_shuffle_reshuffles_each_epoch(tmp_path):
    _write_tree(tmp_path)
    ds = image_dataset_from_directory(tmp_path, image_size=(4, 4), shuffle=False, batch_size=32)
    images, labels = _all(ds)
    expected = [(r, i) for r, n in enumerate(sorted(CLASSES)) for i in range(CLASSES[n])]
    assert _decode(images) == expected and ds.file_paths == sorted(ds.file_paths)
    shuffled = image_dataset_from_directory(tmp_path, image_size=(4, 4), seed=3, batch_size=32)
    epochs = [_decode(_all(shuffled)[0]) for _ in range(3)]
    assert all(sorted(e) == expected for e in epochs) and len({tuple(e) for e in epochs}) > 1


def test_validation_split_is_the_last_fraction_of_the_seeded_shuffle(tmp_path):
    _write_tree(tmp_path)
    common = dict(image_size=(4, 4), seed=7, validation_split=0.25, batch_size=4)
    train = image_dataset_from_directory(tmp_path, subset="training", **common)
    val = image_dataset_from_directory(tmp_path, subset="validation", **common)
    both = image_dataset_from_directory(tmp_path, subset="both", **common)
    # Keras' rule, by hand: sorted paths, shuffled by RandomState(seed), the last int(0.25 * 12) = 3 validate
    paths = sorted(os.path.join(tmp_path, n, f) for n in CLASSES for f in os.listdir(tmp_path / n))
    order = list(range(len(paths)))
    np.random.RandomState(7).shuffle(order)
    expected = [paths[i] for i in order]
    assert train.file_paths == expected[:9] and val.file_paths == expected[9:]
    assert [d.file_paths for d in both] == [train.file_paths, val.file_paths]
    train_ids, val_ids = _decode(_all(train)[0]), _decode(_all(val)[0])
    assert len(train_ids) == 9 and len(val_ids) == 3 and not set(train_ids) & set(val_ids)
    assert len(set(train_ids) | set(val_ids)) == 12
    assert _decode(_all(val)[0]) == val_ids  # validation keeps its order every pass


def test_label_modes(tmp_path):
    _write_tree(tmp_path)
    _, ints = _all(image_dataset_from_directory(tmp_path, image_size=(2, 2), shuffle=False))
    _, onehot = _all(image_dataset_from_directory(tmp_path, image_size=(2, 2), shuffle=False, label_mode="categorical"))
    np.testing.assert_array_equal(onehot, np.eye(3, dtype="float32")[ints])
    assert onehot.dtype == np.float32
    two = image_dataset_from_directory(tmp_path, image_size=(2, 2), shuffle=False, label_mode="binary",
                                       class_names=["dog", "cat"])  # class_names sets the order, and a subset
    images, binary = _all(two)
    assert two.class_names == ["dog", "cat"] and binary.dtype == np.float32 and binary.shape == (8, 1)
    assert binary[:, 0].tolist() == [0.0] * 3 + [1.0] * 5
    only = list(image_dataset_from_directory(tmp_path, image_size=(2, 2), label_mode=None, batch_size=None,
                                             shuffle=False))
    assert len(only) == 12 and only[0].shape == (2, 2, 3)
    with pytest.raises(ValueError, match="exactly 2 classes"):
        image_dataset_from_directory(tmp_path, label_mode="binary")
    explicit = image_dataset_from_directory(tmp_path, labels=list(range(12)), image_size=(2, 2), shuffle=False)
    assert _all(explicit)[1].tolist() == list(range(12)) and explicit.class_names == [str(i) for i in range(12)]
    with pytest.raises(ValueError, match="one label per file: found 12 files"):
        image_dataset_from_directory(tmp_path, labels=[0, 1])


def test_every_format_is_read_and_other_files_ignored(tmp_path):
    folder = tmp_path / "only"
    os.makedirs(folder)
    colour = (200, 40, 100)
    for suffix in (".png", ".bmp", ".gif", ".jpeg", ".JPG"):
        Image.new("RGB", (8, 8), colour).save(folder / f"a{suffix}", format={".JPG": "JPEG"}.get(suffix))
    (folder / "notes.txt").write_text("not an image")
    ds = image_dataset_from_directory(tmp_path, image_size=(8, 8), shuffle=False, batch_size=None)
    assert sorted(os.path.splitext(p)[1] for p in ds.file_paths) == [".JPG", ".bmp", ".gif", ".jpeg", ".png"]
    for image, _ in ds:  # JPEG is lossy, GIF a palette: close to the colour
        np.testing.assert_allclose(image.mean(axis=(0, 1)), colour, atol=3)


def test_resizing_matches_pillow_and_bilinear_enlarging_matches_half_pixel_interpolation(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (13, 17, 3), dtype=np.uint8)
    os.makedirs(tmp_path / "a")
    Image.fromarray(pixels).save(tmp_path / "a" / "noise.png")

    def load(size, **kwargs):
        return next(iter(image_dataset_from_directory(tmp_path, image_size=size, batch_size=None, shuffle=False,
                                                      **kwargs)))[0]
    for interpolation, resample in (("bilinear", Image.Resampling.BILINEAR), ("nearest", Image.Resampling.NEAREST),
                                    ("bicubic", Image.Resampling.BICUBIC), ("area", Image.Resampling.BOX)):
        ours = load((8, 6), interpolation=interpolation)
        pillow = np.asarray(Image.fromarray(pixels).resize((6, 8), resample), dtype=np.float32)
        np.testing.assert_allclose(ours, pillow, atol=1.0)  # Pillow's 8-bit result is rounded; ours is not
    # enlarging: sample at half-pixel centres and interpolate linearly between the 4 neighbours (TF, Keras)
    big = load((26, 40))
    ys = np.clip((np.arange(26) + 0.5) * 13 / 26 - 0.5, 0, 12)
    xs = np.clip((np.arange(40) + 0.5) * 17 / 40 - 0.5, 0, 16)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, 12), np.minimum(x0 + 1, 16)
    wy, wx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    p = pixels.astype(np.float64)
    reference = ((1 - wy) * ((1 - wx) * p[y0][:, x0] + wx * p[y0][:, x1]) + wy * ((1 - wx) * p[y1][:, x0] +
                                                                                wx * p[y1][:, x1]))
    np.testing.assert_allclose(big, reference, atol=2e-3)
    # crop_to_aspect_ratio: the centred 13x13 window of the 13x17 image (columns 2..14), then resized
    cropped = load((5, 5), crop_to_aspect_ratio=True)
    window = np.asarray(Image.fromarray(pixels[:, 2:15]).resize((5, 5), Image.Resampling.BILINEAR), np.float32)
    np.testing.assert_allclose(cropped, window, atol=1.0)


def test_color_modes(tmp_path):
    os.makedirs(tmp_path / "a")
    Image.new("RGB", (4, 4), (10, 200, 30)).save(tmp_path / "a" / "x.png")
    grey = next(iter(image_dataset_from_directory(tmp_path, image_size=(4, 4), color_mode="grayscale")))[0]
    assert grey.shape == (1, 4, 4, 1)
    assert grey[0, 0, 0, 0] == round((10 * 299 + 200 * 587 + 30 * 114) / 1000)  # ITU-R 601-2 luma
    rgba = next(iter(image_dataset_from_directory(tmp_path, image_size=(4, 4), color_mode="rgba")))[0]
    np.testing.assert_array_equal(rgba[0, 0, 0], [10, 200, 30, 255])


def test_errors_name_the_directory_formats_and_arguments(tmp_path):
    os.makedirs(tmp_path / "empty_class")
    with pytest.raises(ValueError, match=r"No files found in directory .*empty_class.*\.bmp.*\.png"):
        image_dataset_from_directory(tmp_path / "empty_class", labels=None)
    with pytest.raises(ValueError, match=r"No files found in directory"):
        image_dataset_from_directory(tmp_path)
    with pytest.raises(FileNotFoundError, match="missing"):
        image_dataset_from_directory(tmp_path / "missing")
    _write_tree(tmp_path / "tree")
    for kwargs, message in ((dict(validation_split=0.2), "give both or neither"),
                            (dict(subset="training"), "give both or neither"),
                            (dict(validation_split=1.5, subset="training", seed=1), "between 0 and 1"),
                            (dict(validation_split=0.2, subset="train", seed=1), 'subset must be "training"'),
                            (dict(validation_split=0.2, subset="training"), "needs a seed"),
                            (dict(validation_split=0.01, subset="training", seed=1), "leaves no files"),
                            (dict(color_mode="cmyk"), "color_mode"), (dict(interpolation="lanczos5"), "interpolation"),
                            (dict(label_mode="sparse"), "label_mode"), (dict(image_size=(3,)), "image_size"),
                            (dict(class_names=["cat", "cow"]), "class_names must name sub-folders")):
        with pytest.raises(ValueError, match=message):
            image_dataset_from_directory(tmp_path / "tree", **kwargs)


def test_a_missing_pillow_is_named_with_its_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match="pip install pillow"):
        image_dataset_from_directory(tmp_path)


def test_fit_trains_on_the_image_dataset(tmp_path):
    _write_tree(tmp_path)
    pyml.set_random_seed(0)
    model = pyml.Sequential([pyml.Input(shape=(4, 4, 3)), pyml.layers.Flatten(), pyml.layers.Dense(3)])
    model.compile(optimizer="adam", loss=pyml.losses.SparseCategoricalCrossentropy(from_logits=True))
    ds = image_dataset_from_directory(tmp_path, image_size=(4, 4), batch_size=4, seed=0)
    history = model.fit(ds.map(lambda x, y: (x / 255.0, y)), epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()


def test_text_dataset_reads_utf8_files_with_labels_and_max_length(tmp_path):
    texts = {"neg": ["bad", "awful ☹ film"], "pos": ["good", "great", "lovely"]}
    for label, items in texts.items():
        os.makedirs(tmp_path / label)
        for i, text in enumerate(items):
            (tmp_path / label / f"{i}.txt").write_text(text, encoding="utf-8")
    (tmp_path / "pos" / "skip.md").write_text("not read")
    ds = text_dataset_from_directory(tmp_path, shuffle=False, max_length=7)
    batch, labels = next(iter(ds))
    assert ds.class_names == ["neg", "pos"] and batch.dtype == object
    assert batch.tolist() == ["bad", "awful ☹", "good", "great", "lovely"] and labels.tolist() == [0, 0, 1, 1, 1]
    train, val = text_dataset_from_directory(tmp_path, validation_split=0.4, subset="both", seed=2, batch_size=None)
    got = [str(t) for t, _ in train] + [str(t) for t, _ in val]
    assert sorted(got) == sorted(sum(texts.values(), [])) and len(list(val)) == 2
    os.makedirs(tmp_path / "nothing")
    with pytest.raises(ValueError, match=r"No files found in directory .*nothing.*\.txt"):
        text_dataset_from_directory(tmp_path / "nothing", labels=None)


def test_verbose_prints_keras_counts(tmp_path, capsys):
    _write_tree(tmp_path)
    image_dataset_from_directory(tmp_path, validation_split=0.25, subset="both", seed=1)
    assert capsys.readouterr().out.splitlines() == ["Found 12 files belonging to 3 classes.",
                                                    "Using 9 files for training.", "Using 3 files for validation."]
    image_dataset_from_directory(tmp_path, labels=None, verbose=True)
    image_dataset_from_directory(tmp_path, verbose=False)
    assert capsys.readouterr().out.splitlines() == ["Found 12 files."]
