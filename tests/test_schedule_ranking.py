"""analysis/schedule_ranking.py on fabricated run directories: orders, seed means, Kendall's tau (scipy)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "analysis"))
import schedule_ranking  # noqa: E402

STRUCTURES = ("vae", "ladder", "fc", "graph")


def _run(root, structure, seed, final, history=None):
    d = root / f"{structure}_seed{seed}"
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"structure": structure, "seed": seed}))
    (d / "test_results.json").write_text(json.dumps({"log_likelihood": final}))
    if history:
        (d / "test_ll_history.json").write_text(json.dumps(
            {"epochs": sorted(history), "log_likelihood": [history[e] for e in sorted(history)]}))


def test_orders_and_tau_against_scipy(tmp_path, capsys):
    rng = np.random.default_rng(1)
    long = {s: dict(zip(STRUCTURES, rng.normal(-100, 2, 4))) for s in (0, 1)}
    early = {s: dict(zip(STRUCTURES, rng.normal(-110, 2, 4))) for s in (0, 1)}
    short = {s: dict(zip(STRUCTURES, rng.normal(-105, 2, 4))) for s in (0, 1)}
    for s in (0, 1):
        for k in STRUCTURES:
            _run(tmp_path / "long", k, s, long[s][k], history={10: early[s][k], 40: long[s][k]})
            _run(tmp_path / "short", k, s, short[s][k])
    _, at10 = schedule_ranking.load_group(f"t10={tmp_path}/long/*@10")
    _, ref = schedule_ranking.load_group(f"t40={tmp_path}/long/*")
    assert at10 == early and ref == long
    for s in (0, 1):  # tau-b equals tau-a without ties (continuous draws)
        expected = stats.kendalltau([early[s][k] for k in STRUCTURES], [long[s][k] for k in STRUCTURES])[0]
        assert schedule_ranking.kendall_tau(early[s], long[s]) == pytest.approx(expected)
    means = {k: (long[0][k] + long[1][k]) / 2 for k in STRUCTURES}
    assert schedule_ranking.seed_means(ref) == pytest.approx(means)
    assert schedule_ranking.order(means) == sorted(STRUCTURES, key=lambda k: means[k], reverse=True)
    schedule_ranking.main([f"--group=t40={tmp_path}/long/*", f"--group=c10={tmp_path}/short/*",
                           "--reference=t40"])
    out = capsys.readouterr().out
    short_means = {k: (short[0][k] + short[1][k]) / 2 for k in STRUCTURES}
    tau = stats.kendalltau([short_means[k] for k in STRUCTURES], [means[k] for k in STRUCTURES])[0]
    mean_row = [line for line in out.splitlines() if line.startswith("| c10 | mean |")][0]
    assert mean_row.endswith(f"| {tau:+.2f} |")
    assert " > ".join(sorted(STRUCTURES, key=lambda k: -short_means[k])) in mean_row


def test_a_tie_is_neither_concordant_nor_discordant():
    # pairs (x, y): tie in a -> 0; (x, z): +1; (y, z): +1 -> tau-a = 2/3
    assert schedule_ranking.kendall_tau({"x": 1.0, "y": 1.0, "z": 0.0}, {"x": 2.0, "y": 1.0, "z": 0.0}) == \
        pytest.approx(2 / 3)
    assert schedule_ranking.kendall_tau({"x": 1.0, "y": 0.0}, {"x": 0.0, "y": 1.0}) == -1.0


def test_bad_input_is_one_line_and_nonzero(tmp_path):
    _run(tmp_path / "r", "fc", 0, -100.0, history={5: -110.0})
    script = os.path.join(ROOT, "analysis", "schedule_ranking.py")
    for args, message in [([f"--group=a={tmp_path}/r/*@10", "--reference=a"], "no test LL at epoch 10"),
                          ([f"--group=a={tmp_path}/none/*", "--reference=a"], "no run directory matches"),
                          ([f"--group=a={tmp_path}/r/*", "--reference=b"], "is none of the groups"),
                          (["--group=nonsense", "--reference=a"], "write NAME=GLOB[@EPOCH]")]:
        proc = subprocess.run([sys.executable, script] + args, capture_output=True, text=True)
        assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert message in proc.stderr
