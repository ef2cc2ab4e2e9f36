"""The paper's figures from finished runs: Fig. 3 (gate means over training and the learned
DAG), Fig. 5 (test log-likelihood of every structure over training, mean and spread over
seeds) and Fig. 6 (t-SNE of the data and of the posterior means of Graph VAE and VAE).

Each function takes ``tfgvae.experiments.reproduce.Run`` objects and writes one PNG atomically.
"""
import json
import os

import numpy as np

from tfgvae import data
from tfgvae.experiments import curves, evaluation
from tfgvae.training import artifacts, runs
from tfgvae.training.config import TrainConfig

STRUCTURE_COLORS = {"vae": "tab:gray", "ladder": "tab:blue", "fc": "tab:orange", "graph": "tab:red"}


def _load(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def gate_curves(history, initial_mean=0.5):
    """(epochs, {(j, i): means}) from a ``gate_history.json``, with epoch 0 at ``initial_mean``."""
    epochs = [0] + list(history["epochs"])
    n = len(history["gate_means"][0])
    curves = {(j, i): [initial_mean] + [m[j][i] for m in history["gate_means"]]
              for j in range(n) for i in range(j)}
    return epochs, curves


def initial_gate_mean(run):
    """The gate mean a run started from: ``gate_init`` of its config.json (0.5 without one)."""
    if not os.path.exists(os.path.join(run.workdir, "config.json")):
        return 0.5
    return float(TrainConfig.load(run.workdir).model.gate_init)


def figure3(graph_runs, path):
    """Fig. 3: (a) every gate mean over training for each Graph VAE seed (epoch 0: its
    ``gate_init``), with the 0.5 line; (b) the MAP structure of the first seed, as the learned DAG."""
    from matplotlib.figure import Figure
    histories = [(r, _load(os.path.join(r.workdir, "gate_history.json"))) for r in graph_runs]
    histories = [(r, h) for r, h in histories if h and h["epochs"]]
    if not histories:
        return None
    fig = Figure(figsize=(11, 4.2))
    ax = fig.add_subplot(1, 2, 1)
    first_epochs, first = gate_curves(histories[0][1], initial_gate_mean(histories[0][0]))
    colors = artifacts.edge_colors(len(first))
    for k, (run, history) in enumerate(histories):
        epochs, edges = gate_curves(history, initial_gate_mean(run))
        for color, ((j, i), values) in zip(colors, edges.items()):
            ax.plot(epochs, values, color=color, alpha=1.0 if k == 0 else 0.35,
                    marker="." if k == 0 and len(epochs) <= 100 else None,
                    label=f"c {j + 1}→{i + 1}" if k == 0 else None, lw=1.5 if k == 0 else 1.0)
    ax.axhline(0.5, color="black", ls="--", lw=0.8)
    ax.set(xlabel="epoch", ylabel="gate mean μ", ylim=(-0.03, 1.03),
           title=f"(a) gate means, seed {histories[0][0].seed} bold, others faint")
    ax.legend(fontsize=7, ncol=2, loc="center right")
    last = np.asarray(histories[0][1]["gate_means"][-1])
    n = len(last)
    edges = [{"parent": j + 1, "child": i + 1, "mean": float(last[j, i]), "map": int(last[j, i] > 0.5)}
             for j in range(n) for i in range(j)]
    tmp = f"{path}.dag-{os.getpid()}.png"
    artifacts.draw_structure({"structure": "graph", "num_nodes": n, "edges": edges}, tmp)
    from matplotlib.image import imread
    ax2 = fig.add_subplot(1, 2, 2)
    ax2.imshow(imread(tmp))
    ax2.set_axis_off()
    ax2.set_title(f"(b) learned structure, seed {histories[0][0].seed} (solid: μ > 0.5)")
    os.remove(tmp)
    artifacts._save(fig, path)
    return path


def figure5(runs, path, unit="nats", every=None):
    """Fig. 5: periodic test log-likelihood (fixed test subset) of every structure, mean ± std
    over the seeds at each evaluated epoch (``every``: only its multiples, as the paper's 300)."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(6.5, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    subset = None
    for structure, color in STRUCTURE_COLORS.items():
        hist = [_load(os.path.join(r.workdir, "test_ll_history.json")) for r in runs if r.structure == structure]
        hist = [h for h in hist if h and h["epochs"]]
        points = curves.figure5_points([dict(zip(h["epochs"], h["log_likelihood"])) for h in hist], every)
        if not points["epochs"]:
            continue
        seeds = sorted(set(points["num_seeds"]))
        ax.errorbar(points["epochs"], points["mean"], yerr=[s or 0.0 for s in points["std"]], color=color,
                    marker="o", ms=3, capsize=3,
                    label=f"{structure} ({'-'.join(map(str, seeds))} seed{'' if seeds == [1] else 's'})")
        subset = (hist[0]["num_examples"], hist[0]["num_importance_samples"])
    if subset is None:
        return None
    ax.set(xlabel="epoch", ylabel=f"test log-likelihood ({unit})",
           title=f"test LL over training ({subset[0]} test images, k={subset[1]})")
    lows = [line.get_ydata().min() for line in ax.get_lines() if len(line.get_ydata())]
    highs = [line.get_ydata().max() for line in ax.get_lines() if len(line.get_ydata())]
    if lows:
        ax.set_ylim(*curves.focus_range(lows, highs))
    ax.grid(alpha=0.3)
    ax.legend()
    artifacts._save(fig, path)
    return path


def posterior_means(workdir, batches, num_samples=10, batch_size=100):
    """E_q[z | x] (n, M) of a run's model under its MAP structure (importance-sample means)."""
    model, _, _ = runs.load_run(workdir)
    fn = evaluation.model_batch_fn(model, num_samples, num_samples)
    out = evaluation.run_batches(fn, batches, batch_size, progress=False)
    return out["posterior_mean"].reshape(len(out["posterior_mean"]), -1)


def figure6(graph_run, vae_run, path, data_dir=None, examples=2000, seed=0):
    """Fig. 6: t-SNE of (a) Graph VAE posterior means, (b) VAE posterior means, (c) the data,
    on the first ``examples`` test images, coloured by class. Needs labelled data."""
    from matplotlib.figure import Figure
    from sklearn.manifold import TSNE
    _, labels = data.load_pixels(graph_run.dataset, "test", data_dir)
    labels = np.asarray(labels[:examples])
    if labels.min() < 0 or labels.max() > 9:
        return None  # no labels (binarized MNIST) or too many classes to colour (Omniglot)
    # The evaluation's test images: the split's fixed binarization (or dequantized pixels).
    _, ds = evaluation.test_dataset(graph_run.dataset, "test", data_dir, batch_size=100, limit=examples)
    x = np.concatenate([b.numpy() for b in ds])
    panels = [("(a) Graph VAE", posterior_means(graph_run.workdir, ds)),
              ("(b) VAE", posterior_means(vae_run.workdir, ds)), ("(c) data", x)]
    fig = Figure(figsize=(13, 4.4))
    for k, (title, features) in enumerate(panels):
        emb = TSNE(n_components=2, init="pca", random_state=seed, perplexity=30).fit_transform(
            np.asarray(features, np.float64))
        ax = fig.add_subplot(1, 3, k + 1)
        sc = ax.scatter(emb[:, 0], emb[:, 1], c=labels, cmap="tab10", s=3, vmin=-0.5, vmax=9.5)
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(sc, ax=fig.axes, ticks=range(10), label="class")
    artifacts._save(fig, path)
    return path
