"""bin/evaluate.py end to end on a tiny run (config.json + checkpoint) and on bad input."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import data_fixtures
from tfgvae.serving import export
from tfgvae.training import callbacks, train
from tfgvae.training.config import TrainConfig
from tfgvae.data import DATASETS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAST = ["--num_importance_samples=12", "--chunk_size=5", "--batch_size=4", "--limit=6"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A graph run with 3 nodes of 2 dims on tiny MNIST: config, one checkpoint, gate history."""
    root = tmp_path_factory.mktemp("eval")
    data_dir = str(root / "data")
    data_fixtures.write_tiny_data_dir(data_dir)
    config = TrainConfig.from_dict(dict(dataset="mnist", data_dir=data_dir, num_nodes=3, latent_dim=6, seed=0))
    workdir = root / "run"
    train.prepare_workdir(config, str(workdir))
    model = train.build_model(config, DATASETS["mnist"])
    model.gates.logits.assign(np.array([[0, 0, 0], [2.0, 0, 0], [-1.5, 3.0, 0]], np.float32))
    tf.train.CheckpointManager(tf.train.Checkpoint(model=model), str(workdir / "checkpoints"), 1).save()
    callbacks.write_json_atomic(str(workdir / "gate_history.json"), {
        "epochs": [1, 2], "temperature": [1.0, 0.99],
        "gate_means": [np.full((3, 3), 0.5).tolist(), np.asarray(model.gates.means()).tolist()]})
    return {"root": root, "workdir": workdir, "data_dir": data_dir, "model": model}


def evaluate(args, cwd, data_dir=None):
    env = dict(os.environ, TFGVAE_CACHE_DIR=str(cwd / "cache"), TF_CPP_MIN_LOG_LEVEL="2")
    if data_dir:
        env["TFGVAE_DATA_DIR"] = data_dir
    return subprocess.run([sys.executable, os.path.join(ROOT, "bin", "evaluate.py"), *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_workdir_prints_table_writes_results_and_structure(run, tmp_path):
    output = tmp_path / "results.json"
    proc = evaluate([f"--workdir={run['workdir']}", f"--output={output}",
                     f"--per_example_output={tmp_path / 'per_example.npz'}", *FAST], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "LL" in proc.stdout and "KL" in proc.stdout and "ELBO" in proc.stdout
    assert "active units" in proc.stdout
    # k = 12: Monte Carlo noise (~1/12) exceeds the 0.01 threshold; it is removed, and it says so.
    assert "Monte Carlo noise removed" in proc.stdout and "overcounted" not in proc.stdout
    assert f"wrote into {run['workdir']}: structure.json" in proc.stdout  # it says what it rewrote
    assert "last 10,000" not in proc.stdout  # the train/validation split note is not for a test run
    with open(output) as f:
        results = json.load(f)
    for key in ("log_likelihood", "log_likelihood_stderr", "kl", "elbo", "num_importance_samples",
                "dataset", "structure", "map_adjacency", "active_units_per_node"):
        assert key in results, key
    assert results["num_importance_samples"] == 12 and results["num_examples"] == 6
    assert results["dataset"] == "mnist" and results["structure"] == "graph"
    assert results["map_adjacency"] == [[0, 0, 0], [1, 0, 0], [0, 1, 0]]
    per_example = np.load(tmp_path / "per_example.npz")
    assert per_example["log_likelihood"].shape == (6,)
    assert np.isclose(results["log_likelihood"], per_example["log_likelihood"].mean(), atol=1e-4)
    assert np.all(per_example["log_likelihood"] >= per_example["elbo"] - 1e-4)
    for name in ("structure.json", "structure.dot", "structure.png", "gate_history.png"):
        assert (run["workdir"] / name).exists(), name


def test_saved_model_uses_its_signatures(run, tmp_path):
    exported = export.export_saved_model(run["model"], str(tmp_path / "export"))
    proc = evaluate([f"--saved_model={exported}", "--dataset=mnist", f"--output={tmp_path / 'r.json'}",
                     *FAST], tmp_path, run["data_dir"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(tmp_path / "r.json") as f:
        results = json.load(f)
    assert np.isfinite(results["log_likelihood"]) and results["num_examples"] == 6
    assert results["structure"] == "graph"
    assert "warning" not in proc.stdout  # encode's means are exact: no Monte Carlo noise


def test_data_note_keeps_the_split_clause_off_test_runs():
    from tfgvae.experiments import evaluation

    assert "last 10,000" in evaluation.data_note(DATASETS["mnist"], "valid")
    test_note = evaluation.data_note(DATASETS["mnist"], "test")
    assert "last 10,000" not in test_note and "fixed binarization on valid/test" in test_note
    assert "test = evaluation set" in evaluation.data_note(DATASETS["omniglot_alphabets"], "test")
    omniglot = evaluation.data_note(DATASETS["omniglot"], "test")
    assert "test = drawers 15-19" in omniglot and "train/valid" not in omniglot


@pytest.mark.parametrize("args,message", [
    (["--workdir={root}/nowhere"], "no config.json"),
    (["--workdir={root}/run", "--num_importance_samples=0"], "--num_importance_samples must be >= 1"),
    (["--saved_model={root}/plain", "--dataset=mnist"], "no log_likelihood"),
    (["--saved_model={root}/export", "--dataset=cifar10"], "takes images of 784 values but cifar10 has 3072"),
])
def test_bad_input_fails_with_one_line(args, message, run, tmp_path):
    plain = run["root"] / "plain"
    if not plain.exists():
        tf.saved_model.save(tf.Module(), str(plain))
    if not (run["root"] / "export").exists():
        export.export_saved_model(run["model"], str(run["root"] / "export"))
    proc = evaluate([a.format(root=run["root"]) for a in args], tmp_path, run["data_dir"])
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.strip().splitlines() if line.startswith("evaluate.py: error")]
    assert len(lines) == 1 and message in lines[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "results.json").exists()
