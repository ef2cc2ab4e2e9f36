"""What every ``bin/`` script shares: ``--help`` with this program's flags, and one-line errors
for arguments that are not flags, naming the flagfile line they came from."""
import os
import sys

from absl import app, flags

HELP_ARGS = ("-h", "--help", "-help", "-?", "--helpshort")


def _flagfiles(args, seen=()):
    """(path, lines) of every flagfile named in ``args``, nested ones included."""
    out = []
    for arg in args:
        if arg.startswith(("--flagfile=", "-flagfile=")):
            path = os.path.expanduser(arg.split("=", 1)[1])
            if path in seen or not os.path.isfile(path):
                continue
            with open(path) as f:
                lines = f.read().splitlines()
            out.append((path, lines))
            out += _flagfiles([line.strip() for line in lines], (*seen, path))
    return out


def stray_arguments_message(stray, argv=None):
    """One line naming where the first argument that is not a flag came from."""
    arg = stray[0]
    for path, lines in _flagfiles((argv or sys.argv)[1:]):
        for number, line in enumerate(lines, 1):
            if line.strip() == arg.strip():
                return (f"{path}, line {number}: {line.strip()!r} is not a flag (write --name=value; "
                        "comments start with #)")
    return f"unexpected argument {arg!r} on the command line: flags are written --name=value"


def help_text(program):
    """This program's flags (its own and tfgvae's, not TensorFlow's), with choices and defaults."""
    main = sys.modules["__main__"]
    doc = (main.__doc__ or "").strip()
    modules = [name for name in flags.FLAGS.flags_by_module_dict()
               if name.startswith("tfgvae") or os.path.abspath(name) == os.path.abspath(sys.argv[0])]
    lines = [line for name in modules for line in flags.FLAGS.module_help(name).splitlines()
             if line.startswith(" ")]  # without the module headers
    return "\n".join([f"usage: python {program} [--flagfile=FILE] [--flag=value ...]", "", doc, "",
                      "flags:", *lines, "", "--helpfull also lists TensorFlow's and absl's flags."])


NOISE = ("All log messages before absl::InitializeLog()", "cudart_stub.cc", "cpu_feature_guard.cc",
         "To enable the following instructions", "oneDNN custom operations", "cuda_platform.cc",
         "failed call to cuInit", "cuda_executor.cc", "cuda_dnn.cc", "cuda_fft.cc", "cuda_blas.cc")


def quiet_tensorflow():
    """Import TensorFlow and look for devices with the start-up lines that TF_CPP_MIN_LOG_LEVEL
    does not silence (absl pre-init, CUDA stubs, CPU features, oneDNN, cuInit) filtered out of
    stderr; any other line written meanwhile is passed on."""
    import tempfile
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf
            tf.config.list_physical_devices()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                if line.strip() and not any(pattern in line for pattern in NOISE):
                    print(line, file=sys.stderr)


def run(main):
    """``app.run(main)``, with ``--help`` printing this program's flags and exiting 0, and stray
    arguments stopping with one line and exit status 1."""
    program = os.path.basename(sys.argv[0])
    if any(arg in HELP_ARGS for arg in sys.argv[1:]):
        flags.FLAGS.mark_as_parsed()
        print(help_text(sys.argv[0]))
        sys.exit(0)

    def checked(argv):
        if len(argv) > 1:
            sys.exit(f"{program}: error: {stray_arguments_message(argv[1:])}")
        return main(argv)

    app.run(checked)
