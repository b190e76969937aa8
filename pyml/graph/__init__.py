"""pyml.graph: the graph IR, tracing, the reference interpreter, passes and ``pyml.function``.

    >>> graph = pyml.graph.trace(lambda x: pyml.ops.tanh(x) * 2.0, [((None, 3), "float32")])
    >>> print(pyml.graph.optimize(graph))
    %x : f32[N,3] = placeholder
    %v1 : f32[N,3] = tanh(%x)
    %c2 : f32[] = constant 2.0
    %v3 : f32[N,3] = mul(%v1, %c2)
    return %v3
    >>> pyml.graph.run_graph(graph, [np.zeros((5, 3), "float32")])[0].shape
    (5, 3)

The JSON form of a graph and the rules of tracing are specified in docs/internals.md §3.
"""
from pyml.graph.ir import FORMAT_VERSION, OPCODES, Graph, Node  # noqa: F401
from pyml.graph.validate import GraphError, validate_graph_json  # noqa: F401
from pyml.graph.trace import (  # noqa: F401
    SymbolicTensor, TraceError, TraceResult, Tracer, flatten, trace, trace_function, unflatten)
from pyml.graph.interpreter import Interpreter, last_uses, run_graph  # noqa: F401
from pyml.graph.passes import (  # noqa: F401
    eliminate_common_subexpressions, eliminate_dead_code, fold_constants, optimize)
from pyml.graph.function import Function, function  # noqa: F401
