"""The docs site: ``mkdocs build --strict`` passes (a broken link, an undocumented public name or a
name of ``tfgvae.__all__`` on no reference page fails it), and the generated reference pages hold
what independent listings of the code hold."""
import ast
import html.parser
import importlib.util
import os
import shutil
import subprocess
import sys

import pytest
from absl import flags
from mkdocs.exceptions import PluginError

import tfgvae
from tfgvae import commands
from tfgvae.serving import export
from tfgvae.training import config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", os.path.join(ROOT, "docs", "hooks.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Page(html.parser.HTMLParser):
    """A built page's tables (rows of cell texts) and its text."""

    def __init__(self, path):
        super().__init__()
        self.tables, self.text, self._cell = [], [], None
        with open(path, encoding="utf-8") as f:
            self.feed(f.read())

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site_dir = tmp_path_factory.mktemp("site")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, NO_MKDOCS_2_WARNING="1"))
    assert result.returncode == 0, result.stderr[-4000:]
    return site_dir


def _flag_rows(site, table):
    header, *rows = _Page(site / "reference" / "flags" / "index.html").tables[table]
    assert header == ["flag", "type", "default", "choices", "meaning"]
    return {row[0].removeprefix("--"): row for row in rows}


def _expected_default(flag):
    if flag.default is None:
        return "—"
    return str(flag.default).lower() if isinstance(flag.default, bool) else str(flag.default)


@pytest.mark.parametrize("table,define", [(0, config.define_flags), (1, commands.define_evaluate_flags)])
def test_flag_pages_list_every_flag_with_its_default_choices_and_help(site, table, define):
    fv = flags.FlagValues()
    define(fv)
    rows = _flag_rows(site, table)
    assert set(rows) == set(fv)
    for name in fv:
        flag = fv[name]
        _, _, default, choices, meaning = rows[name]
        assert default == ("required" if (table, name) == (0, "workdir") else _expected_default(flag)), name
        assert choices.split(", ") == list(getattr(flag.parser, "enum_values", [""])), name
        assert flag.help.endswith(meaning) and len(meaning) > 10, name


def test_every_public_name_has_its_reference_entry(site):
    text = "".join("".join(_Page(site / "reference" / area / "index.html").text) for area in
                   ("model", "structure", "training", "evaluation", "export", "data"))
    missing = [name for name in tfgvae.__all__ if f"tfgvae.{name}" not in text]
    assert not missing
    assert "The metric trackers whose means" in text  # a GraphVAE method's docstring


def test_signatures_page_lists_every_signature_with_its_inputs_and_outputs(site):
    path = site / "reference" / "signatures" / "index.html"
    page, source = _Page(path), path.read_text(encoding="utf-8")
    assert len(page.tables) == 2 * len(export.SIGNATURES) - 2  # structure and info take no inputs
    listed = {row[0] for table in page.tables for row in table[1:]}
    for name, (_, inputs, outputs) in export.SIGNATURE_TABLE.items():
        assert f'<h2 id="{name}"' in source
        assert {n for n, *_ in inputs} | {n for n, *_ in outputs} <= listed, name


def _drop_docstring(path, qualname):
    """Delete the docstring of ``qualname`` (``f`` or ``Class.method``) from the source file."""
    with open(path) as f:
        lines = f.read().splitlines(keepends=True)
    scope = ast.parse("".join(lines))
    for part in qualname.split("."):
        scope = next(node for node in scope.body if getattr(node, "name", None) == part)
    doc = scope.body[0]
    del lines[doc.lineno - 1:doc.end_lineno]
    with open(path, "w") as f:
        f.writelines(lines)


def test_missing_docstrings_are_found(tmp_path):
    hooks = _hooks()
    assert hooks.missing_docstrings() == []
    shutil.copytree(os.path.join(ROOT, "tfgvae"), tmp_path / "tfgvae")
    _drop_docstring(tmp_path / "tfgvae" / "core" / "model.py", "GraphVAE.sample")
    _drop_docstring(tmp_path / "tfgvae" / "core" / "structure.py", "fixed_adjacency")
    _drop_docstring(tmp_path / "tfgvae" / "core" / "keras_model.py", "KerasModel.get_config")
    assert sorted(hooks.missing_docstrings(str(tmp_path))) == [
        "tfgvae.GraphVAE.get_config (tfgvae.core.keras_model.KerasModel.get_config)",
        "tfgvae.GraphVAE.sample (tfgvae.core.model.GraphVAE.sample)",
        "tfgvae.fixed_adjacency (tfgvae.core.structure.fixed_adjacency)"]


def test_reference_directives_must_name_public_names_and_known_tables():
    hooks = _hooks()
    page = "::: tfgvae.GraphVAE\n\n<!-- reference: flags evaluate -->\n"
    out = hooks.on_page_markdown(page, None, None, None)
    assert out.startswith("::: tfgvae.core.model.GraphVAE\n    options:\n      heading: tfgvae.GraphVAE")
    assert "| `--saved_model` | string | — |" in out
    for bad in ("::: tfgvae.core\n", "<!-- reference: flags nosuch -->\n", "<!-- reference: tables -->\n"):
        with pytest.raises(PluginError):
            hooks.on_page_markdown(bad, None, None, None)
