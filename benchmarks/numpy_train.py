"""Hand-written NumPy training loops for ``train_compare.py``: the mlp and the Keras MNIST convnet, Adam, as a
NumPy user would write them (whole-batch im2col, one GEMM per layer, reshape-based 2x2 pooling).

    >>> import numpy_train
    >>> samples_per_second, loss, accuracy = numpy_train.train("mlp", x, y, epochs=2, batch_size=128)
"""
import time

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def glorot(rng, shape, fan_in, fan_out):
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape).astype(np.float32)


class Adam:
    """Keras's Adam (epsilon outside the square root), one in-place update per parameter."""

    def __init__(self, params, lr=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        self.params, self.lr, self.b1, self.b2, self.eps = params, lr, beta_1, beta_2, epsilon
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads):
        self.t += 1
        alpha = self.lr * np.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m += (g - m) * (1 - self.b1)
            v += (g * g - v) * (1 - self.b2)
            p -= alpha * m / (np.sqrt(v) + self.eps)


def softmax_cross_entropy(logits, labels):
    """Mean loss, the number of correct predictions, and d loss / d logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    p = e / e.sum(axis=1, keepdims=True)
    rows = np.arange(len(labels))
    loss = -np.log(np.clip(p[rows, labels], 1e-7, 1.0)).mean()
    grad = p
    grad[rows, labels] -= 1.0
    return loss, int((logits.argmax(axis=1) == labels).sum()), grad / len(labels)


class MLP:
    """784-512-512-10, relu, softmax cross-entropy."""

    def __init__(self, rng):
        sizes = [(784, 512), (512, 512), (512, 10)]
        self.params = []
        for fan_in, fan_out in sizes:
            self.params += [glorot(rng, (fan_in, fan_out), fan_in, fan_out), np.zeros(fan_out, np.float32)]

    def step(self, x, y):
        w1, b1, w2, b2, w3, b3 = self.params
        h1 = np.maximum(x @ w1 + b1, 0)
        h2 = np.maximum(h1 @ w2 + b2, 0)
        loss, correct, d3 = softmax_cross_entropy(h2 @ w3 + b3, y)
        d2 = (d3 @ w3.T) * (h2 > 0)
        d1 = (d2 @ w2.T) * (h1 > 0)
        return loss, correct, [x.T @ d1, d1.sum(0), h1.T @ d2, d2.sum(0), h2.T @ d3, d3.sum(0)]


def conv2d(x, w):
    """Valid 3x3 convolution, channels-last: im2col of the whole batch, one GEMM. Returns (out, cols)."""
    n, h, wd, c = x.shape
    k = w.shape[0]
    cols = sliding_window_view(x, (k, k), axis=(1, 2)).transpose(0, 1, 2, 4, 5, 3).reshape(-1, k * k * c)
    out = cols @ w.reshape(-1, w.shape[-1])
    return out.reshape(n, h - k + 1, wd - k + 1, w.shape[-1]), cols


def conv2d_input_grad(g, w, x_shape):
    """The gradient with respect to the input: g @ kernelᵀ as columns, added back by col2im."""
    n, oh, ow, _ = g.shape
    k, c = w.shape[0], w.shape[2]
    cols = (g.reshape(-1, g.shape[-1]) @ w.reshape(-1, w.shape[-1]).T).reshape(n, oh, ow, k, k, c)
    dx = np.zeros(x_shape, np.float32)
    for i in range(k):
        for j in range(k):
            dx[:, i:i + oh, j:j + ow] += cols[:, :, :, i, j]
    return dx


class ConvNet:
    """Conv 32 3x3 relu -> Conv 64 3x3 relu -> MaxPool 2 -> Flatten -> Dense 128 relu -> Dense 10."""

    def __init__(self, rng):
        self.params = [glorot(rng, (3, 3, 1, 32), 9, 9 * 32), np.zeros(32, np.float32),
                       glorot(rng, (3, 3, 32, 64), 9 * 32, 9 * 64), np.zeros(64, np.float32),
                       glorot(rng, (9216, 128), 9216, 128), np.zeros(128, np.float32),
                       glorot(rng, (128, 10), 128, 10), np.zeros(10, np.float32)]

    def step(self, x, y):
        k1, c1, k2, c2, w3, b3, w4, b4 = self.params
        z1, cols1 = conv2d(x, k1)
        a1 = np.maximum(z1 + c1, 0)
        z2, cols2 = conv2d(a1, k2)
        a2 = np.maximum(z2 + c2, 0)
        n = len(x)
        windows = a2.reshape(n, 12, 2, 12, 2, 64)
        pooled = windows.max(axis=(2, 4))
        flat = pooled.reshape(n, -1)
        h = np.maximum(flat @ w3 + b3, 0)
        loss, correct, d4 = softmax_cross_entropy(h @ w4 + b4, y)
        dh = (d4 @ w4.T) * (h > 0)
        dpool = (dh @ w3.T).reshape(n, 12, 1, 12, 1, 64)
        mask = windows == pooled.reshape(n, 12, 1, 12, 1, 64)  # ties share the gradient: fine for timing
        da2 = (mask * dpool).reshape(a2.shape) * (a2 > 0)
        dk2 = (cols2.T @ da2.reshape(-1, 64)).reshape(k2.shape)
        da1 = conv2d_input_grad(da2, k2, a1.shape) * (a1 > 0)
        dk1 = (cols1.T @ da1.reshape(-1, 32)).reshape(k1.shape)
        grads = [dk1, da1.sum((0, 1, 2)), dk2, da2.sum((0, 1, 2)), flat.T @ dh, dh.sum(0), h.T @ d4, d4.sum(0)]
        return loss, correct, grads


def train(model_name, x, y, epochs, batch_size, warmup_epochs=1, seed=0):
    """Train for ``warmup_epochs`` then ``epochs`` more, timed; ``(samples/s, last loss, last accuracy)``."""
    rng = np.random.default_rng(seed)
    model = MLP(rng) if model_name == "mlp" else ConvNet(rng)
    optimizer = Adam(model.params)
    x = x.reshape(len(x), -1) if model_name == "mlp" else x

    def epoch():
        order = rng.permutation(len(x))
        total, correct = 0.0, 0
        for lo in range(0, len(x), batch_size):
            index = order[lo:lo + batch_size]
            loss, right, grads = model.step(x[index], y[index])
            optimizer.step(grads)
            total, correct = total + loss * len(index), correct + right
        return total / len(x), correct / len(x)

    for _ in range(warmup_epochs):
        epoch()
    start = time.perf_counter()
    for _ in range(epochs):
        loss, accuracy = epoch()
    return len(x) * epochs / (time.perf_counter() - start), loss, accuracy
