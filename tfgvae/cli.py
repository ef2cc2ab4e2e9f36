"""The ``tfgvae`` command: ``tfgvae train|evaluate|export|sample|tune|reproduce [--flag=value ...]``.

``python -m tfgvae`` and the ``bin/`` scripts run the same ``main``. It imports TensorFlow first,
with the start-up lines that TF_CPP_MIN_LOG_LEVEL does not silence filtered out, then the one
program's module (``tfgvae.commands``, or ``tfgvae.serving.sample``, which needs no model code),
defines its flags and runs it: ``--help`` lists the program's flags with their choices and
defaults and exits 0; ``--flagfile`` paths resolve relative to the file that names them, or to a
config shipped with the package (``tfgvae.flagfiles``); an argument that is not a flag stops the
program with one line naming where it came from.
"""
import os
import sys
import tempfile

from absl import app, flags

from tfgvae import flagfiles

PROGRAMS = {  # name: what it does, the first line of its --help
    "train": "Train a Graph VAE (or a baseline) from flags: checkpoints, resume, TensorBoard, the learned "
             "structure, a SavedModel (docs/training.md).",
    "evaluate": "Table 1 for one model: importance-sampled test log-likelihood, KL, ELBO and active units "
                "of a run (--workdir=RUN) or a SavedModel (--saved_model=DIR --dataset=NAME); "
                "docs/evaluation.md.",
    "export": "Export a training run's latest checkpoint as a SavedModel (docs/serving.md).",
    "sample": "Samples (and reconstructions) of an exported model as a PNG grid, from the SavedModel "
              "alone (docs/serving.md).",
    "tune": "Search node factorizations M = N x N' with keras-tuner (Fig. 4).",
    "reproduce": "Table 1's protocol for one dataset: every structure and seed trained and evaluated, "
                 "the table and Figs. 3, 5 and 6 (docs/results.md).",
}
HELP_ARGS = ("-h", "--help", "-help", "-?", "--helpshort")
NOISE = ("All log messages before absl::InitializeLog()", "cudart_stub.cc", "cpu_feature_guard.cc",
         "To enable the following instructions", "oneDNN custom operations", "cuda_platform.cc",
         "failed call to cuInit", "cuda_executor.cc", "cuda_dnn.cc", "cuda_fft.cc", "cuda_blas.cc")


def quiet_tensorflow():
    """Import TensorFlow and look for devices with the start-up lines that TF_CPP_MIN_LOG_LEVEL
    does not silence (absl pre-init, CUDA stubs, CPU features, oneDNN, cuInit) filtered out of
    stderr; any other line written meanwhile is passed on."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf  # the import whose start-up lines are filtered: TensorFlow's first
            tf.config.list_physical_devices()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                if line.strip() and not any(pattern in line for pattern in NOISE):
                    print(line, file=sys.stderr)


def stray_arguments_message(stray, argv=None):
    """One line naming where the first argument that is not a flag came from: a flagfile's line,
    or the command line ``argv`` (program first; default ``sys.argv``)."""
    arg = stray[0]
    try:
        origins = flagfiles.expand_with_origins((argv or sys.argv)[1:])
    except ValueError:
        origins = []
    for value, origin in origins:
        if origin is not None and value == arg.strip():
            path, number = origin
            return f"{path}, line {number}: {value!r} is not a flag (write --name=value; comments start with #)"
    return f"unexpected argument {arg!r} on the command line: flags are written --name=value"


# Flags that name a folder a program writes into: an existing file there is refused before any work.
FOLDER_FLAGS = ("workdir", "results_dir", "export_dir")


def help_text(program):
    """``program``'s flags (its own and tfgvae's, not TensorFlow's), with choices and defaults."""
    modules = [name for name in flags.FLAGS.flags_by_module_dict() if name.startswith("tfgvae")]
    lines = [line for name in modules for line in flags.FLAGS.module_help(name).splitlines()
             if line.startswith(" ")]  # without the module headers
    return "\n".join([f"usage: tfgvae {program} [--flagfile=FILE] [--flag=value ...]", "", PROGRAMS[program],
                      "", "flags:", *lines, "", "--helpfull also lists TensorFlow's and absl's flags."])


def _program(name):
    """(define its flags, main) of a program. Imported here, after ``quiet_tensorflow``, and only the
    one program's module: each imports TensorFlow, and ``sample`` none of the model code."""
    if name == "sample":
        from tfgvae.serving import sample
        return sample.define_flags, sample.main
    from tfgvae import commands
    return commands.PROGRAMS[name]


def main(args=None):
    """``tfgvae PROGRAM [--flag=value ...]`` (``args``: default ``sys.argv[1:]``, the program first)."""
    args = sys.argv[1:] if args is None else list(args)
    if not args or args[0] not in PROGRAMS:
        sys.exit(f"usage: tfgvae {{{'|'.join(PROGRAMS)}}} [--flag=value ...] (PROGRAM --help: its flags)")
    program, args = args[0], args[1:]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    quiet_tensorflow()
    define, program_main = _program(program)
    define()
    if any(arg in HELP_ARGS for arg in args):
        flags.FLAGS.mark_as_parsed()
        print(help_text(program))
        sys.exit(0)
    try:
        expanded = flagfiles.expand(args)
    except (OSError, ValueError) as e:
        sys.exit(f"{program}.py: error: {e}")

    def checked(argv):
        if len(argv) > 1:
            sys.exit(f"{program}.py: error: {stray_arguments_message(argv[1:], [program, *args])}")
        for name in FOLDER_FLAGS:
            value = flags.FLAGS[name].value if name in flags.FLAGS else None
            if value and os.path.exists(value) and not os.path.isdir(value):
                sys.exit(f"{program}.py: error: --{name}={value} is a file; it must name a folder (new or existing)")
        return program_main(argv)

    app.run(checked, argv=[program, *expanded])
