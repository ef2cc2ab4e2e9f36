"""Which short schedule orders the structures as a long reference run does (issue 22, item 4).

python analysis/schedule_ranking.py \
    --group=t30=runs/mnist_t30/mnist/*_seed* --group=t10=runs/mnist_t30/mnist/*_seed*@10 \
    --group=c10=runs/mnist_c10/mnist/*_seed* --reference=t30

A group is NAME=GLOB of run directories (config.json with ``structure`` and ``seed``), scored by
their test_results.json, or with ``@EPOCH`` by test_ll_history.json at that epoch (the periodic
Fig. 5 estimate: a truncated run's first E epochs are the truncated-E run). For every group it
prints the per-seed and seed-mean test LL of each structure and their order, and for every group
but the reference Kendall's tau between its order and the reference's, per seed and on the seed
means (1: the same order; a tie counts as neither concordant nor discordant).
"""
import argparse
import glob
import itertools
import json
import os
import sys

import numpy as np


def run_score(workdir, epoch=None):
    """(structure, seed, test LL) of a run: its test result, or its Fig. 5 point at ``epoch``."""
    with open(os.path.join(workdir, "config.json")) as f:
        config = json.load(f)
    config = dict(config.pop("model", {}), **config.pop("schedule", {}), **config)  # nested or flat
    if epoch is None:
        with open(os.path.join(workdir, "test_results.json")) as f:
            ll = json.load(f)["log_likelihood"]
    else:
        with open(os.path.join(workdir, "test_ll_history.json")) as f:
            history = json.load(f)
        if epoch not in history["epochs"]:
            raise ValueError(f"{workdir}: no test LL at epoch {epoch} (it has {history['epochs']})")
        ll = history["log_likelihood"][history["epochs"].index(epoch)]
    return str(config["structure"]), int(config["seed"]), float(ll)


def load_group(spec):
    """NAME=GLOB[@EPOCH] -> (NAME, {seed: {structure: LL}})."""
    name, sep, pattern = spec.partition("=")
    if not sep or not name:
        raise ValueError(f"--group={spec!r}: write NAME=GLOB[@EPOCH]")
    pattern, at, epoch = pattern.partition("@")
    dirs = sorted(d for d in glob.glob(pattern) if os.path.isdir(d))
    if not dirs:
        raise ValueError(f"--group={spec!r}: no run directory matches {pattern!r}")
    scores = {}
    for d in dirs:
        structure, seed, ll = run_score(d, int(epoch) if at else None)
        scores.setdefault(seed, {})[structure] = ll
    return name, scores


def seed_means(scores):
    """{structure: mean LL over the seeds} for the structures every seed has."""
    common = set.intersection(*(set(s) for s in scores.values()))
    return {k: float(np.mean([scores[seed][k] for seed in scores])) for k in common}


def order(lls):
    """Structures from the highest test LL to the lowest."""
    return sorted(lls, key=lambda k: -lls[k])


def kendall_tau(a, b):
    """Kendall's tau-a between two scorings of the same structures (higher = better in both)."""
    keys = sorted(set(a) & set(b))
    if len(keys) < 2:
        raise ValueError(f"need two common structures to compare orders, got {keys}")
    signs = [np.sign(a[i] - a[j]) * np.sign(b[i] - b[j]) for i, j in itertools.combinations(keys, 2)]
    return float(np.sum(signs) / len(signs))


def report(groups, reference):
    """Markdown lines: each group's LLs and orders, and its agreement with ``reference``."""
    ref = groups[reference]
    lines = ["| schedule | seed | order | test LL by structure | Kendall tau vs " + reference + " |",
             "| --- | --- | --- | --- | --- |"]
    for name, scores in groups.items():
        rows = [(str(seed), scores[seed], ref.get(seed)) for seed in sorted(scores)]
        rows.append(("mean", seed_means(scores), seed_means(ref)))
        for label, lls, ref_lls in rows:
            tau = "" if name == reference or ref_lls is None else f"{kendall_tau(lls, ref_lls):+.2f}"
            cells = ", ".join(f"{k} {lls[k]:.2f}" for k in sorted(lls))
            lines.append(f"| {name} | {label} | {' > '.join(order(lls))} | {cells} | {tau} |")
    return lines


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--group", action="append", required=True, help="NAME=GLOB[@EPOCH], repeatable")
    p.add_argument("--reference", required=True, help="the group whose order is the truth")
    args = p.parse_args(argv)
    groups = dict(load_group(spec) for spec in args.group)
    if args.reference not in groups:
        raise ValueError(f"--reference={args.reference!r} is none of the groups {sorted(groups)}")
    print("\n".join(report(groups, args.reference)))


if __name__ == "__main__":
    try:
        main()
    except (ValueError, KeyError, OSError) as e:
        sys.exit(f"schedule_ranking.py: error: {e}")
