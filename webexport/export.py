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
import re
from pathlib import Path

from pyml import checks
from pyml.graph.ir import Graph, Node
from pyml.graph.passes import optimize
from pyml.graph.trace import BATCHES
from pyml.saving import load_model
from webexport.app import BUNDLE, check_app_folder, write_app
from webexport.bundle import write_bundle
from webexport.fusion import fuse
from webexport.kernels.common import ExportError
from webexport.lower import lower
from webexport.memory import plan_memory
from webexport.names import io_names
from webexport.padding import pad_inputs
from webexport.text import text_inputs
from webexport.weights import STORAGES


def export(model, out_dir, input_shape=None, batch_size=None, include_runtime=True, weights="float32",
           sequence_length=None, app=False, train=None):
    """Compile ``model`` ahead of time into a bundle folder: model.json + weights.bin + runtime/; with ``app``, an
    installable offline web app around it.

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
        sequence_length: the number of steps N of inputs declared with a variable length
            (``Input(shape=(None,))``, ``Input(shape=(None, 8))``: axis 1 None), which a bundle's fixed shapes
            need; such a model is refused without it. The bundle takes sequences of N steps, and of any length
            1..N where the model ignores right-padding (see below).
        app: True (or the app's name, a string) makes ``out_dir`` an app folder (``webexport.app``): the bundle in
            ``out_dir/model``, beside it a page that runs the model on a form of its inputs (index.html, app.js),
            a web app manifest with icons, and a service worker that caches the page, the runtime, model.json
            and the weights, versioned by their SHA-256, so the page works offline and a new export replaces the
            cache whole. ``out_dir`` must be new, empty or an earlier app. The name defaults to the model's.
        train: also export the training step, so the page can fine-tune the model (``model.trainStep``,
            ``fit``, ``saveWeights`` in web/src/train.js): ``True`` (the model's compiled loss and optimizer) or
            ``dict(loss=..., optimizer=..., trainable="last N" or [layer names])`` (``webexport.train``). SGD,
            Adam and AdamW at a constant learning rate; float32 weights; one input and one output. The user's
            model is not changed (the step is traced on a clone).

    Returns:
        ``out_dir`` as a ``Path``.

    Raises:
        ExportError: naming the node and op, for float64 values, ops without a WGSL lowering and
            kernels beyond WebGPU's guaranteed limits; naming the layer, for a text layer that cannot run
            in the browser (a callable standardize, an IntegerLookup), and for an input or output name a page
            cannot use (``webexport.names``: unsafe characters, or two outputs of one layer).

    The bundle's inputs and outputs keep the model's names (``webexport.names``): each ``Input(name=...)`` and
    the layer that makes each output (Keras 3's ``model.output_names``); ``input_0``…/``output_0``… for a
    subclassed model. The page runs ``model.run({image: x})`` and reads ``info.inputs[i].name``.

    A model whose first layer is a ``TextVectorization`` or ``StringLookup`` exports from the ids on: the
    bundle's input says how to turn strings into them (``inputs[i].text``), and the JS runtime does it
    (``model.tokenize``, or ``model.predict`` on strings).

    Sequence inputs (ids ``(batch, N)`` or values ``(batch, N, features)``) are exported N steps long. Where the
    model masks its padding (``Embedding(mask_zero=True)``, ``Masking``), so that padding a sequence on the right
    changes no output (checked here by running the model on random sequences, ``webexport.padding``), the bundle
    marks the input (``inputs[i].pad``) and the runtimes accept any length 1..N, padding it; every other input
    takes exactly its shape.

    >>> graph = pyml.graph.trace(lambda x: pyml.ops.tanh(x) * 2.0, [((None, 4), "float32")])
    >>> export(graph, "/tmp/tiny", include_runtime=False)
    PosixPath('/tmp/tiny')
    >>> export(model, "site", app="Digits")    # site/index.html, manifest.webmanifest, sw.js, model/ ...
    PosixPath('site')
    """
    out_dir = checks.path("export", "out_dir", out_dir)
    if batch_size is not None:
        _check_batch_size(batch_size)
    if weights not in STORAGES:
        raise ExportError(f"weights must be one of {', '.join(map(repr, STORAGES))}. Received: weights={weights!r}")
    if app:
        if not include_runtime:
            raise ExportError("an app page loads the runtime from model/runtime/: export it with include_runtime=True")
        check_app_folder(out_dir)
        app_name = app if isinstance(app, str) else Path(model).stem if isinstance(model, (str, os.PathLike)) \
            else getattr(model, "name", None) or "pyml model"
    if isinstance(model, (str, os.PathLike)):
        model = load_model(str(model))
    section = None
    if train is not None and train is not False:
        model, graph, section = _with_training(model, train, input_shape, batch_size, weights, sequence_length)
    else:
        graph = to_graph(model, input_shape, batch_size, sequence_length)
    names = io_names(model, graph)
    if batch_size is not None:
        graph = fix_batch(graph, batch_size)
    texts = text_inputs(model, graph)
    pads = pad_inputs(None if isinstance(model, Graph) else model, graph, texts, batch_size)
    graph = optimize(graph)
    plan = lower(graph, fuse(graph), weights=weights)
    memory = plan_memory([(s.kernel.inputs, s.kernel.outputs) for s in plan.steps], plan.specs, graph.inputs,
                         graph.outputs, aliases=plan.aliases, external=[n for n in plan.specs if plan.is_weight(n)])
    bundle_dir = Path(out_dir) / BUNDLE if app else out_dir
    write_bundle(plan, memory, bundle_dir, include_runtime=include_runtime, texts=texts, pads=pads, names=names,
                 train=section and section(plan))
    if app:
        write_app(out_dir, app_name)
    return Path(out_dir)


def _with_training(model, train, input_shape, batch_size, weights, sequence_length):
    """``(clone, inference graph, section maker)`` for ``export(train=...)`` (``webexport.train``): the section is
    made once the inference graph is lowered, to know each variable's weight entry."""
    from webexport import train as training

    if isinstance(model, Graph) or input_shape is not None or batch_size is not None or sequence_length is not None:
        raise ExportError("export(train=...) takes a pyml Model (or saved model path) at its own input shape and a "
                          "dynamic batch: leave input_shape, batch_size and sequence_length out")
    if weights != "float32":
        raise ExportError(f'export(train=...) needs weights="float32": training updates the weights the page '
                          f"computes with. Received: weights={weights!r}")
    clone = training.training_model(model, train)
    graph, used = training.inference_graph(clone)

    def section(plan):
        kept = {name: index for name, index in used.items() if name in plan.specs}
        return training.training_section(clone, graph, kept)

    return clone, graph, section


def to_graph(model, input_shape=None, batch_size=None, sequence_length=None):
    """The Graph for ``model``: a Graph as is, a saved-model path loaded then traced, a Model traced.

    ``input_shape`` is one example's shape (Keras's ``input_shape``, no batch axis), or a list of them
    for several inputs; a shape that starts with ``None`` is taken as already batch-first. The batch axis
    added is ``batch_size`` (``None``: dynamic). Without ``input_shape``, the model's declared input shapes,
    a variable length (axis 1 None) made ``sequence_length`` steps."""
    if isinstance(model, Graph):
        return model
    if isinstance(model, (str, os.PathLike)):
        model = load_model(str(model))
    trace = getattr(model, "trace", None)
    if trace is None:
        raise ExportError(f"export takes a pyml Model, a saved model path or a pyml.graph.Graph. "
                          f"Received: {type(model).__name__}")
    if input_shape is None:
        shapes = _fixed_lengths(model, sequence_length)
        graph = trace() if shapes is None else trace(shapes if len(shapes) > 1 else shapes[0])
    elif sequence_length is not None:
        raise ExportError(f"export takes input_shape or sequence_length, not both: input_shape gives every "
                          f"dimension. Received: input_shape={input_shape!r}, sequence_length={sequence_length!r}")
    else:
        try:
            graph = trace(_batch_first(input_shape, batch_size))
        except (ValueError, TypeError) as exc:
            raise ExportError(_shape_mismatch(model, input_shape, exc)) from exc
    if not isinstance(graph, Graph):
        raise ExportError(f"{type(model).__name__}.trace returned {type(graph).__name__}, not a pyml.graph.Graph")
    return graph


def _fixed_lengths(model, sequence_length):
    """The model's input shapes with each variable length (axis 1 None) made ``sequence_length``; None when no
    input has one (the model traces at its own shapes)."""
    if sequence_length is not None and (isinstance(sequence_length, bool) or not isinstance(sequence_length, int)
                                        or sequence_length < 1):
        raise ExportError(f"sequence_length must be a positive int. Received: sequence_length={sequence_length!r}")
    input_specs = getattr(model, "input_specs", None)  # None: a model-like object that only traces
    specs = input_specs() if input_specs is not None and getattr(model, "built", True) else []
    first = getattr(model, "_input_layer", None)  # a Sequential's Input
    names = [t.name for t in getattr(model, "inputs", None) or []] or [getattr(first, "name", None)] * len(specs)
    shapes, variable = [], False
    for name, (shape, _) in zip(names, specs):
        shape = tuple(shape)
        if any(d is None for d in shape[2:]):
            raise ExportError(f"input {name!r} has shape {shape}: a bundle's shapes are fixed, and only axis 1 "
                              "(a sequence's steps, sequence_length=) may be variable at export")
        if len(shape) > 1 and shape[1] is None:
            if sequence_length is None:
                raise ExportError(f"input {name!r} has shape {shape}: its sequence length (axis 1) is variable, but "
                                  f"a bundle's shapes are fixed: export with sequence_length=N (pyml export "
                                  f"--sequence-length N), the longest sequence the page will feed")
            shape, variable = (shape[0], sequence_length) + shape[2:], True
        shapes.append(shape)
    if sequence_length is not None and not variable:
        raise ExportError(f"sequence_length={sequence_length} fixes the length of inputs declared with a variable "
                          f"one (Input(shape=(None, ...))), but every input of this model has a fixed shape: "
                          f"{[tuple(s) for s, _ in specs]}")
    return shapes if variable else None


def _shape_mismatch(model, input_shape, exc):
    """Why ``input_shape`` does not fit ``model``, in the user's terms: one sample's shape, no batch.

    The layer's own message shows the batch the tracer used (``pyml.graph.trace.BATCHES``), which the user
    never passed: it reads "batch" instead."""
    try:
        declared = [tuple(shape[1:]) for shape, _ in model.input_specs()]
    except (AttributeError, ValueError):
        declared = []
    sample = declared[0] if len(declared) == 1 else declared
    takes = f"; the model takes one sample of shape {sample}" if declared else ""
    reason = re.sub(rf"\(({'|'.join(map(str, BATCHES))}), ", "(batch, ", str(exc).strip().splitlines()[0])
    return f"input_shape {input_shape!r} (one sample, without the batch axis) does not fit this model{takes}: {reason}"


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

