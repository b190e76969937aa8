"""The compiled training step under ``MPIStrategy``: the step of ``pyml.models.compiled_step`` cut at the
gradient, where the ranks average it.

Two graphs instead of one: the *gradient* plan (one per batch signature, as the whole step's) runs forward,
loss and backward and returns the flat gradient (``CompiledTrainStep._trace(gradients_only=True)``); the host
reduces it in place (``MPIStrategy.reduce_gradient``, bucketed allreduce); the *update* plan (one, whatever the
batch) runs the optimizer's traced update (``compiled_step.apply_update``: accumulation, clipping, the rule,
constraints) on the flat parameters and slots. The single-process step stays one graph.
"""
from pyml.graph.executor import Executor
from pyml.graph.passes import optimize
from pyml.graph.trace import trace_function
from pyml.models.compiled_step import CompiledTrainStep, NotTraceable, _data, apply_update


class DistributedTrainStep(CompiledTrainStep):
    """``CompiledTrainStep`` whose gradient ``strategy.reduce_gradient`` averages over the ranks before the
    update; called as the compiled step, on this rank's shard."""

    gradients_only = True

    def __init__(self, model, strategy):
        super().__init__(model)
        self.strategy = strategy
        self._update = None  # (Executor, hyperparameter names), traced at the first step

    def __call__(self, x, y, sample_weight=None):
        plan = self._plan(x, y, sample_weight)
        self.state.attach()
        optimizer = self.model.optimizer
        inputs = [array for _, array in _data(x, y, sample_weight)] + [draw() for draw in plan.host_draws]
        loss, *values = plan.executor.run(*inputs)
        *values, gradient = values  # the state the step assigns is written in place, not returned
        self.strategy.reduce_gradient(gradient)
        if self._update is None:
            self._update = self._compile_update()
        executor, hyper_names = self._update
        hyper = optimizer.step_hyperparameters()
        executor.run(gradient, *[hyper[name] for name in hyper_names])
        optimizer.finish_step(self.state.trainable)
        output_losses, y_pred = values[:plan.output_losses], values[plan.output_losses:]
        return float(loss), (y_pred if plan.several_outputs else y_pred[0]), [float(v) for v in output_losses]

    def _compile_update(self):
        """The update graph: ``gradient, hyper_<name>..., parameters, slot_<name>...`` -> new parameters and
        slots, written into the flat buffers."""
        state, optimizer = self.state, self.model.optimizer
        hyper_names = sorted(optimizer.step_hyperparameters())
        dtype, shape = state.parameters.dtype.name, state.parameters.shape
        inputs = [("gradient", (shape, dtype))] + [(f"hyper_{name}", ((), dtype)) for name in hyper_names]
        inputs += [("parameters", (shape, dtype))] + [(f"slot_{name}", (shape, dtype)) for name in state.slot_names]
        names = [name for name, _ in inputs]

        def update(*args):
            named = dict(zip(names, args))
            hyper = {name: named[f"hyper_{name}"] for name in hyper_names}
            slots = {name: named[f"slot_{name}"] for name in state.slot_names}
            parameters, new_slots = apply_update(optimizer, state, named["parameters"],
                                                 state.unflatten(named["gradient"]), slots, hyper)
            return [parameters] + [new_slots[name] for name in state.slot_names]

        try:
            graph = optimize(trace_function(update, [spec for _, spec in inputs], dynamic_batch=False,
                                            names=names).graph)
        except (TypeError, ValueError, AttributeError) as exc:
            raise NotTraceable(f"tracing the optimizer update failed: {exc}") from exc
        bindings = {"parameters": (state.parameters, graph.outputs[0])}
        for i, name in enumerate(state.slot_names):
            bindings[f"slot_{name}"] = (state.slots[name], graph.outputs[1 + i])
        return Executor(graph, state=bindings), hyper_names

