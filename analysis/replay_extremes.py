"""Replay a run's first training steps, logging per-step extremes, to find where a loss turns NaN.

python analysis/replay_extremes.py RUN_DIR STEPS [--data_dir=DIR]

Trains a fresh model from RUN_DIR/config.json (same seed, data order, schedule and compiler as
the run, so the same draws), one step per call, and every 10th step (and at the first non-finite loss) prints
the loss terms, the decoder's and the bottom-up log-variance range, and the largest |mu| and
|z|. It stops at the first non-finite loss. docs/results.md (CIFAR-10) used it to find the
diverging Gaussian log-variance head.
"""
import argparse
import dataclasses
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfgvae.core.model import GraphVAE  # noqa: E402
from tfgvae.training import train  # noqa: E402
from tfgvae.training.config import TrainConfig  # noqa: E402

KEYS = ("loss", "kl", "reconstruction", "dec_lv_min", "dec_lv_max", "bu_lv_min", "bu_lv_max",
        "bu_mu_absmax", "z_absmax")


class ExtremesVAE(GraphVAE):
    """GraphVAE whose step logs also carry the extremes of its Gaussians."""

    def elbo_terms(self, x, training=False, gates=None, noise=None):
        out = super().elbo_terms(x, training, gates, noise)
        mu, lv = self.bottom_up_gaussians(x, training)  # a second pass, for the statistics only
        params = out["params"]
        extremes = {"bu_lv_min": tf.reduce_min(lv), "bu_lv_max": tf.reduce_max(lv),
                    "bu_mu_absmax": tf.reduce_max(tf.abs(mu)), "z_absmax": tf.reduce_max(tf.abs(out["z"]))}
        if params.shape[-1] == 2:  # Gaussian: [mean logits | log-variance]
            extremes.update(dec_lv_min=tf.reduce_min(params[..., 1]), dec_lv_max=tf.reduce_max(params[..., 1]))
        self._extremes = extremes
        return out

    def _update_metrics(self, terms):
        return {**super()._update_metrics(terms), **self._extremes}


class PrintExtremes(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        values = [float(np.mean(logs[k])) if k in logs else float("nan") for k in KEYS]
        finite = np.isfinite(values[0])
        if batch % 10 == 0 or not finite:
            print(batch, " ".join(f"{k}={v:.4g}" for k, v in zip(KEYS, values)), flush=True)
        if not finite:
            self.model.stop_training = True


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir")
    p.add_argument("steps", type=int)
    p.add_argument("--data_dir", default=None)
    args = p.parse_args()
    config = TrainConfig.load(args.run_dir)
    config = dataclasses.replace(config, data_dir=args.data_dir or config.data_dir)
    keras.utils.set_random_seed(config.seed)
    info, stream, _, steps = train.datasets(config)
    model = ExtremesVAE(dataclasses.replace(config.model, input_dim=info.input_dim, likelihood=info.likelihood),
                        seed=config.seed)
    model = train.compile_model(model, config, steps, 1)
    model.fit(stream(0), epochs=1, steps_per_epoch=args.steps, verbose=0, shuffle=False,
              callbacks=[PrintExtremes()])


if __name__ == "__main__":
    main()
