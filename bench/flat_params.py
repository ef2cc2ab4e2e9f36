"""Adam on one flat parameter buffer against one variable per weight, for the encoder and decoder.

python bench/flat_params.py [--batch_size 64] [--repeats 7] [--steps 100]
A stand-in for the one-node Graph VAE: the Appendix B encoder (784-512-512-256-128), one
fc(128, 80) for z and the decoder (80-256-512-512-784), fc-BN-ELU, a Bernoulli loss and
Keras' Adam update written out, compiled with XLA. "separate" keeps every kernel, bias and
batch-norm scale in its own variable (what Keras does); "flat" keeps all of them, and both
Adam moments, in three flat variables that the layers read through one ``tf.split``, so
the update is three fusions over one buffer instead of three per variable. Timed runs of
the two alternate in one process; prints the median milliseconds per step of each.
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

WIDTHS = [784, 512, 512, 256, 128, 80, 256, 512, 512, 784]  # encoder, fc to z, decoder
LR, BETA_1, BETA_2, EPS = 1e-3, 0.9, 0.999, 1e-7


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=7, help="timed runs of each variant")
    p.add_argument("--steps", type=int, default=100, help="steps per timed run")
    return p.parse_args(argv)


def shapes():
    """Kernel, bias, BN gamma and beta of every layer (the last layer's BN stands in for the head)."""
    return [s for a, b in zip(WIDTHS[:-1], WIDTHS[1:]) for s in ((a, b), (b,), (b,), (b,))]


def loss_fn(weights, x):
    h = x
    for layer in range(len(WIDTHS) - 1):
        kernel, bias, gamma, beta = weights[4 * layer:4 * layer + 4]
        h = tf.matmul(h, kernel) + bias
        mean, var = tf.nn.moments(h, [0])
        h = (h - mean) * tf.math.rsqrt(var + 1e-5) * gamma + beta
        if layer not in (4, len(WIDTHS) - 2):  # no ELU on z or on the logits
            h = tf.nn.elu(h)
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=h))


def adam(var, m, v, grad, step):
    """Keras 3's Adam update, three assignments per variable."""
    m.assign_add((grad - m) * (1 - BETA_1))
    v.assign_add((tf.square(grad) - v) * (1 - BETA_2))
    alpha = LR * tf.sqrt(1 - BETA_2 ** step) / (1 - BETA_1 ** step)
    var.assign_sub(m * alpha / (tf.sqrt(v) + EPS))


def make_step(init, flat):
    step = tf.Variable(0.0)
    if flat:
        sizes = [a.size for a in init]
        params = tf.Variable(np.concatenate([a.ravel() for a in init]))
        slots = [tf.Variable(tf.zeros_like(params)) for _ in range(2)]

        @tf.function(jit_compile=True)
        def train(x):
            with tf.GradientTape() as tape:
                weights = [tf.reshape(p, a.shape) for p, a in zip(tf.split(params, sizes), init)]
                loss = loss_fn(weights, x)
            step.assign_add(1.0)
            adam(params, *slots, tape.gradient(loss, params), step)
            return loss
    else:
        params = [tf.Variable(a) for a in init]
        slots = [[tf.Variable(tf.zeros_like(a)) for a in init] for _ in range(2)]

        @tf.function(jit_compile=True)
        def train(x):
            with tf.GradientTape() as tape:
                loss = loss_fn(params, x)
            step.assign_add(1.0)
            for var, m, v, grad in zip(params, *slots, tape.gradient(loss, params)):
                adam(var, m, v, grad, step)
            return loss
    return train


def main():
    args = parse()
    rng = np.random.default_rng(0)
    init = [(rng.normal(size=s) * 0.05).astype(np.float32) for s in shapes()]
    x = tf.constant((rng.random((args.batch_size, WIDTHS[0])) < 0.3).astype(np.float32))
    steps = {"separate": make_step(init, False), "flat": make_step(init, True)}
    for train in steps.values():
        for _ in range(10):
            loss = train(x)
        loss.numpy()
    times = {name: [] for name in steps}
    for _ in range(args.repeats):
        for name, train in steps.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                loss = train(x)
            loss.numpy()
            times[name].append(1e3 * (time.perf_counter() - start) / args.steps)
    print(f"parameters: {sum(a.size for a in init):,}; batch {args.batch_size}")
    for name, ms in times.items():
        print(f"{name}: {np.median(ms):.2f} ms per step (runs {', '.join(f'{t:.2f}' for t in ms)})")


if __name__ == "__main__":
    main()
