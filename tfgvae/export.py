"""SavedModel export, written elsewhere and moved into place so that no half export is ever left."""
import os
import shutil
import tempfile

import tensorflow as tf


def export_saved_model(model, export_dir):
    """Export ``model`` (Keras ``serve`` endpoint: x -> reconstruction means) to ``export_dir``.

    The SavedModel is written to a temporary sibling directory and renamed into place;
    an existing export at ``export_dir`` is replaced only once the new one is complete.
    """
    export_dir = os.path.abspath(export_dir)
    parent = os.path.dirname(export_dir)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".export-", dir=parent)
    try:
        target = os.path.join(staging, "model")
        model.export(target, format="tf_saved_model", verbose=False,
                     input_signature=[tf.TensorSpec((None, model.config.input_dim), tf.float32)])
        if os.path.exists(export_dir):
            old = os.path.join(staging, "old")
            os.replace(export_dir, old)
        os.replace(target, export_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return export_dir
