"""Per-node KL over training, read from runs' TensorBoard logs (the validation split's
``epoch_kl_node_i``, nats per example): which nodes carry information, and when they collapse.

python analysis/node_kl.py --epochs=20,50,100,200 RUN [RUN ...] [--output=kl.json]

Prints one row per run and epoch (the last logged epoch at or before each asked epoch).
"""
import argparse
import glob
import json
import os
import re

import tensorflow as tf
from tensorflow.core.util import event_pb2

TAG = re.compile(r"epoch_kl(?:_node_(\d+))?$")  # a one-node model (the VAE) logs epoch_kl only


def node_kl_history(workdir, split="validation"):
    """{epoch: [KL of node 1, ..., node N]} from ``workdir/logs/<split>`` event files; a run with
    no per-node scalars (the VAE's single node) gives [epoch_kl]."""
    values = {}  # step -> {node: KL}, node 0 for the total
    for path in sorted(glob.glob(os.path.join(workdir, "logs", split, "events.out.tfevents.*"))):
        for record in tf.data.TFRecordDataset(path):
            event = event_pb2.Event.FromString(record.numpy())
            for value in event.summary.value:
                match = TAG.match(value.tag)
                if match:
                    values.setdefault(int(event.step), {})[int(match.group(1) or 0)] = float(
                        tf.make_ndarray(value.tensor))
    if not values:
        raise ValueError(f"{workdir}: no epoch_kl or epoch_kl_node_* scalars under logs/{split}")
    nodes = {epoch: {i: kl for i, kl in row.items() if i} or {1: row[0]} for epoch, row in values.items()}
    return {epoch: [row[i] for i in sorted(row)] for epoch, row in sorted(nodes.items())}


def at_epochs(history, epochs):
    """The history's rows at the last logged epoch <= each of ``epochs`` (skipping earlier ones)."""
    rows = {}
    for wanted in epochs:
        logged = [e for e in history if e <= wanted]
        if logged:
            rows[max(logged)] = history[max(logged)]
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--epochs", default="", help="comma-separated epochs (default: every logged one)")
    p.add_argument("--output", default=None, help="also write {run: {epoch: [kl per node]}} as JSON")
    args = p.parse_args(argv)
    table = {}
    for run in args.runs:
        history, name = node_kl_history(run), os.path.basename(os.path.normpath(run))
        epochs = [int(e) for e in args.epochs.split(",") if e] or list(history)
        table[name] = rows = at_epochs(history, epochs)
        for epoch, kl in rows.items():
            print(f"{name:24s} epoch {epoch:5d}  KL per node "
                  + ", ".join(f"{v:.2f}" for v in kl) + f"  (sum {sum(kl):.2f})")
    if args.output:
        with open(args.output, "w") as f:
            json.dump(table, f, indent=1)
    return table


if __name__ == "__main__":
    main()
