"""Gates (Eq. 9) and the adjacency of every structure."""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
import keras

from tfgvae.core import structure


def _samples(logits, tau, n=200_000, seed=0):
    u = tf.random.stateless_uniform((n,) + np.shape(logits), seed=(seed, 1))
    return structure.relaxed_bernoulli(tf.constant(logits, tf.float32), tau, u).numpy()


def test_relaxed_gate_cdf_matches_closed_form_and_tfp():
    # c < t  <=>  logit + L < tau * logit(t), L ~ Logistic(0, 1): P = sigmoid(tau * logit(t) - logit).
    logit, tau = 0.7, 0.5
    c = _samples(logit, tau)
    assert np.all((c > 0) & (c < 1))
    rb = tfp.distributions.RelaxedBernoulli(tau, logits=tf.constant(logit, tf.float64))
    for t in (0.1, 0.3, 0.5, 0.8, 0.95):
        closed = 1.0 / (1.0 + np.exp(-(tau * np.log(t / (1 - t)) - logit)))
        assert abs(np.mean(c < t) - closed) < 4e-3
        np.testing.assert_allclose(rb.cdf(t).numpy(), closed, rtol=1e-9)


def test_gate_mean_approaches_bernoulli_mean_as_tau_falls():
    logit = -1.2
    mu = 1.0 / (1.0 + np.exp(-logit))
    errors = [abs(_samples(logit, tau).mean() - mu) for tau in (2.0, 0.5, 0.05)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 5e-3


def test_low_temperature_extreme_logits_are_finite_with_gradients():
    logits = tf.Variable([[-30.0, 30.0], [0.0, 5.0]])
    u = tf.random.stateless_uniform((1000, 2, 2), seed=(3, 4))
    with tf.GradientTape() as tape:
        c = structure.relaxed_bernoulli(logits, 0.01, u)
        loss = tf.reduce_sum(c * tf.constant([[1.0, 2.0], [3.0, 4.0]]))
    grad = tape.gradient(loss, logits).numpy()
    c = c.numpy()
    assert np.all(np.isfinite(c)) and np.all((c > 0) & (c < 1))
    assert np.all(np.isfinite(grad))
    assert grad[1, 0] > 0  # a logit at 0 and tau = 0.01 still passes gradient


@pytest.mark.parametrize("name,nodes,expected", [
    ("fc", 4, [[0, 0, 0, 0], [1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0]]),
    ("ladder", 4, [[0, 0, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]),
    ("vae", 1, [[0]]),
])
def test_fixed_structures_have_their_adjacency(name, nodes, expected):
    gates = structure.DependencyGates(nodes, name)
    np.testing.assert_array_equal(gates.map().numpy()[0], expected)
    np.testing.assert_array_equal(gates.sample(3, 0.5, seed=None).numpy()[0], expected)
    np.testing.assert_array_equal(gates.means().numpy(), expected)


def test_graph_map_structure_follows_gate_means():
    gates = structure.DependencyGates(3, "graph")
    # c[j, i]: parent j -> child i, j > i. Entries on or above the diagonal are not edges.
    gates.logits.assign([[9.0, 9.0, 9.0], [2.0, 9.0, 9.0], [-1.0, 0.5, 9.0]])
    np.testing.assert_array_equal(gates.map().numpy()[0], [[0, 0, 0], [1, 0, 0], [0, 1, 0]])
    means = gates.means().numpy()
    np.testing.assert_allclose(means[1, 0], 1 / (1 + np.exp(-2.0)), rtol=1e-6)
    assert means[0, 1] == 0 and means[2, 2] == 0  # only edges j > i exist
    sample = gates.sample(5, 1.0, seed=None).numpy()
    assert sample.shape == (5, 3, 3) and np.all(np.triu(sample[2]) == 0)
    assert np.all(sample[:, [1, 2, 2], [0, 0, 1]] > 0)


@pytest.mark.parametrize("structure_name,nodes,latent,message", [
    ("tree", 5, 80, "unknown structure"),
    ("graph", 3, 80, "not divisible"),
    ("vae", 5, 80, "num_nodes=1"),
])
def test_invalid_layouts_are_refused(structure_name, nodes, latent, message):
    with pytest.raises(ValueError, match=message):
        structure.validate_structure(structure_name, nodes, latent)


def test_sample_draws_only_edges_in_edge_name_order():
    """c[b, j, i] = Eq. 9 with the k-th edge draw, k the position of (j, i) in edge_names; 0 elsewhere."""
    n, tau = 4, 0.7
    gates = structure.DependencyGates(n, "graph")
    logits = np.random.default_rng(0).normal(size=(n, n)).astype(np.float32)
    gates.logits.assign(logits)
    assert gates.num_edges == n * (n - 1) // 2
    u = np.random.default_rng(1).uniform(0.01, 0.99, (3, gates.num_edges)).astype(np.float32)
    got = gates.sample(3, tau, seed=None, uniform=tf.constant(u)).numpy()
    want = np.zeros((3, n, n))
    for k, (j, i, _) in enumerate(gates.edge_names()):
        want[:, j, i] = 1 / (1 + np.exp(-(logits[j, i] + np.log(u[:, k] / (1 - u[:, k]))) / tau))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert gates.sample(3, tau, seed=keras.random.SeedGenerator(0)).shape == (3, n, n)


def test_gate_init_sets_the_initial_bernoulli_means():
    gates = structure.DependencyGates(4, "graph", init_mean=0.8, lr_multiplier=10.0)
    gates.build(None)
    means = gates.means().numpy()
    np.testing.assert_allclose(means[np.tril_indices(4, -1)], 0.8, rtol=1e-6)
    assert np.all(means[np.triu_indices(4)] == 0)
    with pytest.raises(ValueError, match="gate_init"):
        from tfgvae.core.model import ModelConfig
        ModelConfig(gate_init=1.0)


def test_gate_lr_multiplier_scales_the_first_adam_step_of_the_logits():
    """Adam's first step moves a weight by ~lr whatever its gradient's scale, so logits stored
    as weight * m move m times as far; the means and their gradients start out identical."""
    moved = []
    for m in (1.0, 10.0):
        gates = structure.DependencyGates(3, "graph", init_mean=0.6, lr_multiplier=m)
        gates.build(None)
        target = tf.constant([[0, 0, 0], [1.0, 0, 0], [0.0, 1.0, 0]])
        opt = keras.optimizers.Adam(1e-3)
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(gates.means() - target))
        before = gates.gate_logits().numpy()
        opt.apply(tape.gradient(loss, [gates.logits]), [gates.logits])
        moved.append(gates.gate_logits().numpy() - before)
    edges = np.tril_indices(3, -1)
    np.testing.assert_allclose(np.abs(moved[0][edges]), 1e-3, rtol=1e-3)
    np.testing.assert_allclose(moved[1][edges], 10 * moved[0][edges], rtol=1e-3)
