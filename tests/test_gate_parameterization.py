"""The paper's parameterization of the gates by their Bernoulli means (Eq. 9 from log mu, log(1 - mu))."""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
import keras

from tfgvae.core import structure
from tfgvae.core.model import GraphVAE, ModelConfig

MU = np.array([[0, 0, 0, 0], [0.3, 0, 0, 0], [0.55, 0.8, 0, 0], [0.1, 0.45, 0.93, 0]])
EDGES = [(j, i) for j in range(4) for i in range(j)]


def _gates(mu=MU, dtype="float64", **kw):
    gates = structure.DependencyGates(4, "graph", parameterization="mean", dtype=dtype, **kw)
    gates.mu.assign(np.asarray(mu, dtype))
    return gates


def test_samples_are_quantiles_of_tfp_relaxed_bernoulli_with_probs_mu():
    # c(u) is the u-quantile of RelaxedBernoulli(tau, probs=mu): TFP's cdf maps it back to u.
    gates, tau = _gates(), 0.6
    u = np.random.default_rng(0).uniform(0.02, 0.98, (50, len(EDGES)))
    c = gates.sample(50, tf.constant(tau, tf.float64), None, uniform=tf.constant(u)).numpy()
    for k, (j, i) in enumerate(EDGES):
        rb = tfp.distributions.RelaxedBernoulli(tf.constant(tau, tf.float64), probs=tf.constant(MU[j, i]))
        np.testing.assert_allclose(rb.cdf(c[:, j, i]).numpy(), u[:, k], rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(gates.means().numpy(), MU)
    np.testing.assert_array_equal(gates.map().numpy()[0], (MU > 0.5).astype(float))


def test_gradient_at_interior_means_matches_finite_differences():
    gates, tau = _gates(), 0.7
    u = tf.constant(np.random.default_rng(1).uniform(0.01, 0.99, (8, len(EDGES))))
    weights = tf.constant(np.random.default_rng(2).normal(size=(8, 4, 4)))

    def objective():
        return tf.reduce_sum(weights * gates.sample(8, tf.constant(tau, tf.float64), None, uniform=u) ** 2)

    with tf.GradientTape() as tape:
        value = objective()
    grad = tape.gradient(value, gates.mu).numpy()
    h = 1e-6
    for j, i in EDGES:
        fd = []
        for sign in (1, -1):
            shifted = MU.copy()
            shifted[j, i] += sign * h
            gates.mu.assign(shifted)
            fd.append(objective().numpy())
        gates.mu.assign(MU)
        np.testing.assert_allclose(grad[j, i], (fd[0] - fd[1]) / (2 * h), rtol=1e-6)
    assert np.all(grad[np.triu_indices(4)] == 0)


def test_gates_at_exactly_zero_and_one_stay_there_under_adam():
    mu = MU.copy()
    mu[1, 0], mu[3, 2] = 0.0, 1.0
    gates = _gates(mu, dtype="float32")
    opt = keras.optimizers.Adam(0.05)
    weights = tf.constant(np.random.default_rng(3).normal(size=(16, 4, 4)), tf.float32)
    for step in range(30):
        with tf.GradientTape() as tape:
            c = gates.sample(16, 1.0, None, uniform=tf.random.stateless_uniform((16, len(EDGES)), (step, 0)))
            loss = tf.reduce_sum(weights * c)
        opt.apply([tape.gradient(loss, gates.mu)], [gates.mu])
        means = gates.means().numpy()
        assert means[1, 0] == 0.0 and means[3, 2] == 1.0
        assert np.all((means >= 0) & (means <= 1))
    moved = [abs(means[j, i] - MU[j, i]) for j, i in EDGES if (j, i) not in ((1, 0), (3, 2))]
    assert min(moved) > 0.05  # the interior gates did learn


def test_projection_keeps_means_in_the_unit_interval():
    gates = _gates(dtype="float32")
    opt = keras.optimizers.SGD(10.0)
    opt.apply([tf.constant(np.sign(MU - 0.5) * -1.0, tf.float32)], [gates.mu])  # a step far outside
    np.testing.assert_array_equal(gates.mu.numpy(), (MU > 0.5).astype(np.float64))
    assert np.all(np.isfinite(gates.gate_logits().numpy()))
    np.testing.assert_allclose(gates.edge_logits().numpy()[0], np.log(structure.MEAN_FLOOR), rtol=1e-5)


def test_an_absorbed_gate_never_samples_open():
    """mu = 0 (1) samples exactly 0 (1) for every draw, the most extreme Logistic noise and the
    highest temperature included (GATE_EPS would leak the parent through batch norm)."""
    mu = MU.copy()
    mu[1, 0], mu[3, 2] = 0.0, 1.0
    gates = _gates(mu, dtype="float32")
    u = tf.constant(np.concatenate([np.linspace(0.0, 1.0, 101), [1e-9, 1 - 1e-9]])[:, None]
                    * np.ones((1, len(EDGES))), tf.float32)
    for tau in (0.01, 1.0, 2.0):
        c = gates.sample(len(u), tau, None, uniform=u).numpy()
        assert np.all(c[:, 1, 0] == 0.0) and np.all(c[:, 3, 2] == 1.0)
        assert np.all((c[:, 2, 0] > 0) & (c[:, 2, 0] < 1))  # interior gates stay relaxed


def test_lr_multiplier_and_init_mean():
    gates = structure.DependencyGates(3, "graph", parameterization="mean", init_mean=0.2, lr_multiplier=4.0)
    np.testing.assert_allclose(gates.means().numpy()[np.tril_indices(3, -1)], 0.2, rtol=1e-6)
    np.testing.assert_allclose(gates.mu.numpy(), 0.05, rtol=1e-6)
    keras.optimizers.SGD(1.0).apply([tf.fill((3, 3), -0.01)], [gates.mu])  # stored +0.01 -> mu +0.04
    np.testing.assert_allclose(gates.means().numpy()[np.tril_indices(3, -1)], 0.24, rtol=1e-5)


def test_frozen_mean_gates_and_model_round_trip(tmp_path):
    config = ModelConfig(input_dim=12, num_nodes=3, node_dim=2, gate_parameterization="mean",
                         freezable_gates=True)
    model = GraphVAE(config, seed=0)
    model.gates.mu.assign(np.array([[0, 0, 0], [0.7, 0, 0], [0.2, 0.6, 0]], np.float32))
    adjacency = model.gates.freeze()
    np.testing.assert_array_equal(adjacency, [[0, 0, 0], [1, 0, 0], [0, 1, 0]])
    np.testing.assert_array_equal(model.gates.sample(2, 0.5, None).numpy()[0], adjacency)
    path = str(tmp_path / "w.weights.h5")
    model.save_weights(path)
    again = GraphVAE(config, seed=0)
    again.load_weights(path)
    assert again.gates.is_frozen()
    np.testing.assert_array_equal(again.gates.means().numpy(), adjacency)


def test_unknown_parameterization_is_refused():
    with pytest.raises(ValueError, match="gate_parameterization must be one of logit, mean"):
        ModelConfig(gate_parameterization="probit")
