"""pyml.layers: Keras-style layers (channels-last), written in pyml ops so models trace and export.

    >>> model = pyml.Sequential([
    ...     pyml.Input(shape=(64,)),
    ...     pyml.layers.Dense(32, activation="relu"),
    ...     pyml.layers.Dense(10, activation="softmax"),
    ... ])
"""
from pyml.layers.base import InputSpec, Layer, clear_session  # noqa: F401
from pyml.layers.input_layer import Input, InputLayer, KerasTensor  # noqa: F401
from pyml.layers.core import Activation, Dense, Dropout, Flatten, Reshape  # noqa: F401
from pyml.layers.embedding import Embedding  # noqa: F401
from pyml.layers.masking import Masking  # noqa: F401
from pyml.layers.multi_head_attention import MultiHeadAttention  # noqa: F401
from pyml.layers.attention import AdditiveAttention, Attention  # noqa: F401
from pyml.layers.conv import Conv1D, Conv2D, Conv3D, DepthwiseConv2D  # noqa: F401
from pyml.layers.pooling import (  # noqa: F401
    AveragePooling1D, AveragePooling2D, AveragePooling3D, GlobalAveragePooling1D, GlobalAveragePooling2D,
    GlobalAveragePooling3D, GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D, MaxPooling1D,
    MaxPooling2D, MaxPooling3D)
from pyml.layers.normalization import BatchNormalization, LayerNormalization  # noqa: F401
from pyml.layers.merging import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract  # noqa: F401
from pyml.layers.conv_transpose import Conv1DTranspose, Conv2DTranspose, Conv3DTranspose  # noqa: F401
from pyml.layers.reshaping import (  # noqa: F401
    Cropping1D, Cropping2D, Cropping3D, UpSampling1D, UpSampling2D, UpSampling3D, ZeroPadding1D, ZeroPadding2D,
    ZeroPadding3D)
from pyml.layers.activation_layers import ELU, LeakyReLU, ReLU, Softmax  # noqa: F401
from pyml.layers.rnn_cells import GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells  # noqa: F401
from pyml.layers.rnn import GRU, LSTM, RNN, SimpleRNN  # noqa: F401
from pyml.layers.rnn_wrappers import Bidirectional, TimeDistributed  # noqa: F401
from pyml.layers.lookup import IntegerLookup, StringLookup  # noqa: F401
from pyml.layers.text_vectorization import TextVectorization  # noqa: F401

# Keras aliases
MaxPool1D, MaxPool2D, MaxPool3D = MaxPooling1D, MaxPooling2D, MaxPooling3D
AvgPool1D, AvgPool2D, AvgPool3D = AveragePooling1D, AveragePooling2D, AveragePooling3D
Convolution1D, Convolution2D, Convolution3D = Conv1D, Conv2D, Conv3D
Convolution2DTranspose = Conv2DTranspose
GlobalAvgPool1D, GlobalAvgPool2D, GlobalAvgPool3D = GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D
GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D = GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D
from pyml.layers.separable_conv import SeparableConv1D, SeparableConv2D  # noqa: E402,F401
from pyml.layers.reshaping import Permute, RepeatVector  # noqa: E402,F401
from pyml.layers.core import Identity  # noqa: E402,F401
from pyml.layers.noise import (  # noqa: E402,F401
    AlphaDropout, GaussianDropout, GaussianNoise, SpatialDropout1D, SpatialDropout2D, SpatialDropout3D)
from pyml.layers.normalization_extra import GroupNormalization, RMSNormalization, UnitNormalization  # noqa: E402,F401
from pyml.layers.merging import Dot  # noqa: E402,F401
from pyml.layers.activation_layers import PReLU  # noqa: E402,F401
SeparableConvolution1D, SeparableConvolution2D = SeparableConv1D, SeparableConv2D
from pyml.layers.serialization import (  # noqa: E402,F401
    deserialize, layer_names, register_serializable, serialize, suggest)
from pyml.layers.activity_regularization import ActivityRegularization  # noqa: E402,F401
from pyml.layers.preprocessing import (  # noqa: E402,F401
    CenterCrop, Normalization, RandomBrightness, RandomContrast, RandomFlip, RandomRotation, RandomTranslation,
    RandomZoom, Rescaling, Resizing)


def __getattr__(name):
    """``pyml.layers.Foo`` for a layer pyml lacks: an AttributeError that says so and lists the layers it has."""
    if name.startswith("_"):
        raise AttributeError(f"module 'pyml.layers' has no attribute {name!r}")
    names = layer_names()
    raise AttributeError(f"pyml.layers has no layer {name!r}{suggest(name, names)}; pyml implements {len(names)} "
                         f"Keras layer names (see README, 'What is supported'): {', '.join(names)}")
