"""The names a bundle gives its inputs and outputs: the ones the user gave the model, as Keras 3 reports them.

A functional model's inputs are named after their ``Input(name=...)`` layers and its outputs after the layers that
make them (Keras 3's ``model.output_names``); a Sequential's input after its ``InputLayer`` and its output after its
last layer. A subclassed model has no such names: ``input_0``…, ``output_0``…. A ``Graph`` keeps its value names.

    >>> inputs = pyml.Input(shape=(4,), name="image")
    >>> io_names(pyml.Model(inputs, pyml.layers.Dense(2, name="probs")(inputs)), graph)
    (['image'], ['probs'])

Model.json keeps the graph's own value names (``x``, ``v15``) in ``graph``; ``inputs[i].name`` is what the page
uses (``model.run({image: x})``, ``model.info``), and the value it feeds is ``graph.inputs[i]`` (docs/internals.md §6).
Names are checked here at export and again by both loaders (``check_io_name``): they become object keys in JS and
dict keys in Python, so each must be a plain identifier-like string, and no two inputs (or outputs) may share one.
"""
import re

from webexport.kernels.common import ExportError

# Letters, digits, "_", "." and "-", a letter or "_" first: safe as a JS object key, a file-like label or a CSS/HTML
# id, with nothing a page could mistake for code. "__proto__" is refused too: as a key it would reach the prototype.
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,127}")
NAMES_VERSION = 4  # the bundle format where inputs[i].name / outputs[i].name may differ from the graph's values


def is_io_name(name):
    """Whether ``name`` can name a bundle input or output (see ``NAME``)."""
    return isinstance(name, str) and NAME.fullmatch(name) is not None and name != "__proto__"


def io_names(model, graph):
    """``(input names, output names)`` for the bundle of ``model`` traced as ``graph``; raises ``ExportError`` naming
    the layer for a name a bundle cannot carry or two inputs (outputs) that would share one."""
    from pyml.models.functional import Functional
    from pyml.models.model import Model
    from pyml.models.sequential import Sequential

    if not isinstance(model, Model):  # a Graph (or an object that only traces): its value names are all it has
        return list(graph.inputs), list(graph.outputs)
    inputs = [(None, f"input_{i}") for i in range(len(graph.inputs))]  # a subclassed model: no names of its own
    outputs = [(None, f"output_{i}") for i in range(len(graph.outputs))]
    if isinstance(model, Functional):
        inputs = [("Input layer", t._producer.layer.name) for t in model.inputs]
        outputs = [("layer", name) for name in model.output_names]
    elif isinstance(model, Sequential) and model.layers and model._input_layer is not None:
        inputs, outputs = [("Input layer", model._input_layer.name)], [("layer", model.layers[-1].name)]
    if len(inputs) != len(graph.inputs) or len(outputs) != len(graph.outputs):
        raise ExportError(f"model {model.name!r} has {len(inputs)} inputs and {len(outputs)} outputs, but its traced "
                          f"graph {len(graph.inputs)} and {len(graph.outputs)}")
    return _checked(inputs, "input"), _checked(outputs, "output")


def _checked(named, what):
    names = []
    for i, (source, name) in enumerate(named):
        layer = f"{source} {name!r}" if source else repr(name)
        if not is_io_name(name):
            raise ExportError(f"{what} {i} is named after {layer}, and a bundle's {what} names are object keys in the "
                              f"page's JavaScript: letters, digits, '_', '.' and '-', a letter or '_' first, at most 128 "
                              f"characters, not '__proto__'. Rename the layer (name=...). Received: {name!r}")
        if name in names:
            raise ExportError(f"{what}s {names.index(name)} and {i} are both named after {layer} (a layer that makes "
                              f"two {what}s), but a page picks each {what} by its name: make one of them with another "
                              f"layer, e.g. pyml.layers.Activation('linear', name='...')")
        names.append(name)
    return names


def check_io_name(manifest, key, i, seen, fail):
    """Check the name of ``manifest[key][i]`` (``key``: "inputs" or "outputs"; the entry already an object): before
    format 4 it is its graph value (``graph.<key>[i]``), from 4 on a safe name (``is_io_name``) not in ``seen``, the
    names of the entries before it, which it joins. web/src/bundle.js ``checkSignature`` checks the same."""
    name, value, field = manifest[key][i].get("name"), manifest["graph"][key][i], f"{key}[{i}].name"
    if manifest["format_version"] < NAMES_VERSION:
        if name != value:
            fail(field, f"must be {value!r} (graph.{key}[{i}]) before format_version {NAMES_VERSION}. Received: {name!r}")
        return
    if not is_io_name(name) or name in seen:
        fail(field, f"must be letters, digits, '_', '.' or '-', a letter or '_' first, at most 128 characters, not "
                    f"'__proto__', and no {key[:-1]}'s name twice. Received: {name!r}")
    seen.add(name)
