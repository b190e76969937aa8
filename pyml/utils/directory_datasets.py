"""Datasets of files in class folders: ``image_dataset_from_directory`` (Pillow) and
``text_dataset_from_directory``, with Keras 3's labels, ordering and validation split.

    main_directory/
        cat/  a.png  b.png
        dog/  c.jpg

gives images with labels 0 (``cat``) and 1 (``dog``): classes are the sub-folders in alphanumeric order.
Files are listed in sorted order, shuffled once with ``seed`` (NumPy ``RandomState``, as Keras does), and the
*last* ``validation_split`` fraction of that order is the validation subset, so two calls with the same
seed give disjoint, complementary subsets. The training dataset also reshuffles every epoch (a buffer of
``8 * batch_size``, seeded); the validation one keeps its order.
"""
import os

import numpy as np

from pyml import random
from pyml.data import AUTOTUNE, Dataset
from pyml.utils.images import load_image

IMAGE_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
TEXT_FORMATS = (".txt",)


def index_directory(directory, labels, formats, class_names=None, shuffle=True, seed=None, follow_links=False):
    """``(file_paths, labels, class_names)`` for the files of ``directory`` whose suffix is in ``formats``,
    shuffled with the int ``seed`` when ``shuffle``.

    ``labels="inferred"``: one class per sub-folder (alphanumeric order, or ``class_names``' order), files
    found at any depth below it. ``None`` or a list of labels (one per file, in sorted path order): every file
    below ``directory``.
    """
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"The directory {directory!r} does not exist (or is not a directory).")
    if labels == "inferred":
        folders = sorted(name for name in os.listdir(directory)
                         if os.path.isdir(os.path.join(directory, name)) and not name.startswith("."))
        if class_names is not None:
            if not set(class_names) <= set(folders):
                raise ValueError(f"class_names must name sub-folders of {directory!r}. Expected names among "
                                 f"{folders}. Received: class_names={list(class_names)}")
            folders = list(class_names)
    else:
        if class_names is not None:
            raise ValueError('class_names can only be given with labels="inferred". '
                             f"Received: labels={labels!r}, class_names={class_names!r}")
        folders = [""]
    paths, found = [], []
    for index, folder in enumerate(folders):
        root = os.path.join(directory, folder)
        for dirpath, _, files in sorted(os.walk(root, followlinks=follow_links), key=lambda walked: walked[0]):
            for name in sorted(files):
                if name.lower().endswith(formats):
                    paths.append(os.path.join(dirpath, name))
                    found.append(index)
    if labels == "inferred":
        labels = np.array(found, dtype=np.int32)
        class_names = folders
    elif labels is not None:
        if len(labels) != len(paths):
            raise ValueError(f"labels must give one label per file: found {len(paths)} files in {directory!r}. "
                             f"Received: {len(labels)} labels")
        class_names = [str(label) for label in sorted(set(labels))]
        labels = np.asarray(labels)
    if shuffle:
        order = np.random.RandomState(seed).permutation(len(paths))  # the order Keras' rng.shuffle(paths) gives
        paths = [paths[i] for i in order]
        labels = labels[order] if labels is not None else None
    return paths, labels, class_names


def check_split_arguments(validation_split, subset, shuffle, seed):
    """Keras' rules: a split needs a subset (and inversely), a fraction in (0, 1), and a seed when shuffled."""
    if validation_split is not None and not 0 < validation_split < 1:
        raise ValueError(f"validation_split must be between 0 and 1. Received: validation_split={validation_split}")
    if bool(validation_split) != bool(subset):
        raise ValueError("validation_split and subset go together: give both or neither. "
                         f"Received: validation_split={validation_split}, subset={subset!r}")
    if subset not in ("training", "validation", "both", None):
        raise ValueError(f'subset must be "training", "validation" or "both". Received: subset={subset!r}')
    if validation_split and shuffle and seed is None:
        raise ValueError("validation_split with shuffle=True needs a seed, so that the training and validation "
                         "subsets (two calls) shuffle alike and do not overlap. Received: seed=None")


def split(paths, labels, validation_split, subset, directory):
    """``[(paths, labels)]`` of the subset(s) asked for: validation is the last fraction of the files."""
    if not validation_split:
        return [(paths, labels)]
    count = int(validation_split * len(paths))
    if count == 0 or count == len(paths):
        raise ValueError(f"validation_split={validation_split} of the {len(paths)} files in {directory!r} leaves "
                         "no files for training or validation")
    cut = len(paths) - count
    parts = {"training": (paths[:cut], None if labels is None else labels[:cut]),
             "validation": (paths[cut:], None if labels is None else labels[cut:])}
    return [parts["training"], parts["validation"]] if subset == "both" else [parts[subset]]


def encode_labels(labels, label_mode, num_classes):
    """int32 labels, float32 ``(1,)`` for ``"binary"``, float32 one-hot rows for ``"categorical"``."""
    if label_mode == "binary":
        return labels.astype(np.float32).reshape(-1, 1)
    if label_mode == "categorical":
        return np.eye(num_classes, dtype=np.float32)[labels]
    return labels.astype(np.int32)


def _check_label_mode(label_mode, class_names):
    if label_mode not in ("int", "categorical", "binary", None):
        raise ValueError('label_mode must be "int", "categorical", "binary" or None. '
                         f"Received: label_mode={label_mode!r}")
    if label_mode == "binary" and class_names is not None and len(class_names) != 2:
        raise ValueError(f'label_mode="binary" needs exactly 2 classes. Received: class_names={class_names}')


def _datasets(directory, formats, load, labels, label_mode, class_names, batch_size, shuffle, seed,
              validation_split, subset, follow_links, verbose):
    """The dataset(s) shared by both functions: index, split, then (paths, labels) -> load -> batch."""
    if labels not in ("inferred", None) and not isinstance(labels, (list, tuple, np.ndarray)):
        raise ValueError('labels must be "inferred", None, or a list of integer labels, one per file. '
                         f"Received: labels={labels!r}")
    _check_label_mode(label_mode, None)
    if labels is None or label_mode is None:  # either means: images (texts) only
        labels, label_mode = None, None
    check_split_arguments(validation_split, subset, shuffle, seed)
    if seed is None:
        seed = int(random.generator().integers(1_000_000))
    paths, labels, class_names = index_directory(directory, labels, formats, class_names, shuffle, seed, follow_links)
    _check_label_mode(label_mode, class_names)
    if not paths:
        raise ValueError(f"No files found in directory {directory!r}. Allowed formats: {formats}")
    parts = split(paths, labels, validation_split, subset, directory)
    if verbose:  # Keras' messages
        classes = f" belonging to {len(class_names)} classes" if labels is not None else ""
        print(f"Found {len(paths)} files{classes}.")
        names = ["training", "validation"] if subset == "both" else [subset] if validation_split else []
        for name, (part_paths, _) in zip(names, parts):
            print(f"Using {len(part_paths)} files for {name}.")
    datasets = []
    for which, (part_paths, part_labels) in enumerate(parts):
        ds = Dataset.from_tensor_slices(np.array(part_paths, dtype=object))
        if label_mode is not None:
            ds = Dataset.zip(ds, Dataset.from_tensor_slices(encode_labels(part_labels, label_mode, len(class_names))))
        training = which == 0 and subset != "validation"
        if shuffle and training:
            ds = ds.shuffle(8 * batch_size if batch_size else 1024, seed=seed)
        ds = ds.map(load if label_mode is None else lambda path, label: (load(path), label),
                    num_parallel_calls=AUTOTUNE)
        if batch_size is not None:
            ds = ds.batch(batch_size)
        ds = ds.prefetch(AUTOTUNE)
        ds.class_names, ds.file_paths = class_names, list(part_paths)
        datasets.append(ds)
    return tuple(datasets) if subset == "both" else datasets[0]


def image_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None, color_mode="rgb",
                                 batch_size=32, image_size=(256, 256), shuffle=True, seed=None, validation_split=None,
                                 subset=None, interpolation="bilinear", follow_links=False,
                                 crop_to_aspect_ratio=False, verbose=True):
    """A ``pyml.data.Dataset`` of ``(images, labels)`` batches from image files in class folders (Keras 3).

    Images (``.bmp .gif .jpeg .jpg .png``, the first frame of a GIF) are decoded with Pillow, converted to
    ``color_mode`` and resized to ``image_size`` as float32 ``(height, width, channels)`` with values 0-255.

    Args:
        directory: folder holding one sub-folder per class (or the images, with ``labels`` None or a list).
        labels: ``"inferred"`` (from the folders), ``None`` (images only), or a list of integer labels, one
            per file in sorted path order.
        label_mode: ``"int"`` (int32), ``"categorical"`` (float32 one-hot), ``"binary"`` (float32 ``(1,)``, two
            classes only) or ``None`` (images only).
        class_names: sub-folders to use, in this order (default: all, alphanumeric).
        color_mode: ``"grayscale"``, ``"rgb"`` or ``"rgba"`` (1, 3 or 4 channels).
        batch_size: images per batch; ``None`` yields single images.
        image_size: ``(height, width)`` (or one int for both).
        shuffle: shuffle the files (once, seeded) and the training batches (every epoch); else sorted order.
        seed: seed for the shuffles; required with ``validation_split`` and ``shuffle``.
        validation_split: fraction of the files held out for validation.
        subset: ``"training"``, ``"validation"`` or ``"both"`` (returns ``(train, validation)``).
        interpolation: Pillow filter: ``"bilinear"``, ``"nearest"``, ``"bicubic"``, ``"area"`` or ``"lanczos3"``.
            Pillow widens its filter when shrinking (antialiasing, as ``tf.image.resize(antialias=True)``);
            when enlarging, bilinear equals Keras' half-pixel bilinear.
        follow_links: follow symbolic links to folders.
        crop_to_aspect_ratio: take the largest centred crop with the target's aspect ratio before resizing.
        verbose: print how many files and classes were found, and how many each subset uses.

    Returns:
        A ``Dataset`` with ``class_names`` and ``file_paths`` attributes (a pair of them for ``subset="both"``).

    Raises:
        ImportError: Pillow is missing (``pip install pillow``).
        ValueError: no images in ``directory`` (naming it and the formats looked for), or a bad argument.

        >>> import tempfile, os
        >>> from PIL import Image
        >>> root = tempfile.mkdtemp()
        >>> for name in ("cat", "dog"):
        ...     os.makedirs(f"{root}/{name}")
        ...     Image.new("RGB", (10, 6), name == "dog" and "white" or "black").save(f"{root}/{name}/a.png")
        >>> ds = pyml.utils.image_dataset_from_directory(root, image_size=(4, 4), shuffle=False)
        Found 2 files belonging to 2 classes.
        >>> ds.class_names
        ['cat', 'dog']
        >>> images, labels = next(iter(ds))
        >>> images.shape, images.dtype, labels.tolist(), images[1].max()
        ((2, 4, 4, 3), dtype('float32'), [0, 1], np.float32(255.0))
    """
    channels = {"grayscale": 1, "rgb": 3, "rgba": 4}
    if color_mode not in channels:
        raise ValueError(f'color_mode must be "grayscale", "rgb" or "rgba". Received: color_mode={color_mode!r}')
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    if not isinstance(image_size, (list, tuple)) or len(image_size) != 2:
        raise ValueError(f"image_size must be (height, width). Received: image_size={image_size!r}")
    load_image(None, image_size, channels[color_mode], interpolation, crop_to_aspect_ratio)  # checks the arguments

    def load(path):
        return load_image(path, image_size, channels[color_mode], interpolation, crop_to_aspect_ratio)
    return _datasets(directory, IMAGE_FORMATS, load, labels, label_mode, class_names, batch_size, shuffle, seed,
                     validation_split, subset, follow_links, verbose)


def text_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None, batch_size=32,
                                max_length=None, shuffle=True, seed=None, validation_split=None, subset=None,
                                follow_links=False, verbose=True):
    """A ``pyml.data.Dataset`` of ``(texts, labels)`` batches from ``.txt`` files in class folders (Keras 3).

    Texts are read as UTF-8 into object arrays of ``str`` (what ``TextVectorization`` takes), cut to
    ``max_length`` characters when given. Labels, ordering, shuffling and the validation split are as in
    ``image_dataset_from_directory``.

        >>> import tempfile, os
        >>> root = tempfile.mkdtemp()
        >>> for name, text in (("neg", "bad film"), ("pos", "great film")):
        ...     os.makedirs(f"{root}/{name}")
        ...     _ = open(f"{root}/{name}/1.txt", "w").write(text)
        >>> ds = pyml.utils.text_dataset_from_directory(root, shuffle=False, max_length=5, verbose=False)
        >>> texts, labels = next(iter(ds))
        >>> texts.tolist(), labels.tolist()
        (['bad f', 'great'], [0, 1])
    """
    def load(path):
        with open(path, encoding="utf-8") as file:
            text = file.read()
        return np.array(text if max_length is None else text[:max_length], dtype=object)
    return _datasets(directory, TEXT_FORMATS, load, labels, label_mode, class_names, batch_size, shuffle, seed,
                     validation_split, subset, follow_links, verbose)
