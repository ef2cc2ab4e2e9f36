"""The latent nodes' prior and posterior as TFP distributions, given their parents (Eqs. 6, 7, 18).

The layers pass tensors (a Keras layer or a SavedModel signature cannot return a
distribution); these functions build ``tfd`` objects from a model's heads outside the
training step. Node n's conditionals, given parent values z and gates c:

- prior p(z_n | c * z_pa(n)) = N(mu_td^p, sigma_td^p) (the root's is N(0, I)), Eq. 6;
- posterior q(z_n | x, c * z_pa(n)) = the fusion (Eq. 18) of the bottom-up Gaussian and the
  top-down one, Eq. 7; with ``encoder_graph='fc'`` its top-down head reads every parent
  ungated (Sec. 4.3's fully-connected encoder graph).

Each is a ``tfd.Independent(tfd.Normal)`` of batch shape (B, N) and event shape (N',).
The training step scores every node with the same ``tfd.Independent(tfd.Normal)``
(``nodes.normal``); the fusion ``nodes.fuse`` and the gates' relaxation stay closed forms,
tested against tfd in float64 (tests/test_distributions.py).
"""
import tensorflow as tf
import tensorflow_probability as tfp

from tfgvae.core.nodes import fuse, normal

tfd = tfp.distributions


def _top_down(model, z, gates, posterior_gates):
    """Top-down (mu, logvar), each (B, N-1, S, N'), of every non-root node at parent values z.

    Stream 0 (prior) reads the parents through ``gates``, stream 1 (posterior) through
    ``posterior_gates``. Child i's first-layer input is [c_{j,i} z_j]_j @ child_kernels()[i]
    (zero rows for j <= i).
    """
    td = model.top_down
    n, d, c = model.config.num_nodes, model.config.node_dim, model.config.num_nodes - 1
    kernels = td.child_kernels()  # (C, N N', S H)

    def pre(g):
        gated = tf.transpose(g, (2, 0, 1))[:c, :, :, None] * z[None]  # (C, B, N, N')
        out = tf.matmul(tf.reshape(gated, (c, -1, n * d)), kernels)
        return tf.reshape(out, (c, -1, td.STREAMS, td.hidden))

    pre_p = pre(gates)
    if posterior_gates is not gates:
        pre_p = tf.stack([pre_p[:, :, 0], pre(posterior_gates)[:, :, 1]], axis=2)
    weights = {k: tf.unstack(tf.convert_to_tensor(v)) for k, v in td.node_weights().items()}
    mus, lvs = [], []
    for i in range(c):
        w = {k: v[i] for k, v in weights.items()}
        mu, lv, _ = td.finish(pre_p[i] + w["b1"], w, False)
        mus.append(mu)
        lvs.append(lv)
    return tf.stack(mus, axis=1), tf.stack(lvs, axis=1)


def node_parameters(model, z, gates, bottom_up=None):
    """Prior and posterior (mu, logvar), each (B, N, N'), of every node at parent values z.

    z (B, N, N'), gates (B or 1, N, N) as in ``GraphVAE.descend``; bottom_up (mu, logvar) or
    None (the posterior is then None). Inference mode (batch norm's moving moments).
    """
    z = tf.convert_to_tensor(z, model.compute_dtype)
    zero = tf.zeros_like(z[:, -1:])
    if model.top_down is None:
        return (zero, zero), bottom_up
    q_gates = model.posterior_gates(gates)
    mu_t, lv_t = _top_down(model, z, gates, q_gates)
    prior = (tf.concat([mu_t[:, :, 0], zero], axis=1), tf.concat([lv_t[:, :, 0], zero], axis=1))
    if bottom_up is None:
        return prior, None
    mu_bu, lv_bu = bottom_up
    mu, lv = fuse(mu_bu[:, :-1], lv_bu[:, :-1], mu_t[:, :, 1], lv_t[:, :, 1])
    return prior, (tf.concat([mu, mu_bu[:, -1:]], axis=1), tf.concat([lv, lv_bu[:, -1:]], axis=1))


def posterior_given_parents(model, bottom_up, z, gates):
    """q(z_n | x, c * z_pa(n)) for every node at given parent values z (Eqs. 6, 7, 18).

    bottom_up: (mu, logvar) each (B, N, N'); z: (B, N, N'); gates (B or 1, N, N).
    Returns the fused posterior (mu, logvar), each (B, N, N'); the root's is its bottom-up
    Gaussian. With z from ``model.descend`` under the same gates, z_n = mu_n + sigma_n * noise_n.
    """
    return node_parameters(model, z, gates, bottom_up)[1]


def prior(model, z, gates):
    """p(z_n | c * z_pa(n)) of every node: tfd.Independent(tfd.Normal), batch (B, N), event (N',)."""
    return normal(*node_parameters(model, z, gates)[0])


def posterior(model, x, z, gates):
    """q(z_n | x, c * z_pa(n)) of every node: tfd.Independent(tfd.Normal), batch (B, N), event (N',)."""
    return normal(*node_parameters(model, z, gates, model.bottom_up_gaussians(x, training=False))[1])
