"""Steps run side by side (pyml.graph.schedule): independent products at once, an optimizer update beside the
last product; the values stay the interpreter's, and dependent steps are never joined."""
import numpy as np
import pytest

import pyml
import pyml.threads
from pyml import ops
from pyml.graph import run_graph, schedule, trace
from pyml.graph.executor import Executor


def random(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


@pytest.fixture
def two_threads():
    previous = pyml.threads.num_threads()
    pyml.threads.set_num_threads(2)
    yield
    pyml.threads.set_num_threads(previous)


def check(graph, inputs, **kwargs):
    expected = [t.numpy() for t in run_graph(graph, inputs)]
    executor = Executor(graph, **kwargs)
    for _ in range(2):
        for got, want in zip(executor.run(*inputs), expected):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    return executor


def dense_step(x, w1, w2, parameters, m):
    """Two dense layers' weight and input gradients, then an Adam-like update of flat parameters holding w2."""
    with pyml.GradientTape() as tape:
        tape.watch([w1, w2])
        loss = ops.sum(ops.square(ops.matmul(ops.relu(ops.matmul(x, w1)), w2)))
    g1, g2 = tape.gradient(loss, [w1, w2])
    grads = ops.concatenate([ops.reshape(g2, (-1,)), ops.reshape(g1, (-1,))])
    new_m = m + (grads - m) * 0.1
    return [parameters - 0.01 * new_m / (ops.sqrt(ops.abs(new_m)) + 1e-7), new_m, loss]


def test_independent_products_and_an_update_beside_the_last_product_match(two_threads, monkeypatch):
    from pyml.graph import chunks

    monkeypatch.setattr(schedule, "MIN_PRODUCT", 1 << 10)
    monkeypatch.setattr(chunks, "MIN_ELEMENTS", 1 << 8)  # the update is fused, in many chunks: some beside the
    monkeypatch.setattr(chunks, "CHUNK_ELEMENTS", 1 << 8)  # product, some after
    size = 48 * 32 + 64 * 48
    specs = [((64, 64), "float32"), ((64, 48), "float32"), ((48, 32), "float32"), ((size,), "float32"),
             ((size,), "float32")]
    graph = pyml.graph.optimize(trace(dense_step, specs))
    parameters, m = random(size, seed=3), random(size, seed=4)
    executor = check(graph, [random(64, 64), random(64, 48, seed=1), random(48, 32, seed=2), parameters, m])
    assert any(label.count(" = matmul") == 2 and " | " in label for label in executor.steps()), executor.steps()
    assert any("matmul | " in label and "fused" in label for label in executor.steps()), executor.steps()


def test_dependent_products_are_not_joined(two_threads, monkeypatch):
    monkeypatch.setattr(schedule, "MIN_PRODUCT", 1 << 10)
    graph = trace(lambda a, b: [ops.matmul(ops.matmul(a, b), b)], [((64, 64), "float32")] * 2)
    executor = check(graph, [random(64, 64), random(64, 64, seed=1)])
    assert not any(" | " in label for label in executor.steps())


def test_one_thread_joins_nothing(monkeypatch):
    monkeypatch.setattr(schedule, "MIN_PRODUCT", 1 << 10)
    previous = pyml.threads.num_threads()
    pyml.threads.set_num_threads(1)
    try:
        graph = trace(lambda a, b, c: [ops.matmul(a, b), ops.matmul(a, c)], [((64, 64), "float32")] * 3)
        executor = check(graph, [random(64, 64), random(64, 64, seed=1), random(64, 64, seed=2)])
        assert not any(" | " in label for label in executor.steps())
    finally:
        pyml.threads.set_num_threads(previous)
