"""The learned structure as files: gate means and MAP adjacency (JSON, DOT, a drawing of the DAG
as in Fig. 3b) and the gate means over training (Fig. 3a) from ``gate_history.json``.

Gate matrices are indexed [j][i] = parent j -> child i, 0-based; names and drawings use the
paper's 1-based z_1..z_N with z_N the root. Every file is written to a temporary path and
renamed into place.
"""
import json
import os

import numpy as np

from tfgvae import atomic

FILES = ("structure.json", "structure.dot", "structure.png", "gate_history.png")


def structure_summary(model):
    """Dict with the structure name, gate means ``mu[j][i]``, MAP adjacency ``c[j][i]`` and an edge list."""
    means = np.asarray(model.gates.means(), np.float64)
    adjacency = np.asarray(model.gates.map()[0], np.int64)
    n = model.config.num_nodes
    edges = [{"parent": j + 1, "child": i + 1, "name": f"gate_{j + 1}_{i + 1}",
              "mean": round(float(means[j, i]), 6), "map": int(adjacency[j, i])}
             for j in range(n) for i in range(j)]
    return {"structure": model.config.structure, "num_nodes": n, "node_dim": model.config.node_dim,
            "learned": bool(model.gates.learned), "gate_means": means.round(6).tolist(),
            "map_adjacency": adjacency.tolist(), "edges": edges}


def gate_label(mean):
    """A gate mean with as many decimals (2 to 6) as it takes to show which side of 0.5 it is on,
    so an edge just on (solid) and one just off (dashed) never carry the same label."""
    for decimals in range(2, 7):
        text = f"{mean:.{decimals}f}"
        if mean == 0.5 or (float(text) > 0.5) == (mean > 0.5) and float(text) != 0.5:
            return text
    return text


def initial_gate_means(model):
    """The gate means before training: ``config.gate_init`` on every possible edge of a learned
    structure (its logits start at logit(gate_init)), the fixed means otherwise."""
    if model.gates.learned:
        return (model.config.gate_init * np.asarray(model.gates.mask, np.float64)).tolist()
    return np.asarray(model.gates.means(), np.float64).tolist()


def structure_dot(summary):
    """Graphviz DOT of the DAG: MAP edges solid, the others dashed grey, each labelled by its mean."""
    lines = ["digraph structure {", "  rankdir=TB;", "  node [shape=circle];"]
    lines += [f'  z{k} [label="z{k}"];' for k in range(summary["num_nodes"], 0, -1)]
    for e in summary["edges"]:
        style = "solid" if e["map"] else "dashed, color=gray"
        lines.append(f'  z{e["parent"]} -> z{e["child"]} [label="{gate_label(e["mean"])}", style={style}];')
    return "\n".join(lines + ["}"]) + "\n"


def edge_colors(num_edges):
    """One colour per edge, shared by the DAG drawing and the gate-history plot (Fig. 3)."""
    from matplotlib import colormaps
    cmap = colormaps["tab10" if num_edges <= 10 else "tab20"]
    return [cmap(k % cmap.N) for k in range(num_edges)]


def _save(fig, path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    FigureCanvasAgg(fig)
    atomic.save_figure(fig, path, dpi=120, bbox_inches="tight")


def draw_structure(summary, path=None, show_off=None):
    """The DAG (Fig. 3b), saved as PNG to ``path`` if given: nodes on a circle, z_N at the top;
    MAP edges solid and labelled with their gate mean, the others dashed and faint
    (``show_off``: default up to 10 nodes). Returns the figure."""
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch
    n, edges = summary["num_nodes"], summary["edges"]
    show_off = n <= 10 if show_off is None else show_off
    angles = np.pi / 2 - 2 * np.pi * (n - np.arange(1, n + 1)) / n  # z_N on top, then clockwise
    pos = {k: (np.cos(a), np.sin(a)) if n > 1 else (0.0, 0.0) for k, a in zip(range(1, n + 1), angles)}
    fig = Figure(figsize=(4.5, 4.5))
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_aspect("equal")
    ax.set_title(f"{summary['structure']}: MAP structure, edge labels = gate means\n"
                 "solid: on (mean > 0.5), dashed: off", fontsize=9)
    for e, color in zip(edges, edge_colors(len(edges))):
        if not e["map"] and not show_off:
            continue
        (x0, y0), (x1, y1) = pos[e["parent"]], pos[e["child"]]
        ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=14,
                                     shrinkA=13, shrinkB=13, color=color,
                                     linestyle="-" if e["map"] else "--",
                                     alpha=1.0 if e["map"] else 0.3, linewidth=2.0 if e["map"] else 1.0))
        t = 0.35  # label nearer the child end, so labels of edges sharing a parent do not collide
        ax.text(x1 + t * (x0 - x1), y1 + t * (y0 - y1), gate_label(e["mean"]), color=color, fontsize=8,
                ha="center", va="center", alpha=1.0 if e["map"] else 0.5,
                bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none"})
    for k, (x, y) in pos.items():
        ax.text(x, y, f"$z_{{{k}}}$", ha="center", va="center", fontsize=12,
                bbox={"boxstyle": "circle", "facecolor": "white", "edgecolor": "black"})
    ax.set_xlim(-1.3, 1.3)
    ax.set_ylim(-1.3, 1.3)
    if path:
        _save(fig, path)
    return fig


def plot_gate_history(history, path, initial=None):
    """PNG of every gate mean over training (Fig. 3a) from GateHistory's record (epochs from 1),
    starting from ``initial`` (N x N gate means before training) at epoch 0; returns the figure."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator
    means = np.asarray(history["gate_means"], np.float64)  # (epochs, N, N)
    epochs = np.asarray(history["epochs"])
    if initial is not None and (not len(epochs) or epochs[0] > 0):
        means = np.concatenate([np.asarray(initial, np.float64)[None], means])
        epochs = np.concatenate([[0], epochs])
    n = means.shape[1]
    pairs = [(j, i) for j in range(n) for i in range(j)]
    fig = Figure(figsize=(6.0, 3.6))
    ax = fig.add_subplot()
    ax.axhline(0.5, color="gray", linestyle=":", linewidth=1.0)  # the MAP threshold
    marker = "o" if len(epochs) <= 60 else None
    for (j, i), color in zip(pairs, edge_colors(len(pairs))):
        ax.plot(epochs, means[:, j, i], color=color, marker=marker, markersize=3,
                label=f"$c_{{{j + 1},{i + 1}}}$")
    ax.set_xlim(min(epochs), max(max(epochs), 1))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch (0: before training; dotted: 0.5, above it the edge is on)")
    ax.set_ylabel("gate mean $\\mu$")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("Gate means during training")
    if 0 < len(pairs) <= 20:  # a one-node VAE has no edges to label
        ax.legend(fontsize=7, ncol=2, loc="center left", bbox_to_anchor=(1.01, 0.5))
    _save(fig, path)
    return fig


def write_structure_artifacts(model, workdir):
    """Write structure.json, structure.dot, structure.png and, when ``workdir/gate_history.json``
    holds at least one epoch, gate_history.png into ``workdir``; return the paths written."""
    os.makedirs(workdir, exist_ok=True)
    summary = structure_summary(model)
    paths = [os.path.join(workdir, name) for name in FILES]
    atomic.write_json(paths[0], summary)
    atomic.write_text(paths[1], structure_dot(summary))
    draw_structure(summary, paths[2])
    history_path = os.path.join(workdir, "gate_history.json")
    if not os.path.exists(history_path):
        return paths[:3]
    with open(history_path) as f:
        history = json.load(f)
    if not history.get("epochs"):
        return paths[:3]
    plot_gate_history(history, paths[3], initial_gate_means(model))
    return paths
