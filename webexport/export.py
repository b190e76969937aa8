"""``export``: a pyml model, saved model or Graph in, a web bundle folder out.

    >>> import webexport
    >>> webexport.export(model, "site/model", input_shape=(784,))       # examples of 784; any batch
    PosixPath('site/model')

and in a web page:

    const m = await loadModel("model/model.json");
    const y = await m.predict(x);

The pipeline: trace → graph passes (``pyml.graph.passes.optimize``) → epilogue fusion → lowering →
memory plan → bundle, written atomically.
"""
import os
from pathlib import Path

from pyml.graph.ir import Graph, Node
from pyml.graph.passes import optimize
from pyml.saving import load_model
from webexport.bundle import write_bundle
from webexport.fusion import fuse
from webexport.kernels.common import ExportError
from webexport.lower import lower
from webexport.memory import plan_memory
from webexport.text import text_inputs
from webexport.weights import STORAGES


def export(model, out_dir, input_shape=None, batch_size=None, include_runtime=True, weights="float32"):
    """Compile ``model`` ahead of time into a bundle folder: model.json + weights.bin + runtime/.

    Args:
        model: a pyml ``Model`` (traced with ``model.trace(input_shape)``), the path of a saved model
            (``pyml.load_model``), or a ``pyml.graph.Graph``.
        out_dir: the bundle folder to write; a previous bundle there is replaced only once the new
            one is complete, and a folder that is not a bundle is never replaced.
        input_shape: one example's shape, without the batch axis (Keras's ``input_shape``; a list of
            shapes for several inputs); by default the shape the model was built with. Unused for a Graph.
        batch_size: None keeps the batch dimension dynamic (the runtime takes any batch); an int
            fixes it, so every kernel is specialised for that batch.
        include_runtime: copy the JS runtime (web/src) into ``out_dir/runtime``.
        weights: how the weight matrices (Dense/Conv kernels, embeddings) are stored: "float32" (exact),
            "float16" (half the bytes) or "int8" (a quarter, one scale per output channel). The WebGPU
            kernels of matmul and conv read them as stored, unpacking each weight in registers (so the GPU
            buffers and the memory traffic shrink too); the CPU paths widen them to float32 at load.
            model.json's ``weights.accuracy`` says how far the outputs moved on random inputs. Biases and
            other small constants stay float32.

    Returns:
        ``out_dir`` as a ``Path``.

    Raises:
        ExportError: naming the node and op, for float64 values, ops without a WGSL lowering and
            kernels beyond WebGPU's guaranteed limits; naming the layer, for a text layer that cannot run
            in the browser (a callable standardize, an IntegerLookup).

    A model whose first layer is a ``TextVectorization`` or ``StringLookup`` exports from the ids on: the
    bundle's input says how to turn strings into them (``inputs[i].text``), and the JS runtime does it
    (``model.tokenize``, or ``model.predict`` on strings).

    >>> graph = pyml.graph.trace(lambda x: pyml.ops.tanh(x) * 2.0, [((None, 4), "float32")])
    >>> export(graph, "/tmp/tiny", include_runtime=False)
    PosixPath('/tmp/tiny')
    """
    if batch_size is not None:
        _check_batch_size(batch_size)
    if weights not in STORAGES:
        raise ExportError(f"weights must be one of {', '.join(map(repr, STORAGES))}. Received: weights={weights!r}")
    if isinstance(model, (str, os.PathLike)):
        model = load_model(str(model))
    graph = to_graph(model, input_shape, batch_size)
    if batch_size is not None:
        graph = fix_batch(graph, batch_size)
    texts = text_inputs(model, graph)
    graph = optimize(graph)
    plan = lower(graph, fuse(graph), weights=weights)
    memory = plan_memory([(s.kernel.inputs, s.kernel.outputs) for s in plan.steps], plan.specs, graph.inputs,
                         graph.outputs, aliases=plan.aliases, external=[n for n in plan.specs if plan.is_weight(n)])
    write_bundle(plan, memory, out_dir, include_runtime=include_runtime, texts=texts)
    return Path(out_dir)


def to_graph(model, input_shape=None, batch_size=None):
    """The Graph for ``model``: a Graph as is, a saved-model path loaded then traced, a Model traced.

    ``input_shape`` is one example's shape (Keras's ``input_shape``, no batch axis), or a list of them
    for several inputs; a shape that starts with ``None`` is taken as already batch-first. The batch axis
    added is ``batch_size`` (``None``: dynamic)."""
    if isinstance(model, Graph):
        return model
    if isinstance(model, (str, os.PathLike)):
        model = load_model(str(model))
    trace = getattr(model, "trace", None)
    if trace is None:
        raise ExportError(f"export takes a pyml Model, a saved model path or a pyml.graph.Graph. "
                          f"Received: {type(model).__name__}")
    if input_shape is None:
        graph = trace()
    else:
        graph = trace(_batch_first(input_shape, batch_size))
    if not isinstance(graph, Graph):
        raise ExportError(f"{type(model).__name__}.trace returned {type(graph).__name__}, not a pyml.graph.Graph")
    return graph


def _batch_first(input_shape, batch_size):
    """(batch, *example shape) for one input, a list of those for several (see ``to_graph``)."""
    if isinstance(input_shape, list) and input_shape and all(isinstance(s, (list, tuple)) for s in input_shape):
        return [_batch_first(tuple(s), batch_size) for s in input_shape]
    shape = tuple(input_shape)
    if shape and shape[0] is None:
        return shape
    return (batch_size,) + shape


def fix_batch(graph, batch_size):
    """A copy of ``graph`` with the dynamic batch (``None`` in shapes and shape attrs) set to ``batch_size``."""
    _check_batch_size(batch_size)
    nodes = [Node(n.name, n.op, _fill(tuple(n.shape), batch_size), n.dtype, n.target, list(n.inputs),
                  {k: _fill(v, batch_size) for k, v in n.attrs.items()}) for n in graph.nodes]
    return Graph(nodes, list(graph.inputs), list(graph.outputs), dict(graph.constants))


def _check_batch_size(batch_size):
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ExportError(f"batch_size must be None (dynamic) or a positive int. Received: batch_size={batch_size!r}")


def _fill(value, batch):
    """``None`` entries of shape-like tuples become ``batch``; the tracer uses None only for the batch."""
    if isinstance(value, (tuple, list)):
        return type(value)(batch if v is None else _fill(v, batch) for v in value)
    return value

