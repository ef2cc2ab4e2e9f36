"""Fusion (Eq. 18), Gaussian log-densities and the batched node heads against float64 numpy."""
import numpy as np
import tensorflow as tf

import reference
from tfgvae.core import nodes


def test_fuse_matches_precision_weighted_closed_form():
    rng = np.random.default_rng(0)
    mu_bu, mu_td = rng.normal(size=(2, 7, 3))
    lv_bu, lv_td = rng.normal(scale=2.0, size=(2, 7, 3))
    mu, lv = nodes.fuse(*(tf.constant(a, tf.float64) for a in (mu_bu, lv_bu, mu_td, lv_td)))
    want_mu, want_lv = reference.fuse(mu_bu, lv_bu, mu_td, lv_td)
    np.testing.assert_allclose(mu.numpy(), want_mu, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(lv.numpy(), want_lv, rtol=1e-12, atol=1e-12)


def test_fuse_edge_values():
    # Equal Gaussians: mean unchanged, variance halved.
    mu, lv = nodes.fuse(tf.constant([1.5]), tf.constant([0.3]), tf.constant([1.5]), tf.constant([0.3]))
    np.testing.assert_allclose(mu.numpy(), [1.5], rtol=1e-6)
    np.testing.assert_allclose(lv.numpy(), [0.3 - np.log(2.0)], rtol=1e-6)
    # A far more precise side dominates, and extreme log-variances stay finite in float32.
    mu, lv = nodes.fuse(tf.constant([2.0]), tf.constant([-80.0]), tf.constant([-3.0]), tf.constant([80.0]))
    np.testing.assert_allclose(mu.numpy(), [2.0], rtol=1e-6)
    np.testing.assert_allclose(lv.numpy(), [-80.0], rtol=1e-6)
    assert np.all(np.isfinite(mu.numpy())) and np.all(np.isfinite(lv.numpy()))


def test_fuse_gradients_match_finite_differences():
    rng = np.random.default_rng(1)
    args = [tf.Variable(a) for a in rng.normal(size=(4, 5))]

    def f(*a):
        mu, lv = nodes.fuse(*a)
        return tf.reduce_sum(mu * 1.3 + lv * 0.7)

    theoretical, numerical = tf.test.compute_gradient(f, args)
    for t, n in zip(theoretical, numerical):
        np.testing.assert_allclose(t, n, atol=1e-6)


def test_normal_log_prob_matches_numpy():
    rng = np.random.default_rng(2)
    z, mu, lv = rng.normal(size=(3, 6, 4))
    got = nodes.normal_log_prob(*(tf.constant(a, tf.float64) for a in (z, mu, lv)))
    np.testing.assert_allclose(got.numpy(), reference.normal_log_prob(z, mu, lv), rtol=1e-12)


def test_node_batch_norm_matches_separate_batch_norms():
    rng = np.random.default_rng(3)
    bn = nodes.NodeBatchNorm((3, 2, 4))
    x = rng.normal(size=(16, 2, 4)).astype(np.float32) * 3 + 1
    moments = []
    for n in range(3):
        y, m = nodes.batch_norm(tf.constant(x + n), bn.gamma[n], bn.beta[n], bn.moving_mean[n],
                                bn.moving_var[n], training=True)
        want = (x - x.mean(0)) / np.sqrt(x.var(0) + nodes.BN_EPSILON)
        np.testing.assert_allclose(y.numpy(), want, rtol=1e-4, atol=1e-4)
        moments.append(m)
    bn.update(moments)
    np.testing.assert_allclose(bn.moving_mean.numpy()[2], 0.1 * (x + 2).mean(0), rtol=1e-5)
    np.testing.assert_allclose(bn.moving_var.numpy()[1], 0.9 + 0.1 * x.var(0), rtol=1e-5)
