"""``plot_model``: a drawing of a model's layer graph, written as SVG (or HTML holding it) without Graphviz;
other formats (PNG, PDF) are drawn from the same layout with matplotlib.

Layout: each call of a layer is a box; a box's rank is the longest path from an input (an input itself sits
one rank above its first consumer), so every edge points down (``rankdir="TB"``) or right (``"LR"``). Boxes of
a rank are ordered by the mean position of their parents (one barycentre pass), which keeps simple branches
from crossing; an edge that skips ranks goes around the boxes between.
"""
import html
import os
import xml.etree.ElementTree as ET

CHAR_WIDTH, LINE_HEIGHT, PADDING, GAP = 7.6, 16, 9, 36  # pixels, for 12px monospace text
_SVG = "http://www.w3.org/2000/svg"


def _shape_text(shapes):
    shapes = [s for s in shapes if s is not None]
    if not shapes:
        return "?"
    text = [("(" + ", ".join(str(d) for d in s) + ("," if len(s) == 1 else "") + ")") for s in shapes]
    return text[0] if len(text) == 1 else "[" + ", ".join(text) + "]"


def _as_list(shape):
    return shape if isinstance(shape, list) else [shape]


def layer_graph(model):
    """``(calls, edges)``: per layer call ``(layer, input shapes, output shapes)`` in topological order, and
    ``(from, to)`` index pairs. Sequential and functional models only (a subclassed model has no graph)."""
    from pyml.models.functional import Functional
    from pyml.models.sequential import Sequential

    if isinstance(model, Sequential):
        chain = ([model._input_layer] if model._input_layer is not None else []) + list(model.layers)
        calls, previous = [], None
        for layer in chain:
            out = _as_list(getattr(layer, "_summary_output_shape", None))
            calls.append((layer, previous if previous is not None else out, out))
            previous = out
        return calls, [(i, i + 1) for i in range(len(calls) - 1)]
    if isinstance(model, Functional):
        nodes = model._input_nodes() + [node for node in model._nodes if node.inputs is not None]
        made_by = {id(t): i for i, node in enumerate(nodes) for t in node.outputs}
        calls = [(node.layer, [t.shape for t in (node.input_tensors() or node.outputs)],
                  [t.shape for t in node.outputs]) for node in nodes]
        edges = list(dict.fromkeys((made_by[id(t)], j) for j, node in enumerate(nodes) for t in node.input_tensors()))
        return calls, edges
    raise ValueError("plot_model draws Sequential and functional models; a subclassed model has no layer graph. "
                     f"Received: a {type(model).__name__}")


def _labels(layer, input_shapes, output_shapes, show_shapes, show_dtype, show_layer_names, show_layer_activations,
            show_trainable):
    lines = [f"{layer.name} ({type(layer).__name__})" if show_layer_names else type(layer).__name__]
    if show_layer_activations:
        activation = layer.get_config().get("activation")
        if isinstance(activation, str):
            lines.append(f"Activation: {activation}")
    if show_dtype:
        lines.append(f"dtype: {getattr(layer, 'dtype', '?')}")
    if show_shapes:
        lines += [f"Input shape: {_shape_text(input_shapes)}", f"Output shape: {_shape_text(output_shapes)}"]
    if show_trainable:
        lines.append(f"Trainable: {layer.trainable}")
    return lines


def layout(calls, edges, lines, rankdir="TB"):
    """Boxes ``{"x", "y", "width", "height", "lines", "layer"}``, edges as lists of pixel points (from the
    parent's side to the child's), and the drawing's ``(width, height)``."""
    parents = {j: [i for i, k in edges if k == j] for j in range(len(calls))}
    rank = []
    for j in range(len(calls)):  # calls are in topological order: parents are ranked first
        rank.append(1 + max((rank[i] for i in parents[j]), default=-1))
    for i in range(len(calls)):  # a second input sits just above its first consumer, not at the top
        children = [rank[k] for j, k in edges if j == i]
        if not parents[i] and children:
            rank[i] = min(children) - 1
    sizes = [(max(len(t) for t in text) * CHAR_WIDTH + 2 * PADDING, len(text) * LINE_HEIGHT + 2 * PADDING)
             for text in lines]
    across = 0 if rankdir == "TB" else 1  # the axis along which boxes of one rank sit side by side
    position = {}
    rows = [[j for j in range(len(calls)) if rank[j] == r] for r in range(max(rank, default=-1) + 1)]
    for row in rows:  # order a rank by its boxes' mean parent position (children of one parent stay together)
        row.sort(key=lambda j: (sum(position[i] for i in parents[j]) / len(parents[j]) if parents[j] else 0, j))
        for order, j in enumerate(row):
            position[j] = order
    boxes = [None] * len(calls)
    depth = 0
    extents = [sum(sizes[j][across] for j in row) + GAP * (len(row) - 1) for row in rows]
    widest = max(extents, default=0)
    for row, extent in zip(rows, extents):  # each rank centred across the widest one
        thickness = max((sizes[j][1 - across] for j in row), default=0)
        offset = (widest - extent) / 2
        for j in row:
            width, height = sizes[j]
            along, side = (offset, depth + (thickness - sizes[j][1 - across]) / 2)
            x, y = (along, side) if rankdir == "TB" else (side, along)
            boxes[j] = {"x": x + GAP, "y": y + GAP, "width": width, "height": height, "lines": lines[j],
                        "layer": calls[j][0].name}
            offset += sizes[j][across] + GAP
        depth += thickness + GAP
    routes = []
    for i, j in edges:
        a, b = boxes[i], boxes[j]
        if rankdir == "TB":
            start, end = (a["x"] + a["width"] / 2, a["y"] + a["height"]), (b["x"] + b["width"] / 2, b["y"])
        else:
            start, end = (a["x"] + a["width"], a["y"] + a["height"] / 2), (b["x"], b["y"] + b["height"] / 2)
        between = [boxes[k] for row in rows[rank[i] + 1:rank[j]] for k in row]
        if not between:
            routes.append([start, end])
            continue
        # a skip connection goes around the boxes of the ranks it jumps (to their right, or below for "LR")
        if rankdir == "TB":
            side = max(box["x"] + box["width"] for box in between) + GAP / 2
            routes.append([start, (side, start[1] + GAP / 2), (side, end[1] - GAP / 2), end])
        else:
            side = max(box["y"] + box["height"] for box in between) + GAP / 2
            routes.append([start, (start[0] + GAP / 2, side), (end[0] - GAP / 2, side), end])
    corners = [(box["x"] + box["width"], box["y"] + box["height"]) for box in boxes] + [p for r in routes for p in r]
    size = (max((c[0] for c in corners), default=0) + GAP, max((c[1] for c in corners), default=0) + GAP)
    return boxes, routes, size


def to_svg(boxes, edges, size, title):
    """The drawing as an SVG document string (text is real text: searchable, selectable)."""
    ET.register_namespace("", _SVG)
    svg = ET.Element(f"{{{_SVG}}}svg", {"width": f"{size[0]:.0f}", "height": f"{size[1]:.0f}",
                                         "viewBox": f"0 0 {size[0]:.0f} {size[1]:.0f}", "font-family": "monospace",
                                         "font-size": "12"})
    ET.SubElement(svg, f"{{{_SVG}}}title").text = title
    marker = ET.SubElement(ET.SubElement(svg, f"{{{_SVG}}}defs"), f"{{{_SVG}}}marker", {
        "id": "arrow", "viewBox": "0 0 10 10", "refX": "10", "refY": "5", "markerWidth": "8", "markerHeight": "8",
        "orient": "auto-start-reverse"})
    ET.SubElement(marker, f"{{{_SVG}}}path", {"d": "M 0 0 L 10 5 L 0 10 z", "fill": "#555"})
    for route in edges:
        path = "M " + " L ".join(f"{x:.1f} {y:.1f}" for x, y in route)
        ET.SubElement(svg, f"{{{_SVG}}}path", {"d": path, "fill": "none", "stroke": "#555",
                                                "marker-end": "url(#arrow)"})
    for box in boxes:
        group = ET.SubElement(svg, f"{{{_SVG}}}g", {"class": "layer", "data-layer": box["layer"]})
        ET.SubElement(group, f"{{{_SVG}}}title").text = box["layer"]
        ET.SubElement(group, f"{{{_SVG}}}rect", {
            "x": f"{box['x']:.1f}", "y": f"{box['y']:.1f}", "width": f"{box['width']:.1f}",
            "height": f"{box['height']:.1f}", "rx": "4", "fill": "#eef3fb", "stroke": "#3a5f9f"})
        for k, text in enumerate(box["lines"]):
            line = ET.SubElement(group, f"{{{_SVG}}}text", {
                "x": f"{box['x'] + PADDING:.1f}", "y": f"{box['y'] + PADDING + (k + 0.75) * LINE_HEIGHT:.1f}",
                "font-weight": "bold" if k == 0 else "normal"})
            line.text = text
    return ET.tostring(svg, encoding="unicode")


def _draw_matplotlib(boxes, edges, size, path, dpi):
    from pyml.utils.plotting import matplotlib_figure

    pixels_per_inch = 96  # the layout's pixel unit; dpi scales the file
    figure = matplotlib_figure(size[0] / pixels_per_inch, size[1] / pixels_per_inch, pixels_per_inch)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, size[0])
    axes.set_ylim(size[1], 0)
    axes.axis("off")
    from matplotlib.patches import FancyArrowPatch, Rectangle

    for route in edges:
        if len(route) > 2:
            axes.plot([x for x, _ in route[:-1]], [y for _, y in route[:-1]], color="#555", linewidth=1)
        axes.add_patch(FancyArrowPatch(route[-2], route[-1], arrowstyle="-|>", mutation_scale=12, color="#555"))
    points = 12 * 72 / pixels_per_inch  # 12px text
    for box in boxes:
        axes.add_patch(Rectangle((box["x"], box["y"]), box["width"], box["height"], facecolor="#eef3fb",
                                 edgecolor="#3a5f9f"))
        for k, text in enumerate(box["lines"]):
            axes.text(box["x"] + PADDING, box["y"] + PADDING + (k + 0.5) * LINE_HEIGHT, text, family="monospace",
                      fontsize=points, va="center", weight="bold" if k == 0 else "normal")
    figure.savefig(path, dpi=dpi)


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False, show_layer_names=False,
               rankdir="TB", dpi=200, show_layer_activations=False, show_trainable=False):
    """Draw ``model``'s layer graph to ``to_file`` (Keras ``plot_model``, without Graphviz).

    ``.svg`` and ``.html`` (an HTML page holding the SVG) are written directly; other suffixes (``.png``,
    ``.pdf``) are drawn with matplotlib (``pip install matplotlib``). A layer called twice (shared) gets a box
    per call. Sequential and functional models, with branches and merges; not subclassed models.

    Args:
        model: a built Sequential or functional model.
        to_file: output path; its suffix picks the format.
        show_shapes: add each call's input and output shapes.
        show_dtype: add each layer's dtype.
        show_layer_names: title boxes ``name (Class)`` rather than ``Class``.
        rankdir: ``"TB"`` (top to bottom) or ``"LR"`` (left to right).
        dpi: resolution of matplotlib formats.
        show_layer_activations: add the ``activation`` of layers that have one.
        show_trainable: add whether each layer is trainable.

    Returns:
        ``to_file``.

        >>> import tempfile
        >>> inputs = pyml.Input(shape=(4,), name="features")
        >>> model = pyml.Model(inputs, pyml.layers.Dense(2, name="head")(inputs))
        >>> svg = open(pyml.utils.plot_model(model, tempfile.mktemp(suffix=".svg"), show_layer_names=True)).read()
        >>> "features (InputLayer)" in svg and "head (Dense)" in svg
        True
    """
    if rankdir not in ("TB", "LR"):
        raise ValueError(f'rankdir must be "TB" or "LR". Received: rankdir={rankdir!r}')
    calls, edges = layer_graph(model)
    lines = [_labels(layer, ins, outs, show_shapes, show_dtype, show_layer_names, show_layer_activations,
                     show_trainable) for layer, ins, outs in calls]
    boxes, arrows, size = layout(calls, edges, lines, rankdir)
    suffix = os.path.splitext(str(to_file))[1].lower()
    if suffix in (".svg", ".html", ".htm"):
        svg = to_svg(boxes, arrows, size, model.name)
        if suffix != ".svg":
            svg = (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(model.name)}</title></head>'
                   f"<body>\n{svg}\n</body></html>\n")
        with open(to_file, "w", encoding="utf-8") as file:
            file.write(svg)
    else:
        _draw_matplotlib(boxes, arrows, size, to_file, dpi)
    return to_file
