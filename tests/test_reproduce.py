"""bin/reproduce.py and its schedules (compressed, truncated), parameter matching, tiny end-to-end
run that resumes without redoing runs and writes the table and figures."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tfgvae import data, flagfiles
from tfgvae.experiments import reproduce
from tfgvae.training.config import TrainConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


STEPS = 7  # steps per epoch of the schedules' learning rate


def _trained_with(flags):
    """(TrainConfig, learning rate at a step) of the optimizer that training builds from a
    schedule's flags (``train.optimizer``)."""
    from tfgvae.training import train
    config = TrainConfig.from_dict(dict(epochs=flags["epochs"], lr_decay_epochs=flags["lr_decay_epochs"],
                                        temperature_decay=flags["temperature_decay"], lr_decay_factor=0.75))
    optimizer = train.optimizer(config, STEPS)
    assert optimizer.learning_rate is not None
    return config, lambda step: float(optimizer._learning_rate(step))


def paper_lr(epoch):
    """App. B.2: lr 1e-3, x0.75 ("decreased by 0.25") every 200 epochs (epoch counted from 0)."""
    return 1e-3 * 0.75 ** (epoch // 200)


def paper_tau(epoch):
    """App. B.2: tau = 0.99^epoch, floored at the configs' 0.01."""
    return max(0.99 ** epoch, 0.01)


@pytest.mark.parametrize("budget", [20, 37, 2000])
def test_budget_keeps_the_paper_schedule_at_the_same_fractions(budget):
    """At 10% and 50% of training, tau and the learning rate equal the paper's at epochs 200 and
    1,000 of 2,000 (App. B.2: tau = 0.99^epoch; lr x factor every 200 epochs)."""
    config, lr = _trained_with(reproduce.schedule("mnist", budget, "compressed"))
    for fraction, paper_epoch in ((0.1, 200), (0.5, 1000)):
        assert config.schedule.epoch_temperature(fraction * budget) == pytest.approx(paper_tau(paper_epoch), rel=1e-9)
    # Just before and just after the first decay (10% of training), and at the end.
    first = int(np.ceil(0.1 * budget * STEPS))
    assert lr(first - 1) == pytest.approx(1e-3)
    assert lr(first) == pytest.approx(1e-3 * 0.75)
    assert lr(budget * STEPS - 1) == pytest.approx(1e-3 * 0.75 ** 9, rel=1e-5)


@pytest.mark.parametrize("dataset,budget", [("mnist", 30), ("omniglot", 450), ("cifar10", 3000)])
def test_truncated_schedule_is_the_papers_first_epochs(dataset, budget):
    """Epoch e of a truncated run has the paper's tau and learning rate at epoch e."""
    flags = reproduce.schedule(dataset, budget, "truncated")
    assert flags["epochs"] == budget and flags["test_ll_every_epochs"] == max(1, budget // 10)
    config, lr = _trained_with(flags)
    for epoch in sorted({0, 1, 10, 199, 200, 201, 399, 400, budget // 2, budget - 1}):
        if epoch >= budget:
            continue
        assert config.schedule.epoch_temperature(epoch) == pytest.approx(paper_tau(epoch), rel=1e-9), epoch
        for step in (epoch * STEPS, epoch * STEPS + STEPS - 1):  # the epoch's first and last steps
            assert lr(step) == pytest.approx(paper_lr(epoch), rel=1e-5), (epoch, step)
    compressed = reproduce.schedule(dataset, budget, "compressed")
    if budget < data.DATASETS[dataset].paper_epochs:  # compressed and truncated differ in a short run
        assert compressed["lr_decay_epochs"] < flags["lr_decay_epochs"]
    else:  # and are both the paper's at its length
        assert compressed == flags


def test_schedule_refuses_bad_names_and_budgets():
    with pytest.raises(ValueError, match="unknown schedule 'linear': choose one of compressed, truncated"):
        reproduce.schedule("mnist", 10, "linear")
    with pytest.raises(ValueError, match="at most the paper's 2000 epochs"):
        reproduce.schedule("omniglot", 2001, "truncated")
    with pytest.raises(ValueError, match="unknown dataset 'svhn'"):
        reproduce.schedule("svhn", 10)


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
        assert row["schedule"] == "truncated"  # the default
        result = json.loads((tmp_path / "runs" / "mnist" / f"{name}_seed0" / "test_results.json").read_text())
        assert row["log_likelihood_mean"] == pytest.approx(result["log_likelihood"])
        assert result["num_examples"] == 30  # --eval_limit
        per_image = np.load(tmp_path / "runs" / "mnist" / f"{name}_seed0" / "test_per_example.npz")["log_likelihood"]
        assert per_image.shape == (30,) and np.mean(per_image) == pytest.approx(result["log_likelihood"])
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


def _finish(runs, lls=(-90.0, -91.0, -95.0), kls=(20.0, 22.0, 27.0)):
    """Writes the test results (k = 7) and timing of finished runs, as bin/reproduce.py does."""
    for run, ll, kl in zip(runs, lls, kls):
        os.makedirs(run.workdir)
        result = {"num_importance_samples": 7, "num_examples": 10, "log_likelihood": ll, "kl": kl,
                  "elbo": ll - 5, "active_units_per_node": [run.seed, 2, 0, 1, 16]}
        with open(run.results_path, "w") as f:
            json.dump(result, f)
        with open(os.path.join(run.workdir, "timing.json"), "w") as f:
            json.dump({"train_seconds": 60 * (run.seed + 1)}, f)


def test_collect_gives_means_and_sample_deviations_over_seeds(tmp_path):
    runs = reproduce.plan("mnist", ["ladder"], [0, 1, 2], str(tmp_path), epochs=4)
    _finish(runs)
    row = reproduce.collect(runs, 7)["ladder"]
    assert row["epochs"] == 4 and row["schedule"] == "truncated"  # the default
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


@pytest.mark.parametrize("kind", reproduce.SCHEDULES)
def test_rows_carry_the_epochs_and_schedule_their_runs_were_trained_with(tmp_path, kind):
    """From the plan before training; from each run's config.json after (a finished run of an
    earlier plan with the same epochs is reused as it was trained); 'custom' when the lr and tau steps
    are neither's."""
    runs = reproduce.plan("omniglot", ["vae", "fc"], [0], str(tmp_path), epochs=30, kind=kind)
    assert {r.schedule for r in runs} == {kind} and runs[0].flags["lr_decay_epochs"] == (
        3.0 if kind == "compressed" else 200)
    _finish(runs)
    rows = reproduce.collect(runs, 7)
    assert [(rows[s]["epochs"], rows[s]["schedule"]) for s in ("vae", "fc")] == [(30, kind)] * 2
    other = "truncated" if kind == "compressed" else "compressed"
    flags = {k: v for k, v in reproduce.schedule("omniglot", 30, other).items() if k != "test_ll_every_epochs"}
    _write_config(runs[0].workdir, TrainConfig.from_dict(dict(structure="vae", num_nodes=1, **flags)))
    _write_config(runs[1].workdir, TrainConfig.from_dict(dict(epochs=30, lr_decay_epochs=17)))
    rows = reproduce.collect(runs, 7)
    assert (rows["vae"]["epochs"], rows["vae"]["schedule"]) == (30, other)
    assert (rows["fc"]["epochs"], rows["fc"]["schedule"]) == (30, "custom")
    table = reproduce.markdown(rows, "omniglot")
    assert table.splitlines()[0].endswith("| seeds | epochs | schedule |")
    assert f"| 1 | 30 | {other} |" in table and "| 1 | 30 | custom |" in table


def _write_config(workdir, config):
    with open(os.path.join(workdir, "config.json"), "w") as f:  # as train.prepare_workdir writes it
        json.dump(config.to_dict(), f)


def test_omniglot_alphabets_trains_with_the_omniglot_configs(tmp_path):
    """The old split has no configs of its own: the omniglot ones, with --dataset overridden."""
    from tfgvae.training.config import config_from_flagfile
    run = reproduce.plan("omniglot_alphabets", ["ladder"], [0], str(tmp_path), epochs=3)[0]
    train, _ = reproduce.commands(run, 10)
    assert train[1:4] == ["-m", "tfgvae", "train"]
    assert train[4] == f"--flagfile={os.path.join(flagfiles.CONFIGS, 'omniglot_ladder.cfg')}"
    args = {a.split("=", 1)[0][2:]: a.split("=", 1)[1] for a in train[5:] if "=" in a}
    config, _ = config_from_flagfile(train[4].split("=", 1)[1], **{k: args[k] for k in ("dataset", "epochs")})
    assert config.dataset == "omniglot_alphabets" and config.model.structure == "ladder"
    assert config.schedule.epochs == 3
    assert run.workdir == os.path.join(str(tmp_path), "omniglot_alphabets", "ladder_seed0")


def test_reproduce_refuses_bad_flags(tmp_path, tiny_data):
    proc = _reproduce(tmp_path, tiny_data, "--train_flag=oops")
    assert proc.returncode != 0 and "NAME=VALUE" in proc.stderr.strip().splitlines()[-1]
    proc = _reproduce(tmp_path, tiny_data, "--schedule=truncated", "--budget=2001")
    assert proc.returncode != 0 and proc.stderr.strip().splitlines()[-1] == (
        "reproduce.py: error: a truncated schedule runs at most the paper's 2000 epochs, got 2001")
    assert not (tmp_path / "runs").exists()  # refused before anything was planned or trained


def test_table_counts_the_width_a_run_was_trained_with(tmp_path):
    """A finished run reused by a later plan (other structures, so another matched VAE width)
    is counted with the width in its own config.json, not the new plan's."""
    run = reproduce.plan("mnist", ["vae"], [0], str(tmp_path), epochs=1)[0]
    assert reproduce._trained_width(run) == run.flags.get("head_hidden")  # nothing trained yet
    os.makedirs(run.workdir)
    _write_config(run.workdir, TrainConfig.from_dict(dict(structure="vae", num_nodes=1, head_hidden=300)))
    assert reproduce._trained_width(run) == 300


def _checkpoint(workdir, step):
    """A checkpoint directory whose latest checkpoint is at ``step``, as RunCheckpoint names it."""
    ckpt = os.path.join(workdir, "checkpoints")
    os.makedirs(ckpt, exist_ok=True)
    open(os.path.join(ckpt, f"ckpt-{step}.index"), "w").close()
    with open(os.path.join(ckpt, "checkpoint"), "w") as f:
        f.write(f'model_checkpoint_path: "ckpt-{step}"\nall_model_checkpoint_paths: "ckpt-{step}"\n')


def test_a_run_is_finished_only_with_results_of_its_planned_training(tmp_path):
    """Results with the right k count only if config.json has the plan's epochs (a re-run with a
    larger --budget trains on) and they scored the latest checkpoint (results written before the
    step was recorded are trusted)."""
    run = reproduce.plan("mnist", ["fc"], [0], str(tmp_path), epochs=4)[0]
    _finish([run])
    assert run.finished(7) and not run.finished(8) and not run.finished(7, limit=20)
    _write_config(run.workdir, TrainConfig.from_dict(dict(epochs=4)))
    _checkpoint(run.workdir, 40)
    assert run.finished(7)  # no checkpoint_step: an older evaluation, trusted
    with open(run.results_path) as f:
        results = json.load(f)
    for step, finished in ((40, True), (30, False)):
        with open(run.results_path, "w") as f:
            json.dump(dict(results, checkpoint_step=step), f)
        assert run.finished(7) is finished, step
    longer = reproduce.plan("mnist", ["fc"], [0], str(tmp_path), epochs=6)[0]
    assert longer.workdir == run.workdir and not longer.finished(7)


def test_a_vae_alone_gets_the_tables_matched_width():
    """--structures=vae alone trains the VAE of the full table (footnote 2), not the shipped width."""
    full = reproduce.matched_vae_width("mnist", reproduce.STRUCTURE_ORDER)
    assert full > 128
    assert reproduce.vae_width("mnist", ["vae"]) == full == reproduce.vae_width("mnist", ["vae", "ladder"])
    assert reproduce.vae_width("mnist", ["fc", "graph"]) is None
    assert reproduce.vae_width("mnist", ["vae"], match=False) is None


def test_graph_runs_are_also_scored_with_the_gates_marginalised(tmp_path):
    """A learned structure gets a second evaluation (--gates=sampled) into files of its own; the run is
    finished only with both, and its row carries both log-likelihoods."""
    graph, fc = reproduce.plan("mnist", ["graph", "fc"], [0], str(tmp_path), epochs=4)
    _, evaluations = reproduce.commands(graph, 7)
    assert [[a for a in e if a.startswith("--gates=")] for e in evaluations] == [["--gates=map"], ["--gates=sampled"]]
    assert [a for a in evaluations[1] if a.startswith("--output=")] == [
        f"--output={os.path.join(graph.workdir, 'test_results_sampled.json')}"]
    assert len(reproduce.commands(fc, 7)[1]) == 1
    _finish([graph, fc])
    assert fc.finished(7) and not graph.finished(7)
    with open(graph.results_file("sampled"), "w") as f:
        json.dump({"num_importance_samples": 7, "num_examples": 10, "log_likelihood": -92.5}, f)
    assert graph.finished(7)
    row = reproduce.collect([graph, fc], 7)["graph"]
    assert row["log_likelihood_mean"] == -90.0 and row["log_likelihood_sampled_mean"] == -92.5
    assert row["per_seed_log_likelihood_sampled"] == [-92.5] and "log_likelihood_sampled_mean" not in \
        reproduce.collect([graph, fc], 7)["fc"]
