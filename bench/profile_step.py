"""Where a compiled training step spends its time: the XLA CPU thunks, from a profiler trace.

python bench/profile_step.py --num_nodes 80 --node_dim 1 --batch_size 64 [--top 25]
Runs --steps XLA-compiled ``GraphVAE.train_step`` calls under ``tf.profiler`` (with
``--xla_cpu_enable_xprof_traceme``) and prints, per step, the executable's wall time, the
number of thunks (kernels) it ran, and the --top thunks by total time with their call
counts. A thunk that runs N-1 times per step is inside a latent while loop; a ``while.*``
entry is a whole loop (its body's thunks are listed too). Names are
XLA's (``MatMul.18``, ``add_divide_fusion.1``); ``--xla_dump_to`` in XLA_FLAGS maps them to ops.
"""
import argparse
import collections
import glob
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_enable_xprof_traceme=true").strip()

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
from tensorflow.tsl.profiler.protobuf import xplane_pb2  # noqa: E402

from tfgvae.core.model import GraphVAE, ModelConfig  # noqa: E402

WRAPPERS = ("<", "ThunkExecutor", "Execute", "__inference", "BlockUntil", "Eager", "TFE_", "Slinky",
            "CpuExecutable", "step")


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--num_nodes", type=int, default=5)
    p.add_argument("--node_dim", type=int, default=16)
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--top", type=int, default=25)
    return p.parse_args(argv)


def thunk_times(logdir, steps):
    """{thunk name: (microseconds per step, calls per step)} and the executable's wall time per step."""
    path = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)[0]
    space = xplane_pb2.XSpace()
    with open(path, "rb") as f:
        space.ParseFromString(f.read())
    total, calls, wall = collections.Counter(), collections.Counter(), 0.0
    for plane in space.planes:
        names = {k: v.name for k, v in plane.event_metadata.items()}
        for line in plane.lines:
            for event in line.events:
                name = names.get(event.metadata_id, "?")
                if name.startswith("CpuExecutable"):
                    wall += event.duration_ps / 1e6 / steps
                if not name.startswith(WRAPPERS):
                    total[name] += event.duration_ps / 1e6 / steps
                    calls[name] += 1 / steps
    return {k: (v, calls[k]) for k, v in total.items()}, wall


def main():
    args = parse()
    keras.utils.set_random_seed(0)
    model = GraphVAE(ModelConfig(num_nodes=args.num_nodes, node_dim=args.node_dim), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.optimizer.build(model.trainable_variables)
    x = tf.constant((np.random.default_rng(0).random((args.batch_size, 784)) < 0.3).astype(np.float32))
    step = tf.function(lambda x: model.train_step(x)["loss"], jit_compile=True)
    step(x).numpy()
    step(x).numpy()
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        for _ in range(args.steps):
            loss = step(x)
        loss.numpy()
        tf.profiler.experimental.stop()
        times, wall = thunk_times(logdir, args.steps)
    leaves = [v for k, v in times.items() if not k.startswith("while")]  # a while thunk encloses its body's
    print(f"executable wall {wall / 1e3:.2f} ms per step; {sum(c for _, c in leaves):.0f} thunks "
          f"per step, busy {sum(t for t, _ in leaves) / 1e3:.2f} ms (summed over threads)")
    for name, (us, count) in sorted(times.items(), key=lambda kv: -kv[1][0])[:args.top]:
        print(f"{us:9.0f} us {count:6.1f}x  {name}")


if __name__ == "__main__":
    main()
