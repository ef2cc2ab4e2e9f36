"""analysis/full_budget.py: mnist_full.json from scored and partial run directories, checked against
numbers computed here from the files the test writes."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "analysis", "full_budget.py")
IMAGES = 50


def _run(folder, structure, seed, history, scored_ll=None, sampled_ll=None, nested=True, epochs=2000, k=5000):
    """A run directory: config.json, test_ll_history.json and, if scored, test results per reading."""
    d = folder / f"{structure}_seed{seed}"
    d.mkdir(parents=True)
    settings = {"structure": structure, "seed": seed, "per_example_gates": True, "train_split": "train+valid"}
    schedule = {"epochs": 2000, "kl_warmup_fraction": 0.0, "kl_warmup_epochs": 10.0}
    config = ({"model": {"structure": structure, "per_example_gates": True}, "schedule": schedule,
               "seed": seed, "train_split": "train+valid"} if nested else dict(settings, **schedule))
    (d / "config.json").write_text(json.dumps(config))
    reached = sorted(history)  # the periodic ELBO trails the estimate by 4 + epoch / 1000, KL 25 - seed
    (d / "test_ll_history.json").write_text(json.dumps({
        "epochs": reached, "log_likelihood": [history[e] for e in reached],
        "elbo": [history[e] - 4 - e / 1000 for e in reached], "kl": [25.0 - seed for e in reached],
        "num_importance_samples": 100, "num_examples": 1000}))
    for suffix, ll in (("", scored_ll), ("_sampled", sampled_ll)):
        if ll is None:
            continue
        (d / f"test_results{suffix}.json").write_text(json.dumps({
            "epochs": epochs, "num_importance_samples": k, "num_examples": IMAGES, "log_likelihood": float(ll.mean()),
            "elbo": float(ll.mean()) - 5.0 - seed, "kl": 20.0 + seed, "kl_per_node": [1.0 + seed, 2.0], "active_units_per_node": [3, 4 + seed]}))
        np.savez(d / f"test_per_example{suffix}.npz", log_likelihood=ll.astype(np.float32))
    return d


def _table(folder, tmp_path, *extra):
    out = tmp_path / "full.json"
    proc = subprocess.run([sys.executable, SCRIPT, str(folder), f"--output={out}", *extra],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text()), proc


@pytest.fixture
def runs(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "mnist"
    lls = {(s, seed): rng.normal(-83 - i, 5, IMAGES).astype(np.float32).astype(np.float64)
           for i, s in enumerate(("graph", "fc", "ladder")) for seed in (0, 1)}
    sampled = {seed: lls[("graph", seed)] - 0.02 for seed in (0, 1)}
    hist = lambda base, last: {e: base + e / 1000 for e in range(100, last + 1, 100)}  # noqa: E731
    for seed in (0, 1):
        _run(folder, "graph", seed, hist(-90, 2000), lls[("graph", seed)], sampled[seed], nested=seed == 0)
        _run(folder, "fc", seed, hist(-91 + seed, 2000), lls[("fc", seed)])
    _run(folder, "ladder", 0, hist(-92, 2000), lls[("ladder", 0)])
    _run(folder, "vae", 0, hist(-95, 700))  # still training: partial
    _run(folder, "vae", 1, hist(-96, 900))
    return folder, lls, sampled


def test_scored_rows_paired_differences_and_figure5_as_computed_from_the_files(runs, tmp_path):
    folder, lls, sampled = runs
    table, proc = _table(folder, tmp_path)
    graph = table["structures"]["graph"]
    per_seed = [lls[("graph", s)].mean() for s in (0, 1)]
    assert graph["complete"] and graph["epochs"] == 2000 and graph["num_seeds"] == 2
    assert graph["num_importance_samples"] == 5000 and graph["num_test_examples"] == IMAGES
    assert graph["log_likelihood_mean"] == pytest.approx(np.mean(per_seed), abs=1e-6)
    assert graph["log_likelihood_std"] == pytest.approx(np.std(per_seed, ddof=1), abs=1e-6)
    assert graph["log_likelihood_sampled_mean"] == pytest.approx(np.mean(per_seed) - 0.02, abs=1e-5)
    assert graph["kl_per_node"] == [1.5, 2.0] and graph["active_units_per_node"] == [3.0, 4.5]
    ladder = table["structures"]["ladder"]
    assert ladder["complete"] and ladder["log_likelihood_std"] is None and "log_likelihood_sampled_mean" not in ladder
    diffs = [(lls[("graph", s)] - lls[("fc", s)]).mean() for s in (0, 1)]
    gf = table["paired"]["graph_fc"]
    assert gf["mean"] == pytest.approx(np.mean(diffs)) and gf["stderr_over"] == "seeds"
    assert gf["stderr"] == pytest.approx(np.std(diffs, ddof=1) / np.sqrt(2))
    d = lls[("fc", 0)] - lls[("ladder", 0)]  # one seed: the standard error over images
    fl = table["paired"]["fc_ladder"]
    assert fl["per_seed"] == {"0": pytest.approx(d.mean())} and fl["stderr_over"] == "images"
    assert fl["stderr"] == pytest.approx(d.std(ddof=1) / np.sqrt(IMAGES))
    fig = table["figure5"]["fc"]
    assert fig["epochs"] == [300, 600, 900, 1200, 1500, 1800]
    assert fig["mean"][0] == pytest.approx(np.mean([-91 + 0.3, -90 + 0.3]))
    assert fig["std"][0] == pytest.approx(np.std([-90.7, -89.7], ddof=1))
    assert table["protocol"] == {"kl_warmup": "linear over the first 10 epochs", "training_images": 60000,
                                 "gate_sampling": "one relaxed structure per example"}
    assert table["paper"]["graph"] == -82.58
    assert "graph: scored at epoch 2000, 2 seeds" in proc.stdout


def test_a_structure_still_training_is_partial_at_the_epoch_every_seed_reached(runs, tmp_path):
    folder, _, _ = runs
    table, _ = _table(folder, tmp_path)
    vae = table["structures"]["vae"]
    assert not vae["complete"] and vae["epochs"] == 700 and vae["epochs_reached_per_seed"] == {"0": 700, "1": 900}
    assert vae["per_seed"] == {"0": pytest.approx(-95 + 0.7), "1": pytest.approx(-96 + 0.7)}
    assert vae["num_importance_samples"] == 100 and vae["num_test_examples"] == 1000
    assert vae["latest_per_seed"] == {"0": [700, pytest.approx(-95 + 0.7)], "1": [900, pytest.approx(-96 + 0.9)]}
    assert table["figure5"]["vae"] == {"epochs": [300, 600, 900], "mean": [pytest.approx(-95.2), pytest.approx(-94.9),
                                                                           pytest.approx(-95.1)],
                                       "std": [pytest.approx(np.sqrt(0.5)), pytest.approx(np.sqrt(0.5)), None],
                                       "num_seeds": [2, 2, 1]}


def test_results_of_another_budget_or_k_leave_the_row_partial(runs, tmp_path):
    """The 200-epoch results a run had before it was trained on to 2,000 epochs are not its score."""
    folder, lls, _ = runs
    _run(folder, "ladder", 1, {100: -93.0, 200: -92.5}, lls[("ladder", 1)], epochs=200, k=1000)
    table, _ = _table(folder, tmp_path)
    ladder = table["structures"]["ladder"]
    assert not ladder["complete"] and ladder["epochs"] == 200
    assert ladder["per_seed"] == {"0": pytest.approx(-92 + 0.2), "1": -92.5}
    assert table["paired"]["fc_ladder"]["per_seed"] == {"0": pytest.approx((lls[("fc", 0)] - lls[("ladder", 0)]).mean())}


def test_runs_of_different_protocols_are_refused_in_one_line(runs, tmp_path):
    folder, _, _ = runs
    config = json.loads((folder / "fc_seed1" / "config.json").read_text())
    config["train_split"] = "train"
    (folder / "fc_seed1" / "config.json").write_text(json.dumps(config))
    proc = subprocess.run([sys.executable, SCRIPT, str(folder), f"--output={tmp_path / 'x.json'}"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stderr.startswith("full_budget.py: error: the runs follow different protocols")
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "x.json").exists()


def test_figures_dir_draws_figure5_and_figure3(runs, tmp_path):
    folder, _, _ = runs
    gates = {"epochs": [1, 2, 3], "gate_means": [[[0.0, 0.0], [0.5 + 0.1 * e, 0.0]] for e in (1, 2, 3)]}
    for seed in (0, 1):
        (folder / f"graph_seed{seed}" / "gate_history.json").write_text(json.dumps(gates))
    _, proc = _table(folder, tmp_path, f"--figures_dir={tmp_path / 'figs'}")
    for name in ("mnist_full_fig5_test_ll.png", "mnist_full_fig3_gates.png"):
        path = tmp_path / "figs" / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"wrote {path}" in proc.stdout


def test_shortfall_splits_the_distance_from_table1_into_elbo_and_inference_gap(runs, tmp_path):
    """Paper − ours from Table 1's columns (LL, ELBO) by hand: scored rows from test_results.json,
    partial ones from the periodic estimate; the two parts add up to the LL's."""
    folder, lls, _ = runs
    table, proc = _table(folder, tmp_path)
    assert table["paper_table1"]["fc"] == {"log_likelihood": -82.80, "kl": 22.47, "elbo": -88.49}
    ll = np.mean([lls[("graph", s)].mean() for s in (0, 1)])
    elbo = np.mean([lls[("graph", s)].mean() - 5.0 - s for s in (0, 1)])
    graph = table["shortfall"]["graph"]
    assert table["structures"]["graph"]["elbo_mean"] == pytest.approx(elbo, abs=1e-6)
    assert graph["log_likelihood"] == pytest.approx(-82.58 - ll, abs=1e-6)
    assert graph["elbo"] == pytest.approx(-88.35 - elbo, abs=1e-6)
    assert graph["ours_inference_gap"] == pytest.approx(5.5) and graph["paper_inference_gap"] == pytest.approx(5.77)
    assert graph["inference_gap"] == pytest.approx(0.27) and graph["elbo"] + graph["inference_gap"] == \
        pytest.approx(graph["log_likelihood"])
    vae = table["shortfall"]["vae"]  # partial at epoch 700: LL -94.3 / -95.3, ELBO 4.7 below each
    assert table["structures"]["vae"]["kl_mean"] == pytest.approx(24.5)
    assert vae["log_likelihood"] == pytest.approx(-87.30 + 94.8) and vae["ours_inference_gap"] == pytest.approx(4.7)
    assert vae["elbo"] == pytest.approx(-95.61 + 99.5)
    assert "graph: scored" in proc.stdout and "short of the paper by" in proc.stdout


def test_curves_average_the_periodic_columns_over_the_seeds_that_reached_each_epoch(runs, tmp_path):
    folder, _, _ = runs
    table, _ = _table(folder, tmp_path)
    vae = table["curves"]["vae"]
    assert vae["epochs"] == list(range(100, 901, 100)) and vae["num_seeds"] == [2] * 7 + [1, 1]
    assert vae["log_likelihood"][0] == pytest.approx(np.mean([-95 + 0.1, -96 + 0.1]))
    assert vae["log_likelihood"][8] == pytest.approx(-96 + 0.9) and vae["kl"][8] == pytest.approx(24.0)
    assert vae["inference_gap"] == [pytest.approx(4 + e / 1000) for e in range(100, 901, 100)]
    assert vae["elbo"][0] == pytest.approx(np.mean([-94.9, -95.9]) - 4.1)
