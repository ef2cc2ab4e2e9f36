"""Latent node layers: bottom-up and top-down heads, and precision-weighted fusion (App. B.3).

All nodes share one node size N', so each head's weights are stacked over nodes and
a head runs as a few batched matmuls instead of N small layers. The maths is that of
the per-node MLPs of Appendix B; ``tests/test_nodes.py`` checks it against numpy.
"""
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
import keras

from tfgvae.core.descent import looped_pass

BN_MOMENTUM = 0.9  # PyTorch's default (0.1 in its convention), as the paper used PyTorch
BN_EPSILON = 1e-5
# Initial weights of the stacked per-node kernels: "per_node" gives each node's layer Glorot's
# limit for its own fans, as N separate layers would have; "stacked" is Keras' Glorot over the
# whole stack, whose fans count every node, shrinking each node's weights by sqrt(stack size)
# (the library before 0.2.0; docs/results.md, "What holds the structured models back").
HEAD_INITS = ("per_node", "stacked")


def per_node_glorot_uniform(shape, dtype=None):
    """Glorot uniform for a stack (..., fan_in, fan_out) of per-node kernels: each node's
    kernel U(-l, l) with l = sqrt(6 / (fan_in + fan_out)), that of one fc(fan_in, fan_out)."""
    limit = float(np.sqrt(6.0 / (shape[-2] + shape[-1])))
    return keras.random.uniform(shape, -limit, limit, dtype=dtype)


def kernel_initializer(head_init, stack_size):
    """The initializer of a stack of ``stack_size`` per-node kernels (Keras' own for one node,
    where the two agree: the VAE's draws are unchanged)."""
    if head_init not in HEAD_INITS:
        raise ValueError(f"head_init must be one of {', '.join(HEAD_INITS)}, got {head_init!r}")
    return per_node_glorot_uniform if head_init == "per_node" and stack_size > 1 else "glorot_uniform"


def fuse(mu_bu, logvar_bu, mu_td, logvar_td):
    """Eq. 18: precision-weighted fusion of a bottom-up and a top-down Gaussian.

    sigma^2 = 1 / (sigma_bu^-2 + sigma_td^-2), mu = (mu_bu sigma_bu^-2 + mu_td sigma_td^-2) sigma^2,
    written with log-variances so that no precision overflows.
    """
    logvar = -tf.math.reduce_logsumexp(tf.stack([-logvar_bu, -logvar_td]), axis=0)
    w_bu = tf.sigmoid(logvar_td - logvar_bu)
    return w_bu * mu_bu + (1.0 - w_bu) * mu_td, logvar


def normal(mu, logvar):
    """N(mu, exp(logvar)) over the last axis: tfd.Independent(tfd.Normal(mu, exp(logvar / 2)), 1)."""
    return tfp.distributions.Independent(tfp.distributions.Normal(mu, tf.exp(0.5 * logvar)),
                                         reinterpreted_batch_ndims=1)


def normal_log_prob(z, mu, logvar):
    """log N(z; mu, exp(logvar)) summed over the last axis, scored by ``normal``'s tfd object.

    The training step uses it for log q and log p of every node: side by side with the closed
    form -0.5 sum(log 2pi + logvar + (z - mu)^2 exp(-logvar)) it costs nothing measurable
    (docs/performance.md, ``bench/train_step.py --node_log_prob``).
    """
    return normal(mu, logvar).log_prob(z)


def batch_norm(x, gamma, beta, moving_mean, moving_var, training, synchronized=False):
    """Batch norm over axis 0: batch moments in training (returned), the moving ones otherwise."""
    if training:
        mean, var = keras.ops.moments(x, axes=[0], synchronized=synchronized)
    else:
        mean, var = moving_mean, moving_var
    return (x - mean) * tf.math.rsqrt(var + BN_EPSILON) * gamma + beta, (mean, var)


def sample_node(noise, prior, bottom_up=None, top_down=None):
    """Draw z_n and score it (Eqs. 6, 7, 18): prior/bottom_up/top_down are (mu, logvar) pairs.

    z comes from the posterior, bottom_up fused with top_down (the root has no top_down),
    or from the prior when bottom_up is None. Returns z, log q(z) (None without
    bottom_up) and log p(z).
    """
    dist = prior if bottom_up is None else bottom_up
    if bottom_up is not None and top_down is not None:
        dist = fuse(*bottom_up, *top_down)
    z = dist[0] + tf.exp(0.5 * dist[1]) * noise
    log_q = None if bottom_up is None else normal_log_prob(z, *dist)
    return z, log_q, normal_log_prob(z, *prior)


class NodeBatchNorm(keras.layers.Layer):
    """Batch norm for stacked per-node features (nodes, *feature_shape), applied one node at a time.

    Node n is normalized by ``batch_norm`` with row n of its parameters (see
    ``TopDownHeads.finish``); ``update`` then moves every node's running moments in one
    assignment, exactly as N separate BatchNormalization layers would.
    """

    def __init__(self, shape, **kwargs):
        super().__init__(**kwargs)
        self.gamma = self.add_weight(shape=shape, initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=shape, initializer="zeros", name="beta")
        self.moving_mean = self.add_weight(shape=shape, initializer="zeros", trainable=False,
                                           name="moving_mean")
        self.moving_var = self.add_weight(shape=shape, initializer="ones", trainable=False,
                                          name="moving_variance")
        self.synchronized = False  # moments over all replicas (tfgvae.training.distribute.synchronize_batch_norm)
        self.momentum = BN_MOMENTUM  # as keras.layers.BatchNormalization's (0: the last batch's moments)

    def update(self, moments):
        """moments: [(mean, var)] for nodes 0..n-1 in order, from training-mode ``batch_norm``."""
        self.update_stacked(tf.stack([m for m, _ in moments]), tf.stack([v for _, v in moments]))

    def update_stacked(self, mean, var):
        """Move every node's running moments at once; mean, var: (nodes, *feature_shape)."""
        self.moving_mean.assign(self.momentum * self.moving_mean + (1 - self.momentum) * mean)
        self.moving_var.assign(self.momentum * self.moving_var + (1 - self.momentum) * var)


class BottomUpHeads(keras.layers.Layer):
    """MLP_BU of every node at once: fc(128,128)-BN-ELU-fc(128,N'), then fc(N',N') for mu and logvar.

    Input: the encoder feature h_x (B, 128). Output: mu, logvar, each (B, N, N').
    """

    def __init__(self, num_nodes, node_dim, hidden=128, head_init="per_node", **kwargs):
        super().__init__(**kwargs)
        self.num_nodes, self.node_dim, self.hidden = num_nodes, node_dim, hidden
        self.kernel_init = kernel_initializer(head_init, num_nodes)
        self.dense1 = keras.layers.Dense(num_nodes * hidden, name="fc1")
        self.bn1 = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name="bn1")

    def build(self, input_shape):
        n, h, d = self.num_nodes, self.hidden, self.node_dim
        self.w2 = self.add_weight(shape=(n, h, d), initializer=self.kernel_init, name="fc2_kernel")
        self.b2 = self.add_weight(shape=(n, d), initializer="zeros", name="fc2_bias")
        # [mu | logvar] heads side by side: two independent fc(N', N') per node.
        self.w3 = self.add_weight(shape=(n, d, 2 * d), initializer=self.kernel_init,
                                  name="fc_mu_logvar_kernel")
        self.b3 = self.add_weight(shape=(n, 2 * d), initializer="zeros", name="fc_mu_logvar_bias")
        self.dense1.build(input_shape)
        self.bn1.build((None, n * h))

    def call(self, h_x, training=False):
        h = tf.nn.elu(self.bn1(self.dense1(h_x), training=training))
        h = tf.reshape(h, (-1, self.num_nodes, self.hidden))
        f = tf.einsum("bnh,nhd->bnd", h, self.w2) + self.b2
        out = tf.einsum("bnd,nde->bne", f, self.w3) + self.b3
        return out[..., :self.node_dim], out[..., self.node_dim:]


class TopDownHeads(keras.layers.Layer):
    """MLP_TD of every non-root node, for the prior and the posterior ("streams" s = 0, 1).

    Node i's head is fc(sum of parent dims,128)-BN-ELU-fc(128,N') then fc(N',N') for mu
    and logvar, reading [z_j * c_{j,i}]_{j>i}. Its first layer is linear in the gated
    parents, so its pre-activation is accumulated parent by parent: once z_j is sampled,
    ``contributions`` gives c_{j,i} z_j W1[j -> i] for all its children i < j and both
    streams in one matmul, and ``sample_child`` finishes node i when all its parents are in.
    """

    STREAMS = 2  # 0: generative prior p(z_i | z_pa), 1: top-down part of q(z_i | x, z_pa)

    def __init__(self, num_nodes, node_dim, hidden=128, head_init="per_node", **kwargs):
        super().__init__(**kwargs)
        self.num_nodes, self.node_dim, self.hidden = num_nodes, node_dim, hidden
        self.kernel_init = kernel_initializer(head_init, (num_nodes - 1) * self.STREAMS)
        self.children_n = num_nodes - 1
        s, h = self.STREAMS, hidden
        # Offsets of parent j's block W1[j] (node_dim, j * S * H) in the packed first-layer kernel.
        sizes = [node_dim * j * s * h for j in range(num_nodes)]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.bn1 = NodeBatchNorm((self.children_n, s, h), name="bn1")
        self.ungated_posterior = False  # stream 1 reads every parent ungated (encoder_graph "fc")
        self.shared_weights = False  # stream 1 is stream 0: one MLP for prior and posterior (top_down "shared")

    def build(self, input_shape=None):
        n, d, s, h, c = self.num_nodes, self.node_dim, self.STREAMS, self.hidden, self.children_n
        # Glorot per child: child i's fan-in is (N - 1 - i) * N'.
        limits = np.concatenate([
            np.broadcast_to(np.sqrt(6.0 / ((n - 1 - np.arange(j)) * d + h))[None, :, None, None],
                            (d, j, s, h)).ravel() for j in range(1, n)] or [np.zeros(0)])
        self.w1 = self.add_weight(
            shape=(int(self.offsets[-1]),),
            initializer=lambda shape, dtype=None: keras.random.uniform(shape, -1.0, 1.0) * limits,
            name="fc1_kernel_packed")
        self.b1 = self.add_weight(shape=(c, s, h), initializer="zeros", name="fc1_bias")
        self.w2 = self.add_weight(shape=(c, s, h, d), initializer=self.kernel_init, name="fc2_kernel")
        self.b2 = self.add_weight(shape=(c, s, d), initializer="zeros", name="fc2_bias")
        self.w3 = self.add_weight(shape=(c, s, d, 2 * d), initializer=self.kernel_init,
                                  name="fc_mu_logvar_kernel")
        self.b3 = self.add_weight(shape=(c, s, 2 * d), initializer="zeros", name="fc_mu_logvar_bias")

    def parent_kernels(self):
        """Parent j's first-layer block W1[j] (N', j S H) for j = 1..N-1, from one split of the
        packed kernel (whose gradient is then one concat, not N-1 zero-padded copies of it)."""
        parts = tf.split(self.w1, np.diff(self.offsets)[1:].tolist())
        return {j: tf.reshape(parts[j - 1], (self.node_dim, -1)) for j in range(1, self.num_nodes)}

    def contributions(self, z_j, gates_j, kernel):
        """Parent j's gated first-layer input to each child i < j: (B, j, S, H).

        gates_j: (B or 1, j); kernel: ``parent_kernels()[j]``. With ``ungated_posterior`` only
        the prior's stream is gated (Sec. 4.3's fully-connected encoder graph).
        """
        j = gates_j.shape[-1]
        contrib = tf.reshape(tf.matmul(z_j, kernel), (-1, j, self.STREAMS, self.hidden))
        if self.ungated_posterior:
            return contrib * tf.stack([gates_j, tf.ones_like(gates_j)], axis=-1)[..., None]
        return contrib * gates_j[:, :, None, None]

    def node_weights(self):
        """Each child's weights after its first-layer kernel, stacked over children (N-1, ...).

        fc1's bias enters with a zero gradient: the batch norm right after it removes it in
        training, so its true gradient is 0, but rounding left one of ~1e-7 that Adam scaled to
        full steps; for a child without parents (constant input) the moving mean then lagged
        the drifting bias and inference divided the lag by sqrt(BN_EPSILON).
        """
        bn = self.bn1
        b1 = tf.stop_gradient(self.b1) + 0.0 * self.b1  # its value, a gradient of exactly 0
        return {"b1": b1, "gamma": bn.gamma, "beta": bn.beta, "moving_mean": bn.moving_mean,
                "moving_var": bn.moving_var, "w2": self.w2, "b2": self.b2, "w3": self.w3, "b3": self.b3}

    def finish(self, pre, w, training):
        """BN-ELU-fc-fc of one child from its pre-activation (B, S, H) and its ``node_weights``
        (with ``shared_weights`` stream 1 is a copy of stream 0)."""
        h, moments = batch_norm(pre, w["gamma"], w["beta"], w["moving_mean"], w["moving_var"],
                                training, self.bn1.synchronized)
        f = tf.einsum("bsh,shd->bsd", tf.nn.elu(h), w["w2"]) + w["b2"]
        out = tf.einsum("bsd,sde->bse", f, w["w3"]) + w["b3"]
        if self.shared_weights:  # the posterior's top-down Gaussian is the prior's
            out = tf.stack([out[:, 0], out[:, 0]], axis=1)
        return out[..., :self.node_dim], out[..., self.node_dim:], moments

    def sample_child(self, pre, w, noise, bottom_up, training):
        """Child from its pre-activation (Eqs. 6, 7, 18): z, log q (or None), log p, BN moments.

        Stream 0 of ``finish`` is the prior, stream 1 the top-down part of the posterior; with
        ``shared_weights`` the posterior's top-down Gaussian is the prior's (stream 1 unused).
        """
        mu, lv, moments = self.finish(pre, w, training)
        z, log_q, log_p = sample_node(noise, (mu[:, 0], lv[:, 0]), bottom_up, (mu[:, 1], lv[:, 1]))
        return z, log_q, log_p, moments

    def descend_unrolled(self, z_root, gates, noise, bottom_up, training):
        """Nodes N-2..0 in a Python loop: each sampled z_j is pushed to all its children at once.

        Arguments as ``GraphVAE.descend`` plus the root's sample; returns z (B, N-1, N'),
        log q (B, N-1) or None and log p (B, N-1) of the non-root nodes.
        """
        n, c = self.num_nodes, self.children_n
        # Per-node tensors are unstacked once (their gradients are then one stack each, not a
        # zero-padded copy per slice); pre[i] accumulates child i's first-layer pre-activation.
        kernels = self.parent_kernels()
        weights = {k: tf.unstack(tf.convert_to_tensor(v)) for k, v in self.node_weights().items()}
        gate_rows, noise = tf.unstack(gates, num=n, axis=1), tf.unstack(noise, num=n, axis=1)
        bu = None if bottom_up is None else [tf.unstack(t, num=n, axis=1) for t in bottom_up]
        root = tf.unstack(self.contributions(z_root, gate_rows[c][:, :c], kernels[c]), axis=1)
        pre = [b + r for b, r in zip(weights["b1"], root)]
        z, log_q, log_p, moments = [None] * c, [None] * c, [None] * c, [None] * c
        for i in reversed(range(c)):
            z[i], log_q[i], log_p[i], moments[i] = self.sample_child(
                pre[i], {k: w[i] for k, w in weights.items()}, noise[i],
                None if bu is None else (bu[0][i], bu[1][i]), training)
            if i > 0:
                contrib = self.contributions(z[i], gate_rows[i][:, :i], kernels[i])
                pre[:i] = [p + q for p, q in zip(pre[:i], tf.unstack(contrib, axis=1))]
        if training:
            self.bn1.update(moments)
        log_q = None if bottom_up is None else tf.stack(log_q, axis=1)
        return tf.stack(z, axis=1), log_q, tf.stack(log_p, axis=1)

    def child_kernels(self):
        """The packed first layer as one kernel per child over all N parents: (N-1, N N', S H).

        Rows of non-parents (j <= i) are zero, so child i's pre-activation is
        [c_{j,i} z_j]_{j=1..N} @ kernel[i] whatever those z_j hold.
        """
        n, d, c, sh = self.num_nodes, self.node_dim, self.children_n, self.STREAMS * self.hidden
        kernels = self.parent_kernels()
        blocks = [tf.zeros((d, c, sh), self.w1.dtype)] + [
            tf.pad(tf.reshape(kernels[j], (d, j, sh)), [[0, 0], [0, c - j], [0, 0]]) for j in range(1, n)]
        return tf.reshape(tf.transpose(tf.stack(blocks), (2, 0, 1, 3)), (c, n * d, sh))

    def descend_looped(self, z_root, gates, noise, bottom_up, training):
        """``descend_unrolled`` as a tf.while_loop over children, for many nodes.

        The graph (and XLA's compile time) no longer grows with N. Each child pulls its
        first-layer pre-activation from all parents in one matmul with ``child_kernels``
        (whose zero rows for non-parents also void any gate off the lower triangle); the
        backward pass is a loop of its own (``tfgvae.core.descent``).
        """
        if self.ungated_posterior or self.shared_weights:
            raise ValueError("the looped latent pass has two independent, equally gated streams: "
                             "encoder_graph 'fc' and top_down 'shared' descend unrolled")
        z, log_q, log_p, mean, var = looped_pass(self, z_root, gates, noise, bottom_up, training)
        if training:
            self.bn1.update_stacked(mean, var)
        z = tf.transpose(z, (1, 0, 2))
        return z, None if log_q is None else tf.transpose(log_q), tf.transpose(log_p)
