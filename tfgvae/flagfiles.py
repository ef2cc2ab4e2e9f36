"""``--flagfile`` as tfgvae reads it: a path relative to the file that names it, or a shipped config.

absl reads a nested ``--flagfile=PATH`` relative to the working directory, so a config that builds
on another (``--flagfile=base/mnist.cfg``) would work from one folder only. ``expand`` replaces
every ``--flagfile`` of a command line by the flags of its file, recursively, before absl parses
it. A path is looked up relative to the including file's folder (for the command line: the working
directory), then the working directory, then among the configs shipped with the package
(``CONFIGS``: ``mnist``, ``mnist.cfg`` or ``configs/mnist.cfg`` all name ``tfgvae/configs/mnist.cfg``).
A file's lines are read as absl reads them: stripped, blank lines and ``#`` or ``//`` comments
skipped.
"""
import os

CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
DIRECTIVES = ("--flagfile=", "-flagfile=")


def shipped(path):
    """The config shipped with the package that ``path`` names, or None."""
    name = os.path.normpath(path)
    if name.split(os.sep)[0] == "configs":
        name = name[len("configs") + 1:]
    for candidate in (name, f"{name}.cfg"):
        full = os.path.join(CONFIGS, candidate)
        if candidate and os.path.isfile(full):
            return full
    return None


def resolve(path, including=None):
    """The file that ``--flagfile=path`` names, written in the file ``including`` (None: on the
    command line); ValueError (one line) if there is none."""
    path = os.path.expanduser(path)
    here = [os.path.join(os.path.dirname(including), path)] if including and not os.path.isabs(path) else []
    for candidate in here + [path]:
        if os.path.isfile(candidate):
            return candidate
    found = None if os.path.isabs(path) else shipped(path)
    if found is None:
        where = f" (named in {including})" if including else ""
        raise ValueError(f"flagfile {path}{where} not found: not a file, nor a config shipped in {CONFIGS}")
    return found


def expand_with_origins(args):
    """[(arg, origin)] of a command line's ``args`` with every ``--flagfile=PATH`` (or ``--flagfile
    PATH``) replaced by its file's flags, recursively; origin is (file, line number), or None for an
    argument given on the command line. Arguments after ``--`` are left as they are."""
    out, items = [], iter(args)
    for arg in items:
        if arg == "--":
            out += [(rest, None) for rest in [arg, *items]]
            break
        if arg in ("--flagfile", "-flagfile"):
            path = next(items, None)
            if path is None:
                raise ValueError(f"{arg} needs a file")
        elif arg.startswith(DIRECTIVES):
            path = arg.split("=", 1)[1]
        else:
            out.append((arg, None))
            continue
        out += _read(resolve(path), ())
    return out


def _read(path, stack):
    real = os.path.realpath(path)
    if real in stack:
        raise ValueError(f"flagfile {path} includes itself")
    with open(path) as f:
        lines = f.read().splitlines()
    out = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith(("#", "//")):
            continue
        if line.startswith(DIRECTIVES):
            out += _read(resolve(line.split("=", 1)[1], path), (*stack, real))
        else:
            out.append((line, (path, number)))
    return out


def expand(args):
    """``args`` with every ``--flagfile`` replaced by its file's flags (``expand_with_origins``)."""
    return [arg for arg, _ in expand_with_origins(args)]
