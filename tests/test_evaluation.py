"""The importance-sampled log-likelihood, active units and structure artifacts.

The exact-likelihood checks use a linear-Gaussian double with the estimator's model interface:
z ~ N(0, I_d), x | z ~ N(W z + b, s^2 I_D), so log p(x) = log N(x; b, W W^T + s^2 I) exactly.
"""
import json
import os
import pathlib
import types

import numpy as np
import pytest
import tensorflow as tf
import keras
from scipy import stats
from scipy.special import logsumexp

from tfgvae.core import likelihoods
from tfgvae.experiments import evaluation
from tfgvae.core import importance
from tfgvae.training import artifacts
from tfgvae.core.model import GraphVAE, ModelConfig
from tfgvae.core.nodes import normal_log_prob
from tfgvae.core.structure import fixed_adjacency

REAL_DATA_DIR = pathlib.Path(os.environ.get("TFGVAE_DATA_DIR")
                             or pathlib.Path(__file__).resolve().parents[2] / "shared" / "data")


class LinearGaussian:
    """One node; q(z | x) = N(A (x - b) + a, diag(exp(lv))). Exact posterior when W has orthogonal
    columns and A, a, lv are set by ``exact_posterior``."""

    def __init__(self, w, b, sigma, a_mat, a_vec, logvar):
        d = w.shape[1]
        self.config = types.SimpleNamespace(num_nodes=1, node_dim=d, likelihood="gaussian")
        self.gates = types.SimpleNamespace(map=lambda: tf.zeros((1, 1, 1)))
        self.w, self.b, self.sigma = (tf.constant(v, tf.float32) for v in (w, b, sigma))
        self.a_mat, self.a_vec, self.logvar = (tf.constant(v, tf.float32) for v in (a_mat, a_vec, logvar))

    @classmethod
    def exact_posterior(cls, w, b, sigma):
        precision = np.eye(w.shape[1]) + w.T @ w / sigma ** 2  # diagonal for orthogonal columns
        cov = np.linalg.inv(precision)
        return cls(w, b, sigma, cov @ w.T / sigma ** 2, np.zeros(w.shape[1]), np.log(np.diag(cov)))

    def bottom_up_gaussians(self, x, training=False):
        mu = tf.matmul(x - self.b, self.a_mat, transpose_b=True) + self.a_vec
        return mu[:, None], tf.broadcast_to(self.logvar, tf.shape(mu))[:, None]

    def descend(self, gates, noise, bottom_up, training=False):
        mu, lv = bottom_up
        z = mu + tf.exp(0.5 * lv) * noise
        return z, normal_log_prob(z, mu, lv), normal_log_prob(z, tf.zeros_like(z), tf.zeros_like(z))

    def decode(self, z, training=False):
        return (tf.matmul(z[:, 0], self.w, transpose_b=True) + self.b)[..., None]

    def observation_log_prob(self, x, params):
        lv = 2.0 * tf.math.log(self.sigma) * tf.ones_like(params[..., 0])
        return normal_log_prob(x, params[..., 0], lv)

    def exact_log_likelihood(self, x):
        w, b, s = (np.asarray(t, np.float64) for t in (self.w, self.b, self.sigma))
        return stats.multivariate_normal(b, w @ w.T + s ** 2 * np.eye(len(b))).logpdf(x)


def _linear_problem(seed=0, dim=6, latent=2, n=256):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(dim, latent)))
    w, b, sigma = q * np.array([2.0, 1.2])[:latent], rng.normal(size=dim), 0.5
    x = rng.multivariate_normal(b, w @ w.T + sigma ** 2 * np.eye(dim), size=n)
    return w, b, sigma, x.astype(np.float32)


def test_exact_posterior_proposal_gives_the_exact_likelihood_for_any_k():
    w, b, sigma, x = _linear_problem(n=32)
    model = LinearGaussian.exact_posterior(w, b, sigma)
    exact = model.exact_log_likelihood(x)
    for k in (1, 7):
        got = evaluation.importance_log_likelihood(model, x, k, chunk_size=3).numpy()
        np.testing.assert_allclose(got, exact, rtol=0, atol=2e-4)


def test_estimate_is_below_the_exact_value_and_closes_in_as_k_grows():
    w, b, sigma, x = _linear_problem(n=256)
    rng = np.random.default_rng(1)  # a poor proposal: wrong mean map, too narrow
    exact_q = LinearGaussian.exact_posterior(w, b, sigma)
    model = LinearGaussian(w, b, sigma, np.asarray(exact_q.a_mat) * 0.6 + 0.1 * rng.normal(size=(2, 6)),
                           np.array([0.3, -0.3]), np.log([0.05, 0.08]))
    exact = model.exact_log_likelihood(x)
    gaps, stderrs = [], []
    for k in (1, 10, 100, 1000):
        gap = evaluation.importance_log_likelihood(model, x, k, chunk_size=250, seed=k).numpy() - exact
        gaps.append(gap.mean())
        stderrs.append(gap.std(ddof=1) / np.sqrt(len(gap)))
    assert all(g + 3 * s < 0 for g, s in zip(gaps, stderrs)), gaps  # below the exact value
    assert all(a < b for a, b in zip(gaps, gaps[1:])), gaps  # closes in as k grows
    assert abs(gaps[-1]) < 0.1 * abs(gaps[0]), gaps


def _graph_model(nodes=3, node_dim=2, input_dim=16, structure="graph", seed=0):
    keras.utils.set_random_seed(seed)
    model = GraphVAE(ModelConfig(input_dim=input_dim, num_nodes=nodes, node_dim=node_dim,
                                 structure=structure), seed=1)
    rng = np.random.default_rng(seed)
    for v in model.non_trainable_variables:  # inference-mode batch norm that is not the identity
        if "moving" in v.path:
            v.assign(rng.uniform(0.5, 1.5, v.shape).astype(np.float32) if "variance" in v.path
                     else 0.3 * rng.normal(size=v.shape).astype(np.float32))
    if structure == "graph":
        model.gates.logits.assign(rng.normal(size=(nodes, nodes)).astype(np.float32))
    return model


def _binary(n, d, seed=0):
    return (np.random.default_rng(seed).random((n, d)) < 0.4).astype(np.float32)


def test_one_sample_equals_the_single_sample_elbo_under_the_same_noise():
    model, x = _graph_model(), _binary(5, 16)
    noise = tf.random.stateless_normal((5, 3, 2), seed=(3, 4))
    model.draw_noise = lambda batch: noise
    want = model.elbo_terms(x, training=False)
    got = evaluation.importance_terms(model, x, 1, 1, noise_fn=lambda c, b, k: noise[:, None])
    for name in ("elbo", "kl", "kl_per_node"):
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(got["log_likelihood"], want["elbo"], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(got["posterior_mean"], want["z"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("chunk", [1, 7, 20, 64])
def test_chunked_estimate_matches_logsumexp_of_per_sample_elbos(chunk):
    model, x, k = _graph_model(), _binary(4, 16, seed=2), 20
    noise = tf.random.stateless_normal((4, k, 3, 2), seed=(5, 6))
    per_sample = []
    for s in range(k):  # independent path: k single-sample ELBOs from GraphVAE.elbo_terms
        model.draw_noise = lambda batch, s=s: noise[:, s]
        per_sample.append(model.elbo_terms(x, training=False)["elbo"].numpy())
    per_sample = np.stack(per_sample, axis=1).astype(np.float64)
    padded = tf.pad(noise, [[0, 0], [0, -k % min(chunk, k)], [0, 0], [0, 0]])  # whole chunks
    got = evaluation.importance_terms(model, x, k, chunk,
                                      noise_fn=lambda c, b, size: padded[:, c * size:(c + 1) * size])
    np.testing.assert_allclose(got["log_likelihood"], logsumexp(per_sample, axis=1) - np.log(k),
                               rtol=1e-5, atol=2e-4)
    np.testing.assert_allclose(got["elbo"], per_sample.mean(axis=1), rtol=1e-5, atol=2e-4)
    if chunk == 7:  # the posterior's sample mean and variance over the k draws of z
        zs = []
        for s in range(k):
            model.draw_noise = lambda batch, s=s: noise[:, s]
            zs.append(model.elbo_terms(x, training=False)["z"].numpy())
        zs = np.stack(zs, axis=1).astype(np.float64)
        np.testing.assert_allclose(got["posterior_mean"], zs.mean(axis=1), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(got["posterior_variance"], zs.var(axis=1), rtol=1e-3, atol=1e-5)


def test_compiled_and_tensor_k_match_eager_and_the_bound_holds_per_example():
    model, x = _graph_model(), _binary(6, 16, seed=3)
    noise = tf.random.stateless_normal((6, 32, 3, 2), seed=(7, 8))
    noise_fn = lambda c, b, size: tf.slice(noise, [0, c * size, 0, 0], [-1, size, -1, -1])  # noqa: E731
    eager = evaluation.importance_terms(model, x, 30, 8, noise_fn=noise_fn)
    xla = tf.function(lambda x: evaluation.importance_terms(model, x, 30, 8, noise_fn=noise_fn),
                      jit_compile=True)(x)
    parts = tf.function(lambda x: evaluation.importance_terms(model, x, 30, 8, noise_fn=noise_fn,
                                                             xla_parts=True))(x)
    for name in ("log_likelihood", "elbo", "kl"):
        np.testing.assert_allclose(xla[name], eager[name], rtol=1e-5, atol=1e-3)
        np.testing.assert_allclose(parts[name], eager[name], rtol=1e-5, atol=1e-3)
    seeded = evaluation.importance_log_likelihood(model, x, 30, 8, seed=(1, 2))
    tensor_k = tf.function(lambda x, k: evaluation.importance_log_likelihood(model, x, k, 8, seed=(1, 2)))(
        x, tf.constant(30))
    np.testing.assert_allclose(tensor_k, seeded, rtol=1e-6, atol=1e-4)
    again = evaluation.importance_log_likelihood(model, x, 30, 8, seed=(1, 2))
    np.testing.assert_array_equal(again, seeded)  # stateless: reproducible
    # log of a mean of weights >= mean of log weights (Jensen), example by example
    assert np.all(eager["log_likelihood"].numpy() >= eager["elbo"].numpy() - 1e-4)


def test_inference_decoder_and_bernoulli_match_the_model():
    model = _graph_model(nodes=2, node_dim=3, input_dim=12)
    z = tf.random.stateless_normal((7, 2, 3), seed=(0, 1))
    np.testing.assert_allclose(evaluation.inference_decoder(model)(z), model.decode(z, training=False),
                               rtol=1e-4, atol=1e-4)
    params = model.decode(z)
    for x in (_binary(7, 12), np.random.default_rng(0).random((7, 12)).astype(np.float32)):
        got = importance._observation_log_prob(model, tf.constant(x)[:, None], params[:, None])[:, 0]
        np.testing.assert_allclose(got, likelihoods.log_likelihood("bernoulli", x, params),
                                   rtol=1e-5, atol=1e-4)


def test_bad_arguments_raise_value_errors():
    model, x = _graph_model(), _binary(2, 16)
    for k, chunk in ((0, 5), (5, 0)):
        with pytest.raises(ValueError, match="must be >= 1"):
            evaluation.importance_log_likelihood(model, x, k, chunk)


def test_active_units_and_standard_error_against_numpy():
    rng = np.random.default_rng(0)
    scales = np.array([[0.5, 0.05], [0.2, 0.001]])  # variances 0.25, 0.0025, 0.04, 1e-6
    means = rng.normal(size=(4000, 2, 2)) * scales
    counts, variances = evaluation.active_units(means)
    assert counts.tolist() == [1, 1]
    np.testing.assert_allclose(variances, scales ** 2, rtol=0.1)
    # Means of k samples z = m + s * eps: their variance over x adds s^2 / k, which the sample
    # variances remove (numpy here; Burda et al.'s count is of Var_x(m)).
    k, s = 12, 1.0
    z = means[:, None] + s * rng.normal(size=(4000, k, 2, 2))
    noisy, _ = evaluation.active_units(z.mean(axis=1))
    assert noisy.tolist() == [2, 2]  # every unit looks active: 1/12 > 0.01
    counts, variances = evaluation.active_units(z.mean(axis=1), posterior_variances=z.var(axis=1),
                                                num_samples=k)
    assert counts.tolist() == [1, 1]
    np.testing.assert_allclose(variances, means.var(axis=0), atol=0.012)  # ~2.5 sd of cross terms
    values = rng.normal(3.0, 2.0, size=50)
    mean, stderr = evaluation.mean_and_stderr(values)
    assert mean == pytest.approx(values.sum() / 50)
    assert stderr == pytest.approx(np.sqrt(((values - mean) ** 2).sum() / 49 / 50))


@pytest.mark.skipif(not (REAL_DATA_DIR / "mnist").is_dir(), reason="real MNIST not available")
def test_per_example_values_are_finite_on_real_mnist():
    model = _graph_model(nodes=2, node_dim=4, input_dim=784)
    summary, per_example = evaluation.evaluate_model(
        model, "mnist", "test", str(REAL_DATA_DIR), num_samples=20, chunk_size=10, batch_size=16,
        limit=40, progress=False)
    assert per_example["log_likelihood"].shape == (40,)
    for name in ("log_likelihood", "elbo", "kl"):
        assert np.all(np.isfinite(per_example[name])), name
    assert summary["log_likelihood"] >= summary["elbo"]
    assert len(summary["active_units_per_node"]) == 2


def test_trained_model_importance_estimate_beats_an_independent_elbo():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    protos = (rng.random((4, 64)) < 0.5).astype(np.float32)  # noisy copies of 4 prototypes
    x = np.abs(protos[rng.integers(0, 4, 2048)] - (rng.random((2048, 64)) < 0.05)).astype(np.float32)
    model = GraphVAE(ModelConfig(input_dim=64, num_nodes=2, node_dim=2, structure="ladder"), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=False)
    model.fit(x[:1536], batch_size=64, epochs=4, verbose=0)
    test = x[1536:]
    elbo = model.elbo_terms(test, training=False)["elbo"].numpy()  # its own noise
    ll = evaluation.importance_log_likelihood(model, test, 200, 100, seed=7).numpy()
    assert np.all(np.isfinite(ll))
    diff = ll - elbo
    assert diff.mean() - 3 * diff.std(ddof=1) / np.sqrt(len(diff)) > 0, diff.mean()


# ------------------------------------------------------------------------------------ artifacts
def _history(means_per_epoch):
    return {"epochs": list(range(1, len(means_per_epoch) + 1)), "temperature": [1.0] * len(means_per_epoch),
            "gate_means": [np.asarray(m).tolist() for m in means_per_epoch]}


def _is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n" and os.path.getsize(path) > 1000


def test_structure_artifacts_hold_the_gates(tmp_path):
    model = _graph_model(nodes=4, node_dim=2)
    means = np.asarray(model.gates.means())
    with open(tmp_path / "gate_history.json", "w") as f:
        json.dump(_history([np.full((4, 4), 0.5) * np.tril(np.ones((4, 4)), -1), means]), f)
    paths = artifacts.write_structure_artifacts(model, str(tmp_path))
    assert [os.path.basename(p) for p in paths] == list(artifacts.FILES)
    with open(tmp_path / "structure.json") as f:
        saved = json.load(f)
    np.testing.assert_allclose(saved["gate_means"], means, atol=1e-6)
    adjacency = (means > 0.5).astype(int)
    assert saved["map_adjacency"] == adjacency.tolist()
    assert {(e["parent"], e["child"]) for e in saved["edges"] if e["map"]} == \
        {(j + 1, i + 1) for j, i in zip(*np.nonzero(adjacency))}
    dot = (tmp_path / "structure.dot").read_text()
    assert dot.startswith("digraph") and dot.count("->") == 6  # every possible edge of 4 nodes
    for j, i in zip(*np.nonzero(adjacency)):
        assert f'z{j + 1} -> z{i + 1} [label="{means[j, i]:.2f}", style=solid]' in dot
    assert _is_png(tmp_path / "structure.png") and _is_png(tmp_path / "gate_history.png")
    assert not [p for p in os.listdir(tmp_path) if ".tmp" in p]


def test_fixed_structure_artifacts_without_history(tmp_path):
    model = _graph_model(nodes=3, node_dim=2, structure="ladder")
    paths = artifacts.write_structure_artifacts(model, str(tmp_path / "run"))
    assert [os.path.basename(p) for p in paths] == list(artifacts.FILES[:3])
    with open(tmp_path / "run" / "structure.json") as f:
        assert json.load(f)["map_adjacency"] == fixed_adjacency("ladder", 3).astype(int).tolist()
    vae = _graph_model(nodes=1, node_dim=2, structure="vae")
    artifacts.write_structure_artifacts(vae, str(tmp_path / "vae"))
    assert _is_png(tmp_path / "vae" / "structure.png")
