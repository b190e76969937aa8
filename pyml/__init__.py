"""pyml: Keras-style deep learning whose trained models compile ahead of time to WGSL for the browser."""
from pyml import backend, dtypes, ops  # noqa: F401
from pyml.autodiff import GradientTape, no_grad  # noqa: F401
from pyml.errors import OpError  # noqa: F401
from pyml.tensor import Tensor, Variable, _install_operators
from pyml.graph import function, trace  # noqa: F401

_install_operators()
__version__ = "0.1.0"
from pyml import activations, callbacks, initializers, layers, losses, metrics, optimizers, random  # noqa: E402,F401
from pyml.layers import Input  # noqa: E402,F401
from pyml.models import Model, Sequential  # noqa: E402,F401
from pyml.random import set_random_seed  # noqa: E402,F401
from pyml.saving import load_model  # noqa: E402,F401
from pyml import data, datasets, utils  # noqa: E402,F401
from pyml import constraints, regularizers  # noqa: E402,F401
from pyml import distribute  # noqa: E402,F401
