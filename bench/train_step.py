"""Time compiled Graph VAE training steps on random binary data.

python bench/train_step.py --num_nodes 5 --node_dim 16 --batch_size 64
The last line printed is the median examples per second over --repeats timed runs.
"""
import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

from tfgvae.model import GraphVAE, ModelConfig  # noqa: E402


def parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--num_nodes", type=int, default=5)
    p.add_argument("--node_dim", type=int, default=16)
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--structure", default="graph")
    p.add_argument("--input_dim", type=int, default=784)
    p.add_argument("--steps", type=int, default=50, help="steps per timed run")
    p.add_argument("--repeats", type=int, default=5, help="timed runs (the median is reported)")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps after compilation")
    p.add_argument("--no_jit", action="store_true", help="compile without XLA")
    return p.parse_args()


def main():
    args = parse()
    if args.num_nodes < 1 or args.node_dim < 1 or args.batch_size < 1 or args.steps < 1:
        sys.exit("train_step.py: error: num_nodes, node_dim, batch_size and steps must be >= 1")
    keras.utils.set_random_seed(0)
    config = ModelConfig(input_dim=args.input_dim, num_nodes=args.num_nodes, node_dim=args.node_dim,
                         structure=args.structure)
    model = GraphVAE(config, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=not args.no_jit)
    x = (np.random.default_rng(0).random((args.batch_size * 16, args.input_dim)) < 0.3)
    data = tf.data.Dataset.from_tensor_slices(x.astype(np.float32)).batch(
        args.batch_size, drop_remainder=True).repeat().prefetch(tf.data.AUTOTUNE)
    iterator = iter(data)
    model.make_train_function()
    step = model.train_function
    start = time.perf_counter()
    step(iterator)["loss"].numpy()
    print(f"compile + first step: {time.perf_counter() - start:.1f} s")
    for _ in range(args.warmup):
        logs = step(iterator)
    logs["loss"].numpy()
    rates = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for _ in range(args.steps):
            logs = step(iterator)
        logs["loss"].numpy()
        rates.append(args.steps * args.batch_size / (time.perf_counter() - start))
    print(f"N={args.num_nodes} N'={args.node_dim} batch={args.batch_size} structure={args.structure} "
          f"xla={not args.no_jit} params={model.count_params()} runs={[round(r) for r in rates]}")
    print(f"examples/s: {np.median(rates):.0f}")


if __name__ == "__main__":
    main()
