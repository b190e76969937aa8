"""Logits of ±1e4 and their float64 references, shared by the Python, native-WebGPU and browser suites.

Each row tests one thing: a clear winner (1e4 against -1e4 and 0), all equal at -1e4 (uniform), a tie at the
top, two close values at 1e4 (e^-5 apart: the shift by the maximum must be exact for the answer to be right),
and a row whose winner is small next to a -1e4. Every reference is the textbook formula evaluated in float64,
where exp(±1e4) over- or underflows exactly as the naive float32 formula would: so each is written in its
stable form (shift by the row's maximum, log1p(exp(-|z|))), and the derivatives by hand.
"""
import numpy as np

LOGITS = np.array([[1e4, -1e4, 0.0],
                   [-1e4, -1e4, -1e4],
                   [1e4, 1e4, -1e4],
                   [1e4, 9995.0, 3.0],
                   [-1e4, 5.0, -3.0]], np.float32)
CLASSES = np.array([1, 0, 2, 1, 0])  # the wrong class in rows 0, 2 and 4: losses of about 1e4 and 2e4
ONE_HOT = np.eye(3, dtype=np.float32)[CLASSES]
MULTI_HOT = (np.arange(15).reshape(5, 3) % 2).astype(np.float32)  # binary targets for the sigmoid losses
# Keras clips probabilities to [1e-7, 1 - 1e-7]; in float32, the model's dtype, 1 - 1e-7 is 1 - 2^-23 (0.99999988),
# so -log(1 - p) of a saturated p is 15.94, not float64's 16.12: the references clip to the float32 bounds.
LOW, HIGH = float(np.float32(1e-7)), float(np.float32(1 - 1e-7))


def z64():
    return LOGITS.astype(np.float64)


def logsumexp(z):
    top = z.max(axis=-1, keepdims=True)
    return (top + np.log(np.exp(z - top).sum(axis=-1, keepdims=True)))[..., 0]


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(z):
    return z - logsumexp(z)[..., None]


def sigmoid(z):
    return np.where(z >= 0, 1 / (1 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z))))


def softplus(z):
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


# ---- losses per row, and their gradients with respect to the logits -------------------------------------
def cce_logits(z, y):
    return logsumexp(z) - (y * z).sum(axis=-1), softmax(z) - y  # sum(y) = 1


def bce_logits(z, y):
    n = z.shape[-1]
    return (np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))).mean(axis=-1), (sigmoid(z) - y) / n


def cce_probabilities(z, y):
    """Keras: p = softmax(z), renormalised, clipped to [LOW, HIGH], then -sum(y log p)."""
    p = softmax(z)
    total = p.sum(axis=-1, keepdims=True)
    q = p / total
    inside = (q > LOW) & (q < HIGH)
    c = np.clip(q, LOW, HIGH)
    loss = -(y * np.log(c)).sum(axis=-1)
    d_q = np.where(inside, -y / c, 0.0)
    d_p = (d_q - (d_q * q).sum(axis=-1, keepdims=True)) / total  # through q = p / sum(p)
    return loss, p * (d_p - (d_p * p).sum(axis=-1, keepdims=True))  # through the softmax


def bce_probabilities(z, y):
    """Keras: p = sigmoid(z) clipped to [LOW, HIGH], then mean(-(y log p + (1 - y) log(1 - p)))."""
    n = z.shape[-1]
    p = sigmoid(z)
    inside = (p > LOW) & (p < HIGH)
    c = np.clip(p, LOW, HIGH)
    loss = -(y * np.log(c) + (1 - y) * np.log(1 - c)).mean(axis=-1)
    d_p = np.where(inside, (-y / c + (1 - y) / (1 - c)) / n, 0.0)
    return loss, d_p * p * (1 - p)
