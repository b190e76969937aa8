"""Functional models: ``Model(inputs, outputs)`` over a graph of layer calls on ``pyml.Input`` tensors.

    >>> inputs = pyml.Input(shape=(8,))
    >>> hidden = pyml.layers.Dense(16, activation="relu")(inputs)
    >>> outputs = pyml.layers.Dense(2)(hidden)
    >>> model = pyml.Model(inputs, outputs)
    >>> model.predict(np.ones((3, 8)), verbose=0).shape
    (3, 2)

The calls recorded when the model was defined (``Node``s) are replayed in order on real tensors;
a layer called twice is shared (one set of weights).
"""
from pyml.layers.input_layer import InputLayer, KerasTensor, keras_tensors, map_tensors
from pyml.models.model import Model


def _flatten(structure):
    """The tensors of a list, of a dict (by sorted key, as Keras orders them) or the one tensor."""
    if isinstance(structure, dict):
        return [structure[key] for key in sorted(structure)]
    return list(structure) if isinstance(structure, (list, tuple)) else [structure]


def _pack(like, values):
    """``values`` (in ``_flatten`` order) in the structure of ``like``: a list, a dict by key, or one value."""
    if isinstance(like, dict):
        return dict(zip(sorted(like), values))
    return list(values) if isinstance(like, (list, tuple)) else values[0]


def _topological_nodes(outputs, inputs):
    """Nodes needed for ``outputs``, each after the nodes it reads; inputs must be the given ones."""
    allowed = {id(t) for t in inputs}
    order, seen = [], set()

    def visit(tensor, path):
        node = tensor._producer
        if node is None:
            raise ValueError(f"Tensor {tensor!r} was not made by a layer call or pyml.Input().")
        if id(node) in seen:
            return
        if isinstance(node.layer, InputLayer) and id(tensor) not in allowed:
            raise ValueError(f"Graph disconnected: the output depends on input {node.layer.name!r}, which is not in "
                             f"the model's inputs. Received: inputs {[t.name for t in inputs]}")
        if id(tensor) in path:
            raise ValueError("The layer graph has a cycle.")
        for parent in node.input_tensors():
            visit(parent, path | {id(tensor)})
        seen.add(id(node))
        order.append(node)

    for t in outputs:
        visit(t, frozenset())
    return order


class Functional(Model):
    """A model defined by its input and output ``KerasTensor``s (``pyml.Model(inputs, outputs)``).

    Args:
        inputs: a ``pyml.Input`` tensor or a list of them.
        outputs: a tensor, a list of tensors, or a dict of them by name (then ``predict`` returns a dict and
            ``compile`` matches losses and metrics by these keys), computed from the inputs by calling layers.
        name: model name.

    >>> inputs = pyml.Input(shape=(4,))
    >>> model = pyml.Model(inputs, [pyml.layers.Dense(1)(inputs), pyml.layers.Dense(2)(inputs)])
    >>> type(model).__name__, [t.shape for t in model.outputs]
    ('Functional', [(None, 1), (None, 2)])
    >>> named = pyml.Model(inputs, [pyml.layers.Dense(1, name="score")(inputs), pyml.layers.Dense(2, name="probs")(inputs)])
    >>> named.output_names                  # the layers that made the outputs (Keras 3's attribute)
    ['score', 'probs']
    """

    def __init__(self, inputs, outputs, name=None, trainable=True, **kwargs):
        Model.__init__(self, name=name, trainable=trainable, **kwargs)
        if isinstance(outputs, dict) and not all(isinstance(key, str) for key in outputs):
            raise ValueError(f"Model(outputs=...) as a dict needs string keys. Received: keys {list(outputs)}")
        for what, value in (("inputs", inputs), ("outputs", outputs)):
            if not all(isinstance(t, KerasTensor) for t in _flatten(value)):
                raise ValueError(f"Model({what}=...) expects KerasTensors (from pyml.Input and layer calls). "
                                 f"Received: {value!r}")
        for t in _flatten(inputs):
            if not isinstance(t._producer.layer, InputLayer):
                raise ValueError(f"Model inputs must come straight from pyml.Input(). Received: {t!r}")
        self._inputs, self._outputs = inputs, outputs
        self._nodes = _topological_nodes(_flatten(outputs), _flatten(inputs))
        layers = [t._producer.layer for t in _flatten(inputs)]
        for node in self._nodes:
            if all(node.layer is not l for l in layers):
                layers.append(node.layer)
        self._layers = layers
        shapes = [t.shape for t in _flatten(inputs)]
        self._build_shape = shapes if isinstance(inputs, (list, tuple)) else shapes[0]
        self.built = True
        # Keras 3's attribute: the layer that made each output (outputs are named after it in export and in
        # dict-keyed losses); a layer shared by two outputs names both.
        self.output_names = [t._producer.layer.name for t in self.outputs]

    @property
    def inputs(self):
        return _flatten(self._inputs)

    @property
    def outputs(self):
        return _flatten(self._outputs)

    def call(self, inputs, training=None):
        given = _flatten(inputs)
        if len(given) != len(self.inputs):
            raise ValueError(f"Model {self.name!r} expects {len(self.inputs)} inputs. Received: {len(given)}")
        values = {id(t): x for t, x in zip(self.inputs, given)}
        lookup = lambda t: values[id(t)]  # noqa: E731
        for node in self._nodes:
            if node.inputs is None:
                continue
            kwargs = map_tensors(lookup, node.kwargs)
            kwargs["training"] = kwargs.get("training", training)
            out = node.layer(map_tensors(lookup, node.inputs), *map_tensors(lookup, node.args), **kwargs)
            for t, value in zip(node.outputs, _flatten(out)):
                values[id(t)] = value
        return _pack(self._outputs, [values[id(t)] for t in self.outputs])

    def compute_output_shape(self, input_shape):
        return _pack(self._outputs, [t.shape for t in self.outputs])

    def input_specs(self):
        return [(t.shape, t.dtype) for t in self.inputs]

    def _declared_input_shape(self):
        return self._build_shape

    # ---- config: layers by name, then the calls as references to earlier nodes' outputs -------
    def get_config(self):
        from pyml.layers import serialization

        ordered = self._input_nodes() + [n for n in self._nodes if n.inputs is not None]
        index = {id(t): [n, k] for n, node in enumerate(ordered) for k, t in enumerate(node.outputs)}
        nodes = []
        for node in ordered:
            entry = {"layer": node.layer.name}
            if node.inputs is not None:
                refs = [index[id(t)] for t in keras_tensors(node.inputs)]
                entry["inputs"] = refs if isinstance(node.inputs, (list, tuple)) else refs[0]
                reference = lambda t: {"keras_tensor": index[id(t)]}  # noqa: E731  (a tensor among the arguments)
                entry["kwargs"] = map_tensors(reference, {k: v for k, v in node.kwargs.items() if k != "training"})
                if node.args:
                    entry["args"] = map_tensors(reference, list(node.args))
            nodes.append(entry)
        return {"name": self.name, "trainable": self.trainable,
                "layers": [serialization.serialize(layer) for layer in self._layers],
                "nodes": nodes,
                "inputs": [index[id(t)] for t in self.inputs], "inputs_are_list": isinstance(self._inputs, (list, tuple)),
                "outputs": [index[id(t)] for t in self.outputs],
                "outputs_are_list": isinstance(self._outputs, (list, tuple)),
                **({"output_keys": sorted(self._outputs)} if isinstance(self._outputs, dict) else {})}

    def _input_nodes(self):
        return [t._producer for t in self.inputs]

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from pyml.layers import serialization

        layers = {}
        for i, data in enumerate(config.get("layers", [])):
            layer = serialization.deserialize(data, custom_objects, where=f"layers[{i}]")
            layers[layer.name] = layer
        produced = []  # per node, its output KerasTensors

        def tensor(ref, where):
            """The KerasTensor a ``[node, output]`` reference names, checked against the nodes made so far."""
            if not (isinstance(ref, list) and len(ref) == 2 and all(type(v) is int for v in ref)):
                raise ValueError(f"{where}: expected a [node, output] reference. Received: {ref!r}")
            n, k = ref
            if not 0 <= n < len(produced):
                raise ValueError(f"{where} refers to node {n}, but only {len(produced)} nodes are defined before it. "
                                 f"Received: {ref!r}")
            if not 0 <= k < len(produced[n]):
                raise ValueError(f"{where} refers to output {k} of node {n}, which has {len(produced[n])} output(s). "
                                 f"Received: {ref!r}")
            return produced[n][k]

        def resolve(value, where):
            """A call argument with its ``{"keras_tensor": [node, output]}`` entries turned back into tensors."""
            if isinstance(value, dict) and set(value) == {"keras_tensor"}:
                return tensor(value["keras_tensor"], where)
            if isinstance(value, dict):
                return {k: resolve(v, f"{where}.{k}") for k, v in value.items()}
            if isinstance(value, list):
                return [resolve(v, f"{where}[{j}]") for j, v in enumerate(value)]
            return value

        for i, entry in enumerate(config.get("nodes", [])):
            name = entry.get("layer") if isinstance(entry, dict) else None
            layer = layers.get(name)
            if layer is None:
                raise ValueError(f"nodes[{i}]: no layer named {name!r} in the config. "
                                 f"Received: layers {sorted(layers)}")
            if "inputs" not in entry:
                produced.append([layer.output])
                continue
            refs = entry["inputs"]
            if isinstance(refs, list) and refs and isinstance(refs[0], list):
                args = [tensor(ref, f"nodes[{i}].inputs[{j}]") for j, ref in enumerate(refs)]
            else:
                args = tensor(refs, f"nodes[{i}].inputs")
            extra = resolve(entry.get("args", []), f"nodes[{i}].args")
            produced.append(_flatten(layer(args, *extra, **resolve(entry.get("kwargs", {}), f"nodes[{i}].kwargs"))))
        ends = {}
        for key in ("inputs", "outputs"):
            if not isinstance(config.get(key), list) or not config[key]:
                raise ValueError(f"missing {key!r}: expected a non-empty list of [node, output] references. "
                                 f"Received: {key}={config.get(key)!r}")
            ends[key] = [tensor(ref, f"{key}[{j}]") for j, ref in enumerate(config[key])]
        inputs, outputs = ends["inputs"], ends["outputs"]
        keys = config.get("output_keys")
        if keys is not None and (not isinstance(keys, list) or len(keys) != len(outputs)):
            raise ValueError(f"output_keys must name each of the {len(outputs)} outputs. "
                             f"Received: output_keys={keys!r}")
        return cls(inputs if config.get("inputs_are_list") else inputs[0],
                   dict(zip(keys, outputs)) if keys is not None else
                   outputs if config.get("outputs_are_list") else outputs[0],
                   name=config.get("name"), trainable=config.get("trainable", True))
