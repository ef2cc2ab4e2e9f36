"""bin/sample.py (``tfgvae sample``): PNG grids from a SavedModel, in a process that imports none of
tfgvae's model code."""
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import keras

from tfgvae.serving import export
from tfgvae.core.model import GraphVAE, ModelConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "bin", "sample.py")
IMAGE = (2, 3, 3)  # colour images of 18 values, Gaussian likelihood (the CIFAR-10 path)
PAD, PAD_VALUE = 2, 128  # the grid layout docs/serving.md promises
# The tfgvae modules the program may import: the command, its helpers and the program itself.
LIGHT = {"tfgvae", "tfgvae.cli", "tfgvae.flagfiles", "tfgvae.atomic", "tfgvae.serving", "tfgvae.serving.sample"}
# Runs the script, then checks which tfgvae modules it imported.
RUNNER = """
import runpy, sys
sys.argv = [{script!r}] + sys.argv[1:]
try:
    runpy.run_path({script!r}, run_name="__main__")
except SystemExit as e:
    code = e.code
else:
    code = 0
loaded = sorted(m for m in sys.modules if m.startswith("tfgvae"))
assert set(loaded) <= {light!r}, loaded
sys.exit(code)
"""


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    keras.utils.set_random_seed(0)
    model = GraphVAE(ModelConfig(input_dim=math.prod(IMAGE), num_nodes=2, node_dim=2,
                                 likelihood="gaussian"), seed=0)
    return export.export_saved_model(model, str(tmp_path_factory.mktemp("sm") / "model"), IMAGE)


def run_sample(args, cwd):
    """The script in a fresh process, with no TF_CPP_MIN_LOG_LEVEL of ours: it must quiet itself."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run([sys.executable, "-c", RUNNER.format(script=SCRIPT, light=LIGHT), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600, env=dict(env, PYTHONPATH=""))


def start_up_noise(stderr):
    """The lines of ``stderr`` that are TensorFlow's start-up logging on a machine without a GPU."""
    words = ("cuda", "onednn", "cuinit", "absl::initializelog", "cpu_feature_guard")
    return [line for line in stderr.splitlines() if any(word in line.lower() for word in words)]


def tiles(png, count, cols):
    """The ``count`` tiles of a grid, read back from the PNG at the documented positions."""
    grid = tf.io.decode_png(tf.io.read_file(str(png))).numpy()
    h, w, c = IMAGE
    rows = -(-count // cols)
    assert grid.shape == (PAD + rows * (h + PAD), PAD + cols * (w + PAD), c)
    out, mask = [], np.ones(grid.shape[:2], bool)
    for k in range(count):
        top, left = PAD + (k // cols) * (h + PAD), PAD + (k % cols) * (w + PAD)
        out.append(grid[top:top + h, left:left + w])
        mask[top:top + h, left:left + w] = False
    assert np.all(grid[mask] == PAD_VALUE)
    return np.stack(out)


def to_uint8(values):
    return np.round(np.clip(values, 0, 1) * 255).astype(np.uint8).reshape((-1,) + IMAGE)


def test_samples_and_reconstructions_without_the_model_code(saved_model, tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (3,) + IMAGE, dtype=np.uint8)
    np.save(tmp_path / "test.npy", images)
    proc = run_sample([f"--saved_model={saved_model}", "--num=5", "--seed=4", "--out=s.png",
                       "--images=test.npy"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert start_up_noise(proc.stderr) == [], proc.stderr[-3000:]
    assert proc.stdout.splitlines() == ["Wrote 5 means to s.png",
                                        "Wrote 3 reconstructions to s_reconstructions.png"]
    loaded = tf.saved_model.load(saved_model)
    means = loaded.sample(5, 4)["means"].numpy()
    np.testing.assert_array_equal(tiles(tmp_path / "s.png", 5, 3), to_uint8(means))
    # Reconstructions: 2 per row; rows of originals, each followed by its reconstructions.
    recon = loaded.reconstruct(tf.constant(images.reshape(3, -1) / np.float32(255)), 4)["means"]
    got = tiles(tmp_path / "s_reconstructions.png", 8, 2)
    np.testing.assert_array_equal(got[[0, 1, 4]], images)
    np.testing.assert_array_equal(got[[2, 3, 6]], to_uint8(recon.numpy()))
    assert np.all(got[[5, 7]] == PAD_VALUE)  # the blanks that complete the last pair of rows
    assert sorted(os.listdir(tmp_path)) == ["s.png", "s_reconstructions.png", "test.npy"]


@pytest.mark.parametrize("args,message", [
    (["--num=0"], "--num must be >= 1, got 0"),
    pytest.param(["--images=bad.npy"], "--images bad.npy has shape (2, 5): need (n, 18)",
                 marks=pytest.mark.slow),
], ids=["num", "images"])
def test_bad_input_fails_with_one_line(saved_model, tmp_path, args, message):
    np.save(tmp_path / "bad.npy", np.zeros((2, 5), np.float32))
    proc = run_sample([f"--saved_model={saved_model}", *args], tmp_path)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("sample.py: error:") and message in last, proc.stderr[-2000:]
    assert sorted(os.listdir(tmp_path)) == ["bad.npy"]


@pytest.mark.slow
def test_a_folder_that_is_not_a_savedmodel_fails_with_one_line(tmp_path):
    proc = run_sample([f"--saved_model={tmp_path}"], tmp_path)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        f"sample.py: error: {tmp_path} is not a SavedModel (no saved_model.pb)")


@pytest.mark.parametrize("arg", ["--help", "-h"])
def test_help_prints_the_usage_once_and_exits_0(tmp_path, arg):
    proc = run_sample([arg], tmp_path)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr[-2000:]
    assert proc.stdout.count("Samples (and reconstructions) of an exported model") == 1
    assert proc.stdout.count("--saved_model:") == 1 and "--num: Number of samples." in proc.stdout
    assert os.listdir(tmp_path) == []

