"""fit's compiled training step against the eager one: same weights, logs and state after N steps, for every
optimizer, BatchNormalization, Dropout, partial batches, weights, callbacks; and the eager fallback."""
import warnings

import numpy as np
import pytest

import pyml
from pyml import layers, ops, optimizers
from pyml.models.compiled_step import NotTraceable


def mlp(features=6, classes=3):
    return pyml.Sequential([pyml.Input(shape=(features,)), layers.Dense(16, activation="relu"),
                            layers.Dense(8, activation="tanh"), layers.Dense(classes, activation="softmax")])


def convnet(dropout=0.25):
    return pyml.Sequential([pyml.Input(shape=(8, 8, 1)), layers.Conv2D(4, 3, activation="relu"),
                            layers.BatchNormalization(), layers.Conv2D(6, 3, padding="same", activation="relu"),
                            layers.MaxPooling2D(2), layers.Dropout(dropout), layers.Flatten(),
                            layers.Dense(10, activation="relu"), layers.Dropout(dropout),
                            layers.Dense(3, activation="softmax")])


def data(n=50, shape=(6,), classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = rng.standard_normal((n, *shape)).astype("float32") + y.reshape(-1, *[1] * len(shape)) * 0.5
    return x, y


def train(build, eager, optimizer, x, y, seed=0, **fit_kwargs):
    """Build the same model from the same seed and fit it eagerly or compiled; returns (model, history)."""
    pyml.set_random_seed(seed)
    model = build()
    model.compile(optimizer=optimizer(), loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  run_eagerly=eager)
    pyml.set_random_seed(seed + 1)  # the same shuffles and dropout masks for both
    history = model.fit(x, y, verbose=0, **{"batch_size": 16, "epochs": 3, **fit_kwargs})
    return model, history


def assert_same_training(build, optimizer, x, y, rtol=1e-5, atol=1e-6, **fit_kwargs):
    eager, eager_history = train(build, True, optimizer, x, y, **fit_kwargs)
    compiled, compiled_history = train(build, False, optimizer, x, y, **fit_kwargs)
    assert eager._compiled_step is None and compiled._compiled_step, "one model per path"
    for a, b in zip(eager.weights, compiled.weights):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=rtol, atol=atol, err_msg=a.name)
    assert compiled_history.history.keys() == eager_history.history.keys()
    for key, values in eager_history.history.items():
        np.testing.assert_allclose(compiled_history.history[key], values, rtol=rtol, atol=atol, err_msg=key)
    return eager, compiled


OPTIMIZERS = {
    "sgd": lambda: optimizers.SGD(0.1),
    "sgd-nesterov": lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    "adam": lambda: optimizers.Adam(0.01),
    "adam-amsgrad": lambda: optimizers.Adam(0.01, amsgrad=True),
    "adamw": lambda: optimizers.AdamW(0.01, weight_decay=0.1),
    "rmsprop": lambda: optimizers.RMSprop(0.01),
    "rmsprop-centered-momentum": lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True),
    "adagrad": lambda: optimizers.Adagrad(0.1),
    "sgd-clipnorm": lambda: optimizers.SGD(0.5, clipnorm=0.1),
    "adam-clipvalue": lambda: optimizers.Adam(0.01, clipvalue=0.01),
    "rmsprop-global-clipnorm": lambda: optimizers.RMSprop(0.01, global_clipnorm=0.2),
    "nadam": lambda: optimizers.Nadam(0.01),
    "adamax": lambda: optimizers.Adamax(0.01),
    "adadelta": lambda: optimizers.Adadelta(1.0),
    "lion": lambda: optimizers.Lion(0.002),
    "ftrl": lambda: optimizers.Ftrl(0.1, l1_regularization_strength=0.001, l2_shrinkage_regularization_strength=0.01,
                                    beta=0.1),
    "adam-ema-overwrite": lambda: optimizers.Adam(0.01, use_ema=True, ema_momentum=0.9, ema_overwrite_frequency=4),
    "sgd-weight-decay-excluding-biases": lambda: _excluding_biases(optimizers.SGD(0.1, momentum=0.5, weight_decay=0.2)),
    "adam-accumulate-3-ema": lambda: optimizers.Adam(0.01, gradient_accumulation_steps=3, global_clipnorm=0.5,
                                                     use_ema=True, ema_overwrite_frequency=2),
    "nadam-accumulate-2-weight-decay": lambda: optimizers.Nadam(0.01, gradient_accumulation_steps=2, weight_decay=0.1),
    "adam-cosine-schedule": lambda: optimizers.Adam(optimizers.schedules.CosineDecay(0.0, 6, warmup_target=0.02,
                                                                                     warmup_steps=3)),
}


def _excluding_biases(optimizer):
    optimizer.exclude_from_weight_decay(var_names=["bias"])
    return optimizer


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_compiled_mlp_matches_eager_for_every_optimizer(name):
    x, y = data()  # 50 rows in batches of 16: the last batch of 2 gets its own compiled plan
    _, compiled = assert_same_training(mlp, OPTIMIZERS[name], x, y)
    assert len(compiled._compiled_step._plans) == 2


def test_compiled_convnet_with_batchnorm_and_dropout_matches_eager():
    x, y = data(40, (8, 8, 1))
    eager, compiled = assert_same_training(convnet, OPTIMIZERS["adam"], x, y, rtol=1e-4, atol=1e-5)
    moving = [w for w in compiled.weights if "moving" in w.name]
    assert moving and all(np.abs(w.numpy() - (1.0 if "variance" in w.name else 0.0)).max() > 1e-3 for w in moving)


def test_dropout_draws_fresh_masks_every_compiled_step():
    pyml.set_random_seed(0)
    model = pyml.Sequential([pyml.Input(shape=(200,)), layers.Dropout(0.5), layers.Dense(1, use_bias=False,
                                                                                         kernel_initializer="ones")])
    model.compile(optimizer=optimizers.SGD(0.0), loss="mse")
    x = np.ones((4, 200), "float32")
    losses = [model.train_on_batch(x, np.zeros((4, 1), "float32")) for _ in range(3)]
    assert len(set(losses)) == 3  # the same batch and weights: only the masks differ
    graph = model._compiled_step.graph()
    assert [n for n in graph.inputs if n.startswith("h")], "the mask is an input of the step, not a constant"


def test_sample_weight_class_weight_and_validation_match_eager():
    x, y = data(48)
    weights = np.linspace(0.5, 2.0, 48).astype("float32")
    assert_same_training(mlp, OPTIMIZERS["adam"], x, y, sample_weight=weights, validation_data=data(20, seed=1))
    assert_same_training(mlp, OPTIMIZERS["sgd"], x, y, class_weight={0: 1.0, 1: 3.0, 2: 0.5}, validation_split=0.25)


def test_learning_rate_callbacks_and_schedules_reach_the_compiled_step():
    x, y = data(32)
    scheduler = pyml.callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))
    eager, compiled = assert_same_training(mlp, OPTIMIZERS["sgd"], x, y, callbacks=[scheduler])
    assert compiled.optimizer.learning_rate == pytest.approx(0.1 / 3)
    assert_same_training(mlp, lambda: optimizers.Adam(lambda step: 0.05 / (1 + step)), x, y)
    # a learning rate set between fits is read by the next step, not frozen in the traced graph
    before = [w.numpy().copy() for w in compiled.weights]
    compiled.optimizer.learning_rate = 0.0
    compiled.fit(x, y, batch_size=16, epochs=1, verbose=0)
    for a, b in zip(before, compiled.weights):
        np.testing.assert_array_equal(a, b.numpy())


def test_weights_handed_out_do_not_change_under_later_training():
    x, y = data(32)
    model, _ = train(mlp, False, OPTIMIZERS["adam"], x, y, epochs=1)
    kernel = model.layers[0].kernel
    before = kernel.numpy()
    snapshot = before.copy()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    np.testing.assert_array_equal(before, snapshot)
    assert not np.array_equal(kernel.numpy(), snapshot)


def test_weights_set_between_compiled_fits_are_used():
    x, y = data(32)
    model, _ = train(mlp, False, OPTIMIZERS["sgd"], x, y, epochs=1)
    reference = mlp()
    reference.compile(optimizer=OPTIMIZERS["sgd"](), loss="sparse_categorical_crossentropy", run_eagerly=True)
    reference.set_weights([w * 0.5 for w in model.get_weights()])
    model.set_weights(reference.get_weights())
    for m in (model, reference):
        m.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(reference.weights, model.weights):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-6, atol=1e-7)


def test_eager_and_compiled_steps_can_alternate():
    x, y = data(16)
    pyml.set_random_seed(0)
    model = mlp()
    model.compile(optimizer=OPTIMIZERS["adam"](), loss="sparse_categorical_crossentropy")
    pyml.set_random_seed(0)
    reference = mlp()
    reference.compile(optimizer=OPTIMIZERS["adam"](), loss="sparse_categorical_crossentropy", run_eagerly=True)
    for step in range(4):
        model.run_eagerly = step % 2 == 1  # compiled, eager, compiled, eager: slots and weights carry over
        assert model.train_on_batch(x, y) == pytest.approx(reference.train_on_batch(x, y), rel=1e-5)
    for a, b in zip(reference.weights, model.weights):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-7)


def test_freezing_a_layer_between_fits_traces_again():
    x, y = data(32)
    model, _ = train(mlp, False, OPTIMIZERS["sgd"], x, y, epochs=1)
    frozen = model.layers[0]
    frozen.trainable = False
    kernel = frozen.kernel.numpy().copy()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    np.testing.assert_array_equal(frozen.kernel.numpy(), kernel)


def test_the_step_graph_takes_variables_and_learning_rate_as_inputs():
    x, y = data(16)
    model, _ = train(mlp, False, OPTIMIZERS["sgd"], x, y, epochs=1)
    graph = model._compiled_step.graph(16)
    assert {"x", "y", "hyper_learning_rate", "parameters"} <= set(graph.inputs)
    assert not [n for n in graph.nodes if n.op == "constant" and "label" in n.attrs], "no weight frozen as a constant"
    size = sum(w.size for w in model.trainable_weights)
    assert graph.node("parameters").shape == (size,)


class ValueBranch(layers.Layer):
    def call(self, inputs, training=None):
        if training and float(ops.mean(inputs)) > 0:  # Python control flow on a value, while training
            return inputs * 2.0
        return inputs


def branchy():
    return pyml.Sequential([pyml.Input(shape=(6,)), ValueBranch(), layers.Dense(3, activation="softmax")])


def test_a_model_that_does_not_trace_falls_back_to_eager_with_one_warning():
    x, y = data(40)
    with pytest.warns(UserWarning, match=r"runs the training step eagerly.*float\(\) needs the value of"):
        compiled, _ = train(branchy, False, OPTIMIZERS["adam"], x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # only once
        compiled.fit(x, y, batch_size=16, epochs=1, verbose=0)
    eager, _ = train(branchy, True, OPTIMIZERS["adam"], x, y)
    eager.fit(x, y, batch_size=16, epochs=1, verbose=0)
    for a, b in zip(eager.weights, compiled.weights):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-6)


def test_jit_compile_true_raises_when_the_step_does_not_trace():
    x, y = data(16)
    model = branchy()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=True)
    with pytest.raises(ValueError, match=r"jit_compile=True, but its training step cannot be compiled"):
        model.fit(x, y, verbose=0)


def test_run_eagerly_and_jit_compile_false_keep_the_eager_step():
    x, y = data(16)
    for kwargs in ({"run_eagerly": True}, {"jit_compile": False}):
        model = mlp()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", **kwargs)
        model.fit(x, y, verbose=0)
        assert model._compiled_step is None
    with pytest.warns(UserWarning, match="Disabling `jit_compile`"):
        mlp().compile(optimizer="adam", loss="mse", run_eagerly=True, jit_compile=True)
    with pytest.raises(ValueError, match=r"jit_compile must be \"auto\", True or False. Received: jit_compile='xla'"):
        mlp().compile(optimizer="adam", loss="mse", jit_compile="xla")


def test_custom_train_step_and_update_step_only_optimizers_run_eagerly():
    class Custom(pyml.Sequential):
        def train_step(self, x, y, sample_weight=None):
            return super().train_step(x, y, sample_weight)

    class SignSGD(optimizers.Optimizer):
        def update_step(self, gradient, variable, learning_rate):
            variable.assign(variable.data - learning_rate * np.sign(gradient))

    x, y = data(16)
    model = Custom([pyml.Input(shape=(6,)), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.warns(UserWarning, match="Custom overrides train_step"):
        model.fit(x, y, verbose=0)
    model = mlp()
    model.compile(optimizer=SignSGD(0.01), loss="sparse_categorical_crossentropy")
    with pytest.warns(UserWarning, match="optimizer SignSGD defines update_step only"):
        model.fit(x, y, verbose=0)


def test_not_traceable_names_variables_outside_the_model():
    outside = pyml.Variable(np.ones(6, "float32"), name="outside")

    class Scale(layers.Layer):
        def call(self, inputs):
            return inputs * outside

    model = pyml.Sequential([pyml.Input(shape=(6,)), Scale(), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", jit_compile=True)
    with pytest.raises(ValueError, match="reads variables that are not the model's weights: outside"):
        model.fit(*data(16), verbose=0)
    assert isinstance(model._compiled_step, bool)


def test_unconnected_trainable_variables_are_left_alone_as_in_eager():
    class Unused(layers.Layer):
        def build(self, input_shape):
            self.unused = self.add_weight(shape=(3,), initializer="ones", name="unused")

        def call(self, inputs):
            return inputs

    build = lambda: pyml.Sequential([pyml.Input(shape=(6,)), Unused(), layers.Dense(3, activation="softmax")])  # noqa: E731
    x, y = data(32)
    _, compiled = assert_same_training(build, lambda: optimizers.AdamW(0.01, weight_decay=0.5), x, y)
    np.testing.assert_array_equal(compiled.layers[0].unused.numpy(), np.ones(3))


def test_not_traceable_is_an_exception_with_the_reason():
    assert issubclass(NotTraceable, Exception)
    assert str(NotTraceable("why")) == "why"


def test_batches_of_many_shapes_keep_only_the_latest_plans(monkeypatch):
    from pyml.models import compiled_step

    monkeypatch.setattr(compiled_step, "MAX_PLANS", 2)
    x, y = data(40)
    model = mlp()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    for size in (5, 6, 7, 8):
        model.train_on_batch(x[:size], y[:size])
    assert [key[0][0][0] for key in model._compiled_step._plans] == [7, 8]


def test_out_of_range_labels_stop_the_compiled_step_before_it_updates_the_weights():
    # The traced loss never sees label values: after the first step the labels are checked against the last
    # predictions' class count before the step runs, so a bad batch leaves the weights as they were.
    model = pyml.Sequential([layers.Input((4,)), layers.Dense(3)])
    # (With momentum: ids out of range one-hot to zeros, so the bad batch's own gradient is 0, but the velocity
    # from the first step would still move the weights.)
    model.compile(optimizer=optimizers.SGD(0.1, momentum=0.9), loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    model.train_on_batch(x, np.arange(8) % 3)
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match="class"):
        model.train_on_batch(x, np.full(8, 7))
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)
    assert model.optimizer.iterations == 1
