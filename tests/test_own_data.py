"""Your own data (tfgvae.data.sources): arrays, tf.data.Datasets and .npz files go wherever a registered
name goes (training, evaluation, reproduce), with the signatures' one-line errors."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from test_networks import SHAPE, conv_encoder, deconv_decoder, images
from tfgvae.data import sources
from tfgvae.experiments import evaluation, reproduce
from tfgvae.training import runs, train
from tfgvae.training.config import TrainConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(num_nodes=2, latent_dim=4, batch_size=8, epochs=2, steps_per_epoch=3, validation_steps=1,
            jit_compile=False, verbose=0)


def splits(seed=0):
    return {"train": images(48, seed), "valid": images(16, seed + 1), "test": images(16, seed + 2)}


def test_train_and_evaluate_a_conv_model_on_arrays_then_reload_and_evaluate_the_run(tmp_path):
    config = TrainConfig.from_dict(dict(**TINY, export_dir=str(tmp_path / "export")))
    workdir = str(tmp_path / "run")
    data = splits()
    results = train.train_and_evaluate(config, workdir, data=data, encoder=conv_encoder(),
                                       decoder=deconv_decoder())
    assert np.isfinite(results["elbo"])
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["dataset"] == "own data" and saved["model"]["input_shape"] == list(SHAPE)
    assert saved["model"]["likelihood"] == "bernoulli"
    loaded = tf.saved_model.load(str(tmp_path / "export"))
    assert tuple(loaded.info()["input_shape"].numpy()) == SHAPE
    model, run, _ = runs.load_run(workdir, encoder=conv_encoder(), decoder=deconv_decoder())
    np.testing.assert_allclose(loaded.log_likelihood(tf.constant(data["test"]), 10, 1)["log_likelihood"],
                               model.log_likelihood(data["test"], 10, seed=1), rtol=1e-5)
    with pytest.raises(ValueError, match="trained on data in memory") as raised:
        evaluation.evaluate_workdir(workdir, encoder=conv_encoder(), decoder=deconv_decoder())
    assert "\n" not in str(raised.value)
    summary, _ = evaluation.evaluate_workdir(workdir, data=data, encoder=conv_encoder(), decoder=deconv_decoder(),
                                             num_samples=4, chunk_size=2, batch_size=8, progress=False,
                                             write_artifacts=False)
    assert summary["num_examples"] == 16 and np.isfinite(summary["log_likelihood"])
    assert "bits_per_dim" not in summary


def test_default_networks_train_on_flat_arrays_and_tf_data(tmp_path):
    flat = {k: v.reshape(len(v), -1) for k, v in splits(3).items()}
    data = {"train": tf.data.Dataset.from_tensor_slices(flat["train"]).batch(4), "valid": flat["valid"]}
    results = train.train_and_evaluate(TrainConfig.from_dict(dict(**TINY, export=False)), str(tmp_path / "run"),
                                         data=data)
    assert np.isfinite(results["elbo"])
    model, _, info = runs.load_run(str(tmp_path / "run"))
    assert model.config.example_shape == (64,) and info.input_dim == 64
    from_ds, _ = evaluation.evaluate_model(model, tf.data.Dataset.from_tensor_slices(flat["test"]),
                                           num_samples=4, chunk_size=4, batch_size=5, progress=False)
    from_array, _ = evaluation.evaluate_model(model, flat["test"], num_samples=4, chunk_size=4, batch_size=5,
                                              progress=False)
    assert from_ds["log_likelihood"] == pytest.approx(from_array["log_likelihood"], rel=1e-6)


@pytest.mark.parametrize("bad,message", [
    (lambda x: x * 2, "x must lie in \\[0, 1\\]"),
    (lambda x: np.where(x > 0.5, np.nan, x), "x must be finite"),
    (lambda x: x[:, :7, :7], "x must be shape \\(batch, 8, 8, 1\\), got shape \\[16, 7, 7, 1\\]"),
])
def test_bad_examples_are_refused_with_the_signatures_one_line_errors(bad, message):
    data = splits()
    data["valid"] = bad(data["valid"])
    with pytest.raises(ValueError, match=f"train_and_evaluate \\(valid\\): {message}") as raised:
        sources.resolve(data, where="train_and_evaluate")
    assert "\n" not in str(raised.value)
    ds = tf.data.Dataset.from_tensor_slices(np.zeros((4, 7, 7, 1), np.float32))
    with pytest.raises(ValueError, match="x must be shape \\(batch, 8, 8, 1\\), got batches of shape \\(7, 7, 1\\)"):
        sources.resolve(ds, example_shape=SHAPE, where="evaluate_model")
    with pytest.raises(ValueError, match="has no 'valid' split"):
        sources.resolve({"train": images(8)}).batches("valid", 4)
    with pytest.raises(tf.errors.InvalidArgumentError, match="x must lie in"):  # a Dataset: when read
        list(sources.resolve(tf.data.Dataset.from_tensor_slices(2 * images(4))).batches("test", 2))


def test_npz_file_trains_and_evaluates_through_the_scripts_and_plans_a_reproduction(tmp_path, tiny_data):
    path = str(tmp_path / "mine.npz")
    reproduce.write_npz({k: v.reshape(len(v), -1) for k, v in splits().items()}, path)
    assert sources.resolve(path).example_shape == (64,) and reproduce.template(path) == "mnist"
    planned = reproduce.plan(path, ["vae", "graph"], [0], str(tmp_path / "runs"), epochs=2)
    assert [r.workdir for r in planned] == [str(tmp_path / "runs" / "mine" / f"{s}_seed0") for s in ("vae", "graph")]
    command = reproduce.commands(planned[1], 4)[0]
    assert command[1:4] == ["-m", "tfgvae", "train"] and f"--dataset={path}" in command
    assert "configs/mnist.cfg" in command[4]
    env = dict(os.environ, TFGVAE_CACHE_DIR=str(tmp_path / "cache"), TF_CPP_MIN_LOG_LEVEL="2")
    args = [f"--dataset={path}", f"--workdir={tmp_path / 'run'}", "--num_nodes=2", "--latent_dim=4",
            "--batch_size=8", "--epochs=1", "--steps_per_epoch=2", "--validation_steps=1", "--nojit_compile",
            "--noexport", "--verbose=0"]
    proc = subprocess.run([sys.executable, "-m", "tfgvae", "train", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "bin", "evaluate.py"), f"--workdir={tmp_path / 'run'}",
                           "--num_importance_samples=3", "--chunk_size=3", "--batch_size=8"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "LL" in proc.stdout, proc.stderr[-3000:]
    bad = subprocess.run([sys.executable, "-m", "tfgvae", "train", "--dataset=nope.npz",
                          f"--workdir={tmp_path / 'w'}"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "unknown dataset" in bad.stderr and "Traceback" not in bad.stderr
