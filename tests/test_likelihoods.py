"""Observation models p(x | z) against float64 numpy."""
import numpy as np
import pytest
import tensorflow as tf

from tfgvae.core import likelihoods
from tfgvae.core.model import GraphVAE, ModelConfig


def test_bernoulli_log_likelihood_matches_numpy():
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=4.0, size=(5, 7))
    x = (rng.random((5, 7)) < 0.5).astype(np.float64)
    p = 1.0 / (1.0 + np.exp(-logits))
    want = np.sum(x * np.log(p) + (1 - x) * np.log1p(-p), axis=1)
    got = likelihoods.log_likelihood("bernoulli", tf.constant(x), tf.constant(logits[..., None]))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10)
    np.testing.assert_allclose(likelihoods.mean("bernoulli", tf.constant(logits[..., None])).numpy(), p)


def test_bernoulli_extreme_logits_stay_finite():
    got = likelihoods.log_likelihood("bernoulli", tf.constant([[1.0, 0.0]]),
                                     tf.constant([[[80.0], [-80.0]]]))
    np.testing.assert_allclose(got.numpy(), [0.0], atol=1e-6)
    got = likelihoods.log_likelihood("bernoulli", tf.constant([[0.0]]), tf.constant([[[80.0]]]))
    np.testing.assert_allclose(got.numpy(), [-80.0], rtol=1e-6)


def test_gaussian_log_likelihood_uses_sigmoid_mean_and_logvar():
    rng = np.random.default_rng(1)
    o, lv = rng.normal(size=(2, 4, 6))
    x = rng.random((4, 6))
    mean = 1.0 / (1.0 + np.exp(-o))
    want = np.sum(-0.5 * (np.log(2 * np.pi) + lv + (x - mean) ** 2 / np.exp(lv)), axis=1)
    params = tf.constant(np.stack([o, lv], axis=-1))
    np.testing.assert_allclose(likelihoods.log_likelihood("gaussian", tf.constant(x), params).numpy(),
                               want, rtol=1e-10)
    np.testing.assert_allclose(likelihoods.mean("gaussian", params).numpy(), mean)


def test_gaussian_logvar_is_softly_bounded():
    """The head's log-variance is ~ the fc output inside LOGVAR_RANGE and never leaves it (numpy
    softplus, float64), with finite gradients at the extremes; unbounded it diverged on CIFAR-10."""
    low, high = 2 * np.log(1 / 256), 0.0
    assert likelihoods.LOGVAR_RANGE == pytest.approx((low, high))
    raw = np.array([-1e4, -300.0, -40.0, -11.0, -7.0, -5.0, -3.0, 0.0, 5.0, 300.0, 1e4])
    softplus = lambda v: np.logaddexp(0.0, v)  # noqa: E731
    want = high - softplus(high - (low + softplus(raw - low)))
    t = tf.constant(raw)
    with tf.GradientTape() as tape:
        tape.watch(t)
        got = likelihoods.bounded_logvar(t)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    floor = low - np.log1p(np.exp(low - high))  # the outer softplus reaches 1.5e-5 below low
    assert np.all((got.numpy() >= floor - 1e-12) & (got.numpy() <= high)) and got.numpy()[0] == pytest.approx(floor)
    assert abs(got.numpy()[4] - raw[4]) < 0.02 and abs(got.numpy()[5] - raw[5]) < 0.02  # identity inside
    grad = tape.gradient(got, t).numpy()
    assert np.all(np.isfinite(grad)) and np.all(grad >= 0) and grad[5] > 0.9
    head = likelihoods.ObservationHead("gaussian", 3)
    out = head(tf.constant([[1e6, -1e6, 0.0]], tf.float32)).numpy()  # huge decoder outputs
    assert np.all(np.isfinite(out)) and np.all((out[..., 1] >= floor - 1e-5) & (out[..., 1] <= high))


def test_gaussian_head_is_built_with_the_model():
    """Every variable exists after construction (an optimizer built then covers them all)."""
    model = GraphVAE(ModelConfig(input_dim=12, num_nodes=2, node_dim=2, likelihood="gaussian"))
    before = {v.path for v in model.trainable_variables}
    assert any("fc_logvar" in p for p in before)
    model.elbo_terms(np.random.default_rng(2).random((3, 12)).astype(np.float32), training=True)
    assert {v.path for v in model.trainable_variables} == before
