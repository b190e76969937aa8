"""The models the browser benchmark runs, and the same weights for each library it compares.

One pyml model per name (seeded random weights, biases included: no download, no training), and from
its layers the two other forms of the very same network:

- TF.js: ``layout.json`` (a ``tf.layers`` config per layer, Keras's own layouts: NHWC, HWIO kernels)
  plus ``weights.bin`` (float32, in ``model.get_weights()`` order, for ``model.setWeights``);
- ONNX (written by the ``onnx`` package, opset 17): ``model.onnx`` taking the same NHWC input. Convolution
  runs NCHW as ONNX defines it: the input is reshaped (one channel: NHWC and NCHW hold the same bytes) or
  transposed, kernels are transposed to OIHW, and the Dense kernel after ``Flatten`` has its rows permuted
  from (h, w, c) to (c, h, w) order, so ORT gets no transposes it would not have in a native ONNX model.

    >>> import models
    >>> model = models.build("mlp")                 # pyml Sequential, seeded weights
    >>> x = models.inputs(model, 32)                # the inputs the page generates too
    >>> models.write_tfjs(model, "site/models/mlp/tfjs")
    >>> models.write_onnx(model, "site/models/mlp/model.onnx")
"""
import json
from pathlib import Path

import numpy as np

import common

ONNX_VERSION = "1.23.2"  # the version the published figures were measured with (pip install onnx==...)
ONNX_OPSET = 17


def _mlp(layers):
    return [layers.Dense(512, activation="relu"), layers.Dense(512, activation="relu"),
            layers.Dense(10, activation="softmax")]


def _convnet(layers):
    # Keras's "Simple MNIST convnet" example (keras.io/examples/vision/mnist_convnet); Dropout is identity
    # at inference and kept so the model is the one users train.
    return [layers.Conv2D(32, 3, activation="relu"), layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(2), layers.Dropout(0.25), layers.Flatten(),
            layers.Dense(128, activation="relu"), layers.Dropout(0.5), layers.Dense(10, activation="softmax")]


def _digits(layers):
    return [layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax")]


def _lstm(layers):
    # issue #7's sequence model: token ids → Embedding(64, 32) → LSTM(128) over 50 steps → Dense(64, softmax)
    return [layers.Embedding(64, 32), layers.LSTM(128), layers.Dense(64, activation="softmax")]


# name: (input shape without the batch axis, layers, label in the tables)
MODELS = {
    "mlp": ((784,), _mlp, "mlp 784-512-512-10"),
    "convnet": ((28, 28, 1), _convnet, "Keras MNIST convnet"),
    "digits": ((64,), _digits, "digits mlp 64-64-10"),
    "lstm": ((50,), _lstm, "Embedding-LSTM(128)x50-Dense"),
}


def label(name):
    return MODELS[name][2]


def build(name, seed=0):
    """The pyml Sequential called ``name`` with seeded random weights: He-uniform kernels (they keep the
    activations' scale through the relus, so the outputs are far from uniform and the parity check has
    something to compare), biases uniform in ±0.1 so the bias paths are exercised too."""
    import pyml
    from pyml import layers

    if name not in MODELS:
        raise common.BenchmarkError(f"unknown model {name!r}: choose from {', '.join(MODELS)}")
    input_shape, make_layers, _ = MODELS[name]
    dtype = "int32" if name == "lstm" else "float32"  # token ids into its Embedding
    model = pyml.Sequential([pyml.Input(shape=input_shape, dtype=dtype), *make_layers(layers)])
    rng = np.random.default_rng(seed)
    weights = []
    for w in model.get_weights():
        if w.ndim == 1:
            weights.append(rng.uniform(-0.1, 0.1, w.shape))
        else:
            receptive = int(np.prod(w.shape[:-2]))  # 1 for Dense, kh * kw for Conv2D
            limit = np.sqrt(6.0 / (receptive * w.shape[-2]))
            weights.append(rng.uniform(-limit, limit, w.shape))
    model.set_weights([w.astype(np.float32) for w in weights])
    return model


def vocabulary(model):
    """The vocabulary size of a model taking int32 token ids (its first layer, an Embedding), else None."""
    return model.layers[0].input_dim if model.input_specs()[0][1] == "int32" else None


def inputs(model, batch):
    """The benchmark's input of ``batch`` rows: element i of the flattened tensor is (i * 7919 mod 1009) / 1009,
    or for token ids the int32 (i * 7919 mod 1009) mod ``vocabulary(model)``.

    page/inference.js computes the same numbers (as float64, then rounded to float32, as here), so the
    page needs no input file and the Python model can predict on identical values."""
    shape = (batch, *model.input_shape[1:])
    i = np.arange(int(np.prod(shape)), dtype=np.int64)
    if vocabulary(model):
        return (i * 7919 % 1009 % vocabulary(model)).astype(np.int32).reshape(shape)
    return ((i * 7919 % 1009) / 1009).astype(np.float32).reshape(shape)


def labels(rows):
    """The class ids benchmarks/page/train.js trains on: row r's label is (7 r + 3) mod 10 (every class, in a
    pattern no batch of 10 or more misses)."""
    return ((7 * np.arange(rows) + 3) % 10).astype(np.int32)


def without_dropout(model):
    """``model`` with every Dropout's rate set to 0 (in place; returned for chaining): training then draws no
    random masks, so two libraries' losses compare step by step."""
    for layer in model.layers:
        if type(layer).__name__ == "Dropout":
            layer.rate = 0.0
    return model


def layer_specs(model):
    """``[(kind, config, weights)]`` for each layer that computes something (Dropout is dropped): kind is
    "dense", "conv2d", "maxPooling2d" or "flatten", config in TF.js's ``tf.layers`` terms."""
    specs = []
    for layer in model.layers:
        kind, config = type(layer).__name__, layer.get_config()
        weights = [np.asarray(w, np.float32) for w in layer.get_weights()]
        if kind == "Dropout":
            continue
        if kind == "Dense":
            spec = ("dense", {"units": config["units"], "activation": config["activation"],
                              "useBias": config["use_bias"]})
        elif kind == "Conv2D":
            if tuple(config["dilation_rate"]) != (1, 1) or config["groups"] != 1:
                raise common.BenchmarkError(f"layer {layer.name}: the benchmark exports Conv2D without dilation "
                                            f"or groups only. Received: {config}")
            spec = ("conv2d", {"filters": config["filters"], "kernelSize": list(config["kernel_size"]),
                               "strides": list(config["strides"]), "padding": config["padding"],
                               "activation": config["activation"], "useBias": config["use_bias"]})
        elif kind == "MaxPooling2D":
            spec = ("maxPooling2d", {"poolSize": list(config["pool_size"]), "strides": list(config["strides"]),
                                     "padding": config["padding"]})
        elif kind == "Flatten":
            spec = ("flatten", {})
        elif kind == "Embedding":
            spec = ("embedding", {"inputDim": config["input_dim"], "outputDim": config["output_dim"]})
        elif kind == "LSTM":
            if config["return_sequences"] or config["go_backwards"] or not config["use_bias"]:
                raise common.BenchmarkError(f"layer {layer.name}: the benchmark exports an LSTM returning its last "
                                            f"output, forwards, with a bias. Received: {config}")
            # TF.js defaults to hardSigmoid; its Orthogonal initializer needs tf-core's chained ops, which the
            # page's tf-core bundle lacks (setWeights replaces the initial weights anyway)
            spec = ("lstm", {"units": config["units"], "activation": config["activation"],
                             "recurrentActivation": config["recurrent_activation"], "recurrentInitializer": "zeros"})
        else:
            raise common.BenchmarkError(f"layer {layer.name}: the benchmark exports Dense, Conv2D, MaxPooling2D, "
                                        f"Flatten, Dropout, Embedding and LSTM only. Received: {kind}")
        specs.append((*spec, weights))
    return specs


def write_tfjs(model, out_dir):
    """``out_dir/layout.json`` + ``weights.bin``, read by page/runners.js into tf.sequential + setWeights."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    layers, entries, blobs, offset = [], [], [], 0
    for kind, config, weights in layer_specs(model):
        layers.append({"type": kind, "config": config})
        for w in weights:
            entries.append({"shape": list(w.shape), "offset": offset})
            blobs.append(np.ascontiguousarray(w).tobytes())
            offset += w.nbytes  # float32: every offset stays 4-byte aligned
    (out_dir / "weights.bin").write_bytes(b"".join(blobs))
    layout = {"inputShape": list(model.input_shape[1:]), "layers": layers, "weights": entries}
    (out_dir / "layout.json").write_text(json.dumps(layout))


def require_onnx():
    try:
        import onnx
    except ModuleNotFoundError:
        raise common.BenchmarkError(f"the ONNX Runtime cells need the onnx package to write their models: "
                                    f"pip install onnx=={ONNX_VERSION} (a benchmark-only dependency)") from None
    return onnx


def write_onnx(model, path):
    """``path``: the model as ONNX (opset 17), input "x" NHWC (or (N, features)), output "y", dynamic batch."""
    onnx = require_onnx()
    from onnx import TensorProto, helper, numpy_helper

    nodes, initializers = [], []
    shape = list(model.input_shape[1:])  # the current value's shape without batch, NHWC while spatial
    nchw = False
    flattened_from = None  # (h, w, c) of the last Flatten's input, until a Dense consumes it
    value = "x"

    def add(op, inputs, **attrs):
        nonlocal value
        out = f"{op.lower()}_{len(nodes)}"
        nodes.append(helper.make_node(op, [value, *inputs], [out], **attrs))
        value = out

    def constant(name, array):
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), f"{name}_{len(initializers)}"))
        return initializers[-1].name

    def activation(name):
        if name == "relu":
            add("Relu", [])
        elif name == "softmax":
            add("Softmax", [], axis=-1)
        elif name != "linear":
            raise common.BenchmarkError(f"the ONNX export knows relu, softmax and linear. Received: {name!r}")

    for kind, config, weights in layer_specs(model):
        if kind in ("embedding", "lstm"):
            shape = _onnx_sequence_layer(kind, config, weights, nodes, constant, value, shape)
            value = nodes[-1].output[0]
            continue
        if kind in ("conv2d", "maxPooling2d") and not nchw:
            if shape[-1] == 1:  # one channel: NHWC and NCHW are the same bytes
                add("Reshape", [constant("nchw_shape", np.array([-1, 1, *shape[:2]], np.int64))])
            else:
                add("Transpose", [], perm=[0, 3, 1, 2])
            nchw = True
        if kind == "dense":
            kernel = weights[0]
            if flattened_from is not None:  # rows (h, w, c) -> (c, h, w), the order ONNX's Flatten leaves
                h, w, c = flattened_from
                kernel = kernel.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(h * w * c, -1)
                flattened_from = None
            bias = weights[1] if config["useBias"] else np.zeros(kernel.shape[1], np.float32)
            add("Gemm", [constant("kernel", kernel), constant("bias", bias)])
            shape = [kernel.shape[1]]
            activation(config["activation"])
        elif kind in ("conv2d", "maxPooling2d"):
            size = config["kernelSize"] if kind == "conv2d" else config["poolSize"]
            padding = {"valid": "VALID", "same": "SAME_UPPER"}[config["padding"]]  # Keras pads bottom/right
            attrs = {"kernel_shape": size, "strides": config["strides"], "auto_pad": padding}
            if kind == "conv2d":
                inputs_ = [constant("kernel", weights[0].transpose(3, 2, 0, 1))]  # HWIO -> OIHW
                if config["useBias"]:
                    inputs_.append(constant("bias", weights[1]))
                add("Conv", inputs_, **attrs)
            else:
                add("MaxPool", [], **attrs)
            shape = [_spatial(shape[0], size[0], config["strides"][0], config["padding"]),
                     _spatial(shape[1], size[1], config["strides"][1], config["padding"]),
                     config.get("filters", shape[2])]
            if kind == "conv2d":
                activation(config["activation"])
        elif kind == "flatten":
            if nchw:
                flattened_from = tuple(shape)
            add("Flatten", [], axis=1)
            shape = [int(np.prod(shape))]
    nodes[-1].output[0] = "y"
    x_type = TensorProto.INT32 if vocabulary(model) else TensorProto.FLOAT
    graph = helper.make_graph(
        nodes, "benchmark",
        [helper.make_tensor_value_info("x", x_type, ["N", *model.input_shape[1:]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", *shape])], initializers)
    proto = helper.make_model(graph, producer_name="pyml benchmarks",
                              opset_imports=[helper.make_opsetid("", ONNX_OPSET)], ir_version=8)
    onnx.checker.check_model(proto)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(path))


def _onnx_sequence_layer(kind, config, weights, nodes, constant, value, shape):
    """Append the ONNX nodes of an Embedding (Gather on the table) or an LSTM returning its last output
    (batch-major to time-major, ONNX's LSTM with the gate blocks reordered from Keras's i, f, c, o to ONNX's
    i, o, f, c and the bias split into its input half and a zero recurrent half, then its last h [B, H]);
    returns the value's new shape without the batch axis."""
    from onnx import helper

    def node(op, inputs, outputs=1, **attrs):
        names = [f"{op.lower()}_{len(nodes)}_{k}" for k in range(outputs)]
        nodes.append(helper.make_node(op, inputs, names, **attrs))
        return names

    if kind == "embedding":
        node("Gather", [constant("embeddings", weights[0]), value], axis=0)
        return [*shape, config["outputDim"]]
    kernel, recurrent, bias = weights
    units = config["units"]
    order = [0, 3, 1, 2]  # ONNX's i, o, f, c from Keras's i, f, c, o

    def gates(w):  # [..., 4H] with Keras's blocks -> ONNX's blocks
        return np.concatenate([w[..., g * units:(g + 1) * units] for g in order], axis=-1)

    (time_major,) = node("Transpose", [value], perm=[1, 0, 2])
    w, r = gates(kernel).T[None], gates(recurrent).T[None]  # [1, 4H, input], [1, 4H, H]
    b = np.concatenate([gates(bias), np.zeros(4 * units, np.float32)])[None]
    _, last = node("LSTM", [time_major, constant("w", w), constant("r", r), constant("b", b)], outputs=2,
                   hidden_size=units)
    node("Squeeze", [last, constant("axes", np.array([0], np.int64))])
    return [units]


def check_onnx(model, path, batch=2, tolerance=1e-4):
    """Run ``path`` with onnx's reference evaluator (numpy) and compare with pyml's predict; raises when
    they disagree, so a wrong export shows up here rather than as an ORT "disagreement" in the page."""
    require_onnx()
    from onnx.reference import ReferenceEvaluator

    x = inputs(model, batch)
    got = ReferenceEvaluator(str(path)).run(None, {"x": x})[0]
    want = np.asarray(model.predict(x, verbose=0), np.float32)
    diff = float(np.max(np.abs(got - want)))
    if not diff <= tolerance:
        raise common.BenchmarkError(f"{path}: the ONNX export differs from pyml's predict by {diff:.3g} "
                                    f"(tolerance {tolerance}) on the benchmark input")
    return diff


def _spatial(size, window, stride, padding):
    return -(-size // stride) if padding == "same" else (size - window) // stride + 1
