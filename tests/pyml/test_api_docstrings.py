"""The examples in the docstrings of the Keras-style API run and print what they say (doctest)."""
import doctest
import importlib

import numpy as np
import pytest

import pyml

MODULES = [
    "pyml.random", "pyml.initializers", "pyml.activations", "pyml.losses", "pyml.metrics", "pyml.optimizers",
    "pyml.callbacks", "pyml.layers", "pyml.layers.base", "pyml.layers.core", "pyml.layers.conv",
    "pyml.layers.pooling", "pyml.layers.normalization", "pyml.layers.embedding", "pyml.layers.input_layer",
    "pyml.layers.merging", "pyml.layers.serialization", "pyml.layers.conv_transpose", "pyml.layers.reshaping",
    "pyml.layers.activation_layers", "pyml.layers.call_args", "pyml.layers.masking", "pyml.layers.attention",
    "pyml.layers.multi_head_attention", "pyml.layers.rnn_cells", "pyml.layers.rnn", "pyml.layers.rnn_wrappers",
    "pyml.models", "pyml.models.model",
    "pyml.models.sequential", "pyml.models.functional",
    "pyml.layers.text_ops", "pyml.layers.lookup", "pyml.layers.text_vectorization", "pyml.layers.host",
    "pyml.data", "pyml.data.dataset", "pyml.data.transforms", "pyml.data.structure",
    "pyml.utils", "pyml.utils.numerical", "pyml.utils.directory_datasets", "pyml.utils.images",
    "pyml.utils.dataset_split", "pyml.utils.plotting", "pyml.utils.model_plot",
    "pyml.datasets", "pyml.datasets.digits", "pyml.datasets.iris", "pyml.datasets.breast_cancer",
    "pyml.datasets.sample_images", "pyml.datasets.synthetic",
    "pyml.models.compile_utils", "pyml.models.data_adapter",
    "pyml.metrics.base", "pyml.metrics.accuracy", "pyml.metrics.regression", "pyml.metrics.probabilistic",
    "pyml.metrics.confusion", "pyml.metrics.auc", "pyml.metrics.iou", "pyml.metrics.f_score",
    "pyml.optimizers.base", "pyml.optimizers.sgd", "pyml.optimizers.adam", "pyml.optimizers.adaptive",
    "pyml.optimizers.schedules", "pyml.optimizers.state", "pyml.callbacks.core", "pyml.callbacks.plateau",
    "pyml.callbacks.csv_logger", "pyml.callbacks.backup",
    "pyml.losses.base", "pyml.losses.regression", "pyml.losses.probabilistic", "pyml.losses.hinge",
    "pyml.regularizers", "pyml.constraints", "pyml.configurable", "pyml.layers.weight_options", "pyml.layers.activity_regularization",
    "pyml.layers.layer_losses",
    "pyml.layers.preprocessing.basic", "pyml.layers.preprocessing.augmentation",
    "pyml.layers.budget", "pyml.callbacks.terminate", "pyml.checks",
    "pyml.models.training_graph",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    pyml.layers.clear_session()
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    globs = {"np": np, "pyml": pyml, "InputSpec": pyml.layers.InputSpec}
    tests = finder.find(module, name, globs=globs)
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0, f"{name} has no docstring examples"
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name} (see the output above)"
