"""The examples in the docstrings of pyml.graph run and print what they say (doctest)."""
import doctest
import importlib

import numpy as np
import pytest

import pyml

MODULES = ["pyml.graph", "pyml.graph.ir", "pyml.graph.trace", "pyml.graph.interpreter", "pyml.graph.passes",
           "pyml.graph.validate", "pyml.graph.function", "pyml.graph.executor", "pyml.graph.kernels",
           "pyml.graph.chunks", "pyml.graph.rewrites", "pyml.graph.schedule", "pyml.graph.merge"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), extraglobs={"np": np, "pyml": pyml},
                             optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
