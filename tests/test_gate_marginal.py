"""Evaluation readings of the gates: the gate-marginal likelihood (``gates="sampled"``/``"relaxed"``)
and batch-norm moments recomputed at the MAP structure (``tfgvae.core.recalibration``).

The exact checks use a linear-Gaussian DAG double: z_N ~ N(0, 1), z_i | z_pa ~ N(sum_j c_ji a_ji z_j, 1),
x | z ~ N(W z + b, s^2 I), whose proposal is the exact posterior p(z | x, c), so every importance
weight is p(x | c) itself and log p(x) = log sum_c p(c) N(x; b, W S_c W^T + s^2 I) by enumeration.
"""
import itertools
import types

import numpy as np
import pytest
import tensorflow as tf
import keras
from scipy import stats
from scipy.special import expit, logit, logsumexp

from tfgvae.core import importance
from tfgvae.core.model import GraphVAE, ModelConfig
from tfgvae.core.nodes import normal_log_prob
from tfgvae.core.recalibration import batch_norm_layers, recalibrate_batch_norm
from tfgvae.core.structure import DependencyGates

NODES, DIM = 3, 5
A = np.array([[0.0, 0.0, 0.0], [1.5, 0.0, 0.0], [-1.0, 2.0, 0.0]])  # a[j, i]: parent j -> child i


class LinearDag:
    """The double: one scalar per node, the exact posterior per row of gates."""

    def __init__(self, mu, nodes=NODES, seed=0, temperature=0.5):
        rng = np.random.default_rng(seed)
        self.config = types.SimpleNamespace(num_nodes=nodes, node_dim=1, likelihood="gaussian")
        self.gates = DependencyGates(nodes, "graph")
        self.gates.logits.assign(logit(np.clip(mu, 1e-6, 1 - 1e-6)).astype(np.float32))
        self.a = A[:nodes, :nodes]
        self.w, self.b, self.sigma = rng.normal(size=(DIM, nodes)), rng.normal(size=DIM), 0.7
        self.temperature = tf.constant(temperature)

    def bottom_up_gaussians(self, x, training=False):
        return tf.convert_to_tensor(x)[:, None], tf.zeros_like(x)[:, None]  # x, tiled per sample

    def descend(self, gates, noise, bottom_up, training=False):
        x = tf.cast(bottom_up[0][:, 0], tf.float64)
        rows, n = tf.shape(x)[0], self.config.num_nodes
        c = tf.cast(tf.broadcast_to(gates, (rows, n, n)), tf.float64)
        lower = tf.linalg.matrix_transpose(c * self.a)  # [i, j] = c_ji a_ji: z = (I - that)^-1 eps
        chol_s = tf.linalg.inv(tf.eye(n, dtype=tf.float64) - lower)
        prior = tf.matmul(chol_s, chol_s, transpose_b=True)
        w = tf.constant(self.w)
        precision = tf.linalg.inv(prior) + tf.matmul(w, w, transpose_a=True)[None] / self.sigma ** 2
        cov = tf.linalg.inv(precision)
        mean = tf.linalg.matvec(cov, tf.linalg.matvec(w, x - self.b, transpose_a=True)) / self.sigma ** 2
        z = mean + tf.linalg.matvec(tf.linalg.cholesky(cov), tf.cast(noise[..., 0], tf.float64))
        log_q = tfp_mvn(z, mean, cov)
        log_p = tfp_mvn(z, tf.zeros_like(z), prior)
        pad = tf.zeros((rows, n - 1), tf.float32)  # all of it on node 1: only the sum matters
        return (tf.cast(z, tf.float32)[..., None], tf.concat([tf.cast(log_q, tf.float32)[:, None], pad], 1),
                tf.concat([tf.cast(log_p, tf.float32)[:, None], pad], 1))

    def decode(self, z, training=False):
        return tf.cast(tf.matmul(tf.cast(z[..., 0], tf.float64), self.w, transpose_b=True) + self.b,
                       tf.float32)[..., None]

    def observation_log_prob(self, x, params):
        lv = 2.0 * np.log(self.sigma) * tf.ones_like(params[..., 0])
        return normal_log_prob(x, params[..., 0], lv)

    def log_likelihood_given(self, x, c):
        """Exact log p(x | c) (numpy float64), c (N, N)."""
        lower = (np.asarray(c) * self.a).T
        chol_s = np.linalg.inv(np.eye(len(lower)) - lower)
        cov = self.w @ chol_s @ chol_s.T @ self.w.T + self.sigma ** 2 * np.eye(DIM)
        return stats.multivariate_normal(self.b, cov).logpdf(x)


def tfp_mvn(z, mean, cov):
    d = z - mean
    n = tf.cast(tf.shape(z)[-1], tf.float64)
    return -0.5 * (tf.reduce_sum(d * tf.linalg.solve(cov, d[..., None])[..., 0], -1)
                   + tf.linalg.logdet(cov) + n * np.log(2 * np.pi))


def _data(n=40, seed=1):
    return np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32) * 2.0


def test_sampled_gates_give_the_enumerated_mixture_likelihood():
    mu = np.array([[0, 0, 0], [0.7, 0, 0], [0.35, 0.85, 0]])
    model, x = LinearDag(mu), _data()
    edges = [(1, 0), (2, 0), (2, 1)]
    terms = []
    for bits in itertools.product([0, 1], repeat=3):  # the 8 structures
        c = np.zeros((NODES, NODES))
        log_pc = 0.0
        for (j, i), bit in zip(edges, bits):
            c[j, i] = bit
            log_pc += np.log(mu[j, i] if bit else 1 - mu[j, i])
        terms.append(log_pc + model.log_likelihood_given(x, c))
    exact = logsumexp(np.stack(terms), axis=0)
    got = importance.importance_log_likelihood(model, x, 6000, chunk_size=1000, seed=3, gates="sampled").numpy()
    np.testing.assert_allclose(got, exact, atol=0.06)
    map_ = importance.importance_log_likelihood(model, x, 10, seed=3).numpy()  # c_MAP: all three edges
    np.testing.assert_allclose(map_, model.log_likelihood_given(x, (mu > 0.5) * 1.0), atol=1e-3)
    assert np.abs(map_ - exact).mean() > 0.3  # the two readings differ here: the check can fail


def test_relaxed_gates_give_the_quadrature_over_the_relaxed_gate():
    mu, tau = np.array([[0, 0], [0.6, 0]]), 0.5
    model, x = LinearDag(mu, nodes=2, temperature=tau), _data(30, seed=2)
    u = (np.arange(4000) + 0.5) / 4000  # midpoint rule over the uniform behind Eq. 9
    c = np.clip(expit((logit(0.6) + logit(u)) / tau), 1e-6, 1 - 1e-6)
    per_u = np.stack([model.log_likelihood_given(x, np.array([[0, 0], [v, 0]])) for v in c[::8]])
    exact = logsumexp(per_u, axis=0) - np.log(len(per_u))
    got = importance.importance_log_likelihood(model, x, 6000, chunk_size=1000, seed=5, gates="relaxed").numpy()
    np.testing.assert_allclose(got, exact, atol=0.05)


def test_relaxed_tends_to_sampled_as_tau_falls_with_the_same_uniforms():
    mu = np.array([[0, 0, 0], [0.7, 0, 0], [0.35, 0.85, 0]])
    model, x = LinearDag(mu, temperature=1e-4), _data(10)
    sampled = importance.importance_log_likelihood(model, x, 50, chunk_size=25, seed=7, gates="sampled")
    relaxed = importance.importance_log_likelihood(model, x, 50, chunk_size=25, seed=7, gates="relaxed")
    np.testing.assert_allclose(relaxed, sampled, atol=2e-3)


def _graph_model(structure="graph", seed=0, nodes=3):
    keras.utils.set_random_seed(seed)
    model = GraphVAE(ModelConfig(input_dim=16, num_nodes=nodes, node_dim=2, structure=structure), seed=1)
    if structure == "graph":
        model.gates.set_means(np.array([[0, 0, 0], [0.8, 0, 0], [0.3, 0.6, 0]]))
    return model


def _binary(n, seed=0):
    return (np.random.default_rng(seed).random((n, 16)) < 0.4).astype(np.float32)


def test_graph_vae_sampled_estimate_matches_enumeration_of_estimated_structures():
    model, x = _graph_model(), _binary(24)
    mu = model.gates.means().numpy()
    edges = [(1, 0), (2, 0), (2, 1)]
    given = tf.function(lambda c: importance.importance_log_likelihood(model, x, 3000, chunk_size=1000, seed=11,
                                                                       gates=lambda *_: c))
    terms = []
    for bits in itertools.product([0, 1], repeat=3):
        c = np.zeros((1, 3, 3), np.float32)
        for (j, i), bit in zip(edges, bits):
            c[0, j, i] = bit
        log_pc = sum(np.log(mu[j, i] if bit else 1 - mu[j, i]) for (j, i), bit in zip(edges, bits))
        terms.append(log_pc + given(tf.constant(c)).numpy().astype(np.float64))
    want = logsumexp(np.stack(terms), axis=0)
    got = tf.function(lambda: importance.importance_log_likelihood(model, x, 8000, chunk_size=1000, seed=12,
                                                                   gates="sampled"))().numpy()
    assert abs(np.mean(got - want)) < 0.05, np.mean(got - want)
    np.testing.assert_allclose(got, want, atol=0.4)  # per image: the two estimates' own noise


def test_fixed_structure_sampled_equals_map_exactly():
    model, x = _graph_model("fc"), _binary(6)
    for reading in ("sampled", "relaxed"):
        got = importance.importance_log_likelihood(model, x, 30, chunk_size=7, seed=2, gates=reading)
        np.testing.assert_array_equal(got, importance.importance_log_likelihood(model, x, 30, chunk_size=7, seed=2))


def test_gate_draws_follow_the_bernoulli_means_and_check_the_reading():
    gates = DependencyGates(3, "graph")
    gates.set_means(np.array([[0, 0, 0], [0.8, 0, 0], [0.3, 0.6, 0]]))
    u = tf.random.stateless_uniform((20000, 3), (1, 2))
    c = gates.draw("sampled", u).numpy()
    assert set(np.unique(c)) == {0.0, 1.0}
    np.testing.assert_allclose(c.mean(0)[[1, 2, 2], [0, 0, 1]], [0.8, 0.3, 0.6], atol=0.015)
    assert np.all(c[:, np.triu_indices(3)[0], np.triu_indices(3)[1]] == 0)
    with pytest.raises(ValueError, match="unknown gate reading"):
        gates.draw("mode", u)
    with pytest.raises(ValueError, match="temperature"):
        gates.draw("relaxed", u)


def test_evaluate_model_reports_the_reading():
    from tfgvae.experiments import evaluation
    model = _graph_model()
    summary, per = evaluation.evaluate_model(model, _binary(8), num_samples=5, batch_size=4, gates="sampled",
                                             progress=False)
    assert summary["gates"] == "sampled" and per["log_likelihood"].shape == (8,)
    with pytest.raises(ValueError, match="unknown gate reading"):
        evaluation.evaluate_model(_graph_model("fc"), _binary(4), num_samples=2, gates="mode", progress=False)


# ------------------------------------------------------------------------------- recalibration
def _pre_bn_moments(model, x):
    """Batch mean and (biased) variance of the encoder's first fc layer, in numpy."""
    dense = model.encoder.layers[0]
    h = x @ dense.kernel.numpy() + dense.bias.numpy()
    return h.mean(0), h.var(0)


def test_recalibration_averages_the_batch_moments():
    model, batches = _graph_model(), [_binary(32, seed=s) for s in (3, 4)]
    for _, mean, var in batch_norm_layers(model):  # moving moments far from any batch's
        mean.assign(tf.fill(mean.shape, 5.0))
        var.assign(tf.fill(var.shape, 9.0))
    weights = [w.numpy() for w in model.trainable_weights]
    assert recalibrate_batch_norm(model, batches) == 2
    moments = [_pre_bn_moments(model, x) for x in batches]
    bn = model.encoder.layers[1]
    np.testing.assert_allclose(bn.moving_mean.numpy(), np.mean([m for m, _ in moments], 0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), np.mean([v for _, v in moments], 0), rtol=1e-4,
                               atol=1e-5)
    for before, after in zip(weights, model.trainable_weights):
        np.testing.assert_array_equal(before, after.numpy())
    assert bn.momentum == pytest.approx(0.9) and model.top_down.bn1.momentum == pytest.approx(0.9)
    with pytest.raises(ValueError, match="at least one batch"):
        recalibrate_batch_norm(model, [])


def test_recalibrated_inference_equals_training_mode_on_that_batch_at_the_map_structure():
    model, x = _graph_model(), _binary(64, seed=5)
    gates = model.gates.map()
    noise = tf.random.stateless_normal((64, 3, 2), (6, 7))
    model.draw_noise = lambda batch: noise  # every pass draws the same z: their moments agree
    before = model.elbo_terms(x, training=False, gates=gates, noise=noise)["elbo"].numpy()
    recalibrate_batch_norm(model, [x, x, x])
    want = model.elbo_terms(x, training=True, gates=gates, noise=noise)["elbo"].numpy()
    got = model.elbo_terms(x, training=False, gates=gates, noise=noise)["elbo"].numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)
    assert len(batch_norm_layers(model)) == 8  # encoder 3, bottom-up 1, top-down 1, decoder 3
    assert np.abs(before - want).max() > 0.1  # the default moments (0, 1) did not already give it
