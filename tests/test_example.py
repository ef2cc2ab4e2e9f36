"""examples/conv_mnist.py runs end to end in a few steps: fit, test LL, sample grid, export, reload."""
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_conv_mnist_example_runs_in_a_few_steps(tmp_path, tiny_data):
    env = dict(os.environ, PYTHONPATH=ROOT, TFGVAE_CACHE_DIR=str(tmp_path / "cache"), TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "conv_mnist.py"), f"--data_dir={tiny_data}",
                           "--steps=2", "--epochs=2", "--test_examples=8", f"--out={tmp_path / 'out'}"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [l for l in proc.stdout.splitlines() if l.startswith("test log-likelihood")][0]
    assert np.isfinite(float(line.split()[2])) and "(k = 100, 8 images)" in line
    assert "same log-likelihood: True" in proc.stdout
    from matplotlib.image import imread
    assert imread(str(tmp_path / "out" / "samples.png")).shape[:2] == (224, 224)
    assert (tmp_path / "out" / "saved_model" / "saved_model.pb").exists()
    with open(os.path.join(ROOT, "examples", "conv_mnist.py")) as f:
        assert len(f.read().splitlines()) <= 45
