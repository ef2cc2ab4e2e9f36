"""Time the importance-sampled log-likelihood of the MNIST config's model (N=5, N'=16).

python bench/evaluate.py --examples 64 --num_importance_samples 5000
Weights are untrained (the cost does not depend on them); inputs are binary noise. The
last line is the wall time extrapolated linearly to the 10,000 MNIST test images at the same
k, from the median rate; the line before it gives the process CPU time, which depends less on
other processes sharing the cores.
"""
import argparse
import os
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

from tfgvae.experiments import evaluation  # noqa: E402
from tfgvae.core.model import GraphVAE, ModelConfig  # noqa: E402


def parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--num_nodes", type=int, default=5)
    p.add_argument("--node_dim", type=int, default=16)
    p.add_argument("--examples", type=int, default=64, help="examples per timed run")
    p.add_argument("--num_importance_samples", type=int, default=evaluation.DEFAULT_NUM_SAMPLES)
    p.add_argument("--chunk_size", type=int, default=evaluation.DEFAULT_CHUNK_SIZE)
    p.add_argument("--batch_size", type=int, default=evaluation.DEFAULT_BATCH_SIZE)
    p.add_argument("--repeats", type=int, default=3, help="timed runs (the median is reported)")
    p.add_argument("--jit", type=int, choices=(0, 1), default=int(evaluation.DEFAULT_JIT_COMPILE),
                   help="1: compile with XLA, 0: without (default: the library's default)")
    p.add_argument("--test_size", type=int, default=10_000, help="examples to extrapolate to")
    return p.parse_args()


def main():
    args = parse()
    if min(args.examples, args.num_importance_samples, args.chunk_size, args.batch_size) < 1:
        sys.exit("evaluate.py: error: examples, samples, chunk and batch sizes must be >= 1")
    keras.utils.set_random_seed(0)
    model = GraphVAE(ModelConfig(input_dim=784, num_nodes=args.num_nodes, node_dim=args.node_dim), seed=0)
    x = (np.random.default_rng(0).random((args.examples, 784)) < 0.15).astype(np.float32)
    data = tf.data.Dataset.from_tensor_slices(x).batch(args.batch_size)
    fn = evaluation.model_batch_fn(model, args.num_importance_samples, args.chunk_size,
                                   jit_compile=bool(args.jit))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    fn(x[:args.batch_size], 0)
    print(f"compile + first batch: {time.perf_counter() - start:.1f} s")
    rates, cpu = [], []
    for _ in range(args.repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        evaluation.run_batches(fn, data, args.batch_size, progress=False)
        rates.append(args.examples / (time.perf_counter() - start))
        cpu.append((time.process_time() - cpu_start) / args.examples)  # CPU seconds per example
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rate = float(np.median(rates))
    print(f"N={args.num_nodes} N'={args.node_dim} k={args.num_importance_samples} "
          f"batch={args.batch_size} chunk={args.chunk_size} xla={bool(args.jit)} "
          f"examples={args.examples} runs={[round(r, 2) for r in rates]} examples/s "
          f"decoder rows/s={rate * args.num_importance_samples:.0f} "
          f"peak RSS {rss:.0f} MiB (after model build {rss0:.0f} MiB) "
          f"load average {os.getloadavg()[0]:.1f} cpus {os.cpu_count()}")
    print(f"CPU time: {1e6 * np.median(cpu) / args.num_importance_samples:.1f} us per decoder row; "
          f"{args.test_size} examples need {args.test_size * np.median(cpu) / 60:.1f} CPU-minutes "
          f"({args.test_size * np.median(cpu) / 60 / os.cpu_count():.1f} min if all {os.cpu_count()} "
          "cores were free)")
    print(f"extrapolated to {args.test_size} examples at k={args.num_importance_samples}: "
          f"{args.test_size / rate / 60:.1f} min")


if __name__ == "__main__":
    main()
