"""The bundle's text inputs (``inputs[i].text``, docs/internals.md §6): what a model's first layer
``TextVectorization`` or ``StringLookup`` does to strings, as data, so the JS runtime (``web/src/text.js``)
turns text into the same ids before running the graph.

``text_inputs`` writes the field at export; ``check_text`` validates it when a bundle is read (the same checks,
and the same field names in the messages, as ``validateText`` in web/src/text.js).

    >>> text_inputs(model, graph)[0]["vocabulary"][:3]          # doctest: +SKIP
    ['', '[UNK]', 'the']
"""
import math

from pyml.layers import host
from pyml.layers.lookup import StringLookup
from pyml.layers.text_ops import SPLIT, STANDARDIZE
from pyml.layers.text_vectorization import TextVectorization
from webexport.kernels.common import ExportError

OUTPUT_MODES = ("int", "multi_hot", "count", "tf_idf")


def text_inputs(model, graph):
    """One entry per graph input: its ``text`` dict, or None for an input that takes numbers."""
    found = host.chains(model) if hasattr(model, "layers") else {}
    texts = [None] * len(graph.inputs)
    specs = model.input_specs() if found else []
    for i, chain in found.items():
        layer = chain[0]
        where = f"{type(layer).__name__} {layer.name!r}"
        if len(chain) > 1 or not isinstance(layer, (TextVectorization, StringLookup)):
            raise ExportError(f"{where}: export takes one TextVectorization or StringLookup layer on a text input; "
                              f"the host layers {[l.name for l in chain]} cannot be exported yet")
        shape = list(specs[i][0])
        if len(shape) not in (1, 2):
            raise ExportError(f"{where}: export takes strings of shape (batch,) or (batch, n). Received: {shape}")
        if isinstance(layer, StringLookup):
            if layer.invert or layer.output_mode == "one_hot":
                raise ExportError(f"{where}: export supports lookups from strings in output modes "
                                  f"{', '.join(OUTPUT_MODES)}. Received: output_mode={layer.output_mode!r}, "
                                  f"invert={layer.invert}")
            if layer.output_mode != "int" and len(shape) != 2:
                raise ExportError(f"{where}: in output_mode={layer.output_mode!r} it needs inputs of shape "
                                  f"(batch, n). Received: {shape}")
        try:
            text = layer.text_spec()
        except ValueError as exc:
            raise ExportError(str(exc)) from None
        shape[0] = graph.node(graph.inputs[i]).shape[0]
        texts[i] = {**text, "input_shape": shape}
    return texts


def _is_int(value, low=0):
    return type(value) is int and value >= low


def check_text(manifest, fail):
    """Validate every ``inputs[i].text`` of a parsed manifest (whose ``inputs`` are already checked)."""
    for i, signature in enumerate(manifest["inputs"]):
        if "text" in signature:
            _check_one(signature["text"], signature, f"inputs[{i}].text", fail)


def _check_one(text, signature, where, fail):
    if not isinstance(text, dict):
        fail(where, f"must be an object. Received: {type(text).__name__}")
    field = lambda key: f"{where}.{key}"  # noqa: E731
    for key, allowed in (("standardize", STANDARDIZE), ("split", SPLIT), ("output_mode", OUTPUT_MODES)):
        value = text.get(key)
        if not (value in allowed or (value is None and key != "output_mode")):
            fail(field(key), f"must be one of {', '.join(allowed)}{'' if key == 'output_mode' else ' or null'}. "
                             f"Received: {value!r}")
    ngrams = text.get("ngrams")
    if ngrams is not None and not (isinstance(ngrams, list) and ngrams and all(_is_int(w, 1) for w in ngrams)):
        fail(field("ngrams"), f"must be null or a non-empty list of positive integers. Received: {ngrams!r}")
    vocabulary = text.get("vocabulary")
    if not isinstance(vocabulary, list) or not all(isinstance(t, str) for t in vocabulary):
        fail(field("vocabulary"), "must be a list of strings")
    start = text.get("token_start")
    if not _is_int(start) or start > len(vocabulary):
        fail(field("token_start"), f"must be an integer in [0, {len(vocabulary)}]. Received: {start!r}")
    if len(set(vocabulary[start:])) != len(vocabulary) - start:
        fail(field("vocabulary"), "repeats a token")
    mask = text.get("mask_token")
    mode = text["output_mode"]
    if mask is not None and (not isinstance(mask, str) or (mode == "int" and (start < 1 or vocabulary[0] != mask))):
        fail(field("mask_token"), f"must be null or a string (in int mode, vocabulary[0]). Received: {mask!r}")
    oov = text.get("oov_index")
    if oov is not None and not (_is_int(oov) and oov < start):
        fail(field("oov_index"), f"must be null or an integer below token_start ({start}). Received: {oov!r}")
    length = text.get("output_sequence_length")
    if length is not None and (mode != "int" or not _is_int(length, 1)):
        fail(field("output_sequence_length"), f"must be null, or a positive integer in int mode. Received: {length!r}")
    raw = text.get("input_shape")
    if not (isinstance(raw, list) and len(raw) in (1, 2) and (raw[0] is None or _is_int(raw[0], 1))
            and all(_is_int(d, 1) for d in raw[1:]) and (text.get("split") is None or raw[1:] in ([], [1]))):
        fail(field("input_shape"), f"must be [batch] or [batch, n] (n = 1 when splitting). Received: {raw!r}")
    depth, idf = text.get("depth"), text.get("idf_weights")
    if mode == "int":
        expected = raw if text.get("split") is None and length is None else [raw[0], length]
        if depth is not None or idf is not None:
            fail(field("depth" if depth is not None else "idf_weights"), "must be null in int mode")
        dtype = "int32"
    else:
        if not _is_int(depth, max(len(vocabulary), 1)):
            fail(field("depth"), f"must be an integer >= the vocabulary size ({len(vocabulary)}). Received: {depth!r}")
        if (idf is None) != (mode != "tf_idf") or (idf is not None and not (
                isinstance(idf, list) and len(idf) == depth and all(
                    isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w) for w in idf))):
            fail(field("idf_weights"), f"must be {depth} finite numbers in tf_idf mode, else null")
        expected, dtype = [raw[0], depth], "float32"
    if signature.get("shape") != expected or signature.get("dtype") != dtype:
        fail(where, f"gives ids of shape {expected} and dtype {dtype}, but the input is "
                    f"{signature.get('shape')} {signature.get('dtype')}")
