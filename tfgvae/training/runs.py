"""A training run's model from its settings or its workdir: the one place that rebuilds and restores.

``train``, ``tuning`` and ``tfgvae.experiments`` import this module; it imports none of them.
"""
import dataclasses
import math
import os

import tensorflow as tf

from tfgvae.core.model import GraphVAE
from tfgvae.data import DATASETS, DatasetInfo, sources
from tfgvae.training.config import TrainConfig


def build_model(config, info, encoder=None, decoder=None):
    """An uncompiled GraphVAE of ``config.model`` on a dataset described by ``info`` (its example size
    and likelihood); your own ``encoder``/``decoder`` see the data's image shape (the MLPs flat
    examples) unless ``config.model.input_shape`` says otherwise."""
    model_config = dataclasses.replace(config.model, likelihood=info.likelihood)
    if model_config.input_shape is None:
        shape = tuple(info.image_shape) if encoder is not None or decoder is not None else None
        model_config = dataclasses.replace(model_config, input_shape=shape,
                                           input_dim=None if shape else info.input_dim)
    return GraphVAE(model_config, encoder, decoder, seed=config.seed, schedule=config.schedule)


def run_info(config):
    """The DatasetInfo of a run's data: the registered one, else rebuilt from what config.json
    recorded of your own data (its example shape and likelihood)."""
    if config.dataset in DATASETS:
        return DATASETS[config.dataset]
    shape = config.model.input_shape
    if shape is None:
        raise ValueError(f"config.json names an unknown dataset {config.dataset!r}")
    return DatasetInfo(name=config.dataset, image_shape=sources.image_shape_for(math.prod(shape), shape),
                       likelihood=config.model.likelihood, binarization=None, num_train=0,
                       num_valid=0, num_test=0, note="")


def checkpoint_step(workdir):
    """The training step of ``workdir``'s latest checkpoint (``RunCheckpoint`` numbers them by
    step), or None if it has none."""
    latest = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
    return None if latest is None else int(latest.rsplit("-", 1)[1])


def load_run(workdir, encoder=None, decoder=None):
    """(model, TrainConfig, DatasetInfo) of a training run, restored from its latest checkpoint.

    Rebuilds the model from ``workdir/config.json`` (with the ``encoder`` and ``decoder`` it was
    trained with, if not App. B's) and restores its weights from ``workdir/checkpoints``; raises
    ValueError (one line) if either is missing or does not fit.
    """
    if not os.path.exists(os.path.join(workdir, "config.json")):
        raise ValueError(f"{workdir} is not a training run: it has no config.json")
    config = TrainConfig.load(workdir)
    try:
        info = run_info(config)
    except ValueError as e:
        raise ValueError(f"{workdir}/{e}") from None
    latest = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
    if latest is None:
        raise ValueError(f"{workdir}/checkpoints holds no checkpoint: train the run first")
    model = build_model(config, info, encoder, decoder)
    try:
        tf.train.Checkpoint(model=model).restore(latest).expect_partial().assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as e:
        raise ValueError(f"{latest} does not fit the model of {workdir}/config.json (trained with your "
                         f"own encoder or decoder? pass them): {str(e).splitlines()[0]}") from None
    return model, config, info
