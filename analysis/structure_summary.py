"""Summarise the structure-learning runs (issue 20): docs/results/mnist_structure.json and figures.

python analysis/structure_summary.py --runs_dir=/work/exp --runs=A1,A2,... \
    --learned=B_s0,B_s1,B_s2 --fc=FC_s0,FC_s1,FC_s2 --figure=name:run1,run2,run3 [...]

Each run directory holds config.json, gate_history.json (with gate gradients when trained with
--log_gate_gradients) and, once evaluated, test_results.json (bin/evaluate.py --output) and
test_per_example.npz. ``--learned`` and ``--fc`` pair runs by seed (same order); the JSON's
``learned_vs_fc`` gives the per-seed test-LL differences, their mean and standard error over
seeds, and per seed the standard error of the difference over the paired test images.
``--pair NAME:learned1,...:fc1,...`` adds more such comparisons under ``comparisons[NAME]``.
``--merge`` keeps what the existing ``--output`` holds (runs by name, comparisons by key) where this
call does not recompute it, so runs whose folders are gone stay in the summary.
``--extend NAME:learned1,...:fc1,...`` pairs new seeds and adds them to the existing ``comparisons[NAME]``
(whose runs' folders may be gone), recomputing the mean and standard error over all its seeds.
``--figure`` draws Fig. 3a (gate means over epochs, 0.5 line, seeds overlaid) and the per-edge
KL part of d ELBO / d mu over epochs of the group's first run.
"""
import argparse
import json
import math
import os

import numpy as np

from tfgvae.core.structure import fixed_adjacency
from tfgvae.experiments import figures
from tfgvae.experiments.reproduce import Run
from tfgvae.training import artifacts
from tfgvae.training.config import TrainConfig

PAPER = {"learning_rate": 1e-3, "lr_decay_epochs": 200, "temperature_decay": 0.99, "initial_temperature": 1.0}


def _json(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def run_row(workdir):
    """One ``runs`` entry of mnist_structure.json from a run directory."""
    history = _json(os.path.join(workdir, "gate_history.json"))
    if not os.path.exists(os.path.join(workdir, "config.json")) or history is None or not history["epochs"]:
        raise ValueError(f"{workdir}: no config.json or no finished epoch in gate_history.json")
    config = TrainConfig.load(workdir).flat_dict()
    means = np.asarray(history["gate_means"][-1])
    n = len(means)
    results = _json(os.path.join(workdir, "test_results.json")) or {}
    paper = all(math.isclose(config[k], v) for k, v in PAPER.items())
    return {"name": os.path.basename(os.path.normpath(workdir)), "structure": config["structure"],
            "parameterization": config.get("gate_parameterization", "logit"),
            "per_example_gates": config["per_example_gates"], "kl_warmup_fraction": config["kl_warmup_fraction"],
            "decode_from": config["decode_from"], "edge_cost": config.get("edge_cost", 0.0),
            "top_down": config.get("top_down", "independent"), "epochs": history["epochs"][-1],
            "seed": config["seed"], "schedule": "paper" if paper else "compressed",
            "final_gate_means": {f"gate_{j + 1}_{i + 1}": round(float(means[j, i]), 4)
                                 for j in range(n) for i in range(j)},
            "map_edges": int(np.sum(np.tril(means, -1) > 0.5)) if config["structure"] == "graph"
            else int(np.sum(np.tril(np.asarray(artifacts_fixed(config, n)), -1))),
            "test_log_likelihood": results.get("log_likelihood"),
            "test_log_likelihood_stderr": results.get("log_likelihood_stderr"),
            "test_examples": results.get("num_examples"), "importance_samples": results.get("num_importance_samples")}


def artifacts_fixed(config, n):
    return fixed_adjacency(config["structure"], n, config.get("adjacency"))


def paired(learned_dirs, fc_dirs):
    """``learned_vs_fc``: test-LL differences learned - FC paired by seed."""
    rows = [(run_row(a), run_row(b), a, b) for a, b in zip(learned_dirs, fc_dirs)]
    for a, b, _, _ in rows:
        if a["seed"] != b["seed"] or a["test_log_likelihood"] is None or b["test_log_likelihood"] is None:
            raise ValueError(f"{a['name']} / {b['name']}: not the same seed, or not evaluated")
    diffs = [a["test_log_likelihood"] - b["test_log_likelihood"] for a, b, _, _ in rows]
    image_stderr = []
    for _, _, da, db in rows:
        pa, pb = (os.path.join(d, "test_per_example.npz") for d in (da, db))
        if os.path.exists(pa) and os.path.exists(pb):
            d = np.load(pa)["log_likelihood"] - np.load(pb)["log_likelihood"]
            image_stderr.append(float(d.std(ddof=1) / math.sqrt(len(d))))
    return _over_seeds({"learned": [a["name"] for a, _, _, _ in rows], "fc": [b["name"] for _, b, _, _ in rows],
                        "seeds": [a["seed"] for a, _, _, _ in rows], "paired_differences": diffs,
                        "map_edges": [a["map_edges"] for a, _, _, _ in rows],
                        "per_seed_image_stderr": image_stderr or None})


def _over_seeds(pair):
    """``pair`` with the mean and standard error of its paired differences over seeds."""
    diffs = pair["paired_differences"]
    return {**pair, "mean": float(np.mean(diffs)),
            "stderr": float(np.std(diffs, ddof=1) / math.sqrt(len(diffs))) if len(diffs) > 1 else None}


def extended(old, new):
    """Comparison ``old`` with the seeds of ``new`` appended (seeds must not repeat)."""
    if set(old["seeds"]) & set(new["seeds"]):
        raise ValueError(f"seeds {sorted(set(old['seeds']) & set(new['seeds']))} are already in the comparison")
    out = {k: old[k] + new[k] for k in ("learned", "fc", "seeds", "paired_differences", "map_edges")}
    a, b = old.get("per_seed_image_stderr"), new.get("per_seed_image_stderr")
    out["per_seed_image_stderr"] = a + b if a and b else None
    return _over_seeds(out)


def gradient_figure(workdir, path):
    """Per-edge KL part of d ELBO / d mu (epoch means) over epochs, from gate_history.json."""
    from matplotlib.figure import Figure
    history = _json(os.path.join(workdir, "gate_history.json"))
    if not history or "gate_gradients" not in history:
        return None
    names = sorted(history["gate_gradients"][0]["kl"])
    fig = Figure(figsize=(6.4, 3.6))
    ax = fig.add_subplot()
    for name, color in zip(names, artifacts.edge_colors(len(names))):
        values = [g["kl"][name] + g["reconstruction"][name] for g in history["gate_gradients"]]
        j, i = name.split("_")[1:]
        ax.plot(history["epochs"], values, color=color, label=f"$c_{{{j},{i}}}$")
    ax.axhline(0.0, color="gray", ls=":", lw=1)
    ax.set(xlabel="epoch", ylabel="d ELBO / d μ (nats per example)",
           title=f"Pull on each gate, {os.path.basename(os.path.normpath(workdir))}")
    ax.legend(fontsize=7, ncol=2, loc="center left", bbox_to_anchor=(1.01, 0.5))
    artifacts._save(fig, path)
    return path


def merged(old, new):
    """``new`` over ``old``: runs replaced by name (new ones appended), comparisons by key."""
    names = {r["name"] for r in new["runs"]}
    out = {**old, **{k: v for k, v in new.items() if k != "comparisons"}}
    out["runs"] = [r for r in old.get("runs", []) if r["name"] not in names] + new["runs"]
    out["comparisons"] = {**old.get("comparisons", {}), **new.get("comparisons", {})}
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs_dir", required=True)
    p.add_argument("--runs", default="", help="comma-separated run names for the runs list")
    p.add_argument("--learned", default="", help="comma-separated learned-structure runs, by seed")
    p.add_argument("--fc", default="", help="comma-separated FC-VAE runs, same seeds in the same order")
    p.add_argument("--pair", action="append", default=[], help="NAME:learned1,...:fc1,... (by seed)")
    p.add_argument("--extend", action="append", default=[],
                   help="NAME:learned1,...:fc1,... (by seed): more seeds for the existing comparison NAME")
    p.add_argument("--figure", action="append", default=[], help="NAME:run1,run2,...")
    p.add_argument("--output", default="docs/results/mnist_structure.json")
    p.add_argument("--merge", action="store_true", help="keep the existing output's other runs and comparisons")
    p.add_argument("--figures_dir", default="docs/results")
    args = p.parse_args(argv)
    split = lambda s: [os.path.join(args.runs_dir, r) for r in s.split(",") if r]  # noqa: E731
    summary = {"runs": [run_row(d) for d in split(args.runs)]}
    if args.learned:
        summary["learned_vs_fc"] = paired(split(args.learned), split(args.fc))
    for spec in args.pair:
        name, learned, fc = spec.split(":")
        summary.setdefault("comparisons", {})[name] = paired(split(learned), split(fc))
    for spec in args.figure:
        name, runs = spec.split(":", 1)
        group = [Run("mnist", "graph", run_row(d)["seed"], d, {}) for d in split(runs)]
        figures.figure3(group, os.path.join(args.figures_dir, f"mnist_fig3a_{name}.png"))
        gradient_figure(group[0].workdir, os.path.join(args.figures_dir, f"mnist_gate_pull_{name}.png"))
    old = _json(args.output) if os.path.exists(args.output) else {}
    for spec in args.extend:
        name, learned, fc = spec.split(":")
        if name not in old.get("comparisons", {}):
            raise ValueError(f"--extend={name}: {args.output} has no comparison {name}")
        summary.setdefault("comparisons", {})[name] = extended(old["comparisons"][name], paired(split(learned), split(fc)))
    if args.merge and old:
        summary = merged(old, summary)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output + ".tmp", "w") as f:
        json.dump(summary, f, indent=1)
    os.replace(args.output + ".tmp", args.output)
    print(json.dumps({k: summary[k] for k in ("learned_vs_fc", "comparisons") if k in summary}, indent=1))


if __name__ == "__main__":
    main()
