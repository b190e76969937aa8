"""The progress display of ``fit``, ``evaluate`` and ``predict``, as Keras prints it.

On a terminal (verbose=1) a bar redraws in place::

    12/12 ━━━━━━━━━━━━━━━━━━━━ 0s 3ms/step - accuracy: 0.9000 - loss: 0.3000

Elsewhere (CI logs, files, verbose=2) nothing is printed until the end, then one line::

    Epoch 1/5 - 12/12 - 0s 3ms/step - accuracy: 0.9000 - loss: 0.3000
"""
import sys
import time


def is_interactive():
    """Whether stdout is a terminal (or a notebook), where a redrawn bar makes sense."""
    stream = sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)()) or "ipykernel" in sys.modules


def format_value(value):
    """A log value as Keras prints it: 4 decimals, scientific notation below 1e-3; a vector value (e.g.
    ``F1Score(average=None)``) shows its mean, as Keras' progress bar does (History keeps the whole array)."""
    if hasattr(value, "ndim") and value.ndim > 0:
        value = float(value.mean())
    if isinstance(value, float) and value != 0 and abs(value) < 1e-3:
        return f"{value:.4e}"
    if isinstance(value, (int, float)):
        return f"{value:.4f}"
    return str(value)


def format_logs(logs):
    """``" - loss: 0.3000 - accuracy: 0.9000"``."""
    return "".join(f" - {key}: {format_value(value)}" for key, value in (logs or {}).items())


def format_time_per_step(seconds):
    """``"3ms/step"``: the time per step in s, ms or us."""
    if seconds >= 1:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


class Progbar:
    """Progress over ``target`` steps (None when unknown).

    Args:
        target: total steps, or None.
        verbose: 1 (live bar on a terminal, one final line elsewhere) or 2 (one final line).
        width: characters of the bar.
        prefix: text leading the final line when not interactive (e.g. ``"Epoch 1/5"``).
        interval: minimum seconds between redraws.
    """

    def __init__(self, target, verbose=1, width=20, prefix="", interval=0.05):
        self.target, self.verbose, self.width, self.prefix, self.interval = target, verbose, width, prefix, interval
        self.interactive = verbose == 1 and is_interactive()
        self.start = time.perf_counter()
        self.last_draw = 0.0
        self.current = 0

    def _bar(self, current):
        if self.target is None:
            return f"{current}/Unknown"
        done = int(self.width * min(current, self.target) / max(self.target, 1))
        digits = len(str(self.target))
        # green for the done part, dim for the rest, as Keras draws it
        return (f"{current:>{digits}}/{self.target} \x1b[32m{'━' * done}\x1b[0m"
                f"\x1b[37m{'━' * (self.width - done)}\x1b[0m")

    def _timing(self, current, final):
        elapsed = time.perf_counter() - self.start
        per_step = elapsed / max(current, 1)
        if final or self.target is None:
            return f"{elapsed:.0f}s {format_time_per_step(per_step)}"
        eta = per_step * (self.target - current)
        return f"{eta:.0f}s {format_time_per_step(per_step)}"

    def update(self, current, logs=None):
        """Show progress at step ``current`` with the running ``logs``."""
        self.current = current
        if not self.interactive:
            return
        now = time.perf_counter()
        if now - self.last_draw < self.interval and (self.target is None or current < self.target):
            return
        self.last_draw = now
        line = f"\r{self._bar(current)} {self._timing(current, False)}{format_logs(logs)}"
        sys.stdout.write(line + "\x1b[K")
        sys.stdout.flush()

    def finish(self, logs=None):
        """Print the final state: redraw the bar and end the line, or print the one summary line."""
        current = self.current if self.target is None else max(self.current, self.target)
        if self.interactive:
            sys.stdout.write(f"\r{self._bar(current)} {self._timing(current, True)}{format_logs(logs)}\x1b[K\n")
        else:
            steps = f"{current}/{self.target if self.target is not None else current}"
            head = f"{self.prefix} - " if self.prefix else ""
            sys.stdout.write(f"{head}{steps} - {self._timing(current, True)}{format_logs(logs)}\n")
        sys.stdout.flush()
