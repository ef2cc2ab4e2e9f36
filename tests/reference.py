"""An independent float64 numpy formulation of the Graph VAE latent pass, for tests.

It follows Appendix B literally: node i's top-down MLP reads the concatenation
[z_j * c_{j,i}]_{j>i} through one fc layer, and fusion uses precisions (Eq. 18).
"""
import numpy as np

LOG_2PI = np.log(2 * np.pi)


def elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))


def batch_norm(x, gamma, beta, mean, var, eps=1e-5):
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def fuse(mu_bu, lv_bu, mu_td, lv_td):
    p_bu, p_td = np.exp(-lv_bu), np.exp(-lv_td)
    var = 1.0 / (p_bu + p_td)
    return (mu_bu * p_bu + mu_td * p_td) * var, np.log(var)


def normal_log_prob(z, mu, lv):
    return -0.5 * np.sum(LOG_2PI + lv + (z - mu) ** 2 / np.exp(lv), axis=-1)


def top_down_weights(model):
    """Per child i and stream s: the first-layer kernel over concatenated parents, ((N-1-i)N', H)."""
    td = model.top_down
    n, d, s_n, h = td.num_nodes, td.node_dim, td.STREAMS, td.hidden
    w1 = np.asarray(td.w1, np.float64)
    blocks = {j: w1[td.offsets[j]:td.offsets[j + 1]].reshape(d, j, s_n, h) for j in range(1, n)}
    return {(i, s): np.concatenate([blocks[j][:, i, s, :] for j in range(i + 1, n)], axis=0)
            for i in range(n - 1) for s in range(s_n)}


def _bn(a, gamma, beta, mean, var, training):
    """Batch norm of a (B, ...) with batch moments (biased variance) in training; returns y, moments."""
    if training:
        mean, var = a.mean(0), a.var(0)
    return batch_norm(a, gamma, beta, mean, var), (mean, var)


def descend(model, gates, noise, bu_mu, bu_lv, training=False, posterior_gates=None, shared_top_down=False):
    """Posterior pass; training: batch BN moments (moving ones otherwise). The posterior's
    top-down heads read the parents through ``posterior_gates`` (default: ``gates``), with the
    prior's own MLP if ``shared_top_down``.

    Returns z, log_q, log_p, and the top-down batch-norm moments used, (N-1, 2, H) each.
    """
    n = model.config.num_nodes
    noise = np.asarray(noise, np.float64)
    gates = np.broadcast_to(np.asarray(gates, np.float64), (noise.shape[0], n, n))
    q_gates = gates if posterior_gates is None else np.broadcast_to(
        np.asarray(posterior_gates, np.float64), (noise.shape[0], n, n))
    z, log_q, log_p = [None] * n, [None] * n, [None] * n
    means, variances = np.zeros((max(n - 1, 0), 2, model.config.hidden)), np.zeros((max(n - 1, 0), 2, model.config.hidden))
    if n > 1:
        td = model.top_down
        w1 = top_down_weights(model)
        g = {k: np.asarray(getattr(td, k), np.float64) for k in ("b1", "w2", "b2", "w3", "b3")}
        bn = {k: np.asarray(getattr(td.bn1, k), np.float64)
              for k in ("gamma", "beta", "moving_mean", "moving_var")}
    d = model.config.node_dim
    for i in reversed(range(n)):
        if i == n - 1:
            mu_p, lv_p = np.zeros_like(noise[:, i]), np.zeros_like(noise[:, i])
            mu_q, lv_q = bu_mu[:, i], bu_lv[:, i]
        else:
            outs = []
            for stream, gs in enumerate((gates, q_gates)):
                s = 0 if shared_top_down else stream  # the weights this stream reads
                parents = np.concatenate([z[j] * gs[:, j, i][:, None] for j in range(i + 1, n)], axis=1)
                a = parents @ w1[(i, s)] + g["b1"][i, s]
                a, (means[i, stream], variances[i, stream]) = _bn(a, bn["gamma"][i, s], bn["beta"][i, s],
                                                        bn["moving_mean"][i, s], bn["moving_var"][i, s], training)
                f = elu(a) @ g["w2"][i, s] + g["b2"][i, s]
                w3, b3 = g["w3"][i, s], g["b3"][i, s]
                outs.append((f @ w3[:, :d] + b3[:d], f @ w3[:, d:] + b3[d:]))
            (mu_p, lv_p), (mu_t, lv_t) = outs
            mu_q, lv_q = fuse(bu_mu[:, i], bu_lv[:, i], mu_t, lv_t)
        z[i] = mu_q + np.exp(0.5 * lv_q) * noise[:, i]
        log_q[i] = normal_log_prob(z[i], mu_q, lv_q)
        log_p[i] = normal_log_prob(z[i], mu_p, lv_p)
    if training:
        return np.stack(z, 1), np.stack(log_q, 1), np.stack(log_p, 1), (means, variances)
    return np.stack(z, 1), np.stack(log_q, 1), np.stack(log_p, 1)


def mlp(sequential, x, training):
    """A keras fc-BN-ELU Sequential (tfgvae.core.networks.mlp) in float64."""
    for layer in sequential.layers:
        if hasattr(layer, "kernel"):
            x = x @ np.asarray(layer.kernel, np.float64) + np.asarray(layer.bias, np.float64)
        elif hasattr(layer, "moving_mean"):
            x, _ = _bn(x, *(np.asarray(getattr(layer, k), np.float64)
                            for k in ("gamma", "beta", "moving_mean", "moving_variance")), training)
        else:
            x = elu(x)
    return x


def elbo(model, x, gates, noise, training=False):
    """Per-example ELBO of a Bernoulli model (Eqs. 5-8), in float64."""
    x = np.asarray(x, np.float64)
    bu = model.bottom_up
    a = mlp(model.encoder, x, training) @ np.asarray(bu.dense1.kernel, np.float64) + np.asarray(bu.dense1.bias)
    a, _ = _bn(a, *(np.asarray(getattr(bu.bn1, k), np.float64)
                    for k in ("gamma", "beta", "moving_mean", "moving_variance")), training)
    a = elu(a).reshape(len(x), model.config.num_nodes, -1)
    f = np.einsum("bnh,nhd->bnd", a, np.asarray(bu.w2, np.float64)) + np.asarray(bu.b2)
    out = np.einsum("bnd,nde->bne", f, np.asarray(bu.w3, np.float64)) + np.asarray(bu.b3)
    d = model.config.node_dim
    z, log_q, log_p = descend(model, gates, noise, out[..., :d], out[..., d:], training)[:3]
    logits = mlp(model.decoder, z[:, 0] if model.config.decode_from == "first" else z.reshape(len(x), -1),
                 training)
    recon = np.sum(x * logits - np.logaddexp(0.0, logits), axis=1)
    return recon - np.sum(log_q - log_p, axis=1)
