"""Recurrent layers (Keras 3): the generic ``RNN(cell)`` and ``SimpleRNN``, ``LSTM``, ``GRU``.

``RNN`` runs a cell over the time axis of ``(batch, timesteps, features)`` inputs. Built-in cells (and stacks of
them) run as one ``rnn_scan`` primitive per cell: the input projection of all steps is one matmul, the loop one
kernel (and one exported dispatch per step), its gradient one BPTT kernel. Any other cell — your own, or a
built-in one with ``recurrent_dropout`` while training — runs as a Python loop calling the cell's
``call(inputs, states)`` once per step in ordinary ops: slower, equally correct, and it trains.

Masks (``mask=``, ``(batch, timesteps)``, True/1 for real steps): a masked step carries every state unchanged
and outputs the carried state (zeros with ``zero_output_for_mask=True``, which ``Bidirectional`` sets when it
returns sequences, as Keras does); the last output is the last unmasked step's.

    >>> layer = pyml.layers.LSTM(8, return_sequences=True, return_state=True)
    >>> seq, h, c = layer(np.ones((2, 5, 3), "float32"))
    >>> seq.shape, h.shape, [w.shape for w in layer.get_weights()]
    ((2, 5, 8), (2, 8), [(3, 32), (8, 32), (32,)])
"""
from pyml import ops
from pyml.checks import boolean
from pyml.layers.base import InputSpec, Layer
from pyml.layers.rnn_cells import GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells, _Cell, initial_states


def prefix_weights(layer, prefix):
    """Name a sublayer's variables ``"<prefix>/<name>"`` (Keras paths: ``lstm/lstm_cell/kernel``), so weights of
    nested layers are unique and say where they live."""
    for variable in layer.weights:
        if not variable.name.startswith(prefix + "/"):
            variable.name = f"{prefix}/{variable.name}"


def _scan_cells(cell):
    """The built-in cells ``cell`` stands for, in order, when rnn_scan can run them all; else None."""
    cells = cell.cells if isinstance(cell, StackedRNNCells) else [cell]
    if all(isinstance(c, _Cell) and c.scan_activation_names() is not None for c in cells):
        return cells
    return None


def _flatten(states):
    return [s for x in states for s in (_flatten(x) if isinstance(x, (list, tuple)) else [x])]


def _blend(m, new, old):
    """``new`` where the step is real, ``old`` where masked (``m`` is ``(batch, 1)``), for nested states."""
    if isinstance(new, (list, tuple)):
        return [_blend(m, n, o) for n, o in zip(new, old)]
    return m * new + (1 - m) * old


class RNN(Layer):
    """Runs a recurrent ``cell`` over the timesteps of its input.

    Args:
        cell: a cell (``LSTMCell``, ``GRUCell``, ``SimpleRNNCell``, your own layer with ``call(inputs, states)``
            returning ``(output, new_states)`` and a ``state_size``), or a list of cells (a ``StackedRNNCells``).
        return_sequences: return every step's output ``(batch, timesteps, units)`` rather than the last.
        return_state: also return the final states (``output, *states``).
        go_backwards: process the steps last to first; returned sequences are in processing order.
        stateful: only False (states persisting across batches are not supported).
        unroll: accepted for Keras compatibility; the numbers are the same either way.
        zero_output_for_mask: masked steps output zeros instead of the carried state.

    Call arguments: ``sequences``; ``initial_state`` (a list of ``(batch, size)`` states); ``mask``
    (``(batch, timesteps)``); ``training``.

    >>> class MinimalCell(pyml.layers.Layer):
    ...     state_size = 4
    ...     def build(self, input_shape):
    ...         self.w = self.add_weight(shape=(input_shape[-1], 4), name="w")
    ...     def call(self, inputs, states):
    ...         h = pyml.ops.tanh(inputs @ self.w + states[0])
    ...         return h, [h]
    >>> pyml.layers.RNN(MinimalCell())(np.ones((2, 5, 3), "float32")).shape
    (2, 4)
    """

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, zero_output_for_mask=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        if not callable(getattr(cell, "call", None)) or getattr(cell, "state_size", None) is None:
            raise ValueError(f"{type(self).__name__} expects a cell with a `call(inputs, states)` method and a "
                             f"`state_size`. Received: cell={cell!r}")
        if stateful:
            raise ValueError(f"{type(self).__name__} does not support stateful=True (states kept across batches); "
                             "pass the previous final states as initial_state instead. Received: stateful=True")
        self.cell = cell
        self.return_sequences = boolean(self, "return_sequences", return_sequences)
        self.return_state = boolean(self, "return_state", return_state)
        self.go_backwards = boolean(self, "go_backwards", go_backwards)
        self.stateful = False
        self.unroll = boolean(self, "unroll", unroll)
        self.zero_output_for_mask = boolean(self, "zero_output_for_mask", zero_output_for_mask)
        self.supports_masking = True
        self.input_spec = InputSpec(ndim=3)

    def build(self, sequences_shape, initial_state_shape=None):
        if len(sequences_shape) != 3:
            raise ValueError(f'Layer "{self.name}" ({type(self).__name__}) expects inputs of shape (batch, timesteps, '
                             f"features). Received: input shape {tuple(sequences_shape)}")
        if not self.cell.built:
            self.cell.build((sequences_shape[0], sequences_shape[2]))
            self.cell.built = True
        prefix_weights(self.cell, self.name)

    # ---- calling -------------------------------------------------------------------------------------------
    def call(self, sequences, initial_state=None, mask=None, training=None):
        batch, steps = sequences.shape[0], sequences.shape[1]
        mask = self._check_mask(mask, batch, steps)
        states = self._initial_states(initial_state, batch)
        cells = _scan_cells(self.cell)
        try:
            if cells is not None and not (training and any(c.recurrent_dropout > 0 for c in cells)):
                sequence, last, states = self._scan(cells, sequences, states, mask, training)
            else:
                sequence, last, states = self._loop(sequences, states, mask, training)
        finally:
            for cell in (self.cell.cells if isinstance(self.cell, StackedRNNCells) else [self.cell]):
                getattr(cell, "clear_masks", lambda: None)()
        if mask is not None and self.zero_output_for_mask and self.return_sequences:
            sequence = sequence * ops.expand_dims(self._in_processing_order(mask), 2)
        output = sequence if self.return_sequences else last
        return (output, *states) if self.return_state else output

    def _in_processing_order(self, values):
        return values[:, ::-1] if self.go_backwards else values

    def _scan(self, cells, sequences, states, mask, training):
        """One rnn_scan per cell; a later cell of a stack reads the previous one's outputs in processing order."""
        x, finals, stacked = sequences, [], isinstance(self.cell, StackedRNNCells)
        for i, (cell, state) in enumerate(zip(cells, states if stacked else [states])):
            first = i == 0
            cell.ensure_masks(x[:, 0], state[0], training)
            activation, recurrent_activation = cell.scan_activation_names()
            out = ops.rnn_scan(
                cell.scan_cell, cell.input_projection(x, training), cell.recurrent_kernel, *state,
                recurrent_bias=cell.recurrent_bias() if cell.scan_cell == "gru" else None,
                mask=mask if first or mask is None else self._in_processing_order(mask),
                activation=activation, recurrent_activation=recurrent_activation,
                go_backwards=self.go_backwards and first, reset_after=getattr(cell, "reset_after", False))
            H = cell.units
            x = out[:, :, :H]
            finals.append([out[:, -1, :H]] + ([out[:, -1, H:]] if cell.scan_cell == "lstm" else []))
        # the last output as one slice of out (not x[:, -1]): its gradient is then one pad, not two
        return x, finals[-1][0], finals if stacked else finals[0]

    def _loop(self, sequences, states, mask, training):
        """The cell's own ``call``, once per step (Keras's ``backend.rnn`` without unrolling)."""
        steps = sequences.shape[1]
        kwargs = {"training": training} if self.cell._call_accepts_training() else {}
        outputs = []
        for k in range(steps):
            t = steps - 1 - k if self.go_backwards else k
            output, new_states = self.cell(sequences[:, t], states, **kwargs)
            new_states = list(new_states) if isinstance(new_states, (list, tuple)) else [new_states]
            if mask is not None:
                m = mask[:, t:t + 1]
                output = _blend(m, output, _flatten(states)[0] if not isinstance(self.cell, StackedRNNCells)
                                else states[-1][0])  # Keras: a masked step outputs the previous (last) h
                new_states = _blend(m, new_states, states)
            states = new_states
            outputs.append(output)
        sequence = ops.stack(outputs, axis=1)
        return sequence, outputs[-1], states

    def _check_mask(self, mask, batch, steps):
        if mask is None:
            return None
        if isinstance(mask, (list, tuple)):  # Keras passes one mask per input; the sequences' comes first
            mask = mask[0]
        mask = ops.convert_to_tensor(mask)
        if tuple(mask.shape) != (batch, steps):
            raise ValueError(f'Layer "{self.name}" ({type(self).__name__}): the mask must have shape (batch, timesteps) '
                             f"= {(batch, steps)}, as the inputs. Received: mask shape {tuple(mask.shape)}")
        return ops.cast(mask, self.dtype)

    def _initial_states(self, initial_state, batch):
        if initial_state is None:
            return initial_states(self.cell, batch, self.dtype)
        given = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        expected = initial_states(self.cell, batch, self.dtype)
        if isinstance(self.cell, StackedRNNCells) and len(given) == len(_flatten(expected)) != len(expected):
            it = iter(given)  # a flat list for a stack: regroup per cell
            given = [[next(it) for _ in cell_states] for cell_states in expected]
        flat_given, flat_expected = _flatten(given), _flatten(expected)
        shapes = [tuple(s.shape) for s in flat_expected]
        if len(flat_given) != len(flat_expected) or any(tuple(getattr(g, "shape", ())) != s
                                                        for g, s in zip(flat_given, shapes)):
            raise ValueError(f'Layer "{self.name}" ({type(self).__name__}) expects initial_state as {len(shapes)} '
                             f"states of shapes {shapes}. Received: shapes "
                             f"{[tuple(getattr(g, 'shape', ())) for g in flat_given]}")
        convert = lambda s: self._to_tensor(s)  # noqa: E731
        return [[convert(s) for s in c] for c in given] if isinstance(self.cell, StackedRNNCells) else \
            [convert(s) for s in given]

    def compute_mask(self, inputs, mask=None):
        """The output mask (Keras): the input mask when returning sequences, else None; None for each state."""
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            states = len(_flatten(self.cell.state_size)) if isinstance(self.cell.state_size, (list, tuple)) else 1
            return [output_mask] + [None] * states
        return output_mask

    def get_config(self):
        from pyml.layers.serialization import serialize

        return {**super().get_config(), "return_sequences": self.return_sequences, "return_state": self.return_state,
                "go_backwards": self.go_backwards, "stateful": self.stateful, "unroll": self.unroll,
                "zero_output_for_mask": self.zero_output_for_mask, "cell": serialize(self.cell)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from pyml.layers.serialization import deserialize

        config = dict(config)
        return cls(deserialize(config.pop("cell"), custom_objects), **config)


_LAYER_ARGS = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll", "zero_output_for_mask")
_BASE_ARGS = ("name", "trainable", "dtype", "input_shape", "batch_size", "activity_regularizer")


class _BuiltinRNN(RNN):
    """SimpleRNN/LSTM/GRU: an RNN over its own cell, configured by the cell's arguments (flat Keras config)."""

    cell_class = cell_name = None  # the cell's class and its name in weight paths (Keras: lstm/lstm_cell/kernel)

    def __init__(self, units, **kwargs):
        layer_args = {k: kwargs.pop(k) for k in _LAYER_ARGS if k in kwargs}
        base_args = {k: kwargs.pop(k) for k in _BASE_ARGS if k in kwargs}
        kwargs.pop("use_cudnn", None)  # a Keras backend switch: nothing to choose here
        cell = self.cell_class(units, name=self.cell_name, dtype=base_args.get("dtype"), **kwargs)
        super().__init__(cell, **layer_args, **base_args)

    def __getattr__(self, name):  # Keras exposes the cell's arguments on the layer (layer.units, ...)
        cell = self.__dict__.get("cell")
        if cell is None or name.startswith("_"):
            raise AttributeError(name)
        return getattr(cell, name)

    def get_config(self):
        config = super().get_config()
        cell = config.pop("cell")["config"]
        for key in ("name", "trainable", "dtype"):
            cell.pop(key)
        return {**config, **cell}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)


class SimpleRNN(_BuiltinRNN):
    """Fully connected RNN: ``h_t = activation(x_t @ kernel + bias + h_{t-1} @ recurrent_kernel)``.

    Args: ``units``, then ``SimpleRNNCell``'s arguments (activation, use_bias, initializers, dropout,
    recurrent_dropout, seed) and ``RNN``'s (return_sequences, return_state, go_backwards, unroll, ...).

    >>> pyml.layers.SimpleRNN(4)(np.ones((2, 5, 3), "float32")).shape
    (2, 4)
    """

    cell_class, cell_name = SimpleRNNCell, "simple_rnn_cell"


class LSTM(_BuiltinRNN):
    """Long short-term memory (Hochreiter 1997), Keras gate order ``i, f, c, o``; weights
    ``kernel (features, 4*units)``, ``recurrent_kernel (units, 4*units)``, ``bias (4*units,)``.

    Args: ``units``, then ``LSTMCell``'s arguments (activation, recurrent_activation, use_bias, initializers,
    unit_forget_bias, dropout, recurrent_dropout, seed) and ``RNN``'s.

    >>> pyml.layers.LSTM(4, go_backwards=True)(np.ones((2, 5, 3), "float32")).shape
    (2, 4)
    """

    cell_class, cell_name = LSTMCell, "lstm_cell"


class GRU(_BuiltinRNN):
    """Gated recurrent unit (Cho 2014), Keras gate order ``z, r, h``; ``reset_after=True`` (default) has bias
    ``(2, 3*units)`` (input and recurrent), ``reset_after=False`` bias ``(3*units,)``.

    Args: ``units``, then ``GRUCell``'s arguments and ``RNN``'s.

    >>> layer = pyml.layers.GRU(4)
    >>> layer(np.ones((2, 5, 3), "float32")).shape, layer.get_weights()[2].shape
    ((2, 4), (2, 12))
    """

    cell_class, cell_name = GRUCell, "gru_cell"
