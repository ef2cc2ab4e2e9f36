"""analysis/structure_summary.py on fabricated run directories: rows, pairing by seed, figures."""
import json
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "analysis"))
import structure_summary  # noqa: E402
from tfgvae.training.config import TrainConfig  # noqa: E402


def _run(root, name, seed, structure, ll, per_image, means, **config):
    d = root / name
    d.mkdir()
    cfg = TrainConfig.from_dict(dict(structure=structure, seed=seed, lr_decay_epochs=200, **config)).to_dict()
    (d / "config.json").write_text(json.dumps(cfg))
    grads = [{"reconstruction": {"gate_2_1": 0.0, "gate_3_1": 0.01, "gate_3_2": -0.02},
              "kl": {"gate_2_1": 0.1, "gate_3_1": -0.01, "gate_3_2": 0.0}}] * 2
    history = {"epochs": [1, 2], "temperature": [1.0, 0.99], "gate_means": [means, means]}
    if structure == "graph":
        history["gate_gradients"] = grads
    (d / "gate_history.json").write_text(json.dumps(history))
    (d / "test_results.json").write_text(json.dumps({"log_likelihood": ll, "log_likelihood_stderr": 0.3,
                                                     "num_examples": 4, "num_importance_samples": 1000}))
    np.savez(d / "test_per_example.npz", log_likelihood=np.asarray(per_image))
    return name


def test_summary_pairs_by_seed_and_draws_figures(tmp_path):
    means = [[0, 0, 0], [0.9, 0, 0], [0.2, 0.0, 0]]
    fc = [[0, 0, 0], [1, 0, 0], [1, 1, 0]]
    kw = dict(num_nodes=3, latent_dim=6)
    runs = [_run(tmp_path, "g0", 0, "graph", -90.0, [-89, -91, -90, -90], means, gate_parameterization="mean", **kw),
            _run(tmp_path, "g1", 1, "graph", -91.5, [-91, -92, -91, -92], means, **kw),
            _run(tmp_path, "f0", 0, "fc", -90.5, [-90, -91, -91, -90], fc, **kw),
            _run(tmp_path, "f1", 1, "fc", -91.0, [-91, -91, -91, -91], fc, **kw)]
    out = tmp_path / "out" / "s.json"
    structure_summary.main([f"--runs_dir={tmp_path}", f"--runs={','.join(runs)}", "--learned=g0,g1", "--fc=f0,f1",
                            "--pair=one_seed:g1:f1", "--figure=demo:g0,g1", f"--output={out}", f"--figures_dir={tmp_path}"])
    summary = json.loads(out.read_text())
    g0 = summary["runs"][0]
    assert g0["parameterization"] == "mean" and g0["schedule"] == "paper" and g0["epochs"] == 2
    assert g0["final_gate_means"] == {"gate_2_1": 0.9, "gate_3_1": 0.2, "gate_3_2": 0.0} and g0["map_edges"] == 1
    assert summary["runs"][2]["map_edges"] == 3  # FC: every edge
    pair = summary["learned_vs_fc"]
    assert pair["seeds"] == [0, 1] and pair["paired_differences"] == pytest.approx([0.5, -0.5])
    assert pair["mean"] == pytest.approx(0.0) and pair["stderr"] == pytest.approx(np.std([0.5, -0.5], ddof=1) / np.sqrt(2))
    assert summary["comparisons"]["one_seed"]["paired_differences"] == pytest.approx([-0.5])
    assert summary["comparisons"]["one_seed"]["stderr"] is None  # one seed: no spread over seeds
    d0 = np.array([1.0, 0.0, 1.0, 0.0])  # g0 - f0 per image
    assert pair["per_seed_image_stderr"][0] == pytest.approx(d0.std(ddof=1) / 2)
    assert (tmp_path / "mnist_fig3a_demo.png").stat().st_size > 1000
    assert (tmp_path / "mnist_gate_pull_demo.png").stat().st_size > 1000


def test_summary_refuses_unpaired_seeds(tmp_path):
    means = [[0, 0], [0.7, 0]]
    kw = dict(num_nodes=2, latent_dim=4)
    _run(tmp_path, "g", 0, "graph", -90.0, [-90], means, **kw)
    _run(tmp_path, "f", 1, "fc", -90.0, [-90], [[0, 0], [1, 0]], **kw)
    with pytest.raises(ValueError, match="not the same seed"):
        structure_summary.main([f"--runs_dir={tmp_path}", "--learned=g", "--fc=f", f"--output={tmp_path / 's.json'}"])


def test_merge_keeps_runs_whose_folders_are_gone(tmp_path):
    means = [[0, 0], [0.7, 0]]
    kw = dict(num_nodes=2, latent_dim=4)
    out = tmp_path / "s.json"
    _run(tmp_path, "old", 0, "graph", -90.0, [-90], means, **kw)
    _run(tmp_path, "f", 0, "fc", -91.0, [-91], [[0, 0], [1, 0]], **kw)
    structure_summary.main([f"--runs_dir={tmp_path}", "--runs=old,f", "--pair=first:old:f", f"--output={out}"])
    (tmp_path / "old" / "config.json").unlink()  # its folder is gone; a new run and pair come
    _run(tmp_path, "new", 1, "graph", -89.0, [-89], [[0, 0], [0.2, 0]], **kw)
    _run(tmp_path, "f1", 1, "fc", -89.5, [-89.5], [[0, 0], [1, 0]], **kw)
    structure_summary.main([f"--runs_dir={tmp_path}", "--runs=new,f", "--pair=second:new:f1", "--merge",
                            f"--output={out}"])
    summary = json.loads(out.read_text())
    assert [r["name"] for r in summary["runs"]] == ["old", "new", "f"]
    assert summary["runs"][1]["map_edges"] == 0 and summary["runs"][0]["map_edges"] == 1
    assert summary["comparisons"]["first"]["paired_differences"] == pytest.approx([1.0])
    assert summary["comparisons"]["second"]["paired_differences"] == pytest.approx([0.5])


def test_extend_adds_seeds_to_a_comparison_whose_runs_are_gone(tmp_path):
    means = [[0, 0], [0.7, 0]]
    kw = dict(num_nodes=2, latent_dim=4)
    out = tmp_path / "s.json"
    _run(tmp_path, "g0", 0, "graph", -90.0, [-90, -91], means, **kw)
    _run(tmp_path, "f0", 0, "fc", -91.0, [-91, -91], [[0, 0], [1, 0]], **kw)
    _run(tmp_path, "g1", 1, "graph", -92.0, [-92, -93], means, **kw)
    _run(tmp_path, "f1", 1, "fc", -91.5, [-91, -92], [[0, 0], [1, 0]], **kw)
    structure_summary.main([f"--runs_dir={tmp_path}", "--pair=long:g0:f0", f"--output={out}"])
    (tmp_path / "g0" / "config.json").unlink()
    argv = [f"--runs_dir={tmp_path}", "--extend=long:g1:f1", "--merge", f"--output={out}"]
    structure_summary.main(argv)
    long = json.loads(out.read_text())["comparisons"]["long"]
    assert long["seeds"] == [0, 1] and long["learned"] == ["g0", "g1"] and long["fc"] == ["f0", "f1"]
    assert long["paired_differences"] == pytest.approx([1.0, -0.5])
    assert long["mean"] == pytest.approx(0.25) and long["stderr"] == pytest.approx(0.75)  # |1 - (-0.5)| / 2
    assert long["per_seed_image_stderr"] == pytest.approx([np.std([1, 0], ddof=1) / np.sqrt(2), 0.0])  # g1 - f1 = -1, -1
    with pytest.raises(ValueError, match="already in the comparison"):
        structure_summary.main(argv)
    with pytest.raises(ValueError, match="has no comparison"):
        structure_summary.main([f"--runs_dir={tmp_path}", "--extend=other:g1:f1", f"--output={out}"])


def test_committed_summary_has_the_schema_and_consistent_statistics():
    """docs/results/mnist_structure.json: the fields the structure issue asks for, and each comparison's
    mean/stderr recomputed with numpy from its paired differences; MAP edges recounted from gate means."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "docs", "results", "mnist_structure.json")
    with open(path) as f:
        summary = json.load(f)
    required = {"parameterization", "per_example_gates", "kl_warmup_fraction", "epochs", "seed", "schedule",
                "final_gate_means", "map_edges", "test_log_likelihood"}
    names = [r["name"] for r in summary["runs"]]
    assert len(names) == len(set(names))
    for run in summary["runs"]:
        assert required <= set(run), run["name"]
        assert run["schedule"] in ("paper", "compressed")
        if run["structure"] == "graph":
            assert all(k.startswith("gate_") for k in run["final_gate_means"])
            assert run["map_edges"] == sum(v > 0.5 for v in run["final_gate_means"].values()), run["name"]
    for name, pair in [("learned_vs_fc", summary["learned_vs_fc"])] + list(summary["comparisons"].items()):
        d = np.asarray(pair["paired_differences"], dtype=np.float64)
        assert len(d) == len(pair["seeds"]) == len(pair["learned"]) == len(pair["fc"]), name
        assert pair["mean"] == pytest.approx(d.mean(), abs=1e-9), name
        if len(d) > 1:
            assert pair["stderr"] == pytest.approx(d.std(ddof=1) / np.sqrt(len(d)), abs=1e-9), name
        by_name = {r["name"]: r for r in summary["runs"]}
        for a, b, diff in zip(pair["learned"], pair["fc"], d):  # same seed; mean difference ~ LL difference
            if a in by_name and b in by_name:
                assert by_name[a]["seed"] == by_name[b]["seed"], name
                la, lb = by_name[a]["test_log_likelihood"], by_name[b]["test_log_likelihood"]
                if la is not None and lb is not None:
                    assert diff == pytest.approx(la - lb, abs=1e-6), name
