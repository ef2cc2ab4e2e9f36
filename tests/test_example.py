"""examples/conv_mnist.py runs end to end in a few steps: fit, test LL, sample grid, export, reload."""
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_conv_mnist_example_runs_in_a_few_steps(tmp_path, tiny_data):
    env = dict(os.environ, PYTHONPATH=ROOT, TFGVAE_CACHE_DIR=str(tmp_path / "cache"), TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "conv_mnist.py"), f"--data_dir={tiny_data}",
                           "--steps=2", "--epochs=2", "--test_examples=8"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [l for l in proc.stdout.splitlines() if l.startswith("test log-likelihood")][0]
    assert np.isfinite(float(line.split()[2])) and "(k = 100, 8 images)" in line
    assert "same log-likelihood: True" in proc.stdout
    # Everything goes to the default folder, below runs/, which git ignores in a checkout.
    assert sorted(os.listdir(tmp_path)) == ["cache", "runs"]
    out = tmp_path / "runs" / "examples" / "conv_mnist"
    assert sorted(os.listdir(out)) == ["samples.png", "saved_model"]
    from matplotlib.image import imread
    assert imread(str(out / "samples.png")).shape[:2] == (224, 224)
    assert (out / "saved_model" / "saved_model.pb").exists()
    if os.path.exists(os.path.join(ROOT, ".git")):
        ignored = ["git", "check-ignore", "-q", "runs/examples/conv_mnist/saved_model/saved_model.pb"]
        assert subprocess.run(ignored, cwd=ROOT).returncode == 0
    with open(os.path.join(ROOT, "examples", "conv_mnist.py")) as f:
        assert len(f.read().splitlines()) <= 45
