"""pyml.ops: the public op functions (Keras ``keras.ops`` names) over one registry of primitives.

    >>> import pyml
    >>> sorted(pyml.ops.primitives())[:3]
    ['abs', 'add', 'argmax']

Primitive families live in one module each; composites (softmax, relu, ...) are written in ops.
"""
from pyml.ops.registry import Primitive, Spec, bind, primitive, primitives  # noqa: F401
from pyml.ops.elementwise import *  # noqa: F401,F403
from pyml.ops.reduction import *  # noqa: F401,F403
from pyml.ops.movement import *  # noqa: F401,F403
from pyml.ops.indexing import *  # noqa: F401,F403
from pyml.ops.linalg import *  # noqa: F401,F403
from pyml.ops.conv import *  # noqa: F401,F403
from pyml.ops.pooling import *  # noqa: F401,F403
from pyml.ops.recurrent import *  # noqa: F401,F403
from pyml.ops.composite import *  # noqa: F401,F403
from pyml.ops import image  # noqa: F401,E402  (pyml.ops.image.resize, as keras.ops.image.resize)
