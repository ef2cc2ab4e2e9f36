"""keras-tuner search over node factorizations: the space, a real search, resume and export."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import data_fixtures
from tfgvae.training import tuning

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_divisors_and_space():
    assert tuning.divisors(80) == [1, 2, 4, 5, 8, 10, 16, 20, 40, 80]
    space = tuning.SearchSpace(latent_dims=(12, 8), node_dims=(2, 3, 4))
    assert space.node_dims_for(12) == [2, 3, 4] and space.node_dims_for(8) == [2, 4]
    with pytest.raises(ValueError, match="vae"):
        tuning.SearchSpace(structures=("vae",))
    with pytest.raises(ValueError, match="divides"):
        tuning.SearchSpace(latent_dims=(7,), node_dims=(2,))


def test_trial_config_factorizes_latent_dim():
    import keras_tuner as kt
    from tfgvae.training.config import TrainConfig
    from tfgvae.data import DATASETS

    hm = tuning.GraphVAEHyperModel(TrainConfig(), tuning.SearchSpace(latent_dims=(12, 8)),
                                   DATASETS["mnist"], 10)
    hp = kt.HyperParameters()
    hp.Fixed("latent_dim", 12)
    with hp.conditional_scope("latent_dim", [12]):
        hp.Fixed("node_dim_M12", 3)
    config = hm.trial_config(hp)
    assert (config.model.latent_dim, config.model.num_nodes, config.model.node_dim) == (12, 4, 3)


def test_setup_installs_what_the_configured_tuner_needs():
    """tune_mnist.cfg's tuner is keras-tuner's BayesianOptimization: its extra must be installed."""
    import importlib.metadata

    assert "--tuner=bayesian" in open(os.path.join(ROOT, "configs", "tune_mnist.cfg")).read()
    needed = [r.split(";")[0].strip() for r in importlib.metadata.requires("keras-tuner")
              if 'extra == "bayesian"' in r]
    setup = open(os.path.join(ROOT, "setup.py")).read()
    assert needed and all(f'"{name}' in setup for name in needed), needed


def test_factorization_plot_ticks_are_the_node_dims_tried(tmp_path):
    rows = [{"latent_dim": 12, "node_dim": d, "score": 100.0 + d} for d in (1, 3, 4, 6)]
    rows.append({"latent_dim": 12, "node_dim": 2, "score": None})  # a failed trial: no tick
    fig = tuning.plot_factorizations(rows, str(tmp_path / "f.png"))
    ax = fig.axes[0]
    assert list(ax.get_xticks()) == [1, 3, 4, 6]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "3", "4", "6"]
    assert (tmp_path / "f.png").exists()


def run_tune(tmp_path, data_dir, *extra):
    """README's command, ``bin/tune.py --flagfile=configs/tune_mnist.cfg`` (its Bayesian tuner),
    on tiny settings."""
    args = [sys.executable, os.path.join(ROOT, "bin", "tune.py"),
            f"--flagfile={ROOT}/configs/tune_mnist.cfg", f"--workdir={tmp_path}/search",
            "--latent_dims=4", "--node_dims=1,2,4", "--epochs=1",
            "--steps_per_epoch=2", "--validation_steps=2", "--batch_size=8", "--nojit_compile",
            "--verbose=0", *extra]
    env = dict(os.environ, TFGVAE_DATA_DIR=data_dir, TFGVAE_CACHE_DIR=str(tmp_path / "cache"))
    return subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)


def test_search_resumes_plots_and_exports_best(tmp_path):
    import tensorflow as tf
    from tfgvae.data import make_dataset

    data_dir = str(tmp_path / "data")
    data_fixtures.write_tiny_data_dir(data_dir)
    proc = run_tune(tmp_path, data_dir, "--max_trials=1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    first = json.load(open(tmp_path / "search" / "trials.json"))
    assert len(first) == 1 and first[0]["status"] == "COMPLETED" and first[0]["trial"] == 1
    for noise in ("shuffle=True", "Skipping variable loading", "Traceback"):
        assert noise not in proc.stderr, proc.stderr[-3000:]
    # Re-running with a larger budget resumes: the finished trial is kept, one more runs.
    proc = run_tune(tmp_path, data_dir, "--max_trials=2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.load(open(tmp_path / "search" / "trials.json"))
    assert len(rows) == 2 and first[0] in rows
    assert sorted(r["trial"] for r in rows) == [1, 2]  # as keras-tuner's "Trial #1", "#2"
    assert "val ELBO" in proc.stdout and (tmp_path / "search" / "factorizations.png").exists()
    best = rows[0]  # the table shows the ELBO, negative, as the plot does: -score
    assert best["val_elbo"] == -best["score"] < 0
    assert f"{best['val_elbo']:.3f}" in proc.stdout.split("val ELBO")[1]
    for r in rows:
        assert r["latent_dim"] == 4 and r["num_nodes"] * r["node_dim"] == 4
    # The exported best model reloads and scores as its trial did (within Monte Carlo error).
    loaded = tf.saved_model.load(str(tmp_path / "search" / "best_model"))
    valid = make_dataset("mnist", "valid", data_dir, batch_size=8).take(2)
    values = np.concatenate([-loaded.elbo(x=x, seed=tf.constant(k))["elbo"].numpy()
                             for k, x in enumerate(valid)])
    stderr = values.std() / np.sqrt(values.size)
    assert abs(values.mean() - rows[0]["score"]) < 4 * stderr + 0.5, (values.mean(), rows[0]["score"])
