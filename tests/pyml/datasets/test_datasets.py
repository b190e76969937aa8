"""pyml.datasets: shapes, dtypes, determinism, complete seeded splits, and synthetic data that obeys its formula."""
import sys

import numpy as np
import pytest
from sklearn import datasets as sk

import pyml
from pyml.datasets import breast_cancer, digits, iris, sample_images, synthetic


@pytest.mark.parametrize("module,full,shape,dtype", [
    (digits, lambda: (sk.load_digits().images, sk.load_digits().target), (8, 8), np.uint8),
    (iris, lambda: (sk.load_iris().data, sk.load_iris().target), (4,), np.float32),
    (breast_cancer, lambda: (sk.load_breast_cancer().data, sk.load_breast_cancer().target), (30,), np.float32),
])
def test_tables_split_every_row_once_by_a_seeded_shuffle(module, full, shape, dtype):
    x, y = full()
    (x_train, y_train), (x_test, y_test) = module.load_data(test_split=0.25, seed=5)
    assert x_train.shape[1:] == x_test.shape[1:] == shape and x_train.dtype == dtype and y_train.dtype == np.uint8
    assert len(x_test) == len(x) - int(len(x) * 0.75)
    order = np.random.RandomState(5).permutation(len(x))  # the documented rule, by hand
    np.testing.assert_array_equal(np.concatenate([x_train, x_test]), x[order].astype(dtype))
    np.testing.assert_array_equal(np.concatenate([y_train, y_test]), y[order])
    (again, _), _ = module.load_data(test_split=0.25, seed=5)
    (other, _), _ = module.load_data(test_split=0.25, seed=6)
    np.testing.assert_array_equal(again, x_train)
    assert not np.array_equal(other, x_train)
    with pytest.raises(ValueError, match="test_split"):
        module.load_data(test_split=1.0)


def test_sample_images_are_the_two_photos():
    images = sample_images.load_data()
    assert images.shape == (2, 427, 640, 3) and images.dtype == np.uint8
    bunch = sk.load_sample_images()
    for name, image in zip(sample_images.NAMES, images):
        index = [path.endswith(name) for path in bunch.filenames].index(True)
        np.testing.assert_array_equal(image, bunch.images[index])


def test_a_missing_scikit_learn_is_named_with_its_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(ImportError, match=r"pip install scikit-learn \(or pip install 'pyml\[demos\]'\)"):
        iris.load_data()


def test_spirals_follow_their_formula_and_seed():
    x, y = synthetic.spirals(300, num_classes=3, noise=0.0, turns=1.0, seed=4)
    assert x.shape == (300, 2) and x.dtype == np.float32 and np.bincount(y).tolist() == [100, 100, 100]
    radius = np.hypot(x[:, 0], x[:, 1])
    angle = np.arctan2(x[:, 0], x[:, 1])  # x = r (sin a, cos a)
    expected = 2 * np.pi * (radius + y / 3)
    np.testing.assert_allclose(np.angle(np.exp(1j * (angle - expected))), 0, atol=1e-4)
    np.testing.assert_array_equal(synthetic.spirals(300, 3, seed=4)[0], synthetic.spirals(300, 3, seed=4)[0])
    pyml.set_random_seed(2)
    first = synthetic.spirals(50)
    pyml.set_random_seed(2)
    np.testing.assert_array_equal(synthetic.spirals(50)[0], first[0])
    with pytest.raises(ValueError, match="num_classes must be a positive int. Received: num_classes=0"):
        synthetic.spirals(10, num_classes=0)


def test_blobs_cluster_around_their_centres():
    x, y = synthetic.blobs(600, centers=3, num_features=4, cluster_std=0.5, seed=1)
    assert x.shape == (600, 4) and np.bincount(y).tolist() == [200, 200, 200]
    centres = np.stack([x[y == k].mean(axis=0) for k in range(3)])
    nearest = np.argmin(((x[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
    assert (nearest == y).mean() > 0.95
    np.testing.assert_allclose([x[y == k].std(axis=0).mean() for k in range(3)], 0.5, atol=0.06)


def test_sine_sequences_continue_their_wave():
    x, y = synthetic.sine_sequences(64, timesteps=12, seed=3)
    assert x.shape == (64, 12, 1) and y.shape == (64, 1) and x.dtype == y.dtype == np.float32
    s = x[..., 0].astype(np.float64)
    # a sampled sinusoid obeys s[t+1] = 2 cos(w) s[t] - s[t-1]: estimate 2 cos(w) from the window, then predict
    two_cos = np.array([np.linalg.lstsq(row[1:-1, None], row[2:] + row[:-2], rcond=None)[0][0] for row in s])
    np.testing.assert_allclose(two_cos * s[:, -1] - s[:, -2], y[:, 0], atol=1e-4)
