"""bin/reproduce.py and its schedule: compressed schedules, parameter matching, tiny end-to-end
run that resumes without redoing runs and writes the table and figures."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tfgvae import reproduce
from tfgvae.config import TrainConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("budget", [20, 37, 2000])
def test_budget_keeps_the_paper_schedule_at_the_same_fractions(budget):
    """At 10% and 50% of training, tau and the learning rate equal the paper's at epochs 200 and
    1,000 of 2,000 (App. B.2: tau = 0.99^epoch; lr x factor every 200 epochs)."""
    from tfgvae import train
    flags = reproduce.schedule("mnist", budget)
    config = TrainConfig(epochs=flags["epochs"], lr_decay_epochs=flags["lr_decay_epochs"],
                         temperature_decay=flags["temperature_decay"], lr_decay_factor=0.75)
    for fraction, paper_epoch in ((0.1, 200), (0.5, 1000)):
        assert config.temperature(fraction * budget) == pytest.approx(max(0.99 ** paper_epoch, 0.01), rel=1e-9)
    steps = 7
    optimizer = train.optimizer(config, steps)
    lr = optimizer.learning_rate
    schedule = optimizer._learning_rate
    # Just before and just after the first decay (10% of training), and at the end.
    first = int(np.ceil(0.1 * budget * steps))
    assert float(schedule(first - 1)) == pytest.approx(1e-3)
    assert float(schedule(first)) == pytest.approx(1e-3 * 0.75)
    assert float(schedule(budget * steps - 1)) == pytest.approx(1e-3 * 0.75 ** 9, rel=1e-5)
    assert lr is not None


def test_full_schedule_is_the_papers():
    flags = reproduce.schedule("mnist")
    assert flags["epochs"] == 2000 and flags["lr_decay_epochs"] == 200
    assert flags["temperature_decay"] == pytest.approx(0.99)
    assert reproduce.schedule("cifar10")["epochs"] == 3000
    with pytest.raises(ValueError, match="budget"):
        reproduce.schedule("mnist", 0)


def test_matched_vae_has_at_least_the_parameters_of_every_structure():
    structures = ("vae", "ladder", "fc", "graph")
    width = reproduce.matched_vae_width("mnist", structures)
    most = max(reproduce.parameter_count("mnist", s) for s in structures if s != "vae")
    assert reproduce.parameter_count("mnist", "vae", head_hidden=width) >= most
    assert reproduce.parameter_count("mnist", "vae", head_hidden=width - 1) < most


def test_plan_refuses_unknown_names(tmp_path):
    with pytest.raises(ValueError, match="unknown structures"):
        reproduce.plan("mnist", ["tree"], [0], str(tmp_path))
    with pytest.raises(ValueError, match="unknown dataset"):
        reproduce.plan("svhn", ["vae"], [0], str(tmp_path))


def _reproduce(tmp_path, data_dir, *extra):
    env = dict(os.environ, TFGVAE_DATA_DIR=data_dir, TFGVAE_CACHE_DIR=str(tmp_path / "cache"),
               TF_CPP_MIN_LOG_LEVEL="2")
    args = [sys.executable, os.path.join(ROOT, "bin", "reproduce.py"), "--dataset=mnist",
            "--structures=vae,graph", "--seeds=0", "--budget=2", "--num_importance_samples=3",
            f"--workdir={tmp_path / 'runs'}", f"--results_dir={tmp_path / 'results'}", "--parallel=2",
            "--threads_per_run=1", "--tsne_examples=40", "--eval_limit=30",
            "--train_flag=steps_per_epoch=2", "--train_flag=batch_size=8", "--train_flag=validation_steps=1",
            "--train_flag=jit_compile=false", "--train_flag=test_ll_examples=8", "--train_flag=test_ll_samples=2",
            *extra]
    return subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)


def test_reproduce_trains_tabulates_plots_and_resumes(tmp_path, tiny_data):
    proc = _reproduce(tmp_path, tiny_data)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "[1/2]" in proc.stdout and "ETA" in proc.stdout
    table = json.loads((tmp_path / "results" / "mnist.json").read_text())
    assert set(table) == {"vae", "graph"}
    for name, row in table.items():
        assert row["num_seeds"] == 1 and row["epochs"] == 2 and row["num_importance_samples"] == 3
        result = json.loads((tmp_path / "runs" / "mnist" / f"{name}_seed0" / "test_results.json").read_text())
        assert row["log_likelihood_mean"] == pytest.approx(result["log_likelihood"])
        assert result["num_examples"] == 30  # --eval_limit
        assert len(row["active_units_per_node"]) == (1 if name == "vae" else 5)
        assert row["train_minutes_mean"] > 0
    assert table["vae"]["parameters"] >= table["graph"]["parameters"]
    md = (tmp_path / "results" / "mnist.md").read_text()
    assert md.count("\n") == 4 and "| graph |" in md
    from matplotlib.image import imread
    for fig in ("fig3_structure", "fig5_test_ll", "fig6_tsne"):
        image = imread(str(tmp_path / "results" / f"mnist_{fig}.png"))
        assert image.shape[0] > 200 and image.shape[1] > 400 and image[..., :3].std() > 0.05, fig
    history = json.loads((tmp_path / "runs" / "mnist" / "graph_seed0" / "test_ll_history.json").read_text())
    assert history["epochs"] == [1, 2] and all(np.isfinite(history["log_likelihood"]))

    # Re-running skips the finished runs; removing one run's results redoes only that one,
    # which resumes from its checkpoint rather than training again.
    stamp = os.path.getmtime(tmp_path / "runs" / "mnist" / "vae_seed0" / "test_results.json")
    os.remove(tmp_path / "runs" / "mnist" / "graph_seed0" / "test_results.json")
    proc = _reproduce(tmp_path, tiny_data)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "1 of 2 runs already finished: skipped" in proc.stdout
    assert "[2/2] mnist graph seed 0: done" in proc.stdout
    assert os.path.getmtime(tmp_path / "runs" / "mnist" / "vae_seed0" / "test_results.json") == stamp
    log = (tmp_path / "runs" / "mnist" / "graph_seed0" / "reproduce.log").read_text()
    assert "Resuming" in log


def test_collect_gives_means_and_sample_deviations_over_seeds(tmp_path):
    runs = reproduce.plan("mnist", ["ladder"], [0, 1, 2], str(tmp_path), epochs=4)
    lls, kls = [-90.0, -91.0, -95.0], [20.0, 22.0, 27.0]
    for run, ll, kl in zip(runs, lls, kls):
        os.makedirs(run.workdir)
        result = {"num_importance_samples": 7, "num_examples": 10, "log_likelihood": ll, "kl": kl,
                  "elbo": ll - 5, "active_units_per_node": [run.seed, 2, 0, 1, 16]}
        with open(run.results_path, "w") as f:
            json.dump(result, f)
        with open(os.path.join(run.workdir, "timing.json"), "w") as f:
            json.dump({"train_seconds": 60 * (run.seed + 1)}, f)
    row = reproduce.collect(runs, 7)["ladder"]
    assert row["log_likelihood_mean"] == pytest.approx(-92.0)
    assert row["log_likelihood_std"] == pytest.approx(2.6457513110645907)  # sqrt(7), ddof = 1
    assert row["kl_std"] == pytest.approx(np.sqrt(13.0))
    assert row["active_units_per_node"] == [1.0, 2.0, 0.0, 1.0, 16.0] and row["active_units_mean"] == 20.0
    assert row["train_minutes_mean"] == pytest.approx(2.0) and row["num_seeds"] == 3
    assert reproduce.collect(runs, 8) == {}  # results of another k do not count
    assert "| ladder | -92.00 ± 2.65 | 23.00 ± 3.61 |" in reproduce.markdown({"ladder": row}, "mnist")
    # One seed has no spread over seeds: null in the JSON, no ± in the table.
    one = reproduce.collect(runs[:1], 7)["ladder"]
    assert one["log_likelihood_std"] is None and one["kl_std"] is None and one["num_seeds"] == 1
    assert "| ladder | -90.00 | 20.00 | -95.00 |" in reproduce.markdown({"ladder": one}, "mnist")


def test_reproduce_refuses_bad_flags(tmp_path, tiny_data):
    proc = _reproduce(tmp_path, tiny_data, "--train_flag=oops")
    assert proc.returncode != 0 and "NAME=VALUE" in proc.stderr.strip().splitlines()[-1]


def test_table_counts_the_width_a_run_was_trained_with(tmp_path):
    """A finished run reused by a later plan (other structures, so another matched VAE width)
    is counted with the width in its own config.json, not the new plan's."""
    run = reproduce.plan("mnist", ["vae"], [0], str(tmp_path), epochs=1)[0]
    assert reproduce._trained_width(run) == run.flags.get("head_hidden")  # nothing trained yet
    os.makedirs(run.workdir)
    with open(os.path.join(run.workdir, "config.json"), "w") as f:  # as train.prepare_workdir writes it
        json.dump(TrainConfig(structure="vae", num_nodes=1, head_hidden=300).to_dict(), f)
    assert reproduce._trained_width(run) == 300


def test_eta_counts_what_running_runs_have_done():
    """Runs of 10 min so far: two running (2 and 9 min in) and three queued, 2 at a time, leave
    max(8, 1) + ceil(3 / 2) x 10 = 28 min."""
    active = {"a": (None, None, 1000.0 - 120), "b": (None, None, 1000.0 - 540)}
    assert reproduce._eta([600.0], ["c", "d", "e"], active, 2, now=1000.0) == "5 left, ETA 28 min"
    assert reproduce._eta([600.0], [], {}, 2) == "no runs left"
    assert reproduce._eta([], ["c"], active, 2) == "ETA after the first run"
