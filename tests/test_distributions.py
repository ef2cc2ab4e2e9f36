"""The layers' TFP distributions, and the closed forms the training step keeps (fusion, gates), against tfd in float64."""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
import keras

import reference
from tfgvae.core import nodes, structure
from tfgvae.core.model import GraphVAE, ModelConfig

tfd = tfp.distributions


def test_sample_node_matches_tfd_normal_sample_and_log_prob():
    """z of ``sample_node`` (closed-form fusion, Eq. 18) is tfd.Normal's sample, same seed, and its log q / log p
    are tfd.Normal's log_prob and numpy's closed form, float64."""
    rng = np.random.default_rng(0)
    prior, td = [(tf.constant(rng.normal(size=(7, 3))), tf.constant(rng.normal(scale=4.0, size=(7, 3))))
                 for _ in range(2)]
    # Bottom-up log-variances from near-degenerate to very wide.
    bu = (tf.constant(rng.normal(size=(7, 3))),
          tf.constant(np.repeat([[-40.0], [-3.0], [0.0], [5.0], [30.0], [1.0], [-1.0]], 3, axis=1)))
    seed = tf.constant([3, 4])
    q_mu, q_lv = nodes.fuse(*bu, *td)
    q = tfd.Normal(q_mu, tf.exp(0.5 * q_lv))
    noise = tf.random.stateless_normal((7, 3), seed, dtype=tf.float64)
    z, log_q, log_p = nodes.sample_node(noise, prior, bu, td)
    np.testing.assert_allclose(z.numpy(), q.sample(seed=seed).numpy(), rtol=1e-12, atol=1e-300)
    # atol: at sigma ~ 1e-9 both forms lose ~1e-7 of (z - mu)^2 / sigma^2 to z - mu's cancellation.
    np.testing.assert_allclose(log_q.numpy(), tf.reduce_sum(q.log_prob(z), -1).numpy(), rtol=1e-10, atol=1e-6)
    p = tfd.Independent(tfd.Normal(prior[0], tf.exp(0.5 * prior[1])), 1)
    np.testing.assert_allclose(log_p.numpy(), p.log_prob(z).numpy(), rtol=1e-10)
    # The same log-densities from numpy's closed form (independent of tfd, which the step now uses).
    np.testing.assert_allclose(log_q.numpy(), reference.normal_log_prob(z.numpy(), q_mu.numpy(), q_lv.numpy()),
                               rtol=1e-10, atol=1e-6)
    np.testing.assert_allclose(log_p.numpy(), reference.normal_log_prob(z.numpy(), *(t.numpy() for t in prior)),
                               rtol=1e-10)


@pytest.mark.parametrize("tau", [1.0, 0.1, 0.01])
def test_relaxed_gates_match_tfd_relaxed_bernoulli_sample_in_logit_space(tau):
    """Eq. 9 as trained (``relaxed_bernoulli``) is tfd.RelaxedBernoulli's sample from the same uniforms
    (same seed), including saturated logits and low tau. Compared in logit space, float64; the
    training-side clip to [1e-6, 1 - 1e-6] only bites where tfd's sample is beyond it."""
    logits = tf.constant([-300.0, -30.0, -2.0, 0.0, 0.5, 30.0, 300.0], tf.float64)
    seed = tf.constant([5, 6])
    want = tfd.RelaxedBernoulli(tf.constant(tau, tf.float64), logits=logits).sample(1000, seed=seed)
    # tfd draws U(tiny, 1) from the seed; the same draw fed to the closed form:
    u = tf.random.stateless_uniform((1000, 7), seed, minval=np.finfo(np.float64).tiny, maxval=1.0,
                                    dtype=tf.float64)
    got = structure.relaxed_bernoulli(logits, tf.constant(tau, tf.float64), u).numpy()
    # tfd's sample in logit space is (logit + L) / tau; with its probability rounded to 0/1 use that.
    want_logit = ((logits + tf.math.log(u) - tf.math.log1p(-u)) / tau).numpy()
    inside = (want.numpy() > 1e-6) & (want.numpy() < 1 - 1e-6)
    assert inside.any() and (~inside).any()
    np.testing.assert_allclose(np.log(got / (1 - got))[inside], want_logit[inside], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got[inside], want.numpy()[inside], rtol=1e-9)
    bound = np.log((1 - structure.GATE_EPS) / structure.GATE_EPS)
    np.testing.assert_allclose(np.abs(np.log(got / (1 - got))[~inside]), bound, rtol=1e-6)
    assert np.all(np.sign(np.log(got / (1 - got))[~inside]) == np.sign(want_logit[~inside]))


def test_gate_distributions_are_the_gates_of_the_layer():
    gates = structure.DependencyGates(4, "graph")
    logits = np.random.default_rng(1).normal(scale=2.0, size=(4, 4)).astype(np.float32)
    gates.logits.assign(logits)
    edges = [(j, i) for j, i, _ in gates.edge_names()]
    want = np.array([logits[j, i] for j, i in edges])
    relaxed = gates.distribution(0.3)
    assert isinstance(relaxed, tfd.RelaxedBernoulli)
    np.testing.assert_allclose(relaxed.logits.numpy(), want)
    np.testing.assert_allclose(relaxed.temperature.numpy(), 0.3)
    # Its log-density at a draw, against the logistic density of Eq. 9 written out (float64).
    c = np.clip(relaxed.sample(seed=(1, 2)).numpy().astype(np.float64), 1e-3, 1 - 1e-3)
    y = np.log(c / (1 - c))
    closed = np.log(0.3) + (-0.3 * y + want) - 2 * np.log1p(np.exp(-0.3 * y + want)) - np.log(c * (1 - c))
    np.testing.assert_allclose(relaxed.log_prob(c.astype(np.float32)).numpy(), closed, rtol=2e-4, atol=2e-4)
    bern = gates.bernoulli()
    np.testing.assert_allclose(bern.mean().numpy(), 1 / (1 + np.exp(-want)), rtol=1e-6)
    np.testing.assert_array_equal(bern.mode().numpy(), (want > 0).astype(np.float32))
    fc = structure.DependencyGates(3, "fc")
    np.testing.assert_array_equal(fc.bernoulli().mean().numpy(), [1, 1, 1])
    with pytest.raises(ValueError, match="fixed gates"):
        fc.distribution(0.5)


@pytest.mark.parametrize("encoder_graph", ["shared", "fc"])
def test_node_distributions_score_the_latent_pass(encoder_graph):
    """prior_/posterior_distribution at the pass's z give its log p / log q, and z = mean + std * noise;
    with the fully-connected encoder graph the pass matches the numpy reference with all posterior gates 1."""
    keras.utils.set_random_seed(0)
    model = GraphVAE(ModelConfig(input_dim=20, num_nodes=4, node_dim=3, encoder_graph=encoder_graph), seed=1)
    rng = np.random.default_rng(2)
    x = (rng.random((6, 20)) < 0.5).astype(np.float32)
    gates = tf.constant((rng.random((6, 4, 4)) * np.tril(np.ones((4, 4)), -1)).astype(np.float32))
    noise = tf.constant(rng.normal(size=(6, 4, 3)).astype(np.float32))
    mu_bu, lv_bu = model.bottom_up_gaussians(x)
    z, log_q, log_p = model.descend(gates, noise, (mu_bu, lv_bu))
    ones = np.tril(np.ones((4, 4)), -1) if encoder_graph == "fc" else None
    want = reference.descend(model, gates.numpy(), noise.numpy(), np.asarray(mu_bu, np.float64),
                             np.asarray(lv_bu, np.float64), posterior_gates=ones)
    for got, ref in zip((z, log_q, log_p), want):
        np.testing.assert_allclose(got.numpy(), ref, rtol=2e-4, atol=2e-4)
    prior, post = model.prior_distribution(z, gates), model.posterior_distribution(x, z, gates)
    assert post.batch_shape == (6, 4) and post.event_shape == (3,)
    np.testing.assert_allclose(prior.log_prob(z).numpy(), log_p.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(post.log_prob(z).numpy(), log_q.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose((post.mean() + post.stddev() * noise).numpy(), z.numpy(), rtol=1e-4, atol=1e-5)
