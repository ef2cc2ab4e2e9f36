"""Markdown generated from the code for the docs' reference pages (docs/hooks.py renders it at build
time, so the pages cannot drift from the code): the flags of the ``bin/`` programs, read from an
absl ``FlagValues``, and the SavedModel signatures of ``tfgvae.serving.export.SIGNATURE_TABLE``.

It imports the programs (``tfgvae.commands``), and so TensorFlow.
"""
import html

from absl import flags

from tfgvae import commands
from tfgvae.serving.export import SIGNATURE_TABLE


def escape(text):
    """``text`` as literal Markdown (a table cell stays one cell); `code spans` are kept as code."""
    parts = text.split("`")
    for i in range(0, len(parts), 2):  # outside code spans
        part = html.escape(parts[i], quote=False)
        parts[i] = "".join("\\" + ch if ch in "\\*_[]|" else ch for ch in part)
    return "`".join(parts)


def table(header, rows):
    """A Markdown table of already-formatted cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def program_flags(program):
    """A fresh ``FlagValues`` with the flags of ``program`` (a name of ``tfgvae.commands.PROGRAMS``:
    train, evaluate, export, tune, reproduce), defined as the program defines them; absl's FLAGS is
    untouched."""
    flag_values = flags.FlagValues()
    commands.PROGRAMS[program][0](flag_values)
    return flag_values


def default_text(value):
    """A flag default as written on the command line (``true``/``false``, ``""``)."""
    if value == "":
        return '""'
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def is_required(flag):
    """Whether a validator refuses the flag's unset value (absl's ``mark_flag_as_required``)."""
    if flag.default is not None:
        return False
    for validator in flag.validators:
        try:
            if not validator.checker(None):
                return True
        except Exception:  # a validator that cannot read None is not a requirement
            continue
    return False


def flags_markdown(flag_values):
    """A table of every flag in ``flag_values``, in definition order: name, type, default (or
    required), choices of an enum, and help."""
    rows = []
    for name in flag_values:
        flag = flag_values[name]
        if name != flag.name:  # a short name
            continue
        if is_required(flag):
            default = "required"
        else:
            default = "—" if flag.default is None else f"`{default_text(flag.default)}`"
        choices = getattr(flag.parser, "enum_values", None) or ()
        help_ = (flag.help or "").removeprefix(f"<{'|'.join(choices)}>: " if choices else "")  # absl's prefix
        rows.append([f"`--{name}`", flag.flag_type(), default, ", ".join(f"`{c}`" for c in choices),
                     escape(help_)])
    return table(["flag", "type", "default", "choices", "meaning"], rows)


def signatures_markdown():
    """A section per SavedModel signature: what it computes, its inputs and its outputs."""
    sections = []
    for name, (what, inputs, outputs) in SIGNATURE_TABLE.items():
        input_rows = [[f"`{n}`", dtype, f"`{shape}`"] for n, dtype, shape in inputs]
        output_rows = [[f"`{n}`", dtype, f"`{shape}`", escape(meaning)] for n, dtype, shape, meaning in outputs]
        sections += [f"## `{name}`", "", escape(what), ""]
        sections += ["Inputs:", "", table(["input", "dtype", "shape"], input_rows), ""] if inputs else [
            "Inputs: none.", ""]
        sections += ["Outputs:", "", table(["output", "dtype", "shape", "meaning"], output_rows), ""]
    return "\n".join(sections)


def render(directive):
    """The Markdown of a page directive: ``flags PROGRAM`` (``tfgvae.commands.PROGRAMS``) or ``signatures``."""
    kind, *args = directive.split()
    if kind == "flags" and len(args) == 1:
        return flags_markdown(program_flags(args[0]))
    if kind == "signatures" and not args:
        return signatures_markdown()
    raise ValueError(f"unknown reference directive {directive!r}: flags {'|'.join(commands.PROGRAMS)}, or "
                     "signatures")
