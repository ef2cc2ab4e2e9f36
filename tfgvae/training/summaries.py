"""What a person watches during training: a compact console line per epoch, and TensorBoard
images (learned DAG, gate-mean heatmap, samples, reconstructions) at regular epochs."""
import io
import os
import time

import keras
import numpy as np
import tensorflow as tf

from tfgvae.core import likelihoods
from tfgvae.training import artifacts


class ConsoleLog(keras.callbacks.Callback):
    """One line per epoch with the ELBO, KL, reconstruction, temperature and a gate summary;
    every other metric goes to TensorBoard only."""

    def __init__(self, epochs=None, print_fn=print):
        super().__init__()
        self.epochs, self.print_fn = epochs, print_fn
        self.start = None

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        parts = [f"epoch {epoch + 1}/{self.epochs or self.params.get('epochs', '?')}"]
        parts += [f"{name} {logs[key]:.2f}" for name, key in
                  (("elbo", "elbo"), ("kl", "kl"), ("recon", "reconstruction")) if key in logs]
        parts.append(f"tau {float(np.asarray(self.model.temperature)):.3g}")
        if self.model.gates.learned and self.model.gates.num_edges:
            means = np.asarray(self.model.gates.means())[np.asarray(self.model.gates.mask) > 0]
            parts.append(f"gates on {int((means > 0.5).sum())}/{means.size} "
                         f"(mean {means.mean():.3f}, range {means.min():.3f}-{means.max():.3f})")
        if "val_elbo" in logs:
            parts.append(f"| val elbo {logs['val_elbo']:.2f} kl {logs.get('val_kl', float('nan')):.2f}")
        parts.append(f"{time.perf_counter() - self.start:.1f}s")
        self.print_fn("  ".join(parts))


def _png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    return tf.image.decode_png(buffer.getvalue(), channels=4)[None]


def _grid(images, image_shape, columns=8):
    """(1, rows*H, columns*W, C) tiling of (n, D) images in [0, 1]."""
    h, w, c = image_shape
    n = len(images)
    rows = -(-n // columns)
    padded = np.zeros((rows * columns, h, w, c), np.float32)
    padded[:n] = np.clip(np.reshape(images, (n, h, w, c)), 0, 1)
    tiled = padded.reshape(rows, columns, h, w, c).transpose(0, 2, 1, 3, 4)
    return tiled.reshape(1, rows * h, columns * w, c)


def gate_heatmap(means):
    """Figure of the gate means mu[j, i] (parent j -> child i, 1-based labels)."""
    from matplotlib.figure import Figure
    n = len(means)
    fig = Figure(figsize=(3.2, 2.8))
    ax = fig.add_subplot()
    im = ax.imshow(np.asarray(means), vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(n), [str(k + 1) for k in range(n)])
    ax.set_yticks(range(n), [str(k + 1) for k in range(n)])
    ax.set_xlabel("child i")
    ax.set_ylabel("parent j")
    fig.colorbar(im, ax=ax)
    return fig


class ImageSummaries(keras.callbacks.Callback):
    """Every ``every_epochs`` epochs and after the last: the learned DAG, a gate-mean heatmap,
    16 samples (MAP structure) and a validation batch above its reconstructions, under
    ``log_dir/images`` at step epoch (1-based)."""

    def __init__(self, log_dir, valid, image_shape, every_epochs=10, num=16, seed=0):
        super().__init__()
        self.writer = tf.summary.create_file_writer(os.path.join(log_dir, "images"))
        self.x = next(iter(valid.unbatch().batch(num).take(1)))
        self.image_shape, self.every, self.num, self.seed = tuple(image_shape), every_epochs, num, seed

    def on_epoch_end(self, epoch, logs=None):
        step = epoch + 1
        if step % self.every and step != self.params.get("epochs"):
            return
        model, lik = self.model, self.model.config.likelihood
        noise = tf.random.stateless_normal((self.num, model.config.num_nodes, model.config.node_dim),
                                           (self.seed, step))
        z, _, _ = model.descend(model.gates.map(), noise, None, training=False)
        samples = likelihoods.mean(lik, model.decode(z, training=False)).numpy()
        recon = np.asarray(model(self.x, training=False))
        with self.writer.as_default():
            if model.config.num_nodes > 1:
                summary = artifacts.structure_summary(model)
                tf.summary.image("structure/dag", _png(artifacts.draw_structure(summary)), step=step)
                tf.summary.image("structure/gate_means", _png(gate_heatmap(summary["gate_means"])),
                                 step=step)
            tf.summary.image("samples", _grid(samples, self.image_shape), step=step)
            pairs = np.concatenate([self.x.numpy(), recon])
            tf.summary.image("reconstructions", _grid(pairs, self.image_shape, len(self.x)), step=step)
        self.writer.flush()
