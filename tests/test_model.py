"""The model's latent pass and objective against independent computations."""
import numpy as np
import pytest
import tensorflow as tf
import keras

import reference
from tfgvae.core.model import GraphVAE, ModelConfig
from tfgvae.core.schedules import Schedule


def _model(structure="graph", nodes=4, node_dim=3, input_dim=20, **kw):
    keras.utils.set_random_seed(0)
    return GraphVAE(ModelConfig(input_dim=input_dim, num_nodes=nodes, node_dim=node_dim,
                                structure=structure, **kw), seed=1)


def _randomize_batch_norm(model, rng):
    for v in model.non_trainable_variables:
        if "moving" in v.path:
            v.assign(rng.uniform(0.5, 1.5, v.shape).astype(np.float32)
                     if "variance" in v.path else rng.normal(size=v.shape).astype(np.float32))


def test_latent_pass_matches_reference_formulation():
    rng = np.random.default_rng(0)
    model = _model(nodes=4, node_dim=3)
    _randomize_batch_norm(model, rng)
    x = (rng.random((6, 20)) < 0.5).astype(np.float32)
    gates = (rng.random((6, 4, 4)) * np.tril(np.ones((4, 4)), -1)).astype(np.float32)
    noise = rng.normal(size=(6, 4, 3)).astype(np.float32)
    mu, lv = model.bottom_up_gaussians(x)
    z, log_q, log_p = model.descend(tf.constant(gates), tf.constant(noise), (mu, lv))
    want = reference.descend(model, gates, noise, np.asarray(mu, np.float64), np.asarray(lv, np.float64))
    for got, ref in zip((z, log_q, log_p), want):
        np.testing.assert_allclose(got.numpy(), ref, rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("training", [False, True])
def test_shared_top_down_is_the_prior_mlp_in_the_posterior(training):
    """top_down="shared" (one MLP per node for p and q, as the public PyTorch code): q's top-down
    Gaussian is p's, in the latent pass and in ``posterior_distribution``."""
    rng = np.random.default_rng(4)
    model = _model(nodes=4, node_dim=3, top_down="shared")
    _randomize_batch_norm(model, rng)
    x = (rng.random((6, 20)) < 0.5).astype(np.float32)
    gates = (rng.random((6, 4, 4)) * np.tril(np.ones((4, 4)), -1)).astype(np.float32)
    noise = rng.normal(size=(6, 4, 3)).astype(np.float32)
    mu, lv = model.bottom_up_gaussians(x)
    z, log_q, log_p = model.descend(tf.constant(gates), tf.constant(noise), (mu, lv), training=training)
    args = (model, gates, noise, np.asarray(mu, np.float64), np.asarray(lv, np.float64), training)
    want = reference.descend(*args, shared_top_down=True)
    for got, ref in zip((z, log_q, log_p), want):
        np.testing.assert_allclose(got.numpy(), ref, rtol=2e-4, atol=2e-4)
    assert np.abs(reference.descend(*args)[1] - want[1]).max() > 1e-2  # independent weights differ
    if not training:
        q = model.posterior_distribution(x, z, tf.constant(gates))
        np.testing.assert_allclose(q.log_prob(z).numpy(), want[1], rtol=2e-4, atol=2e-4)
    with pytest.raises(ValueError, match="top_down 'shared' needs encoder_graph 'shared'"):
        ModelConfig(top_down="shared", encoder_graph="fc")


def test_bottom_up_heads_match_per_node_mlps():
    rng = np.random.default_rng(1)
    model = _model(nodes=3, node_dim=2)
    h = rng.normal(size=(5, 128)).astype(np.float32)
    mu, lv = model.bottom_up(h, training=False)
    bu = model.bottom_up
    a = h @ bu.dense1.kernel.numpy() + bu.dense1.bias.numpy()
    bn = bu.bn1
    a = reference.elu(reference.batch_norm(a, bn.gamma.numpy(), bn.beta.numpy(),
                                           bn.moving_mean.numpy(), bn.moving_variance.numpy()))
    for n in range(3):
        f = a[:, n * 128:(n + 1) * 128] @ bu.w2.numpy()[n] + bu.b2.numpy()[n]
        out = f @ bu.w3.numpy()[n] + bu.b3.numpy()[n]
        np.testing.assert_allclose(mu.numpy()[:, n], out[:, :2], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(lv.numpy()[:, n], out[:, 2:], rtol=1e-4, atol=1e-5)


def test_vae_monte_carlo_kl_averages_to_analytic_kl():
    model = _model("vae", nodes=1, node_dim=4)
    x = np.tile((np.random.default_rng(2).random((1, 20)) < 0.5).astype(np.float32), (40_000, 1))
    terms = model.elbo_terms(x, training=False)
    mu, lv = (a.numpy()[0, 0].astype(np.float64) for a in model.bottom_up_gaussians(x[:1]))
    analytic = 0.5 * np.sum(mu ** 2 + np.exp(lv) - 1.0 - lv)
    kl = terms["kl"].numpy()
    assert abs(kl.mean() - analytic) < 4 * kl.std() / np.sqrt(kl.size)
    np.testing.assert_allclose(terms["elbo"].numpy(), terms["reconstruction"].numpy() - kl, rtol=1e-5)


def test_closed_gates_cut_parents_out():
    """With the ladder's gates z_3 reaches z_2; with c_{3,2} = 0 too, z_3 reaches no other node."""
    model = _model("ladder", nodes=3, node_dim=2)
    noise = np.random.default_rng(4).normal(size=(2, 3, 2)).astype(np.float32)
    bu = model.bottom_up_gaussians(np.zeros((2, 20), np.float32))
    shifted = noise.copy()
    shifted[:, 2] += 3.0
    gates = model.gates.map().numpy()
    np.testing.assert_array_equal(gates[0], [[0, 0, 0], [1, 0, 0], [0, 1, 0]])
    _, _, lp_a = model.descend(tf.constant(gates), tf.constant(noise), bu)
    _, _, lp_b = model.descend(tf.constant(gates), tf.constant(shifted), bu)
    assert not np.allclose(lp_a.numpy()[:, 1], lp_b.numpy()[:, 1])
    gates[0, 2, 1] = 0.0
    z_a, lq_a, lp_a = model.descend(tf.constant(gates), tf.constant(noise), bu)
    z_b, lq_b, lp_b = model.descend(tf.constant(gates), tf.constant(shifted), bu)
    assert not np.allclose(z_a.numpy()[:, 2], z_b.numpy()[:, 2])
    for a, b in ((z_a, z_b), (lq_a, lq_b), (lp_a, lp_b)):
        np.testing.assert_allclose(a.numpy()[:, :2], b.numpy()[:, :2], rtol=1e-6)


@pytest.mark.parametrize("structure,nodes", [("graph", 3), ("fc", 3), ("ladder", 3), ("vae", 1)])
def test_elbo_rises_and_gates_get_gradients(structure, nodes):
    model = _model(structure, nodes=nodes, node_dim=6 // nodes, input_dim=16)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=False)
    rng = np.random.default_rng(5)
    protos = (rng.random((4, 16)) < 0.5).astype(np.float32)
    x = protos[rng.integers(0, 4, 512)]
    x = np.where(rng.random(x.shape) < 0.05, 1 - x, x).astype(np.float32)
    before = model.evaluate(x, batch_size=128, verbose=0, return_dict=True)["elbo"]
    if structure == "graph":
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(model.elbo_terms(x[:64], training=True)["elbo"])
        grad = tape.gradient(loss, model.gates.logits).numpy()
        assert np.all(np.isfinite(grad)) and np.all(grad[np.tril_indices(nodes, -1)] != 0)
    model.fit(x, batch_size=64, epochs=7, verbose=0)  # 56 steps
    after = model.evaluate(x, batch_size=128, verbose=0, return_dict=True)["elbo"]
    assert after > before + 1.0


def test_step_draws_threefry_under_xla_philox_elsewhere():
    """Per-step draws: TF's kernels (eager, tf.function) have no Threefry, XLA's Philox is slow.

    Both generators must give standard normal noise and U(0, 1) gate draws (logits 0 and
    tau = 1 make the relaxed gate sigmoid(logit u) = u), deterministic per (seed, step).
    """
    model = GraphVAE(ModelConfig(input_dim=16, num_nodes=4, node_dim=2), seed=3)
    edges = np.tril(np.ones((4, 4), bool), -1)
    draws = {"eager": model.step_draws(4096, 5, training=True),
             "function": tf.function(lambda: model.step_draws(4096, 5, training=True))(),
             "xla": tf.function(lambda: model.step_draws(4096, 5, training=True), jit_compile=True)()}
    np.testing.assert_array_equal(draws["eager"][1], draws["function"][1])
    again = tf.function(lambda: model.step_draws(4096, 5, training=True), jit_compile=True)()
    np.testing.assert_array_equal(draws["xla"][1], again[1])
    assert np.abs(draws["xla"][1].numpy() - draws["eager"][1].numpy()).max() > 0.1  # another generator
    for gates, noise in draws.values():
        noise, u = noise.numpy().ravel(), gates.numpy()[:, edges].ravel()
        assert abs(noise.mean()) < 0.03 and abs(noise.std() - 1) < 0.03
        assert abs(np.mean(noise < -1.0) - 0.1587) < 0.01  # Phi(-1)
        assert abs(u.mean() - 0.5) < 0.01 and abs(np.mean(u < 0.25) - 0.25) < 0.01


def test_kl_warmup_step_descends_the_beta_weighted_objective():
    """One SGD step with KL warm-up equals a step on -(recon - beta KL), beta = (s + 1) / W,
    computed here with its own tape from the same draws; without warm-up beta = 1."""
    rng = np.random.default_rng(7)
    x = (rng.random((8, 20)) < 0.5).astype(np.float32)
    for warmup, beta in ((4, 0.25), (0, 1.0)):
        model = _model(nodes=3, node_dim=2)
        schedule = Schedule(kl_warmup_fraction=1.0, steps_per_epoch=warmup, epochs=1) if warmup else (
            Schedule.constant())
        model.compile(optimizer=keras.optimizers.SGD(0.1), jit_compile=False, schedule=schedule)
        model.optimizer.build(model.trainable_variables)
        before = [v.numpy() for v in model.trainable_variables]
        with tf.GradientTape() as tape:
            gates, noise = model.step_draws(8, 0, training=True)
            t = model.elbo_terms(x, training=True, gates=gates, noise=noise)
            loss = -(tf.reduce_mean(t["reconstruction"]) - beta * tf.reduce_mean(t["kl"]))
        grads = tape.gradient(loss, model.trainable_variables)
        logs = model.train_step(x)
        np.testing.assert_allclose(float(logs["kl_weight"]), beta, rtol=1e-6)
        for v, b, g in zip(model.trainable_variables, before, grads):
            np.testing.assert_allclose(v.numpy(), b - 0.1 * g.numpy(), rtol=1e-4, atol=1e-6)
        # The logged ELBO is the true one (beta = 1), the loss the weighted objective.
        np.testing.assert_allclose(float(logs["loss"]), float(loss), rtol=1e-4)


def test_vae_bottom_up_width_changes_only_the_heads():
    narrow, wide = _model("vae", nodes=1, node_dim=8), _model("vae", nodes=1, node_dim=8, head_hidden=200)
    count = lambda m: sum(int(np.prod(v.shape)) for v in m.trainable_variables)
    # fc(128, h) + BN(h) + fc(h, N'): (128 + 1 + 2 + N') parameters per hidden unit.
    assert count(wide) - count(narrow) == (200 - 128) * (128 + 1 + 2 + 8)
    assert wide.bottom_up.dense1.kernel.shape == (128, 200)
