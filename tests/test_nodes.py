"""Fusion (Eq. 18), Gaussian log-densities and the batched node heads against float64 numpy."""
import keras
import numpy as np
import pytest
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


def _glorot_std(fan_in, fan_out):
    """The standard deviation of U(-l, l), l = sqrt(6 / (fan_in + fan_out)): one fc layer's Glorot."""
    return np.sqrt(6.0 / (fan_in + fan_out)) / np.sqrt(3.0)


def test_per_node_init_gives_every_node_one_layers_glorot_and_stacked_shrinks_it():
    n, d, h = 5, 16, 128
    for head_init, shrink in (("per_node", {"bu": 1.0, "td": 1.0}),
                              ("stacked", {"bu": np.sqrt(n), "td": np.sqrt(2 * (n - 1))})):
        keras.utils.set_random_seed(0)
        bu, td = nodes.BottomUpHeads(n, d, h, head_init), nodes.TopDownHeads(n, d, h, head_init)
        bu.build((None, h))
        td.build()
        kernels = [("bu", bu.w2.numpy(), h, d), ("bu", bu.w3.numpy(), d, 2 * d),
                   ("td", td.w2.numpy().reshape(-1, h, d), h, d), ("td", td.w3.numpy().reshape(-1, d, 2 * d), d, 2 * d)]
        for head, w, fan_in, fan_out in kernels:
            want = _glorot_std(fan_in, fan_out) / shrink[head]
            for block in w:  # every node's (and stream's) layer
                assert abs(block.std() / want - 1) < 0.12, (head_init, head, block.shape)
                assert np.abs(block).max() <= want * np.sqrt(3.0) * (1 + 1e-6)


def test_one_node_heads_draw_the_same_weights_under_either_init():
    weights = {}
    for head_init in nodes.HEAD_INITS:
        keras.utils.set_random_seed(3)
        bu = nodes.BottomUpHeads(1, 80, 706, head_init)
        bu.build((None, 128))
        weights[head_init] = [v.numpy() for v in bu.weights]
    for a, b in zip(*weights.values()):
        np.testing.assert_array_equal(a, b)


def test_unknown_head_init_is_refused():
    with pytest.raises(ValueError, match="head_init must be one of per_node, stacked"):
        nodes.BottomUpHeads(2, 3, 4, "he_normal")
