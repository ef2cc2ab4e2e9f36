"""The public API: every name exported from tfgvae resolves, has a one-line docstring and is
documented in docs/api.md; importing tfgvae does not import TensorFlow."""
import inspect
import os
import subprocess
import sys

import pytest

import tfgvae

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("name", tfgvae.__all__)
def test_every_public_name_has_a_one_line_docstring_and_is_documented(name):
    value = getattr(tfgvae, name)
    if inspect.isclass(value) or inspect.isfunction(value):
        doc = inspect.getdoc(value) or ""
        assert doc.strip() and doc.splitlines()[0].strip(), name
    with open(os.path.join(ROOT, "docs", "api.md")) as f:
        assert f"`{name}" in f.read(), name


def test_public_methods_of_the_model_have_docstrings():
    for name in ("sample", "encode", "log_likelihood", "elbo", "posterior_parameters", "compile", "fit",
                 "prior_distribution", "posterior_distribution", "gate_distribution", "save", "get_config",
                 "from_config"):
        assert inspect.getdoc(getattr(tfgvae.GraphVAE, name)).splitlines()[0], name


def test_import_is_cheap_and_unknown_names_are_refused():
    code = "import sys, tfgvae; print('tensorflow' in sys.modules, 'GraphVAE' in dir(tfgvae))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        tfgvae.Nope
