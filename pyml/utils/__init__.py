"""``pyml.utils``: the Keras utilities a training script calls around the model.

- Data: ``image_dataset_from_directory``, ``text_dataset_from_directory`` (``pyml.data.Dataset``s of files in
  class folders), ``split_dataset``.
- Arrays: ``to_categorical``, ``normalize``, ``pad_sequences``.
- Seeds: ``set_random_seed`` (``pyml.set_random_seed``: Python's, NumPy's and pyml's generators).
- Plots: ``plot_history`` (matplotlib), ``plot_model`` (SVG / HTML of the layer graph; PNG with matplotlib).

Pillow and matplotlib are optional: the functions that need them import them when called and say how to
install them when missing.

    >>> pyml.utils.pad_sequences([[5], [6, 7]])
    array([[0, 5],
           [6, 7]], dtype=int32)
"""
from pyml.utils.dataset_split import split_dataset  # noqa: F401
from pyml.utils.directory_datasets import image_dataset_from_directory, text_dataset_from_directory  # noqa: F401
from pyml.utils.numerical import normalize, pad_sequences, to_categorical  # noqa: F401
from pyml.utils.plotting import plot_history  # noqa: F401
from pyml.utils.model_plot import plot_model  # noqa: F401
from pyml.random import set_random_seed  # noqa: F401
