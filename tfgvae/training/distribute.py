"""tf.distribute for training: strategies, the chief, synced batch norm.

A step under R replicas must update the parameters exactly as one device would on the
same global batch: gradients are summed over replicas by the optimizer (so the loss is
divided by R), batch-norm moments are taken over the global batch (``synchronize_batch_norm``),
and every example's random draws (gates, noise) are the rows of one global-batch draw from a
stateless key, so they do not depend on how the batch is split (``tfgvae.core.replicas``, which
the model's step calls).
"""
import os
import shutil
import tempfile

import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


def configure_logical_cpus(count):
    """Split the first CPU into ``count`` logical devices (CPU-only MirroredStrategy, tests).

    Must run before TensorFlow initializes its devices; a no-op when already so configured.
    """
    cpus = tf.config.list_physical_devices("CPU")
    current = tf.config.get_logical_device_configuration(cpus[0])
    if current is not None and len(current) == count:
        return
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError as e:
        raise ValueError(f"--logical_cpus={count} must be set before TensorFlow initializes ({e})") from e


def make_strategy(name, logical_cpus=0, tpu_address=None):
    """The tf.distribute strategy called ``name`` (one of STRATEGIES).

    ``mirrored`` uses every GPU, else the logical CPUs (``logical_cpus`` > 1), else CPU:0;
    ``multi_worker`` reads the cluster from $TF_CONFIG; ``tpu`` connects to ``tpu_address``
    (default: the local TPU). Create the strategy before any other TensorFlow work.
    """
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}: choose one of {', '.join(STRATEGIES)}")
    if logical_cpus and logical_cpus > 1:
        configure_logical_cpus(logical_cpus)
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = None
        if not tf.config.list_logical_devices("GPU"):
            devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy=multi_worker needs the cluster in $TF_CONFIG")
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address or "local")
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def task(strategy):
    """(task_type, task_id) of this process in a multi-worker cluster, (None, None) otherwise."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return None, None
    resolver = strategy.cluster_resolver
    return resolver.task_type, resolver.task_id


def is_chief(strategy):
    """True on the one process that writes checkpoints, logs, results and exports.

    That is the ``chief`` task, or worker 0 of a cluster without one, or any single process.
    """
    task_type, task_id = task(strategy)
    if task_type is None:
        return True
    has_chief = "chief" in strategy.cluster_resolver.cluster_spec().as_dict()
    return task_type == "chief" or (task_type == "worker" and task_id == 0 and not has_chief)


def write_dir(path, strategy):
    """Where this process writes ``path``: itself on the chief, a scratch dir on other workers.

    Multi-worker saves are collective (every worker must take part), but only the
    chief's copy is kept; remove the scratch copy with ``discard``.
    """
    if is_chief(strategy):
        return path
    return tempfile.mkdtemp(prefix=f".worker-{task(strategy)[1]}-")


def discard(path, strategy):
    """Remove a non-chief worker's scratch copy made by ``write_dir``."""
    if not is_chief(strategy):
        shutil.rmtree(path, ignore_errors=True)


def synchronize_batch_norm(model, synchronized=True):
    """Make every batch-norm layer of ``model`` take its moments over all replicas.

    Keras' BatchNormalization and the node batch norm both read ``synchronized`` at call
    time. Set it in every run that is compared (one device too): synchronized moments use
    E[x^2] - E[x]^2, which rounds differently from the two-pass moments.
    """
    count = 0
    for layer in model._flatten_layers(include_self=False):
        if hasattr(layer, "synchronized"):
            layer.synchronized = synchronized
            count += 1
    return count
