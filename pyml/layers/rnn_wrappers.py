"""Layer wrappers for sequences (Keras 3): ``Bidirectional`` and ``TimeDistributed``."""
from pyml import ops
from pyml.layers.base import InputSpec, Layer
from pyml.layers.rnn import prefix_weights

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class Bidirectional(Layer):
    """Runs an RNN forwards and a copy of it backwards over the sequence and merges their outputs.

    Args:
        layer: the forward RNN (``LSTM``, ``GRU``, ``SimpleRNN``, ``RNN``); a copy with ``go_backwards``
            flipped (named ``backward_<name>``) runs the other way unless ``backward_layer`` is given.
        merge_mode: ``"concat"`` (default), ``"sum"``, ``"mul"``, ``"ave"`` or None (a list of both outputs).
        backward_layer: optional RNN for the backward direction (``go_backwards`` opposite to ``layer``'s).

    Returned sequences of the backward layer are flipped back to input order before merging. Weights: the
    forward layer's, then the backward layer's. With ``return_state`` the states follow the output: forward's,
    then backward's. Call arguments: ``initial_state`` (forward's states then backward's), ``mask``, ``training``.

    >>> layer = pyml.layers.Bidirectional(pyml.layers.LSTM(4, return_sequences=True))
    >>> layer(np.ones((2, 5, 3), "float32")).shape
    (2, 5, 8)
    """

    _untracked = ("_layers", "layer")

    def __init__(self, layer, merge_mode="concat", backward_layer=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, Layer) or not hasattr(layer, "go_backwards"):
            raise ValueError(f"Bidirectional expects an RNN layer (with go_backwards, return_sequences, "
                             f"return_state). Received: layer={layer!r}")
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"Bidirectional expects merge_mode in {MERGE_MODES}. Received: merge_mode={merge_mode!r}")
        config = layer.get_config()
        self.forward_layer = type(layer).from_config({**config, "name": "forward_" + config["name"]})
        if backward_layer is None:
            self.backward_layer = type(layer).from_config(
                {**config, "name": "backward_" + config["name"], "go_backwards": not layer.go_backwards})
        else:
            if not hasattr(backward_layer, "go_backwards"):
                raise ValueError(f"Bidirectional expects backward_layer to be an RNN layer. "
                                 f"Received: backward_layer={backward_layer!r}")
            self.backward_layer = backward_layer
        self._backward_given = backward_layer is not None
        if self.forward_layer.go_backwards == self.backward_layer.go_backwards:
            raise ValueError("Bidirectional: the forward and backward layers must have opposite go_backwards. "
                             f"Received: {self.forward_layer.go_backwards} and {self.backward_layer.go_backwards}")
        for attribute in ("return_sequences", "return_state"):
            if getattr(self.forward_layer, attribute) != getattr(self.backward_layer, attribute):
                raise ValueError(f"Bidirectional: the forward and backward layers must have the same {attribute}. "
                                 f"Received: {getattr(self.forward_layer, attribute)} and "
                                 f"{getattr(self.backward_layer, attribute)}")
        self.layer = layer  # the template the config holds; never built nor tracked (see _untracked)
        self.merge_mode = merge_mode
        self.return_sequences = self.forward_layer.return_sequences
        self.return_state = self.forward_layer.return_state
        for direction in (self.forward_layer, self.backward_layer):  # Keras: masked steps output zeros
            direction.zero_output_for_mask = self.return_sequences
        self.supports_masking = True
        self.input_spec = InputSpec(ndim=3)

    def build(self, sequences_shape, initial_state_shape=None):
        for direction in (self.forward_layer, self.backward_layer):
            if not direction.built:
                direction.build(sequences_shape)
                direction.built = True
            prefix_weights(direction, self.name)

    def call(self, sequences, initial_state=None, mask=None, training=None):
        forward_state = backward_state = None
        if initial_state is not None:
            half = len(initial_state) // 2
            forward_state, backward_state = initial_state[:half], initial_state[half:]
        y = self.forward_layer(sequences, initial_state=forward_state, mask=mask, training=training)
        y_rev = self.backward_layer(sequences, initial_state=backward_state, mask=mask, training=training)
        states = ()
        if self.return_state:
            states, y, y_rev = (*y[1:], *y_rev[1:]), y[0], y_rev[0]
        if self.return_sequences:
            y_rev = y_rev[:, ::-1]
        merged = {"concat": lambda: ops.concatenate([y, y_rev], axis=-1), "sum": lambda: y + y_rev,
                  "ave": lambda: (y + y_rev) / 2, "mul": lambda: y * y_rev, None: lambda: [y, y_rev]}[self.merge_mode]()
        if self.merge_mode is None:
            return (*merged, *states) if self.return_state else merged
        return (merged, *states) if self.return_state else merged

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        outputs = [output_mask, output_mask] if self.merge_mode is None else [output_mask]
        if self.return_state:
            states = len(self.forward_layer.compute_mask(inputs, mask)) - 1
            return outputs + [None] * (2 * states)
        return outputs if self.merge_mode is None else output_mask

    def get_config(self):
        from pyml.layers.serialization import serialize

        config = {**super().get_config(), "layer": serialize(self.layer), "merge_mode": self.merge_mode}
        if self._backward_given:
            config["backward_layer"] = serialize(self.backward_layer)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from pyml.layers.serialization import deserialize

        config = dict(config)
        layer = deserialize(config.pop("layer"), custom_objects)
        backward = config.pop("backward_layer", None)
        return cls(layer, backward_layer=None if backward is None else deserialize(backward, custom_objects), **config)


class TimeDistributed(Layer):
    """Applies ``layer`` to every time step of ``(batch, timesteps, ...)`` inputs (one set of weights).

    The steps are folded into the batch, so the wrapped layer runs once: ``(batch * timesteps, ...)``; layers that
    act on the last axis alone (``Dense``, ``Embedding``, activations) run on the sequence as it is, which gives
    the same numbers and keeps a model with a dynamic batch exportable (a folded batch is not a batch to export).

    >>> layer = pyml.layers.TimeDistributed(pyml.layers.Dense(4))
    >>> layer(np.ones((2, 5, 3), "float32")).shape
    (2, 5, 4)
    """

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, Layer):
            raise ValueError(f"TimeDistributed expects a layer. Received: layer={layer!r}")
        self.layer = layer
        self.supports_masking = True
        self.input_spec = InputSpec(min_ndim=3)

    def build(self, input_shape):
        if len(input_shape) < 3:
            raise ValueError(f'Layer "{self.name}" (TimeDistributed) expects inputs of shape (batch, timesteps, ...). '
                             f"Received: input shape {tuple(input_shape)}")
        if not self.layer.built:
            self.layer.build((None,) + tuple(input_shape[2:]))
            self.layer.built = True
        prefix_weights(self.layer, self.name)

    def call(self, inputs, training=None):
        if isinstance(self.layer, _PER_STEP_LAYERS):
            # These already apply the same weights at every leading index: running them on (batch, steps, ...)
            # gives the folded result, and keeps the batch axis a batch axis, so a dynamic batch exports.
            return self.layer(inputs, training=training)
        batch, steps = inputs.shape[0], inputs.shape[1]
        folded = ops.reshape(inputs, (batch * steps,) + tuple(inputs.shape[2:]))
        out = self.layer(folded, training=training)
        return ops.reshape(out, (batch, steps) + tuple(out.shape[1:]))

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        from pyml.layers.serialization import serialize

        return {**super().get_config(), "layer": serialize(self.layer)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from pyml.layers.serialization import deserialize

        config = dict(config)
        return cls(deserialize(config.pop("layer"), custom_objects), **config)


def _per_step_layers():
    from pyml.layers.activation_layers import ELU, LeakyReLU, ReLU
    from pyml.layers.core import Activation, Dense
    from pyml.layers.embedding import Embedding

    return (Dense, Activation, ReLU, LeakyReLU, ELU, Embedding)


_PER_STEP_LAYERS = _per_step_layers()
