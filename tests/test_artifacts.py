"""Figures of the learned structure read right after one epoch (issue 16, item 10)."""
import numpy as np

from tfgvae.training import artifacts


def test_gate_label_shows_which_side_of_one_half_a_mean_is_on():
    assert artifacts.gate_label(0.73) == "0.73" and artifacts.gate_label(0.5) == "0.50"
    assert artifacts.gate_label(0.5012) == "0.501" and artifacts.gate_label(0.4998) == "0.4998"
    assert artifacts.gate_label(0.499996) == "0.499996"


def _summary(means):
    edges = [{"parent": 2, "child": 1, "mean": means[0], "map": int(means[0] > 0.5)},
             {"parent": 3, "child": 1, "mean": means[1], "map": int(means[1] > 0.5)},
             {"parent": 3, "child": 2, "mean": means[2], "map": int(means[2] > 0.5)}]
    return {"structure": "graph", "num_nodes": 3, "edges": edges}


def test_early_structure_tells_on_from_off_edges(tmp_path):
    """After one epoch every mean is near 0.5: an on and an off edge must not both read 0.50."""
    summary = _summary([0.5012, 0.4998, 0.5003])
    fig = artifacts.draw_structure(summary, str(tmp_path / "s.png"))
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"0.501", "0.4998", "0.5003"} <= texts and "0.50" not in texts
    dot = artifacts.structure_dot(summary)
    assert 'label="0.4998", style=dashed' in dot and 'label="0.501", style=solid' in dot


def test_gate_history_after_one_epoch_has_epoch_0_markers_and_the_threshold(tmp_path):
    mask = np.tril(np.ones((3, 3)), -1)
    history = {"epochs": [1], "temperature": [1.0], "gate_means": [(0.52 * mask).tolist()]}
    fig = artifacts.plot_gate_history(history, str(tmp_path / "g.png"), (0.5 * mask).tolist())
    ax = fig.axes[0]
    gates = [line for line in ax.lines if line.get_label().startswith("$c")]
    assert len(gates) == 3
    for line in gates:
        assert list(line.get_xdata()) == [0, 1] and list(line.get_ydata()) == [0.5, 0.52]
        assert line.get_marker() not in (None, "None", "")
    assert any(list(line.get_ydata()) == [0.5, 0.5] and line.get_linestyle() == ":"
               for line in ax.lines)  # the 0.5 line
    assert ax.get_xlim() == (0.0, 1.0)
    assert set(ax.get_xticks()) >= {0.0, 1.0} and all(t == int(t) for t in ax.get_xticks())


def test_epoch_0_of_the_gate_history_is_the_configured_gate_init(tmp_path):
    """--gate_init=0.3: the plot starts where the untrained gates are (sigmoid of their initial
    logits), not at 0.5, also after training has moved the gates."""
    import json
    from types import SimpleNamespace
    from tfgvae.experiments import figures
    from tfgvae.core.model import GraphVAE, ModelConfig

    config = ModelConfig(input_dim=8, num_nodes=3, node_dim=2, gate_init=0.3, gate_lr_multiplier=4.0)
    fresh = np.asarray(GraphVAE(config).gates.means())
    model = GraphVAE(config)
    model.gates.logits.assign(np.full((3, 3), 0.7, np.float32))  # "trained"
    mask = np.tril(np.ones((3, 3)), -1)
    np.testing.assert_allclose(artifacts.initial_gate_means(model), fresh, rtol=1e-6)
    np.testing.assert_allclose(artifacts.initial_gate_means(model), 0.3 * mask, rtol=1e-6)
    (tmp_path / "gate_history.json").write_text(json.dumps(
        {"epochs": [1], "temperature": [1.0], "gate_means": [(0.6 * mask).tolist()]}))
    artifacts.write_structure_artifacts(model, str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"gate_init": 0.2}))
    assert figures.initial_gate_mean(SimpleNamespace(workdir=str(tmp_path))) == 0.2
    assert figures.initial_gate_mean(SimpleNamespace(workdir=str(tmp_path / "none"))) == 0.5
