"""What the Graph VAE's edge over the FC-VAE is made of: paired differences under every gate reading.

python analysis/attribution.py --eval_dir=EVAL --seeds=0,1,2 --epochs=10 --output=docs/results/mnist_attribution.json

EVAL holds ``bin/evaluate.py --per_example_output`` files named ``<run>_s<seed>_<reading>.npz`` with
the runs ``graph``, ``fc``, ``nc09`` (FC trained through relaxed gates fixed at 0.9) and ``nctraj``
(relaxed gates moved along the same seed's Graph VAE trajectory), and the readings ``map``,
``sampled``, ``relaxed`` (the gates marginalised, ``--gates``) and ``recal`` (``--recalibrate_bn``).
Every difference is paired by test image (the same images and importance-sampling seed): per seed
its mean over images, then the mean and standard error over seeds (ddof = 1).
"""
import argparse
import json
import math
import os
import sys

import numpy as np

# estimator: (Graph VAE reading, FC-VAE reading) compared
GRAPH_MINUS_FC = {"map": ("map", "map"), "sampled": ("sampled", "map"), "relaxed": ("relaxed", "map"),
                  "map_recalibrated_bn": ("recal", "recal")}
CONTROLS = {"fixed_0.9": "nc09", "graph_trajectory": "nctraj"}  # noise-only control: its run name


def per_image(eval_dir, run, seed, reading):
    """Per-image test log-likelihoods (float64) of one run and reading."""
    path = os.path.join(eval_dir, f"{run}_s{seed}_{reading}.npz")
    if not os.path.exists(path):
        raise ValueError(f"missing {path}")
    return np.load(path)["log_likelihood"].astype(np.float64)


def summary(per_seed):
    """{mean, stderr, per_seed} of per-seed values (stderr over seeds, ddof = 1; 0 for one seed)."""
    values = np.asarray(per_seed, np.float64)
    stderr = float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else 0.0
    return {"mean": float(values.mean()), "stderr": stderr, "per_seed": [float(v) for v in values]}


def paired(eval_dir, seeds, a, b):
    """summary over seeds of the mean over images of a - b; a, b: (run, reading)."""
    diffs = []
    for seed in seeds:
        x, y = per_image(eval_dir, a[0], seed, a[1]), per_image(eval_dir, b[0], seed, b[1])
        if x.shape != y.shape:
            raise ValueError(f"{a} and {b} of seed {seed} scored different images: {x.shape} vs {y.shape}")
        diffs.append((x - y).mean())
    return summary(diffs)


def attribution(eval_dir, seeds, epochs):
    """The JSON record: Graph - FC by estimator, noise control - FC by control, and each LL."""
    graph_fc = {name: paired(eval_dir, seeds, ("graph", g), ("fc", f)) for name, (g, f) in GRAPH_MINUS_FC.items()}
    controls = {name: paired(eval_dir, seeds, (run, "map"), ("fc", "map")) for name, run in CONTROLS.items()}
    levels = {f"{run}_{reading}": summary([per_image(eval_dir, run, s, reading).mean() for s in seeds])
              for run, reading in [("graph", r) for r in ("map", "sampled", "relaxed", "recal")]
              + [("fc", "map"), ("fc", "recal"), ("nc09", "map"), ("nctraj", "map")]}
    extra = {"graph_minus_control_" + name: paired(eval_dir, seeds, ("graph", "map"), (run, "map"))
             for name, run in CONTROLS.items()}
    return {"seeds": list(seeds), "epochs": epochs, "graph_minus_fc": graph_fc,
            "noise_control_minus_fc": controls, "graph_minus_noise_control": extra, "log_likelihood": levels}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval_dir", required=True)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--output")
    args = parser.parse_args(argv)
    try:
        record = attribution(args.eval_dir, [int(s) for s in args.seeds.split(",")], args.epochs)
    except ValueError as e:
        sys.exit(f"attribution.py: error: {e}")
    if args.output:
        with open(args.output, "w") as f:
            json.dump(record, f, indent=1)
    for group in ("graph_minus_fc", "noise_control_minus_fc", "graph_minus_noise_control"):
        for name, s in record[group].items():
            print(f"{group:26s} {name:20s} {s['mean']:+.3f} ± {s['stderr']:.3f}  "
                  f"({', '.join(f'{v:+.2f}' for v in s['per_seed'])})")
    return record


if __name__ == "__main__":
    main()
