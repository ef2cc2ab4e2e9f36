"""analysis/paired_table.py on fabricated run directories: per-seed paired differences and their spread."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "analysis"))
import paired_table  # noqa: E402


def _run(root, structure, seed, per_image):
    d = root / f"{structure}_seed{seed}"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"structure": structure, "seed": seed}))
    ll = np.asarray(per_image, dtype=np.float64)
    (d / "test_results.json").write_text(json.dumps({
        "log_likelihood": float(ll.mean()), "log_likelihood_stderr": 0.5, "kl": 20.0, "kl_per_node": [10.0, 10.0],
        "num_examples": len(ll), "num_importance_samples": 100}))
    np.savez(d / "test_per_example.npz", log_likelihood=ll)
    return str(d)


def test_pairs_by_seed_on_the_same_images(tmp_path, capsys):
    rng = np.random.default_rng(0)
    fc = {s: rng.normal(-100, 5, size=50) for s in (0, 1, 2)}
    shift = {0: 1.0, 1: -0.5, 2: 2.0}
    noise = {s: rng.normal(0, 0.3, size=50) for s in (0, 1, 2)}
    dirs = [_run(tmp_path, "fc", s, fc[s]) for s in (0, 1, 2)]
    dirs += [_run(tmp_path, "graph", s, fc[s] + shift[s] + noise[s]) for s in (0, 1, 2)]
    runs = {}
    for d in dirs:
        label, seed, results, ll = paired_table.load(d)
        runs[(label, seed)] = (d, results, ll)
    rows = paired_table.paired(runs, "graph", "fc")
    for seed, mean, se in rows:  # independent numpy: the difference is shift + noise
        d = shift[seed] + noise[seed]
        assert mean == pytest.approx(d.mean()) and se == pytest.approx(np.std(d, ddof=1) / np.sqrt(50))
    per_seed = np.array([shift[s] + noise[s].mean() for s in (0, 1, 2)])
    mean, se = paired_table.over_seeds(rows)
    assert mean == pytest.approx(per_seed.mean()) and se == pytest.approx(per_seed.std(ddof=1) / np.sqrt(3))
    paired_table.main(dirs + ["--pairs=graph-fc"])
    out = capsys.readouterr().out
    assert f"{per_seed.mean():+.2f} ± {per_seed.std(ddof=1) / np.sqrt(3):.2f}" in out
    assert out.count("| graph |") == 3 and out.count("| fc |") == 3


def test_bad_input_is_one_line_and_nonzero(tmp_path):
    a = _run(tmp_path, "fc", 0, [-100.0, -101.0])
    b = _run(tmp_path, "vae", 0, [-100.0, -101.0, -99.0])  # other images
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "analysis", "paired_table.py"), a, b, "--pairs=fc-vae"],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and proc.stderr.strip().splitlines() == [
        "paired_table.py: error: fc/vae seed 0: per-image files missing or not on the same images"]
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "analysis", "paired_table.py"), str(tmp_path / "nope")],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "no config.json" in proc.stderr
