"""The shipped MNIST config on real data for a few hundred steps: it learns, and no node of the
Graph VAE collapses to its prior (docs/results.md: with the App. B.1 decoder on z_1 alone,
nodes 2-5 carry ~0.01 nats each)."""
import dataclasses
import os

import numpy as np
import pytest

from tfgvae import data
from tfgvae.experiments import reproduce
from tfgvae.training import train
from tfgvae.training.config import config_from_flagfile

STEPS = 300
VALIDATION_STEPS = 30  # 1,920 validation images


def _config(tmp_path, **overrides):
    config, _ = config_from_flagfile(
        reproduce.config_file("mnist", "graph"), epochs=1, steps_per_epoch=STEPS,
        validation_steps=VALIDATION_STEPS, steps_per_execution=10, verbose=0,
        export_dir=str(tmp_path / "export"), data_dir=os.environ.get(data.DATA_DIR_ENV), **overrides)
    return config


@pytest.mark.skipif(not os.environ.get(data.DATA_DIR_ENV), reason="needs the MNIST files ($TFGVAE_DATA_DIR)")
def test_default_mnist_config_learns_with_every_node_active(tmp_path):
    config = _config(tmp_path)
    assert config.model.decode_from == "all" and config.schedule.kl_warmup_epochs == 10  # the shipped ones
    assert config.train_split == "train+valid"
    # the warm-up over the first half of this one-epoch run, as the measurements below were made
    config = dataclasses.replace(config, schedule=dataclasses.replace(config.schedule, kl_warmup_epochs=0.5))
    info, _, valid, _ = train.datasets(config)
    untrained = train.compile_model(train.build_model(config, info), config, STEPS)
    before = untrained.evaluate(valid, steps=VALIDATION_STEPS, verbose=0, return_dict=True)
    after = train.train_and_evaluate(config, str(tmp_path / "run"))
    # Measured (docs/results.md): -557.1 untrained, -143.8 after 300 steps; KL per node
    # 2.98-3.59 nats. The App. B.1 literal settings (--decode_from=first, no warm-up) reach the
    # same ELBO (-144.4) with nodes 2-5 at 0.05-0.20 nats, which the last assertion refuses.
    assert after["elbo"] - float(before["elbo"]) > 350
    assert after["elbo"] > -160
    kl_nodes = np.array([after[f"kl_node_{n}"] for n in range(1, 6)])
    assert np.all(kl_nodes > 0.5), kl_nodes  # no node at its prior
