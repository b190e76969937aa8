"""The public convolution and pooling ops against loop references (tests/op_samples/conv.py, written
independently of pyml's im2col forwards) and documented TF/Keras semantics: "same" padding splits, causal
padding, depthwise channel order, channels_first, conv_transpose output sizes and values, pooling that
does not count padding; gradients to second order; error messages."""
import numpy as np
import pytest

import pyml
from pyml import ops
from pyml.errors import OpError
from tests.op_samples.conv import conv_reference, conv_transpose_reference, pool_reference

rng = np.random.default_rng(3)


def normal(*shape):
    return rng.standard_normal(shape)


def distinct(*shape):
    size = int(np.prod(shape))
    return rng.permutation(size).reshape(shape) / size * 4 - 2


def _conv_ref(x, w, strides, padding, dilation=None, groups=1):
    rank = x.ndim - 2
    return conv_reference(x, w, strides=strides, padding=padding, dilation=dilation or (1,) * rank, groups=groups)


# ---- conv --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size, kernel, stride, expected_padding", [
    (7, 3, 2, (1, 1)),   # out 4: total (4-1)*2 + 3 - 7 = 2
    (6, 3, 2, (0, 1)),   # out 3: total 1, the extra element goes on the high side (TF/Keras)
    (5, 4, 1, (1, 2)),   # out 5: total 3
    (5, 1, 3, (0, 0)),   # out 2: total max(3 + 1 - 5, 0) = 0
])
def test_conv_same_padding_follows_tensorflow(size, kernel, stride, expected_padding):
    x, w = normal(2, size, size, 3), normal(kernel, kernel, 3, 2)
    out = ops.conv(x, w, strides=stride, padding="same")
    assert out.shape == (2, -(-size // stride), -(-size // stride), 2)
    expected = _conv_ref(x, w, (stride, stride), (expected_padding, expected_padding))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)


def test_conv_same_padding_accounts_for_dilation():
    x, w = normal(1, 9, 2), normal(3, 2, 4)
    out = ops.conv(x, w, padding="same", dilation_rate=2)  # effective kernel 5: total 4
    np.testing.assert_allclose(out.numpy(), _conv_ref(x, w, (1,), ((2, 2),), (2,)), rtol=1e-10, atol=1e-12)


def test_conv_explicit_and_causal_padding():
    x, w = normal(2, 8, 3), normal(3, 3, 2)
    np.testing.assert_allclose(ops.conv(x, w, padding=1).numpy(), _conv_ref(x, w, (1,), ((1, 1),)), rtol=1e-10)
    np.testing.assert_allclose(ops.conv(x, w, padding=[(2, 0)]).numpy(), _conv_ref(x, w, (1,), ((2, 0),)), rtol=1e-10)
    causal = ops.conv(x, w, padding="causal", dilation_rate=2)  # all (3 - 1) * 2 padding on the left
    assert causal.shape == (2, 8, 2)
    np.testing.assert_allclose(causal.numpy(), _conv_ref(x, w, (1,), ((4, 0),), (2,)), rtol=1e-10, atol=1e-12)


def test_conv_1d_2d_3d_with_groups_match_reference():
    cases = [((2, 9, 4), (3, 2, 6), (2,), ((1, 0),), (1,), 2),
             ((1, 6, 7, 4), (2, 3, 1, 4), (1, 2), ((1, 1), (0, 2)), (2, 1), 4),
             ((1, 4, 5, 3, 2), (2, 2, 3, 2, 3), (2, 1, 1), ((0, 1), (1, 1), (1, 1)), (1, 1, 1), 1)]
    for x_shape, w_shape, strides, padding, dilation, groups in cases:
        x, w = normal(*x_shape), normal(*w_shape)
        out = ops.conv(x, w, strides=strides, padding=padding, dilation_rate=dilation, groups=groups)
        np.testing.assert_allclose(out.numpy(), _conv_ref(x, w, strides, padding, dilation, groups), rtol=1e-10, atol=1e-12)


def test_depthwise_conv_orders_channels_like_keras():
    """Output channel c * depth_multiplier + m convolves input channel c with kernel[..., c, m]."""
    x, w = normal(2, 6, 6, 3), normal(3, 3, 3, 2)
    out = ops.depthwise_conv(x, w, strides=2, padding="same").numpy()
    assert out.shape == (2, 3, 3, 6)
    for c in range(3):
        for m in range(2):
            single = ops.conv(x[..., c:c + 1], w[:, :, c:c + 1, m:m + 1], strides=2, padding="same").numpy()
            np.testing.assert_allclose(out[..., c * 2 + m], single[..., 0], rtol=1e-10, atol=1e-12)


def test_channels_first_matches_channels_last():
    x, w = normal(2, 3, 5, 6), normal(3, 3, 3, 4)
    first = ops.conv(x, w, padding="same", data_format="channels_first").numpy()
    last = ops.conv(np.moveaxis(x, 1, -1), w, padding="same").numpy()
    np.testing.assert_allclose(first, np.moveaxis(last, -1, 1), rtol=1e-12)
    pooled = ops.max_pool(x, 2, data_format="channels_first").numpy()
    np.testing.assert_allclose(pooled, np.moveaxis(ops.max_pool(np.moveaxis(x, 1, -1), 2).numpy(), -1, 1))


def test_conv_keeps_float32_and_promotes_ints():
    x = np.arange(16, dtype=np.int32).reshape(1, 4, 4, 1)
    out = ops.conv(x, np.ones((2, 2, 1, 1), np.float32), strides=2)
    assert out.dtype == "float32"
    np.testing.assert_array_equal(out.numpy()[0, :, :, 0], [[10, 18], [42, 50]])


# ---- conv_transpose ------------------------------------------------------------------------------------------
def _keras_transpose_size(size, k, s, d, padding, output_padding):
    """keras.src.ops.operation_utils.compute_conv_transpose_output_shape, per spatial dim."""
    k = (k - 1) * d + 1
    if padding == "valid":
        return (size - 1) * s + k + (max(k, s) - k if output_padding is None else output_padding)
    if output_padding is None:
        return size * s
    return (size - 1) * s + k - 2 * (k // 2) + output_padding


def _tf_padding(padding, size, k, s, d):
    """The padding TensorFlow gives the forward conv of input size ``size`` (conv_transpose is its adjoint)."""
    if padding == "valid":
        return (0, 0)
    k = (k - 1) * d + 1
    total = max((-(-size // s) - 1) * s + k - size, 0)
    return (total // 2, total - total // 2)


@pytest.mark.parametrize("size, k, s, d, padding, output_padding", [
    (3, 3, 2, 1, "same", None), (4, 2, 2, 1, "same", None), (3, 3, 1, 2, "same", None), (3, 4, 3, 1, "same", None),
    (3, 3, 2, 1, "valid", None), (3, 1, 3, 1, "valid", None), (2, 3, 1, 2, "valid", None),
    (3, 3, 2, 1, "same", 1), (3, 3, 3, 1, "valid", 2), (4, 3, 2, 2, "valid", 1), (2, 5, 2, 1, "same", 0),
])
def test_conv_transpose_is_the_adjoint_of_the_tensorflow_conv(size, k, s, d, padding, output_padding):
    """Output size from Keras's formula; values = the input gradient of the conv TF pairs with it."""
    x, w = normal(2, size, size + 1, 3), normal(k, k, 2, 3)  # kernel (k, k, filters=2, channels=3)
    out = ops.conv_transpose(x, w, strides=s, padding=padding, output_padding=output_padding, dilation_rate=d)
    sizes = tuple(_keras_transpose_size(n, k, s, d, padding, output_padding) for n in (size, size + 1))
    assert out.shape == (2, *sizes, 2)
    pads = tuple(_tf_padding(padding, n, k, s, d) for n in sizes)
    expected = conv_transpose_reference(x, w, strides=(s, s), padding=pads, dilation=(d, d), groups=1, spatial_shape=sizes)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)


def test_conv_transpose_1d_and_3d_shapes():
    assert ops.conv_transpose(normal(1, 5, 4), normal(3, 2, 4), strides=2).shape == (1, 11, 2)
    assert ops.conv_transpose(normal(1, 2, 3, 4, 4), normal(2, 2, 2, 3, 4), strides=2, padding="same").shape == (1, 4, 6, 8, 3)


# ---- pooling -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, pool_size, strides, padding", [
    ((2, 8, 3), 2, None, "valid"), ((2, 7, 3), 3, 2, "same"), ((1, 7, 6, 2), (3, 2), (2, 1), "same"),
    ((1, 5, 5, 2), 2, 1, "valid"), ((1, 4, 5, 3, 2), (2, 2, 3), (1, 2, 2), "same"),
])
def test_pools_match_loop_reference(shape, pool_size, strides, padding):
    x = distinct(*shape)
    rank = len(shape) - 2
    window = (pool_size,) * rank if isinstance(pool_size, int) else pool_size
    steps = window if strides is None else (strides,) * rank if isinstance(strides, int) else strides
    pads = tuple(_tf_padding(padding, n, k, s, 1) for n, k, s in zip(shape[1:-1], window, steps))
    for op, kind in ((ops.max_pool, "max"), (ops.average_pool, "avg")):
        out = op(x, pool_size, strides=strides, padding=padding)
        expected = pool_reference(kind)(x, window=window, strides=steps, padding=pads)
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, err_msg=kind)


def test_average_pool_same_does_not_count_padding():
    x = np.array([1.0, 3.0, 2.0, 5.0, 4.0]).reshape(1, 5, 1)
    np.testing.assert_allclose(ops.average_pool(x, 2, padding="same").numpy().ravel(), [2.0, 3.5, 4.0])
    grid = np.arange(9.0).reshape(1, 3, 3, 1)  # corner window covers 4 of its 9 cells with "same", stride 2
    out = ops.average_pool(grid, 3, strides=2, padding="same").numpy()[0, :, :, 0]
    np.testing.assert_allclose(out, [[2.0, 3.0], [5.0, 6.0]])


def test_max_pool_padding_never_wins():
    x = -np.arange(1.0, 6.0).reshape(1, 5, 1)  # all negative: zero padding would win if counted
    np.testing.assert_allclose(ops.max_pool(x, 2, padding="same").numpy().ravel(), [-1.0, -3.0, -5.0])


def test_max_pool_gradient_goes_to_the_first_maximum():
    x = pyml.Tensor(np.array([[[1.0], [3.0], [3.0], [0.0]]]), requires_grad=True)
    ops.sum(ops.max_pool(x, 3, strides=1)).backward()
    np.testing.assert_array_equal(x.grad.numpy().ravel(), [0.0, 2.0, 0.0, 0.0])


# ---- gradients -------------------------------------------------------------------------------------------------
def _directional(f, x, v, eps=1e-6):
    return (f(x + eps * v) - f(x - eps * v)) / (2 * eps)


def test_depthwise_conv_kernel_gradient_matches_finite_differences():
    x, w, v = normal(1, 5, 5, 2), normal(3, 3, 2, 2), normal(3, 3, 2, 2)
    tw = pyml.Tensor(w, requires_grad=True)
    ops.sum(ops.tanh(ops.depthwise_conv(x, tw, padding="same"))).backward()
    numeric = _directional(lambda k: np.sum(np.tanh(ops.depthwise_conv(x, k, padding="same").numpy())), w, v)
    np.testing.assert_allclose(np.sum(tw.grad.numpy() * v), numeric, rtol=1e-6)


def _input_gradient_penalty(x, w, **conv_args):
    """||∇_x sum(tanh(conv(x, w)))||², computed with pyml (first order only)."""
    tx = pyml.Tensor(x, requires_grad=True)
    ops.sum(ops.tanh(ops.conv(tx, w, **conv_args))).backward()
    return float(np.sum(tx.grad.numpy() ** 2))


@pytest.mark.parametrize("conv_args", [dict(strides=2, padding="same"), dict(padding="valid", dilation_rate=2),
                                       dict(padding=1, groups=2)])
def test_second_order_gradient_through_conv(conv_args):
    """d/dW ||∇_x f||² (gradient of a gradient: conv_transpose and conv_filter_grad differentiated in turn)."""
    x, w = normal(2, 7, 7, 2), normal(3, 3, 2 // conv_args.get("groups", 1), 4) * 0.5
    v = normal(*w.shape)
    tx, tw = pyml.Tensor(x), pyml.Variable(w)
    with pyml.GradientTape() as outer:
        with pyml.GradientTape() as inner:
            inner.watch(tx)
            f = ops.sum(ops.tanh(ops.conv(tx, tw, **conv_args)))
        gx = inner.gradient(f, tx)
        penalty = ops.sum(gx * gx)
    dw = outer.gradient(penalty, tw)
    numeric = _directional(lambda k: _input_gradient_penalty(x, k, **conv_args), w, v)
    np.testing.assert_allclose(np.sum(dw.numpy() * v), numeric, rtol=1e-5)


@pytest.mark.parametrize("pool", [ops.max_pool, ops.average_pool])
def test_second_order_gradient_through_pools(pool):
    """∇_x <∇_x sum(pool(x)²), c> by double backprop equals finite differences of the first-order gradient."""
    x, c, v = distinct(1, 6, 6, 2), normal(1, 6, 6, 2), normal(1, 6, 6, 2)

    def first_order(values):
        tx = pyml.Tensor(values, requires_grad=True)
        ops.sum(ops.square(pool(tx, 3, strides=2, padding="same"))).backward()
        return float(np.sum(tx.grad.numpy() * c))

    tx = pyml.Tensor(x, requires_grad=True)
    (gx,) = pyml.autodiff.grad([ops.sum(ops.square(pool(tx, 3, strides=2, padding="same")))], [tx], create_graph=True)
    (hx,) = pyml.autodiff.grad([ops.sum(gx * c)], [tx])
    np.testing.assert_allclose(np.sum(hx.numpy() * v), _directional(first_order, x, v), rtol=1e-5, atol=1e-8)


# ---- errors ----------------------------------------------------------------------------------------------------
def test_conv_channel_mismatch_message():
    with pytest.raises(OpError, match=r"^conv: input has 3 channels but kernel expects 4 \(groups=1\)\. "
                                      r"Received: x\.shape=\(1, 8, 8, 3\), kernel\.shape=\(3, 3, 4, 16\)$"):
        ops.conv(np.ones((1, 8, 8, 3), np.float32), np.ones((3, 3, 4, 16), np.float32))
    with pytest.raises(OpError, match=r"input has 4 channels but kernel expects 6 \(groups=3\)"):
        ops.conv(np.ones((1, 5, 5, 4)), np.ones((3, 3, 2, 6)), groups=3)


@pytest.mark.parametrize("call, message", [
    (lambda: ops.conv(np.ones((8, 8, 3)), np.ones((3, 3, 3, 4))), r"conv: inputs must have rank 3, 4 or 5"),
    (lambda: ops.conv(np.ones((1, 8, 8, 3)), np.ones((3, 3, 4))), r"conv: .*the kernel the same rank. "
                                                                  r"Received: inputs.shape=\(1, 8, 8, 3\), kernel.shape=\(3, 3, 4\)"),
    (lambda: ops.conv(np.ones((1, 5, 5, 4)), np.ones((3, 3, 2, 5)), groups=2), r"conv: the kernel's 5 output channels "
                                                                               r"do not divide into groups=2"),
    (lambda: ops.conv(np.ones((1, 8, 8, 3)), np.ones((3, 3, 3, 4)), padding="full"), r'conv: padding must be "valid", "same"'),
    (lambda: ops.conv(np.ones((1, 8, 8, 3)), np.ones((3, 3, 3, 4)), strides=0), r"conv: strides must be a positive int"),
    (lambda: ops.conv(np.ones((1, 2, 2, 3)), np.ones((3, 3, 3, 4))), r"conv: on spatial axis 0 the window \(3 with dilation 1\) "
                                                                     r"is larger than the padded input"),
    (lambda: ops.conv(np.ones((1, 8, 8, 3)), np.ones((3, 3, 3, 4)), padding="causal"), r"padding must be"),
    (lambda: ops.conv_transpose(np.ones((1, 4, 4, 3)), np.ones((3, 3, 2, 5))), r"conv_transpose: input has 3 channels but the kernel expects 5"),
    (lambda: ops.conv_transpose(np.ones((1, 4, 4, 3)), np.ones((3, 3, 2, 3)), strides=2, output_padding=2),
     r"output_padding must be 2 non-negative ints, each smaller than its stride"),
    (lambda: ops.depthwise_conv(np.ones((1, 4, 4, 3)), np.ones((3, 3, 2, 2))), r"depthwise_conv: input has 3 channels but the kernel expects 2"),
    (lambda: ops.max_pool(np.ones((1, 4, 4, 3)), 2, padding=((2, 0), (0, 0))), r"max_pool: padding \(2, 0\) on spatial axis 0 must be smaller than the window 2"),
    (lambda: ops.average_pool(np.ones((4, 3)), 2), r"average_pool: inputs must have rank 3, 4 or 5"),
    (lambda: ops.max_pool(np.ones((1, 4, 4, 3)), (2, 2, 2)), r"max_pool: pool_size must be a positive int or a sequence of 2"),
])
def test_errors_name_the_op_and_what_was_received(call, message):
    with pytest.raises(OpError, match=message):
        call()


def test_conv_transpose_primitive_refuses_groups_below_one():
    y, w = pyml.Tensor(np.ones((1, 3, 2))), pyml.Tensor(np.ones((1, 2, 2)))
    with pytest.raises(OpError, match=r"conv_transpose: groups must be a positive int. Received: groups=0"):
        pyml.ops.bind("conv_transpose", y, w, strides=(1,), padding=((0, 0),), dilation=(1,), groups=0,
                      spatial_shape=(3,))
