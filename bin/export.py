"""Export a training run's latest checkpoint as a SavedModel: python bin/export.py --workdir=RUN"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags, logging  # noqa: E402

from tfgvae import cli  # noqa: E402

cli.quiet_tensorflow()
from tfgvae.serving import export  # noqa: E402
from tfgvae.training import train  # noqa: E402

flags.DEFINE_string("workdir", None, "Run directory written by bin/train.py (config.json, checkpoints/).")
flags.DEFINE_string("export_dir", None, "Where the SavedModel goes (default SavedModels/<run name>).")
flags.mark_flag_as_required("workdir")
FLAGS = flags.FLAGS


def main(argv):
    del argv  # stray arguments are refused by cli.run
    logging.set_verbosity(logging.WARNING)  # no per-file INFO lines from the SavedModel writer
    try:
        model, _, info = export.load_run(FLAGS.workdir)
        path = export.export_saved_model(model, FLAGS.export_dir or train.default_export_dir(FLAGS.workdir),
                                         image_shape=info.image_shape)
    except ValueError as e:  # not a run, no checkpoint, or a checkpoint that does not fit: one line
        sys.exit(f"export.py: error: {e}")
    print(f"Exported {FLAGS.workdir} to {path}")


if __name__ == "__main__":
    cli.run(main)
