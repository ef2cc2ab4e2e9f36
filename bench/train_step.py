"""Time compiled Graph VAE training steps (forward, backward, Adam) on random binary data.

python bench/train_step.py --num_nodes 5 --node_dim 16 --batch_size 64
Prints the model's analytic training FLOPs per example (bench/flops.py), the achieved
FLOP/s, the sgemm rate measured in the same process, the peak resident memory, and last
the median examples per second over --repeats timed runs. --json_line adds one
machine-readable line ``RESULT {...}`` (read by bench/scaling.py).
"""
import argparse
import json
import math
import os
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

from flops import train_flops_per_example  # noqa: E402
from tfgvae.data.pipeline import PREFETCH_BATCHES, input_options  # noqa: E402
from tfgvae.core.model import GraphVAE, ModelConfig  # noqa: E402


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--num_nodes", type=int, default=5)
    p.add_argument("--node_dim", type=int, default=16)
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--structure", default="graph")
    p.add_argument("--input_dim", type=int, default=784)
    p.add_argument("--descent", default="auto", choices=("auto", "unrolled", "looped"),
                   help="latent pass: Python-unrolled, tf.while_loop, or chosen by N")
    p.add_argument("--steps", type=int, default=50, help="steps per timed run")
    p.add_argument("--repeats", type=int, default=5, help="timed runs (the median is reported)")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps after compilation")
    p.add_argument("--steps_per_execution", type=int, default=1, help="Keras compile() argument")
    p.add_argument("--no_jit", action="store_true", help="compile without XLA")
    p.add_argument("--node_log_prob", default="tfd", choices=("tfd", "closed"),
                   help="score z under q and p with tfd.Independent(tfd.Normal) (what the step "
                        "does) or the closed form (docs/performance.md, #15)")
    p.add_argument("--gate_parameterization", default="logit", choices=("logit", "mean"))
    p.add_argument("--log_gate_gradients", action="store_true",
                   help="the per-edge gate-gradient instrument (one more backward pass per step)")
    p.add_argument("--json_line", action="store_true", help="also print RESULT {json}")
    return p.parse_args(argv)


def sgemm_rate(size=1024, chain=8, repeats=3):
    """Best FLOP/s of float32 (size x size) matmuls, ``chain`` per call, in this process."""
    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))

    @tf.function
    def run(a, b):
        return tf.add_n([tf.matmul(a + float(k), b) for k in range(chain)])

    run(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return chain * 2 * size ** 3 / best


def peak_rss_mib():
    """Peak resident memory of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def use_closed_form_node_log_prob():
    """Score nodes with -0.5 sum(log 2pi + logvar + (z - mu)^2 exp(-logvar)) instead of tfd.Normal."""
    from tfgvae.core import nodes
    nodes.normal_log_prob = lambda z, mu, logvar: -0.5 * tf.reduce_sum(
        math.log(2 * math.pi) + logvar + tf.square(z - mu) * tf.exp(-logvar), axis=-1)


def measure(args):
    if args.node_log_prob == "closed":
        use_closed_form_node_log_prob()
    keras.utils.set_random_seed(0)
    config = ModelConfig(input_dim=args.input_dim, num_nodes=args.num_nodes, node_dim=args.node_dim,
                         structure=args.structure, gate_parameterization=args.gate_parameterization,
                         log_gate_gradients=args.log_gate_gradients)
    model = GraphVAE(config, seed=0)
    model.descent = args.descent
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=not args.no_jit,
                  steps_per_execution=args.steps_per_execution)
    x = (np.random.default_rng(0).random((args.batch_size * 16, args.input_dim)) < 0.3)
    data = tf.data.Dataset.from_tensor_slices(x.astype(np.float32)).batch(
        args.batch_size, drop_remainder=True).repeat().prefetch(PREFETCH_BATCHES).with_options(input_options())
    iterator = iter(data)
    model.make_train_function()
    step = model.train_function
    calls = max(1, args.steps // args.steps_per_execution)  # each call runs steps_per_execution steps
    start = time.perf_counter()
    step(iterator)["loss"].numpy()
    compile_s = time.perf_counter() - start
    for _ in range(max(1, args.warmup // args.steps_per_execution)):
        logs = step(iterator)
    logs["loss"].numpy()
    rates = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for _ in range(calls):
            logs = step(iterator)
        logs["loss"].numpy()
        rates.append(calls * args.steps_per_execution * args.batch_size / (time.perf_counter() - start))
    rate = float(np.median(rates))
    flops = train_flops_per_example(config)
    sgemm = sgemm_rate()
    return {"num_nodes": args.num_nodes, "node_dim": args.node_dim, "batch_size": args.batch_size,
            "structure": args.structure, "node_log_prob": args.node_log_prob, "xla": not args.no_jit,
            "descent": args.descent,
            "steps_per_execution": args.steps_per_execution, "params": model.count_params(),
            "compile_s": compile_s, "runs": [round(r) for r in rates], "examples_per_s": rate,
            "flops_per_example": flops, "achieved_flops": rate * flops, "sgemm_flops": sgemm,
            "peak_rss_mib": peak_rss_mib()}


def main():
    args = parse()
    if min(args.num_nodes, args.node_dim, args.batch_size, args.steps, args.repeats,
           args.steps_per_execution) < 1:
        sys.exit("train_step.py: error: num_nodes, node_dim, batch_size, steps, repeats and "
                 "steps_per_execution must be >= 1")
    try:
        r = measure(args)
    except ValueError as e:
        sys.exit(f"train_step.py: error: {e}")
    print(f"compile + first step: {r['compile_s']:.1f} s")
    print(f"N={r['num_nodes']} N'={r['node_dim']} batch={r['batch_size']} structure={r['structure']} "
          f"xla={r['xla']} descent={r['descent']} steps_per_execution={r['steps_per_execution']} "
          f"params={r['params']} runs={r['runs']}")
    print(f"model FLOPs per training example: {r['flops_per_example'] / 1e6:.2f} M; achieved "
          f"{r['achieved_flops'] / 1e9:.1f} GFLOP/s = {100 * r['achieved_flops'] / r['sgemm_flops']:.0f}% "
          f"of sgemm ({r['sgemm_flops'] / 1e9:.0f} GFLOP/s, 1024^3 matmul, same process); "
          f"peak RSS {r['peak_rss_mib']:.0f} MiB")
    if args.json_line:
        print("RESULT " + json.dumps(r))
    print(f"examples/s: {r['examples_per_s']:.0f}")


if __name__ == "__main__":
    main()
