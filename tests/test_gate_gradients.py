"""The gate-gradient instrument (d E[ELBO] / d mu per edge, by part), the edge cost and the
batch-norm invariance that starves per-batch gates of gradient."""
import numpy as np
import pytest
import tensorflow as tf
import keras

from tfgvae.core import gate_gradients, nodes
from tfgvae.core.model import GraphVAE, ModelConfig
from tfgvae.core.schedules import Schedule

MU = np.array([[0, 0, 0], [0.35, 0, 0], [0.6, 0.7, 0]], np.float32)
EDGES = {"2_1": (1, 0), "3_1": (2, 0), "3_2": (2, 1)}


def _model(parameterization, edge_cost=0.0, per_example=True, **kw):
    keras.utils.set_random_seed(0)
    model = GraphVAE(ModelConfig(input_dim=12, num_nodes=3, node_dim=2, gate_parameterization=parameterization,
                                 edge_cost=edge_cost, per_example_gates=per_example, log_gate_gradients=True, **kw),
                     seed=1)
    _set_means(model, MU)
    return model


def _set_means(model, mu):
    if model.config.gate_parameterization == "logit":
        model.gates.logits.assign(np.log(mu + 1e-30) - np.log1p(-mu))
    else:
        model.gates.mu.assign(mu)


def _data(n=32, seed=3):
    return (np.random.default_rng(seed).random((n, 12)) < 0.4).astype(np.float32)


@pytest.mark.parametrize("parameterization,edge_cost", [("logit", 0.0), ("mean", 0.4), ("logit", 0.4)])
def test_logged_parts_match_finite_differences_of_the_step_objective(parameterization, edge_cost):
    model, x = _model(parameterization, edge_cost), _data()
    # KL warm-up over W = 0.25 x 4 x 4 = 4 steps: beta = 1/4 in the first step; the parts must not depend on it
    model.compile(optimizer=keras.optimizers.SGD(0.0), jit_compile=False,
                  schedule=Schedule(kl_warmup_fraction=0.25, steps_per_epoch=4, epochs=4))
    logs = model.train_on_batch(x, return_dict=True)
    assert logs["kl_weight"] == pytest.approx(0.25)

    def parts(mu):  # batch-mean reconstruction and KL of step 0's draws at gate means mu
        _set_means(model, mu)
        gates, noise = model.step_draws(32, 0, training=True)
        terms = model.elbo_terms(x, training=True, gates=gates, noise=noise)
        return np.array([np.mean(terms["reconstruction"].numpy(), dtype=np.float64),
                         np.mean(terms["kl"].numpy(), dtype=np.float64)])

    h = 4e-3
    for name, (j, i) in EDGES.items():
        up, down = MU.copy(), MU.copy()
        up[j, i] += h
        down[j, i] -= h
        recon, kl = (parts(up) - parts(down)) / (2 * h)
        np.testing.assert_allclose(logs[f"grad_reconstruction_{name}"], recon, rtol=5e-2, atol=2e-3)
        np.testing.assert_allclose(logs[f"grad_kl_{name}"], -kl, rtol=5e-2, atol=2e-3)
    assert max(abs(logs[f"grad_kl_{n}"]) for n in EDGES) > 1e-2  # the check is not vacuous


@pytest.mark.parametrize("parameterization", ["logit", "mean"])
def test_edge_cost_step_is_lambda_on_each_mean(parameterization):
    """One SGD step with lambda moves each gate by -lr * lambda * d mu / d w more than without."""
    x, lr, lam = _data(), 0.05, 0.3  # small enough that no mean leaves [0, 1] (no projection)
    weights = []
    for cost in (0.0, lam):
        model = _model(parameterization, cost)
        model.compile(optimizer=keras.optimizers.SGD(lr), jit_compile=False)
        model.train_on_batch(x)
        weights.append(model.gates.variable.numpy().astype(np.float64))
    dmu_dw = MU * (1 - MU) if parameterization == "logit" else np.ones_like(MU)
    edges = np.tril(np.ones((3, 3), bool), -1)
    np.testing.assert_allclose((weights[1] - weights[0])[edges], -lr * lam * dmu_dw[edges], rtol=1e-3, atol=1e-6)
    assert float(_model(parameterization, lam).edge_penalty()) == pytest.approx(lam * MU.sum(), rel=1e-6)


def test_vector_mean_averages_steps_and_resets():
    metric = gate_gradients.VectorMean(3)
    for v in ([1.0, 2.0, 3.0], [3.0, 0.0, -3.0]):
        metric.update_state(tf.constant(v))
    np.testing.assert_allclose(metric.result().numpy(), [2.0, 1.0, 0.0])
    metric.reset_state()
    np.testing.assert_array_equal(metric.result().numpy(), [0.0, 0.0, 0.0])


def _gate_gradient(model, x, gates):
    gates = tf.Variable(gates)
    noise = model.step_draws(len(x), 0, training=True)[1]
    with tf.GradientTape() as tape:
        elbo = tf.reduce_mean(model.elbo_terms(x, training=True, gates=tf.convert_to_tensor(gates), noise=noise)["elbo"])
    return tape.gradient(elbo, gates).numpy()


def test_batch_norm_makes_a_node_blind_to_a_common_scale_of_its_per_batch_gates(monkeypatch):
    """One structure per batch: BN after the gated first layer removes any common scale s of a
    child's gates, so d ELBO / d s = sum_j c_j d ELBO / d c_j = 0 (Euler) but for BN's epsilon,
    and the gate of a single-parent child (c_{3,2} here, c_{5,4} at N = 5) gets only that
    epsilon's leak, proportional to it. One structure per example breaks the invariance."""
    x = _data(64)
    grads = {}
    for eps in (1e-5, 1e-9):
        monkeypatch.setattr(nodes, "BN_EPSILON", eps)
        model = _model("logit", per_example=False)
        grads[eps] = _gate_gradient(model, x, MU[None])[0]
    grad, scale = grads[1e-9], np.abs(grads[1e-9][[1, 2], [0, 0]]).max()
    assert scale > 1e-3
    assert abs(grad[2, 1]) < 1e-4 * scale  # the only parent of node 2
    assert abs(MU[1, 0] * grad[1, 0] + MU[2, 0] * grad[2, 0]) < 1e-4 * scale  # node 1: two parents
    leak = grads[1e-5][2, 1] / grad[2, 1]
    assert 300 < leak < 3e4  # ~1e4 = the ratio of the epsilons: the gradient is the epsilon's leak
    per_example = np.broadcast_to(MU, (64, 3, 3)).copy()
    per_example *= np.random.default_rng(0).uniform(0.5, 1.5, (64, 1, 1)).astype(np.float32)
    grad_pe = _gate_gradient(model, x, per_example).sum(axis=0)
    assert abs(grad_pe[2, 1]) > 0.05 * scale
