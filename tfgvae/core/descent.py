"""The looped latent pass for many nodes, with its own backward loop (Eqs. 6, 7, 18).

Autodiff through a ``tf.while_loop`` stacks every intermediate of every iteration and
replays a few hundred small ops per node. Here the forward loop keeps only each child's
first-layer pre-activation; the backward is a second loop, from z_1 up to the root,
that recomputes one child's head (BN-ELU-fc-fc, fusion, log-densities) under a local
tape, takes its vector-Jacobian product, and pushes the gradient w.r.t. the child's
pre-activation to its parents' samples. Everything that does not lie on that chain (the
first-layer kernels, their biases, the gates) is left to batched ops after the loop.
``tests/test_fast_path.py`` checks values and gradients against the unrolled pass.
"""
import numpy as np
import tensorflow as tf


HEAD_WEIGHTS = ("gamma", "beta", "w2", "b2", "w3", "b3")  # per child, after the first layer


def looped_pass(heads, z_root, gates, noise, bottom_up, training):
    """Children N-2..0 of ``heads`` (a ``TopDownHeads``) in one while loop each way.

    gates (B or 1, N, N), noise (B, N, N'), bottom_up None or (mu, logvar) each (B, N, N').
    Returns z (N-1, B, N'), log q (N-1, B) or None, log p (N-1, B) and the children's
    batch moments mean, var (N-1, S, H), indexed by child.
    """
    c = heads.children_n
    weights = heads.node_weights()
    batch = tf.shape(noise)[0]
    gates_c = tf.broadcast_to(tf.transpose(gates, (2, 0, 1))[:c], (c, batch, heads.num_nodes))
    consts = {"noise": tf.transpose(noise, (1, 0, 2))[:c],
              "moving_mean": tf.convert_to_tensor(weights["moving_mean"]),
              "moving_var": tf.convert_to_tensor(weights["moving_var"])}
    has_q = bottom_up is not None
    bu = [tf.transpose(t, (1, 0, 2))[:c] for t in bottom_up] if has_q else []
    names = ["z_root", "gates", "w1", "b1", *HEAD_WEIGHTS] + (["mu_bu", "lv_bu"] if has_q else [])
    args = [z_root, gates_c, heads.child_kernels()] + [
        tf.convert_to_tensor(weights[k]) for k in ("b1",) + HEAD_WEIGHTS] + bu

    @tf.custom_gradient
    def run(*tensors):
        k = dict(zip(names, tensors), **consts)
        out = _forward(heads, k, training, has_q)
        log_q = out["log_q"] if has_q else tf.zeros_like(out["log_p"])

        def grad(dz, dlog_q, dlog_p, *_):
            return _backward(heads, k, out, dz, dlog_q, dlog_p, training, has_q, names)

        return (out["z"], log_q, out["log_p"], out["mean"], out["var"]), grad

    z, log_q, log_p, mean, var = run(*args)
    return z, log_q if has_q else None, log_p, mean, var


def _node_inputs(k, i, has_q):
    w = {name: k[name][i] for name in HEAD_WEIGHTS + ("moving_mean", "moving_var")}
    return w, ((k["mu_bu"][i], k["lv_bu"][i]) if has_q else None)


def _forward(heads, k, training, has_q):
    n, d, c, s, h = heads.num_nodes, heads.node_dim, heads.children_n, heads.STREAMS, heads.hidden
    keep = ["z", "log_p", "mean", "var", "pre"] + (["log_q"] if has_q else [])
    outputs = {name: tf.TensorArray(k["z_root"].dtype, size=c) for name in keep}
    parents = tf.pad(k["z_root"][:, None], [[0, 0], [n - 1, 0], [0, 0]])  # (B, N, N'): sampled so far

    def body(i, parents, outputs):
        gated = tf.reshape(parents * k["gates"][i][:, :, None], (-1, n * d))
        pre = tf.reshape(tf.matmul(gated, k["w1"][i]), (-1, s, h)) + k["b1"][i]
        w, bu = _node_inputs(k, i, has_q)
        z, log_q, log_p, (mean, var) = heads.sample_child(pre, w, k["noise"][i], bu, training)
        parents += z[:, None] * tf.one_hot(i, n, dtype=z.dtype)[:, None]
        values = {"z": z, "log_q": log_q, "log_p": log_p, "mean": mean, "var": var, "pre": pre}
        return i - 1, parents, {name: ta.write(i, values[name]) for name, ta in outputs.items()}

    _, _, outputs = tf.while_loop(lambda i, *_: i >= 0, body, (tf.constant(c - 1), parents, outputs),
                                  maximum_iterations=c)
    return {name: ta.stack() for name, ta in outputs.items()}


def _backward(heads, k, out, dz, dlog_q, dlog_p, training, has_q, names):
    """Gradients of every input of ``looped_pass``'s inner function, in ``names`` order."""
    n, d, c, s, h = heads.num_nodes, heads.node_dim, heads.children_n, heads.STREAMS, heads.hidden
    dz, dlog_p = (tf.zeros_like(out[m]) if g is None else g for g, m in ((dz, "z"), (dlog_p, "log_p")))
    dlog_q = tf.zeros_like(out["log_p"]) if dlog_q is None else dlog_q
    local = list(HEAD_WEIGHTS) + (["mu_bu", "lv_bu"] if has_q else [])
    grads = {name: tf.TensorArray(dz.dtype, size=c) for name in ["pre", "gated"] + local}
    d_parents = tf.zeros((tf.shape(dz)[1], n, d), dz.dtype)  # dL/dz_j through the children read so far

    def body(i, d_parents, grads):
        w, bu = _node_inputs(k, i, has_q)
        pre = out["pre"][i]
        watched = [pre] + [w[m] for m in HEAD_WEIGHTS] + (list(bu) if has_q else [])
        with tf.GradientTape() as tape:
            tape.watch(watched)
            z, log_q, log_p, _ = heads.sample_child(pre, w, k["noise"][i], bu, training)
        targets, upstream = [z, log_p], [dz[i] + d_parents[:, i], dlog_p[i]]
        if has_q:
            targets.append(log_q)
            upstream.append(dlog_q[i])
        g = tape.gradient(targets, watched, output_gradients=upstream)
        d_pre = tf.reshape(g[0], (-1, s * h))
        d_gated = tf.reshape(tf.matmul(d_pre, k["w1"][i], transpose_b=True), (-1, n, d))
        d_parents += d_gated * k["gates"][i][:, :, None]
        values = dict(zip(local, g[1:]), pre=g[0], gated=d_gated)
        return i + 1, d_parents, {name: ta.write(i, values[name]) for name, ta in grads.items()}

    _, d_parents, grads = tf.while_loop(lambda i, *_: i < c, body, (tf.constant(0), d_parents, grads),
                                        maximum_iterations=c)
    grads = {name: ta.stack() for name, ta in grads.items()}
    # Parents of child i are the nodes j > i; everything else entered its pre-activation as 0.
    is_parent = tf.constant(np.tril(np.ones((n, n), np.float32), -1)[:, :c].T[:, None, :, None],
                            dz.dtype)  # (C, 1, N, 1)
    z_all = tf.concat([tf.transpose(out["z"], (1, 0, 2)), k["z_root"][:, None]], axis=1)  # (B, N, N')
    parents = z_all[None] * is_parent  # (C, B, N, N'): what each child read
    gated = tf.reshape(parents * k["gates"][..., None], (c, -1, n * d))
    d_pre = grads["pre"]  # (C, B, S, H)
    result = dict(grads, z_root=d_parents[:, n - 1],
                  gates=tf.reduce_sum(grads["gated"] * parents, axis=-1),
                  w1=tf.matmul(gated, tf.reshape(d_pre, (c, -1, s * h)), transpose_a=True),
                  b1=tf.reduce_sum(d_pre, axis=1))
    return [result[name] for name in names]
