"""``model.summary()``: the Keras table of layers, output shapes and parameter counts.

    Model: "sequential"
    ┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
    ┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
    ┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
    │ dense (Dense)                   │ (None, 64)             │         4,160 │
    ├─────────────────────────────────┼────────────────────────┼───────────────┤
    │ dense_1 (Dense)                 │ (None, 10)             │           650 │
    └─────────────────────────────────┴────────────────────────┴───────────────┘
     Total params: 4,810 (18.79 KB)
     Trainable params: 4,810 (18.79 KB)
     Non-trainable params: 0 (0.00 B)
"""
import math

_ITEMSIZE = {"float32": 4, "float64": 8, "int32": 4, "bool": 1}


def format_bytes(size):
    """``18.79 KB``: a byte count in B, KB, MB or GB (powers of 1024), as Keras' summary shows it."""
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}"
        size /= 1024


def _shape_text(shape):
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return ", ".join(_shape_text(s) for s in shape)
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _rows(model):
    """(name (type), output shape, params) per layer; unbuilt layers show '?' and '0 (unbuilt)'."""
    rows = []
    for layer in model.layers:
        label = f"{layer.name} ({type(layer).__name__})"
        if not layer.built:
            rows.append((label, "?", "0 (unbuilt)"))
            continue
        shape = getattr(layer, "_summary_output_shape", None)
        rows.append((label, _shape_text(shape), f"{layer.count_params():,}"))
    return rows


def _weights_bytes(weights):
    return sum(math.prod(w.shape) * _ITEMSIZE.get(w.dtype, 4) for w in weights)


def print_summary(model, line_length=None, print_fn=None):
    """Print (or pass each line to ``print_fn``) the summary table of ``model``."""
    print_fn = print_fn or print
    widths = [31, 22, 13]
    if line_length:
        extra = max(0, line_length - sum(widths) - 10)
        widths[0] += extra // 2
        widths[1] += extra - extra // 2
    rows = _rows(model)
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row)]

    def line(left, mid, right, fill):
        return left + mid.join(fill * (w + 2) for w in widths) + right

    def cells(row, border):
        name, shape, params = row
        return (f"{border} {name:<{widths[0]}} {border} {shape:<{widths[1]}} {border} {params:>{widths[2]}} "
                f"{border}")

    lines = [f'Model: "{model.name}"', line("┏", "┳", "┓", "━"), cells(("Layer (type)", "Output Shape", "Param #"), "┃"),
             line("┡", "╇", "┩", "━")]
    for i, row in enumerate(rows):
        if i:
            lines.append(line("├", "┼", "┤", "─"))
        lines.append(cells(row, "│"))
    lines.append(line("└", "┴", "┘", "─"))
    trainable, frozen = model.trainable_weights, model.non_trainable_weights
    n_trainable = sum(math.prod(w.shape) for w in trainable)
    n_frozen = sum(math.prod(w.shape) for w in frozen)
    total_bytes = _weights_bytes(trainable) + _weights_bytes(frozen)
    lines += [f" Total params: {n_trainable + n_frozen:,} ({format_bytes(total_bytes)})",
              f" Trainable params: {n_trainable:,} ({format_bytes(_weights_bytes(trainable))})",
              f" Non-trainable params: {n_frozen:,} ({format_bytes(_weights_bytes(frozen))})"]
    for text in lines:
        print_fn(text)
