"""Every layer class on hostile constructor arguments and call inputs (hypothesis): it builds and runs with the
output shape it promises, or refuses naming the layer, the argument or the op (properties.py has the property)."""
import inspect
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import pyml
from pyml.layers.base import to_snake_case
from tests.fuzz.api.properties import (DTYPES, HUGE, NOT_NUMBERS, arrays, attempt, bad_bools, bad_ints, bad_reals,
                                       examples, is_int, is_real, positive_ints, refused, small_shapes)

IMAGE, SEQUENCE = (2, 5, 5, 3), (2, 5, 3)
# layer -> (required arguments, a valid input shape; a list for several inputs, "ids" for int ids)
LAYERS = {
    "Activation": ({"activation": "relu"}, (2, 3)), "ActivityRegularization": ({}, (2, 3)),
    "Add": ({}, [(2, 3), (2, 3)]), "AdditiveAttention": ({}, [(2, 3, 4), (2, 5, 4)]),
    "AlphaDropout": ({"rate": 0.5}, (2, 3)), "Attention": ({}, [(2, 3, 4), (2, 5, 4)]),
    "AveragePooling1D": ({}, SEQUENCE), "AveragePooling2D": ({}, IMAGE), "BatchNormalization": ({}, (2, 3)),
    "CenterCrop": ({"height": 2, "width": 2}, IMAGE), "Concatenate": ({}, [(2, 3), (2, 4)]),
    "Conv1D": ({"filters": 2, "kernel_size": 3}, SEQUENCE), "Conv2D": ({"filters": 2, "kernel_size": 3}, IMAGE),
    "Conv1DTranspose": ({"filters": 2, "kernel_size": 3}, SEQUENCE),
    "Conv2DTranspose": ({"filters": 2, "kernel_size": 3}, IMAGE), "Cropping1D": ({}, SEQUENCE),
    "Cropping2D": ({}, IMAGE), "Dense": ({"units": 3}, (2, 4)), "DepthwiseConv2D": ({"kernel_size": 3}, IMAGE),
    "Dot": ({"axes": 1}, [(2, 3), (2, 3)]), "Dropout": ({"rate": 0.5}, (2, 3)), "ELU": ({}, (2, 3)),
    "Embedding": ({"input_dim": 10, "output_dim": 4}, "ids"), "Flatten": ({}, (2, 3, 4)),
    "GRU": ({"units": 3}, SEQUENCE), "GaussianDropout": ({"rate": 0.5}, (2, 3)),
    "GaussianNoise": ({"stddev": 0.5}, (2, 3)), "GlobalAveragePooling1D": ({}, SEQUENCE),
    "GlobalMaxPooling2D": ({}, IMAGE), "GroupNormalization": ({"groups": 2}, (2, 4)), "LSTM": ({"units": 3}, SEQUENCE),
    "LayerNormalization": ({}, (2, 3)), "LeakyReLU": ({}, (2, 3)), "Masking": ({}, SEQUENCE),
    "MaxPooling1D": ({}, SEQUENCE), "MaxPooling2D": ({}, IMAGE), "Maximum": ({}, [(2, 3), (2, 3)]),
    "MultiHeadAttention": ({"num_heads": 2, "key_dim": 4}, None),
    "Normalization": ({"mean": 0.0, "variance": 1.0}, (2, 3)), "PReLU": ({}, (2, 3)),
    "Permute": ({"dims": (2, 1)}, (2, 3, 4)), "RMSNormalization": ({}, (2, 3)),
    "RandomBrightness": ({"factor": 0.2}, IMAGE),
    "RandomContrast": ({"factor": 0.2}, IMAGE), "RandomFlip": ({}, IMAGE), "RandomRotation": ({"factor": 0.2}, IMAGE),
    "RandomZoom": ({"height_factor": 0.2}, IMAGE),
    "RandomTranslation": ({"height_factor": 0.2, "width_factor": 0.2}, IMAGE), "ReLU": ({}, (2, 3)),
    "RepeatVector": ({"n": 3}, (2, 3)), "Rescaling": ({"scale": 2.0}, (2, 3)),
    "Reshape": ({"target_shape": (3, 2)}, (2, 6)), "Resizing": ({"height": 3, "width": 3}, IMAGE),
    "SeparableConv1D": ({"filters": 2, "kernel_size": 3}, SEQUENCE),
    "SeparableConv2D": ({"filters": 2, "kernel_size": 3}, IMAGE), "SimpleRNN": ({"units": 3}, SEQUENCE),
    "Softmax": ({}, (2, 3)), "SpatialDropout1D": ({"rate": 0.5}, SEQUENCE), "SpatialDropout2D": ({"rate": 0.5}, IMAGE),
    "Subtract": ({}, [(2, 3), (2, 3)]), "UnitNormalization": ({}, (2, 3)), "UpSampling1D": ({}, SEQUENCE),
    "UpSampling2D": ({}, IMAGE), "ZeroPadding1D": ({}, SEQUENCE), "ZeroPadding2D": ({}, IMAGE),
}
SIZES = {"units", "filters", "kernel_size", "strides", "pool_size", "n", "num_heads", "key_dim", "input_dim",
         "output_dim", "depth_multiplier", "size", "height", "width", "dilation_rate"}
RATES = {"rate", "dropout", "momentum"}
FLAGS = {"use_bias", "center", "scale", "keepdims", "mask_zero", "normalize", "use_scale", "crop_to_aspect_ratio",
         "pad_to_aspect_ratio", "antialias", "return_sequences", "return_state", "go_backwards", "invert"}
STRINGS = {"padding": ("valid", "same", "causal"), "data_format": (None, "channels_last", "channels_first")}
REALS = {"epsilon", "alpha", "negative_slope", "threshold", "stddev", "fill_value", "max_value", "scale", "offset"}
OPS = sorted(set(pyml.ops.primitives()) | {n for n in dir(pyml.ops) if not n.startswith("_")})
ERRORS = (ValueError, TypeError, NotImplementedError)  # NotImplementedError: a Keras option pyml lacks, named


def _names(cls, argument=None):
    return [cls.__name__, to_snake_case(cls.__name__), "layer", *([argument] if argument else []), *OPS, "dtype"]


def _inputs(cls, shape, dtype="float32"):
    if shape is None:  # MultiHeadAttention: _run makes its query and value
        return None
    if shape == "ids":
        return np.random.default_rng(0).integers(0, 10, (2, 5)).astype("int32")
    if isinstance(shape, list):
        return [arrays(s, dtype, seed=i) for i, s in enumerate(shape)]
    return arrays(shape, dtype)


def _run(cls, kwargs, x):
    """Build and call the layer (MultiHeadAttention on query and value); the output and the shape it promised."""
    layer = cls(**kwargs)
    if cls is pyml.layers.MultiHeadAttention:
        query, value = arrays((2, 3, 4), "float32", 1), arrays((2, 5, 4), "float32", 2)
        return layer(query, value, training=True), layer.compute_output_shape(query.shape, value.shape)
    out = layer(x, training=True)
    shapes = [v.shape for v in x] if isinstance(x, list) else x.shape
    return out, layer.compute_output_shape(shapes)


def _check_output(out, promised):
    assert tuple(out.shape) == tuple(promised), f"output shape {out.shape}, compute_output_shape said {promised}"
    values = out.numpy()
    if values.size > 10**6:  # a broadcast view (RepeatVector(10**13)): look at a corner, not 10**13 values
        values = values[tuple(slice(0, 4) for _ in values.shape)]
    if values.dtype.kind == "f":
        assert np.isfinite(values).all(), "non-finite outputs from finite inputs and arguments"


def _arguments():
    for name, (required, _) in sorted(LAYERS.items()):
        for argument in inspect.signature(getattr(pyml.layers, name).__init__).parameters:
            if argument not in ("self", "kwargs") and _kind(getattr(pyml.layers, name), argument) is not None:
                yield name, argument


def _kind(cls, argument):
    """SIZES, RATES, FLAGS, REALS or the words of STRINGS (None: not fuzzed here). A flag is an argument whose
    default is a bool (Rescaling's ``scale`` is a number, BatchNormalization's a flag)."""
    default = inspect.signature(cls.__init__).parameters[argument].default
    if isinstance(default, bool):
        return FLAGS
    if argument in STRINGS and (default is None or isinstance(default, str)):
        return STRINGS[argument]  # ZeroPadding's padding is sizes, a convolution's a word
    return next((kind for kind in (SIZES, RATES, REALS, FLAGS) if argument in kind), None)


def _values(kind):
    if isinstance(kind, tuple):  # the words an argument takes
        return st.one_of(st.sampled_from(kind), st.sampled_from(["VALID", "full", "", "channels-last"]), NOT_NUMBERS,
                         st.integers(-1, 2))
    if kind is SIZES:
        return st.one_of(positive_ints(), st.tuples(positive_ints(), positive_ints()), bad_ints(), HUGE)
    if kind is RATES:
        return st.one_of(st.floats(-0.5, 1.5), bad_reals())
    if kind is FLAGS:
        return st.one_of(st.booleans(), bad_bools())
    return st.one_of(st.floats(-3, 3), st.integers(-3, 3), bad_reals())


def _must_refuse(kind, value):
    if isinstance(kind, tuple):  # a word it takes (in any case) may still be one pyml lacks: then a named refusal
        return not (value is None and None in kind or isinstance(value, str) and value.lower() in kind)
    if kind is SIZES:
        ok = (is_int(value) and value > 0) or (isinstance(value, (tuple, list)) and value
                                               and all(is_int(v) and v > 0 for v in value))
        return not ok
    if kind is RATES:
        return not (is_real(value) and 0 <= value <= 1)
    if kind is FLAGS:
        return not isinstance(value, bool)
    return not (is_real(value) or isinstance(value, (list, tuple)) and value and all(is_real(v) for v in value))


@pytest.mark.parametrize("name, argument", list(_arguments()))
@examples(6)
@given(data=st.data())
def test_constructor_arguments_are_used_or_refused_by_name(name, argument, data):
    cls = getattr(pyml.layers, name)
    required, shape = LAYERS[name]
    kind = _kind(cls, argument)
    value = data.draw(_values(kind), label=argument)
    result = attempt(lambda: _run(cls, {**required, argument: value}, _inputs(cls, shape)), _names(cls, argument),
                     errors=ERRORS)
    default = inspect.signature(cls.__init__).parameters[argument].default
    if (value is not default or default is None and value is not None) and _must_refuse(kind, value):
        assert refused(result), f"{name}({argument}={value!r}) was accepted"
    elif not refused(result):
        _check_output(*result)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_unknown_keyword_arguments_are_refused_by_name(name):
    with pytest.raises((ValueError, TypeError), match="bogus_option"):
        getattr(pyml.layers, name)(**LAYERS[name][0], bogus_option=1)


@pytest.mark.parametrize("name", sorted(n for n in LAYERS if n != "MultiHeadAttention"))
@examples(10)
@given(shape=small_shapes(max_dims=5), dtype=st.sampled_from(DTYPES))
def test_call_inputs_of_any_rank_and_dtype_run_or_are_refused_by_name(name, shape, dtype):
    cls = getattr(pyml.layers, name)
    required, valid = LAYERS[name]
    x = [arrays(shape, dtype, seed=i) for i in range(len(valid))] if isinstance(valid, list) else arrays(shape, dtype)
    result = attempt(lambda: _run(cls, required, x), _names(cls) + ["Tensor", "shape", "input"], errors=ERRORS)
    if not refused(result) and math.prod(shape) and dtype in ("float32", "float64"):
        _check_output(*result)
