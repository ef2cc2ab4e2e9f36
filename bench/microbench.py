"""XLA CPU costs behind docs/performance.md: small dots by inner size, and one latent-loop iteration.

python bench/microbench.py dots   # (64, K)·(K, 256) and its transposed backward form, K = 20..80
python bench/microbench.py loop   # per-iteration cost of a while loop over 79 children
``dots`` compiles 20 independent dots per call and prints microseconds per dot (their sum
included). ``loop`` runs a tf.while_loop whose body slices one child's (64, 2, 128)
pre-activation from a (79, 64, 2, 128) stack, optionally batch-normalizes it, applies an
activation, reduces it and writes the result to a TensorArray, as the looped latent pass
does; it prints microseconds per iteration.
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

CALLS, CHILDREN = 20, 79


def per_call_us(fn, *args, runs=7, calls=30):
    """Best mean wall time of ``fn(*args)`` over ``runs`` runs of ``calls`` calls, in us."""
    fn(*args).numpy()
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(calls):
            out = fn(*args)
        out.numpy()
        best = min(best, (time.perf_counter() - start) / calls)
    return best * 1e6


def dots():
    for k in (20, 40, 60, 80):
        a, w, d = tf.random.normal((64, k)), tf.random.normal((k, 256)), tf.random.normal((64, 256))
        forward = tf.function(lambda a, w: tf.add_n(
            [tf.matmul(a * (1 + 0.01 * c), w) for c in range(CALLS)]), jit_compile=True)
        backward = tf.function(lambda d, w: tf.add_n(
            [tf.matmul(d * (1 + 0.01 * c), w, transpose_b=True) for c in range(CALLS)]), jit_compile=True)
        print(f"K={k}: (64,K)x(K,256) {per_call_us(forward, a, w) / CALLS:.1f} us, "
              f"(64,256)x(K,256)^T {per_call_us(backward, d, w) / CALLS:.1f} us")


def loop_step(activation, batch_norm):
    @tf.function(jit_compile=True)
    def run(pre, gamma, beta):
        outputs = tf.TensorArray(tf.float32, size=CHILDREN)

        def body(i, acc, outputs):
            x = pre[i] + acc
            if batch_norm:
                mean, var = tf.nn.moments(x, [0])
                x = (x - mean) * tf.math.rsqrt(var + 1e-5) * gamma[i] + beta[i]
            y = activation(x)
            return i + 1, acc + 1e-3 * tf.reduce_mean(y), outputs.write(i, tf.reduce_sum(y, 0))

        _, _, outputs = tf.while_loop(lambda i, *_: i < CHILDREN, body, (0, tf.constant(0.0), outputs))
        return outputs.stack()
    return run


def loop():
    pre = tf.random.normal((CHILDREN, 64, 2, 128))
    gamma, beta = tf.random.normal((CHILDREN, 2, 128)), tf.random.normal((CHILDREN, 2, 128))
    for name, activation in (("identity", tf.identity), ("elu", tf.nn.elu)):
        for batch_norm in (False, True):
            us = per_call_us(loop_step(activation, batch_norm), pre, gamma, beta) / CHILDREN
            print(f"{name}{' + batch norm' if batch_norm else ''}: {us:.1f} us per iteration")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=("dots", "loop"))
    {"dots": dots, "loop": loop}[p.parse_args().what]()


if __name__ == "__main__":
    main()
