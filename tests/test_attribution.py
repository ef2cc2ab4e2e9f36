"""analysis/attribution.py on fabricated evaluation files: the paired differences it records."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "analysis"))
import attribution  # noqa: E402

OFFSETS = {("graph", "map"): 0.3, ("graph", "sampled"): 0.1, ("graph", "relaxed"): -0.2, ("graph", "recal"): 0.5,
           ("fc", "map"): 0.0, ("fc", "recal"): 0.25, ("nc09", "map"): 0.2, ("nctraj", "map"): 0.35}


def _write(tmp_path, seeds=(0, 1, 2)):
    rng = np.random.default_rng(0)
    truth = {}
    for seed in seeds:
        base = rng.normal(-90, 5, size=50)  # per-image levels shared by every run: pairing removes them
        for (run, reading), offset in OFFSETS.items():
            ll = base + offset + 0.1 * seed * (run == "graph") + rng.normal(0, 0.01, size=50)
            np.savez(tmp_path / f"{run}_s{seed}_{reading}.npz", log_likelihood=ll)
            truth[run, reading, seed] = ll
    return truth


def test_records_paired_means_over_images_and_their_spread_over_seeds(tmp_path):
    truth = _write(tmp_path)
    out = tmp_path / "a.json"
    subprocess.run([sys.executable, os.path.join(ROOT, "analysis", "attribution.py"), f"--eval_dir={tmp_path}",
                    "--seeds=0,1,2", "--epochs=10", f"--output={out}"], check=True, capture_output=True)
    record = json.loads(out.read_text())
    assert record["seeds"] == [0, 1, 2] and record["epochs"] == 10
    for name, (g, f) in {"map": ("map", "map"), "sampled": ("sampled", "map"),
                         "map_recalibrated_bn": ("recal", "recal")}.items():
        per_seed = [np.mean(truth["graph", g, s] - truth["fc", f, s]) for s in range(3)]
        got = record["graph_minus_fc"][name]
        np.testing.assert_allclose(got["per_seed"], per_seed, atol=1e-9)
        np.testing.assert_allclose(got["mean"], np.mean(per_seed), atol=1e-9)
        np.testing.assert_allclose(got["stderr"], np.std(per_seed, ddof=1) / np.sqrt(3), atol=1e-9)
    assert record["graph_minus_fc"]["map"]["mean"] == pytest.approx(0.3 + 0.1, abs=0.01)
    assert record["graph_minus_fc"]["relaxed"]["mean"] == pytest.approx(-0.2 + 0.1, abs=0.01)
    assert record["noise_control_minus_fc"]["fixed_0.9"]["mean"] == pytest.approx(0.2, abs=0.01)
    assert record["noise_control_minus_fc"]["graph_trajectory"]["mean"] == pytest.approx(0.35, abs=0.01)
    assert record["noise_control_minus_fc"]["graph_trajectory"]["stderr"] < 0.01  # no seed term: tight


def test_a_missing_or_mismatched_file_is_one_line(tmp_path):
    _write(tmp_path, seeds=(0,))
    with pytest.raises(ValueError, match="missing"):
        attribution.attribution(str(tmp_path), [0, 1], 10)
    np.savez(tmp_path / "fc_s0_map.npz", log_likelihood=np.zeros(7))
    with pytest.raises(ValueError, match="different images"):
        attribution.attribution(str(tmp_path), [0], 10)
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "analysis", "attribution.py"),
                           f"--eval_dir={tmp_path}", "--seeds=0,1", "--epochs=10"], capture_output=True, text=True)
    assert proc.returncode != 0 and proc.stderr.strip().count("\n") == 0 and "attribution.py: error:" in proc.stderr
