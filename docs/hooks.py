"""mkdocs hooks (mkdocs.yml): the reference pages' public names, the tables generated from the code,
and the checks that fail the build when a public name is undocumented or missing from the reference.

A reference page names each public object as ``::: tfgvae.NAME`` (NAME in ``tfgvae.__all__``); this
hook points mkdocstrings at the module that defines it, with ``tfgvae.NAME`` as its heading. A line
``<!-- reference: DIRECTIVE -->`` is replaced by ``tfgvae.reference.render(DIRECTIVE)``.
"""
import os
import re

from mkdocs.exceptions import PluginError

import tfgvae
from tfgvae import reference

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PUBLIC = re.compile(r"^::: tfgvae\.(\w+)[ \t]*$", re.M)
GENERATED = re.compile(r"^<!-- reference: (.+?) -->[ \t]*$", re.M)
_documented = set()


def missing_docstrings(root=ROOT):
    """Public names of ``tfgvae.__all__`` without a docstring, and the public methods and properties
    without one of the classes among them (their own and those inherited from tfgvae's classes), read
    from the source under ``root`` by griffe."""
    import griffe
    package = griffe.load("tfgvae", search_paths=[root], try_relative_path=False, resolve_aliases=True)
    missing = []
    for name in tfgvae.__all__:
        module, attribute = tfgvae._EXPORTS[name]
        obj = _target(package[f"{module}.{attribute}".removeprefix("tfgvae.")])
        if not obj.docstring:
            missing.append(f"tfgvae.{name} ({obj.path})")
        members = obj.all_members.values() if obj.is_class else ()  # inherited ones are aliases
        missing += [f"tfgvae.{name}.{member.name} ({_target(member).path})" for member in members
                    if not member.name.startswith("_") and not member.docstring
                    and (member.is_function or "property" in member.labels)]
    return missing


def _target(obj):
    return obj.final_target if obj.is_alias else obj


def on_config(config):
    """Fail the build if a public name or method has no docstring."""
    _documented.clear()
    missing = missing_docstrings()
    if missing:
        raise PluginError("public names without a docstring:\n  " + "\n  ".join(missing))
    return config


def _public(match):
    name = match.group(1)
    if name not in tfgvae.__all__:
        raise PluginError(f"::: tfgvae.{name}: not a name in tfgvae.__all__")
    _documented.add(name)
    module, attribute = tfgvae._EXPORTS[name]
    return f"::: {module}.{attribute}\n    options:\n      heading: tfgvae.{name}\n      toc_label: {name}"


def _generated(match):
    try:
        return reference.render(match.group(1))
    except (ValueError, KeyError) as e:
        raise PluginError(f"<!-- reference: {match.group(1)} -->: {e}") from e


def on_page_markdown(markdown, page, config, files):
    """Resolve the public names and fill in the generated tables."""
    return GENERATED.sub(_generated, PUBLIC.sub(_public, markdown))


def on_env(env, config, files):
    """Fail the build if a name of ``tfgvae.__all__`` is on no reference page (all pages are read)."""
    undocumented = sorted(set(tfgvae.__all__) - _documented)
    if undocumented:
        raise PluginError("names of tfgvae.__all__ on no reference page (add '::: tfgvae.NAME'): "
                          + ", ".join(undocumented))
    return env
