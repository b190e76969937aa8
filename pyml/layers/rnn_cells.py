"""Recurrent cells (Keras 3): ``SimpleRNNCell``, ``LSTMCell``, ``GRUCell`` and ``StackedRNNCells``.

A cell is one time step: ``output, new_states = cell(inputs, states)``, written in pyml ops. ``RNN`` runs a cell over
a sequence; for these built-in cells it runs the whole loop as one ``rnn_scan`` primitive instead (same numbers,
one kernel; see pyml/layers/rnn.py), and calls ``call`` step by step only where the primitive cannot express the
step (recurrent dropout while training). Weight layouts are Keras's, so Keras weights load unchanged:
``kernel (in, G*units)``, ``recurrent_kernel (units, G*units)``, ``bias`` — gate blocks LSTM ``i, f, c, o``,
GRU ``z, r, h`` (GRU's bias is ``(2, 3*units)`` with ``reset_after=True``: input bias, recurrent bias).

    >>> cell = pyml.layers.LSTMCell(4)
    >>> out, (h, c) = cell(np.ones((2, 3), "float32"), [np.zeros((2, 4), "float32")] * 2)
    >>> out.shape, [w.shape for w in cell.weights]
    ((2, 4), [(3, 16), (4, 16), (16,)])
"""
import numpy as np

from pyml import activations, initializers, ops, random
from pyml.checks import boolean
from pyml.graph.trace import host_value
from pyml.layers.base import Layer
from pyml.layers import weight_options
from pyml.layers.core import positive_int
from pyml.ops.recurrent import ACTIVATIONS
from pyml.tensor import Tensor


def _rate(cls, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{cls} expects {name} in [0, 1]. Received: {name}={value!r}")
    return float(value)


class DropoutRNNCellMixin:
    """Dropout masks drawn once per sequence and used at every step (Keras ``DropoutRNNCell``): drawn at the first
    step that needs them while training, cleared by ``RNN`` after its loop. With recurrent dropout each gate block
    gets its own masks (Keras's ``implementation=1``)."""

    _masks = None

    def ensure_masks(self, step_input, state, training):
        if training and self._masks is None and (self.dropout > 0 or self.recurrent_dropout > 0):
            count = self.gates if self.recurrent_dropout > 0 else 1
            self._masks = (self._draw(step_input, step_input.shape, self.dropout, count),
                           self._draw(step_input, state.shape, self.recurrent_dropout, count))

    def clear_masks(self):
        self._masks = None

    def _draw(self, like, shape, rate, count):
        # ``like`` is the step input: symbolic while tracing (so the mask becomes a host input drawn before every
        # run), where the initial state may be a constant
        if rate == 0:
            return None
        dtype = like.dtype

        def draw():
            keep = (self._generator or random.generator()).random(size=shape) >= rate
            return keep.astype(dtype) * (0.0 if rate == 1 else 1.0 / (1.0 - rate))

        return [host_value(like, shape, dtype, draw) for _ in range(count)]

    def _dropped(self, value, which, training, gate=0):
        masks = self._masks[which] if self._masks is not None and training else None
        return value if masks is None else value * masks[min(gate, len(masks) - 1)]


class _Cell(DropoutRNNCellMixin, Layer):
    """What the built-in cells share: arguments, weights and the ``rnn_scan`` description of the step."""

    scan_cell = None  # the rnn_scan cell name
    gates = 1

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", dropout=0.0, recurrent_dropout=0.0,
                 seed=None, kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        cls = type(self).__name__
        self.units = positive_int(cls, "units", units)
        self.activation = activations.get(activation)
        self.use_bias = boolean(self, "use_bias", use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        weight_options.set_options(self, kernel_regularizer=kernel_regularizer,
                                   recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
                                   kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
                                   bias_constraint=bias_constraint)
        self.dropout = _rate(cls, "dropout", dropout)
        self.recurrent_dropout = _rate(cls, "recurrent_dropout", recurrent_dropout)
        self.seed = seed
        self._generator = random.generator(seed) if seed is not None else None

    @property
    def state_size(self):
        return self.units

    @property
    def output_size(self):
        return self.units

    def build(self, input_shape):
        width = self.gates * self.units
        self.kernel = self.add_weight(shape=(input_shape[-1], width), initializer=self.kernel_initializer,
                                      name="kernel", **weight_options.options(self, "kernel"))
        self.recurrent_kernel = self.add_weight(shape=(self.units, width), initializer=self.recurrent_initializer,
                                                name="recurrent_kernel", **weight_options.options(self, "recurrent"))
        self.bias = self.add_weight(shape=self._bias_shape(), initializer=self._bias_init(), name="bias",
                                    **weight_options.options(self, "bias")) if self.use_bias else None

    def _bias_shape(self):
        return (self.gates * self.units,)

    def _bias_init(self):
        return self.bias_initializer

    def get_initial_state(self, batch_size=None):
        zeros = Tensor(np.zeros((batch_size, self.units), self.dtype))
        return [zeros] * (2 if self.scan_cell == "lstm" else 1)

    def scan_activation_names(self):
        """(activation, recurrent_activation) by name when rnn_scan can run them, else None (a Python step loop)."""
        names = (activations.serialize(self.activation),
                 activations.serialize(getattr(self, "recurrent_activation", activations.sigmoid)))
        return names if all(n in ACTIVATIONS for n in names) else None

    def input_projection(self, inputs, training):
        """``inputs @ kernel + input bias``, for one step or (3-D inputs) every step at once; input dropout
        applied (one mask per gate block with recurrent dropout, as Keras's ``implementation=1``)."""
        masks = self._masks[0] if self._masks is not None and training else None
        if masks is None:
            xp = ops.matmul(inputs, self.kernel)
        else:
            if inputs.ndim == 3:  # the same mask at every step
                masks = [ops.expand_dims(m, 1) for m in masks]
            width = self.kernel.shape[1] // len(masks)
            parts = [ops.matmul(inputs * m, self.kernel[:, k * width:(k + 1) * width]) for k, m in enumerate(masks)]
            xp = parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)
        bias = self.bias if not self.use_bias or self.bias.ndim == 1 else self.bias[0]
        return xp if bias is None else xp + bias

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout, "seed": self.seed,
                **weight_options.options_config(self, "kernel", "recurrent", "bias")}


class SimpleRNNCell(_Cell):
    """One step of a fully connected RNN: ``h = activation(x @ kernel + bias + h_prev @ recurrent_kernel)``.

    Args:
        units: size of the state and the output.
        activation: default ``"tanh"``.
        use_bias, kernel_initializer, recurrent_initializer (default ``"orthogonal"``), bias_initializer:
            as Keras.
        kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_constraint, recurrent_constraint,
            bias_constraint: penalties (``pyml.regularizers``) and projections (``pyml.constraints``) of the
            weights.
        dropout, recurrent_dropout: fractions of the inputs / the previous state dropped while training
            (one mask per sequence).
        seed: optional int for reproducible dropout masks.

    >>> out, [h] = pyml.layers.SimpleRNNCell(3)(np.ones((2, 5), "float32"), [np.zeros((2, 3), "float32")])
    >>> out.shape
    (2, 3)
    """

    scan_cell = "simple"

    def call(self, inputs, states, training=None):
        self.ensure_masks(inputs, states[0], training)
        h = self._dropped(states[0], 1, training)
        out = self.activation(self.input_projection(inputs, training) + ops.matmul(h, self.recurrent_kernel))
        return out, [out]


class LSTMCell(_Cell):
    """One LSTM step (Keras gate order ``i, f, c, o``):
    ``z = x @ kernel + bias + h_prev @ recurrent_kernel``; ``c = σ(z_f) c_prev + σ(z_i) act(z_c)``;
    ``h = σ(z_o) act(c)`` with σ the ``recurrent_activation``.

    Args:
        units: size of ``h`` and ``c``.
        activation: default ``"tanh"``; recurrent_activation: default ``"sigmoid"``.
        unit_forget_bias: start the forget gate's bias at 1 (default True, as Keras).
        Others as ``SimpleRNNCell``.

    >>> out, [h, c] = pyml.layers.LSTMCell(3)(np.ones((2, 5), "float32"), [np.zeros((2, 3), "float32")] * 2)
    >>> c.shape
    (2, 3)
    """

    scan_cell = "lstm"
    gates = 4

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        super().__init__(units, activation, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
                         dropout, recurrent_dropout, seed, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = boolean(self, "unit_forget_bias", unit_forget_bias)

    @property
    def state_size(self):
        return [self.units, self.units]

    def _bias_init(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        H, init = self.units, self.bias_initializer

        def unit_forget(shape, dtype="float32"):
            return np.concatenate([init((H,), dtype), np.ones((H,), dtype), init((2 * H,), dtype)])

        return unit_forget

    def call(self, inputs, states, training=None):
        h_prev, c_prev = states
        H = self.units
        self.ensure_masks(inputs, h_prev, training)
        xp = self.input_projection(inputs, training)
        if self.recurrent_dropout > 0 and training and self._masks is not None:
            rec = ops.concatenate([ops.matmul(self._dropped(h_prev, 1, training, k),
                                              self.recurrent_kernel[:, k * H:(k + 1) * H]) for k in range(4)], axis=1)
        else:
            rec = ops.matmul(h_prev, self.recurrent_kernel)
        z = xp + rec
        s = self.recurrent_activation
        c = s(z[:, H:2 * H]) * c_prev + s(z[:, :H]) * self.activation(z[:, 2 * H:3 * H])
        h = s(z[:, 3 * H:]) * self.activation(c)
        return h, [h, c]

    def get_config(self):
        return {**super().get_config(), "recurrent_activation": activations.serialize(self.recurrent_activation),
                "unit_forget_bias": self.unit_forget_bias}


class GRUCell(_Cell):
    """One GRU step (Keras gate order ``z, r, h``). With ``reset_after=True`` (default, cuDNN-compatible):
    ``rec = h_prev @ recurrent_kernel + bias[1]``; ``z = σ(x_z + rec_z)``; ``r = σ(x_r + rec_r)``;
    ``hh = act(x_h + r * rec_h)``; ``h = z h_prev + (1 - z) hh``. With ``reset_after=False`` the reset gate
    applies before the matmul: ``hh = act(x_h + (r h_prev) @ recurrent_kernel_h)`` and the bias is ``(3*units,)``.

    >>> cell = pyml.layers.GRUCell(3)
    >>> out, [h] = cell(np.ones((2, 5), "float32"), [np.zeros((2, 3), "float32")])
    >>> cell.bias.shape
    (2, 9)
    """

    scan_cell = "gru"
    gates = 3

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 dropout=0.0, recurrent_dropout=0.0, reset_after=True, seed=None, **kwargs):
        super().__init__(units, activation, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
                         dropout, recurrent_dropout, seed, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.reset_after = boolean(self, "reset_after", reset_after)

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def recurrent_bias(self):
        """Keras's ``bias[1]`` (reset_after with a bias), else None."""
        return self.bias[1] if self.use_bias and self.reset_after else None

    def call(self, inputs, states, training=None):
        h_prev, H = states[0], self.units
        self.ensure_masks(inputs, h_prev, training)
        u, s = self.recurrent_kernel, self.recurrent_activation
        x = self.input_projection(inputs, training)
        h_in = [self._dropped(h_prev, 1, training, k) for k in range(3)]  # one mask per gate (Keras impl. 1)
        rec_zr = ops.concatenate([ops.matmul(h_in[0], u[:, :H]), ops.matmul(h_in[1], u[:, H:2 * H])], axis=1)
        b_rec = self.recurrent_bias()
        if b_rec is not None:
            rec_zr = rec_zr + b_rec[:2 * H]
        z, r = s(x[:, :H] + rec_zr[:, :H]), s(x[:, H:2 * H] + rec_zr[:, H:])
        if self.reset_after:
            rec_h = ops.matmul(h_in[2], u[:, 2 * H:])
            rec_h = r * (rec_h if b_rec is None else rec_h + b_rec[2 * H:])
        else:
            rec_h = ops.matmul(r * h_in[2], u[:, 2 * H:])
        h = z * h_prev + (1 - z) * self.activation(x[:, 2 * H:] + rec_h)
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "recurrent_activation": activations.serialize(self.recurrent_activation),
                "reset_after": self.reset_after}


class StackedRNNCells(Layer):
    """Cells applied one after another at each step, as one cell: the output of one is the input of the next.

    Args:
        cells: a list of cells (built-in or your own).

    >>> stack = pyml.layers.StackedRNNCells([pyml.layers.LSTMCell(4), pyml.layers.GRUCell(3)])
    >>> pyml.layers.RNN(stack)(np.ones((2, 5, 6), "float32")).shape
    (2, 3)
    """

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(cells, (list, tuple)) or not cells:
            raise ValueError(f"StackedRNNCells expects a non-empty list of cells. Received: cells={cells!r}")
        self.cells = list(cells)

    @property
    def state_size(self):
        return [cell.state_size for cell in self.cells]

    @property
    def output_size(self):
        return getattr(self.cells[-1], "output_size", None) or _first_size(self.cells[-1].state_size)

    def build(self, input_shape):
        for cell in self.cells:
            if not cell.built:
                cell.build(input_shape)
            input_shape = tuple(input_shape[:-1]) + (getattr(cell, "output_size", None)
                                                     or _first_size(cell.state_size),)

    def get_initial_state(self, batch_size=None):
        return [initial_states(cell, batch_size, self.dtype) for cell in self.cells]

    def call(self, inputs, states, training=None):
        new_states = []
        for cell, state in zip(self.cells, states):
            inputs, state = cell(inputs, list(state), training=training)
            new_states.append(state if isinstance(state, (list, tuple)) else [state])
        return inputs, new_states

    def get_config(self):
        from pyml.layers.serialization import serialize

        return {**super().get_config(), "cells": [serialize(cell) for cell in self.cells]}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from pyml.layers.serialization import deserialize

        config = dict(config)
        cells = [deserialize(c, custom_objects) for c in config.pop("cells")]
        return cls(cells, **config)


def _first_size(state_size):
    return state_size[0] if isinstance(state_size, (list, tuple)) else state_size


def initial_states(cell, batch_size, dtype):
    """A cell's zero initial states as a list (its ``get_initial_state`` when it has one)."""
    get = getattr(cell, "get_initial_state", None)
    if get is not None:
        states = get(batch_size=batch_size)
        return list(states) if isinstance(states, (list, tuple)) else [states]
    sizes = cell.state_size if isinstance(cell.state_size, (list, tuple)) else [cell.state_size]
    return [Tensor(np.zeros((batch_size, int(size)), dtype)) for size in sizes]
