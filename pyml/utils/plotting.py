"""``plot_history``: training curves from ``fit``'s History, drawn with matplotlib (an optional dependency).

The figure is drawn on matplotlib's Agg canvas directly (no ``pyplot``), so it needs no display and leaves
pyplot's global figures alone.
"""
import math


def matplotlib_figure(width, height, dpi):
    """A matplotlib ``Figure`` of ``width x height`` inches on an Agg canvas, or an ImportError saying how to
    install matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError("Plotting needs matplotlib: pip install matplotlib (or pip install 'pyml[plots]')") from error
    figure = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(figure)
    return figure


def plot_history(history, path=None, metrics=None, columns=3, panel_size=(4.0, 3.0), dpi=100):
    """One panel per metric of a ``History`` (``loss``, ``accuracy``...) against the epoch, with its ``val_``
    curve dashed in the same panel; saved to ``path`` when given (format from its suffix: png, svg, pdf).

    Args:
        history: what ``fit`` returns, or its ``history`` dict (``{"loss": [...], "val_loss": [...]}``).
        path: file to write, or None.
        metrics: names to plot (default: every name in the history, ``val_`` prefixes dropped, in order).
        columns: panels per row.
        panel_size: ``(width, height)`` of one panel in inches.
        dpi: pixels per inch: a PNG is ``columns * panel_size[0] * dpi`` pixels wide (fewer columns when there
            are fewer panels) and ``rows * panel_size[1] * dpi`` high.

    Returns:
        The matplotlib ``Figure``.

        >>> figure = pyml.utils.plot_history({"loss": [1.0, 0.5], "val_loss": [1.2, 0.7], "mae": [0.9, 0.4]})
        >>> [axes.get_title() for axes in figure.axes], [line.get_label() for line in figure.axes[0].lines]
        (['loss', 'mae'], ['loss', 'val_loss'])
    """
    logs = history.history if hasattr(history, "history") else dict(history)
    names = list(metrics) if metrics is not None else list(dict.fromkeys(  # one panel for "loss" and "val_loss"
        key[4:] if key.startswith("val_") else key for key in logs))
    missing = [name for name in names if name not in logs and f"val_{name}" not in logs]
    if not names or missing:
        raise ValueError(f"plot_history: nothing to plot for {missing or 'an empty history'}. "
                         f"Received: history keys {sorted(logs)}")
    columns = max(1, min(columns, len(names)))
    rows = math.ceil(len(names) / columns)
    figure = matplotlib_figure(columns * panel_size[0], rows * panel_size[1], dpi)
    for index, name in enumerate(names):
        axes = figure.add_subplot(rows, columns, index + 1)
        for key, style in ((name, "-"), (f"val_{name}", "--")):
            if key in logs:
                values = list(logs[key])
                axes.plot(range(1, len(values) + 1), values, style, marker="o" if len(values) < 2 else None,
                          label=key)
        axes.set_title(name)
        axes.set_xlabel("epoch")
        axes.grid(alpha=0.3)
        axes.legend()
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=dpi)
    return figure
