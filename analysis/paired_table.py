"""Test log-likelihoods of a set of runs, and structure-vs-structure differences paired by image.

python analysis/paired_table.py runs/reproduce/omniglot/*_seed* --pairs=fc-vae,graph-vae,ladder-vae,graph-fc

Each run directory holds config.json and test_results.json (``bin/evaluate.py --output``, or what
``bin/reproduce.py`` writes) and, for the paired table, test_per_example.npz. Runs are labelled by
their config's ``structure`` (or ``--label_by`` another config key) and ``seed``. A pair ``a-b``
gives, per seed, the mean over images of log p(x | a) - log p(x | b) on the same images with its
standard error over images, then the mean and standard error over the seeds both labels have.
Prints Markdown tables.
"""
import argparse
import json
import math
import os
import sys

import numpy as np


def load(workdir, label_by="structure"):
    """(label, seed, test_results, per-image log-likelihoods or None) of one run directory."""
    paths = {name: os.path.join(workdir, name) for name in ("config.json", "test_results.json")}
    for path in paths.values():
        if not os.path.exists(path):
            raise ValueError(f"{workdir}: no {os.path.basename(path)}")
    with open(paths["config.json"]) as f:
        config = json.load(f)
    config = dict(config.pop("model", {}), **config.pop("schedule", {}), **config)  # nested or flat
    with open(paths["test_results.json"]) as f:
        results = json.load(f)
    per_image = os.path.join(workdir, "test_per_example.npz")
    ll = np.load(per_image)["log_likelihood"].astype(np.float64) if os.path.exists(per_image) else None
    return str(config[label_by]), int(config["seed"]), results, ll


def paired(runs, a, b):
    """Per seed (seed, mean difference, its s.e. over images) of label ``a`` minus label ``b``."""
    rows = []
    for seed in sorted({s for (label, s) in runs if label == a}):
        if (b, seed) not in runs:
            continue
        la, lb = runs[(a, seed)][2], runs[(b, seed)][2]
        if la is None or lb is None or la.shape != lb.shape:
            raise ValueError(f"{a}/{b} seed {seed}: per-image files missing or not on the same images")
        d = la - lb
        rows.append((seed, float(d.mean()), float(d.std(ddof=1) / math.sqrt(len(d)))))
    return rows


def over_seeds(rows):
    """Mean and standard error over seeds of the per-seed mean differences (s.e. None for one seed)."""
    means = np.asarray([m for _, m, _ in rows])
    return float(means.mean()), (float(means.std(ddof=1) / math.sqrt(len(means))) if len(means) > 1 else None)


def markdown(runs, pairs):
    """The per-run table and the paired table, as Markdown lines."""
    lines = ["| run | seed | LL (nats) | KL | KL per node | images | k |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for (label, seed), (_, results, _) in sorted(runs.items(), key=lambda kv: kv[0]):
        per_node = ", ".join(f"{x:.2f}" for x in results.get("kl_per_node", []))
        lines.append(f"| {label} | {seed} | {results['log_likelihood']:.2f} ± {results['log_likelihood_stderr']:.2f} "
                     f"| {results['kl']:.2f} | {per_node} | {results['num_examples']} "
                     f"| {results['num_importance_samples']} |")
    if pairs:
        lines += ["", "| pair | per seed (mean ± s.e. over images) | mean ± s.e. over seeds |", "| --- | --- | --- |"]
        for a, b in pairs:
            rows = paired(runs, a, b)
            if not rows:
                continue
            mean, se = over_seeds(rows)
            seeds = "; ".join(f"seed {s}: {m:+.2f} ± {e:.2f}" for s, m, e in rows)
            lines.append(f"| {a} − {b} | {seeds} | {mean:+.2f}" + (f" ± {se:.2f} |" if se is not None else " |"))
    return lines


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="run directories")
    p.add_argument("--pairs", default="", help="comma-separated LABEL-LABEL pairs, e.g. fc-vae,graph-fc")
    p.add_argument("--label_by", default="structure", help="config.json key that labels a run")
    args = p.parse_args(argv)
    runs = {}
    for workdir in args.runs:
        label, seed, results, ll = load(workdir, args.label_by)
        if (label, seed) in runs:
            raise ValueError(f"{workdir}: a second run of {label} seed {seed}")
        runs[(label, seed)] = (workdir, results, ll)
    pairs = [tuple(item.split("-", 1)) for item in args.pairs.split(",") if item]
    if any(len(pair) != 2 for pair in pairs):
        raise ValueError(f"--pairs={args.pairs!r}: each pair is LABEL-LABEL")
    print("\n".join(markdown(runs, pairs)))


if __name__ == "__main__":
    try:
        main()
    except (ValueError, KeyError) as e:
        sys.exit(f"paired_table.py: error: {e}")
