"""pyml's exception types. Each message names the op, layer, file or field that was wrong."""


class OpError(ValueError):
    """Bad input to a primitive or composite op: the message names the op and the shapes, axes or dtypes."""

    def __init__(self, op, message):
        self.op = op
        super().__init__(f"{op}: {message}")
