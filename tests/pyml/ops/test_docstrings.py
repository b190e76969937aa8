"""The examples in the docstrings of pyml.ops run and print what they say (doctest)."""
import doctest
import importlib

import numpy as np
import pytest

import pyml

MODULES = ["pyml.ops", "pyml.ops.registry", "pyml.ops.elementwise", "pyml.ops.reduction", "pyml.ops.movement",
           "pyml.ops.indexing", "pyml.ops.linalg", "pyml.ops.conv", "pyml.ops.pooling", "pyml.ops.composite",
           "pyml.ops.recurrent", "pyml.ops.image"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), extraglobs={"np": np, "pyml": pyml},
                             optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
