"""A training run's model from its settings or its workdir: the one place that rebuilds and restores.

``train``, ``export``, ``evaluation`` and ``tuning`` all import this module and it imports
none of them, so restoring a run needs no import cycle.
"""
import os

import tensorflow as tf

from tfgvae.config import TrainConfig
from tfgvae.data import DATASETS
from tfgvae.model import GraphVAE


def build_model(config, info):
    """An uncompiled GraphVAE for ``config`` on a dataset described by ``info``."""
    return GraphVAE(config.model_config(info.input_dim, info.likelihood), seed=config.seed,
                    schedule=config.schedule(None))


def load_run(workdir):
    """(model, TrainConfig, DatasetInfo) of a training run, restored from its latest checkpoint.

    Rebuilds the model from ``workdir/config.json`` and restores its weights from
    ``workdir/checkpoints``; raises ValueError (one line) if either is missing or does not fit.
    """
    if not os.path.exists(os.path.join(workdir, "config.json")):
        raise ValueError(f"{workdir} is not a training run: it has no config.json")
    config = TrainConfig.load(workdir)
    info = DATASETS.get(config.dataset)
    if info is None:
        raise ValueError(f"{workdir}/config.json names an unknown dataset {config.dataset!r}")
    latest = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
    if latest is None:
        raise ValueError(f"{workdir}/checkpoints holds no checkpoint: train the run first")
    model = build_model(config, info)
    try:
        tf.train.Checkpoint(model=model).restore(latest).expect_partial().assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as e:
        raise ValueError(f"{latest} does not fit the model of {workdir}/config.json: "
                         f"{str(e).splitlines()[0]}") from None
    return model, config, info
