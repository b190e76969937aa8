"""What ``Layer`` keeps for Keras 3's losses: ``add_loss``, ``losses`` (the losses added in the latest call, then
the weight penalties, computed from the current weights) and activity penalties. Mixed into ``Layer``; a layer's
``_losses`` list is emptied by each outermost call (``Layer.__call__``) and after shape inference and tracing.
"""
from pyml import ops
from pyml.tensor import Tensor


class LossTracking:
    """``add_loss`` and ``losses`` for ``Layer`` (which sets ``_losses``, ``_layers`` and ``activity_regularizer``)."""

    def add_loss(self, loss):
        """Add a scalar loss tensor (or a list of them) from inside ``call``: ``fit`` adds it to the loss of
        this step. Each outermost call starts the list afresh.

        >>> class Sparse(pyml.layers.Layer):
        ...     def call(self, inputs):
        ...         self.add_loss(pyml.ops.mean(pyml.ops.abs(inputs)))
        ...         return inputs
        >>> layer = Sparse()
        >>> _ = layer(np.array([[1.0, -3.0]], "float32"))
        >>> [float(loss) for loss in layer.losses]
        [2.0]
        """
        for value in loss if isinstance(loss, (list, tuple)) else [loss]:
            if not isinstance(value, Tensor):
                raise ValueError(f"Layer {self.name!r}: add_loss() takes tensors computed in call(). "
                                 f"Received: {value!r}")
            self._losses.append(value)

    @property
    def losses(self):
        """The scalar losses of the latest call (``add_loss``, activity penalties) of this layer and its sublayers,
        then the penalties of the trainable weights that have a regularizer, computed now from their values
        (so inside a traced step they follow the weights)."""
        found = [loss for layer in self._flatten_layers() for loss in layer._losses]
        return found + [v.regularizer(v) for v in self.trainable_weights if v.regularizer is not None]

    def _flatten_layers(self):
        """This layer and every sublayer below it, each once."""
        seen, order, stack = set(), [], [self]
        while stack:
            layer = stack.pop(0)
            if id(layer) not in seen:
                seen.add(id(layer))
                order.append(layer)
                stack.extend(layer._layers)
        return order

    def _clear_losses(self):
        for layer in self._flatten_layers():
            layer._losses = []

    def _add_activity_losses(self, outputs):
        """Keras 3: the activity penalty of each output tensor (of the list ``outputs``), divided by its batch
        size."""
        for output in outputs:
            if isinstance(output, Tensor):
                penalty = self.activity_regularizer(output)
                if output.ndim and output.shape[0]:
                    penalty = ops.divide(penalty, float(output.shape[0]))
                self.add_loss(penalty)
