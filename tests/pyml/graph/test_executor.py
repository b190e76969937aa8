"""The executor against the reference interpreter: views, buffers reused in place, state written back,
concatenations computed in place, chunked elementwise chains on threads; and its errors."""
import numpy as np
import pytest

import pyml
import pyml.threads
from pyml import ops
from pyml.graph import GraphError, Graph, Node, optimize, run_graph, trace
from pyml.graph.executor import Executor


def random(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def assert_matches_interpreter(graph, inputs, **kwargs):
    expected = [t.numpy() for t in run_graph(graph, inputs)]
    executor = Executor(graph, **kwargs)
    for _ in range(2):  # twice: buffers reused from one run to the next must not leak values
        got = executor.run(*inputs)
        for a, b in zip(got, expected):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    return executor


def mlp_step(x, w1, b1, w2, y):
    h = ops.relu(ops.matmul(x, w1) + b1)
    p = ops.softmax(ops.matmul(h, w2))
    loss = ops.mean(ops.sum(ops.square(p - y), axis=-1))
    return loss, p, ops.transpose(h), ops.reshape(p, (-1,))


def test_mlp_like_graph_matches_the_interpreter():
    specs = [((32, 8), "float32"), ((8, 16), "float32"), ((16,), "float32"), ((16, 4), "float32"), ((32, 4), "float32")]
    graph = optimize(trace(mlp_step, specs))
    inputs = [random(32, 8), random(8, 16, seed=1), random(16, seed=2), random(16, 4, seed=3), random(32, 4, seed=4)]
    assert_matches_interpreter(graph, inputs)


@pytest.mark.parametrize("threads", [1, 2])
def test_long_elementwise_chains_run_chunked_and_match(threads, monkeypatch):
    from pyml.graph import chunks

    monkeypatch.setattr(chunks, "THREAD_WORK", 1 << 12)  # share even this small chain among the threads
    previous = pyml.threads.num_threads()
    pyml.threads.set_num_threads(threads)
    try:
        def chain(a, b, c):
            t = ops.exp(ops.tanh(a) * 0.5) - b
            return ops.where(ops.greater(t, c), t * c, ops.sqrt(ops.abs(b)) + 1.0), ops.maximum(t, 0.0)

        shape = (300, 257)  # not a multiple of the chunk: the last chunk is short
        graph = optimize(trace(chain, [(shape, "float32"), (shape, "float32"), ((257,), "float32")]))
        executor = assert_matches_interpreter(graph, [random(*shape), random(*shape, seed=1), random(257, seed=2)])
        assert any("fused" in label for label in executor.steps())
    finally:
        pyml.threads.set_num_threads(previous)


def test_state_is_written_back_in_place_and_concatenations_are_computed_into_their_output():
    def step(params, x):  # an SGD step on flat parameters, as the compiled training step makes it
        w, b = ops.reshape(ops.slice(params, (0,), (9,)), (3, 3)), ops.slice(params, (9,), (3,))
        y = ops.matmul(x, w) + b
        gw, gb = ops.matmul(ops.transpose(x), y) * 0.01, ops.sum(y, axis=0)
        return params - ops.concatenate([ops.reshape(gw, (-1,)), gb]) * 0.5, ops.sum(y)

    graph = optimize(trace(step, [((12,), "float32"), ((5, 3), "float32")]))
    params, x = random(12), random(5, 3, seed=2)
    expected = [t.numpy() for t in run_graph(graph, [params, x])]
    executor = Executor(graph, state={"params": (params, graph.outputs[0])})
    (total,) = executor.run(x)
    np.testing.assert_allclose(params, expected[0], rtol=1e-6)
    np.testing.assert_allclose(total, expected[1], rtol=1e-6)
    assert not any("write back" in label for label in executor.steps()), "the update went straight into the state"
    assert not any("concatenate" in label for label in executor.steps()), "the parts went straight into their slots"


def test_a_state_that_is_read_after_its_new_value_is_made_is_copied_back_at_the_end():
    graph = optimize(trace(lambda s, x: [s + x, s * 2.0], [((4,), "float32"), ((4,), "float32")]))
    # the second output reads s after s + x exists, so s + x cannot overwrite s in place
    state = np.arange(4, dtype="float32")
    executor = Executor(graph, state={"s": (state, graph.outputs[0])})
    (doubled,) = executor.run(np.ones(4, "float32"))
    np.testing.assert_array_equal(state, [1, 2, 3, 4])
    np.testing.assert_array_equal(doubled, [0, 2, 4, 6])


def test_a_read_only_state_is_never_overwritten():
    graph = optimize(trace(lambda frozen, x: ops.exp(frozen * 2.0) + x, [((4,), "float32"), ((4,), "float32")]))
    frozen = np.arange(4, dtype="float32")
    (out,) = Executor(graph, state={"frozen": (frozen, None)}).run(np.ones(4, "float32"))
    np.testing.assert_array_equal(frozen, [0, 1, 2, 3])
    np.testing.assert_allclose(out, np.exp(np.arange(4) * 2.0) + 1, rtol=1e-6)


def test_convolution_and_pooling_steps_match():
    def convnet(x, w):
        y = ops.relu(ops.conv(x, w, padding="same"))
        return ops.max_pool(y, 2), ops.sum(y)

    graph = trace(convnet, [((3, 6, 6, 2), "float32"), ((3, 3, 2, 4), "float32")])
    executor = assert_matches_interpreter(graph, [random(3, 6, 6, 2), random(3, 3, 2, 4, seed=1)])
    assert {"conv", "max_pool"} <= {label.split(" = ")[-1] for label in executor.steps()}


def test_profile_times_every_step():
    graph = trace(lambda x: ops.exp(x) + 1.0, [((4,), "float32")])
    profile = Executor(graph).profile(np.zeros(4, "float32"), repeat=3)
    assert [label for _, label in profile] == ["v1 = exp", "v3 = add"] or len(profile) == 2
    assert all(seconds >= 0 for seconds, _ in profile)


def test_executor_errors_name_what_was_wrong():
    graph = trace(lambda x: x * 2.0, [((None, 3), "float32")])
    with pytest.raises(GraphError, match=r"static shapes; node %x : f32\[N,3\] = placeholder has a dynamic batch"):
        Executor(graph)
    executor = Executor(trace(lambda x: x * 2.0, [((2, 3), "float32")]))
    with pytest.raises(GraphError, match=r"takes 1 inputs \(x\)\. Received: 2"):
        executor.run(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(GraphError, match=r"input 'x' expects shape \(2, 3\)\. Received: \(3, 2\)"):
        executor.run(np.zeros((3, 2), "float32"))
    graph = trace(lambda s: s + 1.0, [((2,), "float32")])
    with pytest.raises(GraphError, match=r"state 's' must be float32\[2\]\. Received: float64\[2\]"):
        Executor(graph, state={"s": (np.zeros(2), graph.outputs[0])})


def test_a_primitive_without_a_kernel_runs_its_forward():
    graph = Graph([Node("x", "placeholder", (2, 3), "float32"),
                   Node("v1", "call", (2,), "int32", "argmax", ["x"], {"axis": 1, "keepdims": False})],
                  ["x"], ["v1"])
    (out,) = Executor(graph).run(np.array([[0, 5, 1], [7, 0, 0]], "float32"))
    np.testing.assert_array_equal(out, [1, 0])
    assert out.dtype == np.int32


def test_outputs_are_the_executors_buffers_and_inputs_are_copied():
    executor = Executor(trace(lambda x: x + 1.0, [((3,), "float32")]))
    x = np.zeros(3, "float32")
    first = executor.run(x)[0]
    x[:] = 5.0  # the caller's array was copied in: changing it now changes nothing
    np.testing.assert_array_equal(first, [1, 1, 1])
    executor.run(pyml.Tensor(np.full(3, 2.0, "float32")))  # Tensors are accepted too
    np.testing.assert_array_equal(first, [3, 3, 3])  # the same buffer, refilled by the next run


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "bool"])
def test_where_selects_bits_exactly_as_numpy(dtype):
    from pyml.graph import kernels

    rng = np.random.default_rng(7)
    values = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.5, -2.0, 3.0]) if dtype.startswith("float") else \
        rng.integers(-5, 5, 8)
    y = values.astype(dtype).reshape(2, 4)
    cond = rng.random((2, 1)) > 0.5  # broadcast along the last axis
    for x in (np.zeros((), dtype), np.array(values[::-1], dtype).reshape(2, 4), np.ones((), dtype)):
        out = np.empty((2, 4), dtype)
        kernels.kernel("where", [cond, x, y], out, {})()
        expected = np.where(cond, x, y)
        np.testing.assert_array_equal(out.view(f"u{out.itemsize}"), expected.view(f"u{out.itemsize}"))


def test_a_large_sum_over_the_batch_is_shared_among_threads_and_still_right():
    from pyml.graph import kernels

    previous = pyml.threads.num_threads()
    pyml.threads.set_num_threads(2)
    try:
        x = random(300, 40, 100)
        # leading axes: one product with ones (a bias gradient); others: split among threads
        for axes, keepdims in (((0, 1), False), ((0,), True), ((0, 2), False), ((0, 1, 2), True), ((1,), False)):
            out = np.empty(np.sum(x, axis=axes, keepdims=keepdims).shape, "float32")
            kernels.kernel("sum", [x], out, {"axes": axes, "keepdims": keepdims})()
            np.testing.assert_allclose(out, x.astype("float64").sum(axis=axes, keepdims=keepdims), rtol=1e-4, atol=1e-4)
    finally:
        pyml.threads.set_num_threads(previous)


@pytest.mark.parametrize("a_shape, b_shape", [((128, 512), (512, 784)), ((784, 128), (128, 512))])
def test_large_products_split_among_threads_match(a_shape, b_shape):
    previous = pyml.threads.num_threads()
    pyml.threads.set_num_threads(2)  # split by columns (wide output) or by rows (tall output)
    try:
        graph = trace(lambda a, b: ops.matmul(a, b), [(a_shape, "float32"), (b_shape, "float32")])
        a, b = random(*a_shape), random(*b_shape, seed=1)
        (out,) = Executor(graph).run(a, b)
        np.testing.assert_allclose(out, a.astype("float64") @ b, rtol=1e-4, atol=1e-3)
    finally:
        pyml.threads.set_num_threads(previous)
