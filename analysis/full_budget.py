"""Table 1 at the paper's full budget: ``docs/results/mnist_full.json`` from the runs, partial or whole.

python analysis/full_budget.py RUNS/mnist --epochs=2000 --num_importance_samples=5000 --output=docs/results/mnist_full.json

RUNS/mnist holds ``bin/reproduce.py``'s run directories ``<structure>_seed<k>``. A run counts as
scored when its test_results.json is of the planned ``--epochs`` with k = ``--num_importance_samples``
(the Graph VAE's also test_results_sampled.json, the gates marginalised as trained). A structure whose
runs are all scored gets those numbers; otherwise its row is partial: the periodic estimate
(test_ll_history.json: k = 100 on the first 1,000 test images) at the last epoch every seed has
reached, with ``epochs`` that epoch and ``complete`` false (``latest_per_seed``: each seed's last
[epoch, estimate]). Differences paired by image
(``graph_fc``, ``fc_ladder``) need scored runs of both structures on a common seed. Fig. 5's points:
the periodic estimates every 300 epochs, mean and standard deviation over the seeds that reached them
(``--figures_dir``: drawn, with Fig. 3's gate means over the whole run). Beside the paper's Table 1
(``paper_table1``: LL, KL, ELBO), ``shortfall`` splits each row's distance from the paper's LL into
the ELBO's and the inference gap's (LL − ELBO); ``curves`` has both over training.
"""
import argparse
import glob
import json
import os
import sys

import numpy as np

import paired_table  # analysis/paired_table.py, beside this script
from tfgvae.experiments import curves

# Table 1, MNIST (k = 5,000; means over 5 runs): test log-likelihood, KL and ELBO in nats.
PAPER_TABLE1 = {"graph": {"log_likelihood": -82.58, "kl": 22.49, "elbo": -88.35},
                "fc": {"log_likelihood": -82.80, "kl": 22.47, "elbo": -88.49},
                "ladder": {"log_likelihood": -84.98, "kl": 24.25, "elbo": -92.80},
                "vae": {"log_likelihood": -87.30, "kl": 26.28, "elbo": -95.61}}
PAPER = {s: c["log_likelihood"] for s, c in PAPER_TABLE1.items()}
COLUMNS = ("log_likelihood", "elbo", "kl")  # the periodic estimate's columns (test_ll_history.json)
PAIRS = {"graph_fc": ("graph", "fc"), "fc_ladder": ("fc", "ladder")}
TRAINING_IMAGES = {"train": 50_000, "train+valid": 60_000}


def _json(path):
    with open(path) as f:
        return json.load(f)


def flat_config(workdir):
    """config.json of a run in its flat form (every setting under its flag name), nested or flat."""
    config = _json(os.path.join(workdir, "config.json"))
    return dict(config.pop("model", {}), **config.pop("schedule", {}), **config)


def read_run(workdir, epochs, num_samples):
    """What one run directory holds: its config, periodic estimates and, when scored at ``epochs``
    with k = ``num_samples``, its test results and per-image log-likelihoods by gate reading."""
    config = flat_config(workdir)
    history_path = os.path.join(workdir, "test_ll_history.json")
    history = _json(history_path) if os.path.exists(history_path) else {"epochs": []}
    readings = ("map", "sampled") if config["structure"] == "graph" else ("map",)
    scored = {}
    for reading in readings:
        suffix = "" if reading == "map" else f"_{reading}"
        path = os.path.join(workdir, f"test_results{suffix}.json")
        if not os.path.exists(path):
            break
        results = _json(path)
        if results.get("epochs") != epochs or results.get("num_importance_samples") != num_samples:
            break
        per_image = np.load(os.path.join(workdir, f"test_per_example{suffix}.npz"))["log_likelihood"]
        scored[reading] = (results, per_image.astype(np.float64))
    columns = {c: dict(zip(history["epochs"], history[c])) for c in COLUMNS if c in history}
    return {"structure": config["structure"], "seed": int(config["seed"]), "config": config,
            "history": columns.get("log_likelihood", {}), "columns": columns,
            "history_samples": history.get("num_importance_samples"),
            "history_examples": history.get("num_examples"),
            "scored": scored if len(scored) == len(readings) else {}}


def mean_std(values):
    """Mean and sample standard deviation (ddof = 1; None for one value)."""
    values = np.asarray(values, np.float64)
    return float(values.mean()), (float(values.std(ddof=1)) if len(values) > 1 else None)


def structure_row(runs, epochs, num_samples):
    """The row of one structure's runs: scored numbers if every run is scored, else partial ones."""
    seeds = sorted(r["seed"] for r in runs)
    if all(r["scored"] for r in runs):
        results = [r["scored"]["map"][0] for r in runs]
        mean, std = mean_std([x["log_likelihood"] for x in results])
        row = {"complete": True, "epochs": epochs, "num_seeds": len(runs), "seeds": seeds,
               "num_importance_samples": num_samples, "num_test_examples": results[0]["num_examples"],
               "log_likelihood_mean": mean, "log_likelihood_std": std,
               "per_seed": {str(r["seed"]): x["log_likelihood"] for r, x in zip(runs, results)},
               "kl_mean": mean_std([x["kl"] for x in results])[0],
               "elbo_mean": mean_std([x["elbo"] for x in results])[0] if all("elbo" in x for x in results) else None,
               "kl_per_node": np.mean([x["kl_per_node"] for x in results], axis=0).round(3).tolist(),
               "active_units_per_node": np.mean([x["active_units_per_node"] for x in results], axis=0).tolist()}
        if "sampled" in runs[0]["scored"]:
            sampled = [r["scored"]["sampled"][0]["log_likelihood"] for r in runs]
            row["log_likelihood_sampled_mean"], row["log_likelihood_sampled_std"] = mean_std(sampled)
            row["per_seed_sampled"] = {str(r["seed"]): v for r, v in zip(runs, sampled)}
        return row
    reached = min(max(r["history"], default=0) for r in runs)
    values = {str(r["seed"]): r["history"][reached] for r in runs if reached in r["history"]}
    mean, std = mean_std(list(values.values())) if values else (None, None)
    at = {c: [r["columns"][c][reached] for r in runs if reached in r["columns"].get(c, {})] for c in ("elbo", "kl")}
    return {"complete": False, "epochs": reached, "num_seeds": len(values), "seeds": seeds,
            "epochs_reached_per_seed": {str(r["seed"]): max(r["history"], default=0) for r in runs},
            "latest_per_seed": {str(r["seed"]): [max(r["history"]), r["history"][max(r["history"])]]
                                for r in runs if r["history"]},
            "num_importance_samples": runs[0]["history_samples"], "num_test_examples": runs[0]["history_examples"],
            "log_likelihood_mean": mean, "log_likelihood_std": std, "per_seed": values,
            **{f"{c}_mean": (mean_std(v)[0] if v and len(v) == len(values) else None) for c, v in at.items()}}


def shortfall(row, paper):
    """How far a row falls short of the paper's Table 1 (paper − ours, nats), split by the identity
    LL = ELBO + (LL − ELBO): the objective's part (ELBO) and the inference gap's (LL − ELBO, the
    posterior's distance from the true one that importance sampling recovers). None without an ELBO."""
    if row["log_likelihood_mean"] is None or row.get("elbo_mean") is None:
        return None
    ll, elbo = row["log_likelihood_mean"], row["elbo_mean"]
    return {"log_likelihood": paper["log_likelihood"] - ll, "elbo": paper["elbo"] - elbo,
            "inference_gap": (paper["log_likelihood"] - paper["elbo"]) - (ll - elbo),
            "ours_inference_gap": ll - elbo, "paper_inference_gap": paper["log_likelihood"] - paper["elbo"]}


def curve(runs):
    """The periodic estimates over training: at every epoch some seed reached with all of LL, ELBO and
    KL, the mean over those seeds of each and of the inference gap LL − ELBO (``curves.figure5_points``
    per column), with the number of seeds."""
    whole = [{c: {e: v for e, v in r["columns"].get(c, {}).items()
                  if all(e in r["columns"].get(other, {}) for other in COLUMNS)} for c in COLUMNS} for r in runs]
    gaps = [{e: w["log_likelihood"][e] - w["elbo"][e] for e in w["log_likelihood"]} for w in whole]
    points = {c: curves.figure5_points([w[c] for w in whole]) for c in COLUMNS}
    points["inference_gap"] = curves.figure5_points(gaps)
    first = points["log_likelihood"]
    return {"epochs": first["epochs"], "num_seeds": first["num_seeds"], **{c: p["mean"] for c, p in points.items()}}


def paired(runs_a, runs_b):
    """{mean, stderr, per_seed} of a - b paired by image on the seeds both have scored
    (``paired_table.paired``): per seed the mean difference over images; stderr over seeds (ddof = 1),
    or over images for one seed."""
    if not runs_a or not runs_b:
        return None
    runs = {(r["structure"], r["seed"]): (None, None, r["scored"]["map"][1])
            for r in (*runs_a, *runs_b) if r["scored"]}
    rows = paired_table.paired(runs, runs_a[0]["structure"], runs_b[0]["structure"])
    if not rows:
        return None
    mean, stderr = paired_table.over_seeds(rows)
    return {"mean": mean, "stderr": rows[0][2] if stderr is None else stderr,
            "stderr_over": "images" if stderr is None else "seeds", "per_seed": {str(s): m for s, m, _ in rows}}


def figure5(runs):
    """{epochs, mean, std, num_seeds} of the periodic estimates every 300 epochs (``curves.figure5_points``)."""
    return curves.figure5_points([r["history"] for r in runs], curves.PAPER_FIG5_EVERY)


def draw_figures(run_dirs, folder):
    """Fig. 5 at the paper's 300-epoch points and Fig. 3 over the whole run into ``folder``."""
    from types import SimpleNamespace

    from tfgvae.experiments import figures
    runs = [SimpleNamespace(workdir=d, **{k: flat_config(d)[k] for k in ("structure", "seed")}) for d in run_dirs]
    os.makedirs(folder, exist_ok=True)
    written = [figures.figure5(runs, os.path.join(folder, "mnist_full_fig5_test_ll.png"),
                               every=curves.PAPER_FIG5_EVERY),
               figures.figure3([r for r in runs if r.structure == "graph"],
                               os.path.join(folder, "mnist_full_fig3_gates.png"))]
    return [p for p in written if p]


def protocol(runs):
    """The protocol the runs share: KL warm-up, training images, gate sampling (ValueError if they differ)."""
    def describe(c):
        warmup = (f"linear over the first {c.get('kl_warmup_epochs'):g} epochs" if c.get("kl_warmup_epochs")
                  else f"linear over {c['kl_warmup_fraction']:g} of the epochs" if c.get("kl_warmup_fraction")
                  else "none")
        return {"kl_warmup": warmup, "training_images": TRAINING_IMAGES[c.get("train_split", "train")],
                "gate_sampling": "one relaxed structure per example" if c.get("per_example_gates", True)
                else "one relaxed structure per batch"}
    found = {json.dumps(describe(r["config"]), sort_keys=True) for r in runs}
    if len(found) != 1:
        raise ValueError(f"the runs follow different protocols: {sorted(found)}")
    return json.loads(found.pop())


def full_budget(run_dirs, epochs, num_samples):
    """The mnist_full.json dict of ``run_dirs``."""
    runs = [read_run(d, epochs, num_samples) for d in run_dirs]
    if not runs:
        raise ValueError("no run directories")
    by_structure = {}
    for r in runs:
        by_structure.setdefault(r["structure"], []).append(r)
    order = [s for s in PAPER if s in by_structure]
    rows = {s: structure_row(by_structure[s], epochs, num_samples) for s in order}
    return {"dataset": "mnist", "epochs_planned": epochs, "protocol": protocol(runs),
            "paper": PAPER, "paper_table1": PAPER_TABLE1,
            "structures": rows,
            "shortfall": {s: shortfall(rows[s], PAPER_TABLE1[s]) for s in order},
            "curves": {s: curve(by_structure[s]) for s in order},
            "paired": {name: paired(by_structure.get(a, []), by_structure.get(b, []))
                       for name, (a, b) in PAIRS.items()},
            "figure5": {s: figure5(by_structure[s]) for s in order}}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", help="folder of <structure>_seed<k> run directories (bin/reproduce.py's <workdir>/mnist)")
    p.add_argument("--epochs", type=int, default=2000, help="planned epochs of every run")
    p.add_argument("--num_importance_samples", type=int, default=5000, help="k of the final evaluation")
    p.add_argument("--output", required=True, help="JSON file to write")
    p.add_argument("--figures_dir", help="also draw Fig. 5 (every 300 epochs) and Fig. 3 (whole run) here")
    args = p.parse_args(argv)
    run_dirs = sorted(d for d in glob.glob(os.path.join(args.runs, "*_seed*")) if os.path.isdir(d))
    table = full_budget(run_dirs, args.epochs, args.num_importance_samples)
    tmp = f"{args.output}.tmp"
    with open(tmp, "w") as f:
        json.dump(table, f, indent=1)
    os.replace(tmp, args.output)
    for s, row in table["structures"].items():
        state = "scored" if row["complete"] else "partial"
        print(f"{s}: {state} at epoch {row['epochs']}, {row['num_seeds']} seed{'' if row['num_seeds'] == 1 else 's'}, "
              f"LL {row['log_likelihood_mean']} (paper {PAPER[s]})")
        gap = table["shortfall"][s]
        if gap:
            print(f"  short of the paper by {gap['log_likelihood']:.2f}: ELBO {gap['elbo']:.2f} + "
                  f"LL - ELBO {gap['inference_gap']:.2f} (ours {gap['ours_inference_gap']:.2f}, "
                  f"paper {gap['paper_inference_gap']:.2f})")
    for path in draw_figures(run_dirs, args.figures_dir) if args.figures_dir else []:
        print(f"wrote {path}")


if __name__ == "__main__":
    try:
        main()
    except (ValueError, KeyError, OSError) as e:
        sys.exit(f"full_budget.py: error: {e}")
