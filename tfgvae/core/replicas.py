"""What the model's train step needs of tf.distribute: replica-consistent random draws, sums
over replicas, and step logs that Keras' multi-worker reduction accepts.

Under R replicas every example's random draws (gates, noise) are the rows of one global-batch
draw from a stateless key, so they do not depend on how the batch is split (``replica_rows``);
strategies themselves are made by ``tfgvae.training.distribute``.
"""
import tensorflow as tf


def replica_rows(draw, local_batch):
    """This replica's rows of a global-batch draw: ``draw(B * R)[r * B:(r + 1) * B]``.

    ``draw(rows)`` must be a stateless function of its key and ``rows``. MirroredStrategy
    gives replica r the r-th contiguous slice of each global batch, so every example gets
    the same random numbers as under one device. Needs equal replica batches (training
    drops the remainder); otherwise rows are still independent, only not the same as one
    device's.
    """
    ctx = tf.distribute.get_replica_context()
    replicas = ctx.num_replicas_in_sync if ctx is not None else 1
    if replicas == 1:
        return draw(local_batch)
    start = ctx.replica_id_in_sync_group * local_batch
    return draw(local_batch * replicas)[start:start + local_batch]


def all_reduce_sum(values):
    """Sum a nest of tensors over the replicas of this step (identity on one replica)."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return values
    return ctx.all_reduce(tf.distribute.ReduceOp.SUM, values)


def step_logs(logs):
    """Step logs as Keras' multi-worker reduction needs them.

    Keras (3.15) reduces step outputs under MultiWorkerMirroredStrategy with
    ``strategy.reduce(MEAN, v, axis=0)``, which fails on scalars; there each log gets a
    length-1 axis, averaged away again (the values are already equal on every replica).
    """
    if not isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
        return logs
    return {name: tf.reshape(value, [1]) for name, value in logs.items()}
