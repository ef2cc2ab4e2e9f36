"""The looped (tf.while_loop) and unrolled latent passes against the float64 reference."""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import keras

import reference
from tfgvae.core import nodes
from tfgvae.core.model import GraphVAE, ModelConfig

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))
import flops  # noqa: E402

PATHS = ("unrolled", "looped")
N, D, B, X = 5, 2, 8, 16


def _model(descent, nodes_=N, node_dim=D, **kw):
    keras.utils.set_random_seed(0)
    model = GraphVAE(ModelConfig(input_dim=X, num_nodes=nodes_, node_dim=node_dim, **kw), seed=1)
    model.descent = descent
    rng = np.random.default_rng(7)  # non-trivial moving statistics, the same in every model
    for v in model.non_trainable_variables:
        if "moving" in v.path:
            v.assign(rng.uniform(0.5, 1.5, v.shape).astype(np.float32)
                     if "variance" in v.path else rng.normal(size=v.shape).astype(np.float32))
    return model


def _inputs(seed=0, nodes_=N, node_dim=D):
    rng = np.random.default_rng(seed)
    x = (rng.random((B, X)) < 0.5).astype(np.float32)
    gates = (rng.random((B, nodes_, nodes_)) * np.tril(np.ones((nodes_, nodes_)), -1)).astype(np.float32)
    noise = rng.normal(size=(B, nodes_, node_dim)).astype(np.float32)
    return x, gates, noise


@pytest.mark.parametrize("descent", PATHS)
@pytest.mark.parametrize("training", [False, True])
def test_latent_pass_matches_reference_formulation(descent, training):
    model = _model(descent)
    x, gates, noise = _inputs()
    mu, lv = (np.asarray(t, np.float64) for t in model.bottom_up_gaussians(x))
    top_down = model.top_down.bn1
    old = (top_down.moving_mean.numpy(), top_down.moving_var.numpy())
    want = reference.descend(model, gates, noise, mu, lv, training)
    got = model.descend(tf.constant(gates), tf.constant(noise), (tf.constant(mu, tf.float32),
                                                                 tf.constant(lv, tf.float32)), training)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.numpy(), w, rtol=2e-4, atol=2e-4)
    # Moving statistics: x0.9 + 0.1 x the batch moments in training, untouched otherwise.
    for var, prev, batch in zip((top_down.moving_mean, top_down.moving_var), old,
                                want[3] if training else old):
        expect = nodes.BN_MOMENTUM * prev + (1 - nodes.BN_MOMENTUM) * batch if training else prev
        np.testing.assert_allclose(var.numpy(), expect, rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("descent", PATHS)
def test_prior_pass_matches_between_paths(descent):
    _, gates, noise = _inputs(1)
    want = _model("unrolled").descend(tf.constant(gates), tf.constant(noise))
    got = _model(descent).descend(tf.constant(gates), tf.constant(noise))
    assert got[1] is None and want[1] is None
    for g, w in ((got[0], want[0]), (got[2], want[2])):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("training", [False, True])
def test_optimized_elbo_equals_reference_elbo(training):
    """Whole-model ELBO for the same weights, gates and noise, incl. training-mode batch norm."""
    x, gates, noise = _inputs(2)
    want = reference.elbo(_model("unrolled"), x, gates, noise, training)
    for descent in PATHS:
        terms = _model(descent).elbo_terms(x, training, gates=tf.constant(gates), noise=tf.constant(noise))
        np.testing.assert_allclose(terms["elbo"].numpy(), want, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("shared_gates", [False, True])
def test_gradients_and_moving_statistics_agree_between_paths(shared_gates):
    """The looped pass's hand-written backward (tfgvae.core.descent) against autodiff of the unrolled one."""
    x, gates, noise = _inputs(3)
    gates = gates[:1] if shared_gates else gates  # one structure for the whole batch: (1, N, N)
    results = []
    for descent in PATHS:
        model = _model(descent)
        gates_t = tf.constant(gates)
        with tf.GradientTape() as tape:
            tape.watch(gates_t)
            loss = -tf.reduce_mean(model.elbo_terms(x, True, gates=gates_t, noise=tf.constant(noise))["elbo"])
        grads = tape.gradient(loss, model.trainable_variables + [gates_t])
        results.append([g.numpy() for g in grads if g is not None] + [v.numpy() for v in model.non_trainable_variables])
    assert len(results[0]) == len(results[1]) > 20
    scale = max(np.abs(b).max() for b in results[1])  # gradients up to ~40: float32 sums in another
    for a, b in zip(*results):  # order differ by round-off of that size, also where the true value is 0
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=3e-6 * scale)


def test_profile_script_reports_thunks(tmp_path):
    """bench/profile_step.py runs a tiny compiled step under the profiler and names its kernels."""
    script = os.path.join(os.path.dirname(flops.__file__), "profile_step.py")
    proc = subprocess.run([sys.executable, script, "--num_nodes", "2", "--node_dim", "2",
                           "--batch_size", "4", "--steps", "1", "--top", "3"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert "thunks per step" in lines[0] and len(lines) == 4, proc.stdout


def test_upper_triangle_gates_are_ignored_by_both_paths():
    _, gates, noise = _inputs(4)
    noisy = gates + np.triu(np.full((N, N), 0.7, np.float32))  # not edges: must have no effect
    for descent in PATHS:
        model = _model(descent)
        a = model.descend(tf.constant(gates), tf.constant(noise))
        b = model.descend(tf.constant(noisy), tf.constant(noise))
        np.testing.assert_allclose(a[2].numpy(), b[2].numpy(), rtol=1e-6)


def test_child_kernels_hold_each_childs_parents_and_zeros():
    model = _model("looped")
    kernels = model.top_down.child_kernels().numpy()  # (N-1, N N', S H)
    per_child = reference.top_down_weights(model)  # ((N-1-i) N', H) per (child, stream)
    h = model.config.hidden
    for i in range(N - 1):
        np.testing.assert_array_equal(kernels[i, :(i + 1) * D], 0.0)
        for s in range(2):
            np.testing.assert_allclose(kernels[i, (i + 1) * D:, s * h:(s + 1) * h], per_child[(i, s)], rtol=1e-6)


@pytest.mark.parametrize("structure,nodes_,node_dim", [("graph", 5, 16), ("fc", 3, 4), ("vae", 1, 8)])
def test_flop_count_equals_kernel_sizes(structure, nodes_, node_dim):
    """Forward multiply-adds per example = the entries of every fc kernel (each used once per example)."""
    keras.utils.set_random_seed(0)
    model = GraphVAE(ModelConfig(input_dim=30, num_nodes=nodes_, node_dim=node_dim, structure=structure,
                                 likelihood="gaussian"), seed=0)
    kernels = sum(int(np.prod(v.shape)) for v in model.trainable_variables if "kernel" in v.path)
    assert sum(flops.forward_macs(model.config).values()) == kernels
    assert flops.train_flops_per_example(model.config) == 6 * kernels


def test_xla_compiled_looped_training_step_matches_unrolled():
    """One XLA-compiled Keras step per path: the same loss and the same updated weights.

    SGD, not Adam: Adam's first step is lr * sign(g), which turns float round-off in the
    near-zero gradients of biases before batch norm into full-size differences.
    """
    x = _inputs(5)[0]
    out = []
    for descent in PATHS:
        model = _model(descent, nodes_=3, node_dim=2)
        model.compile(optimizer=keras.optimizers.SGD(0.1), jit_compile=True)
        logs = model.train_on_batch(x, return_dict=True)
        out.append((logs["loss"], [v.numpy() for v in model.variables]))
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-5)
    for a, b in zip(out[0][1], out[1][1]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
