"""What a release carries: one version everywhere, the licence, the citation file, the changelog,
and a bench/ of benchmarks with the analysis scripts in analysis/."""
import ast
import os
import re

import tfgvae

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ANALYSIS = ("structure_summary.py", "paired_table.py", "node_kl.py", "schedule_ranking.py",
            "parentless_roots.py", "replay_extremes.py")


def read(name):
    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        return f.read()


def setup_keywords():
    """The literal keyword arguments of setup.py's ``setup(...)`` call."""
    call = next(node for node in ast.walk(ast.parse(read("setup.py")))
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setup")
    return {k.arg: k.value.value for k in call.keywords if isinstance(k.value, ast.Constant)}


def changelog_releases():
    """(version, date) of every release heading of CHANGELOG.md, newest first."""
    return re.findall(r"^## (\d+\.\d+\.\d+) - (\d{4}-\d{2}-\d{2})$", read("CHANGELOG.md"), re.M)


def citation_field(name):
    """A top-level scalar of CITATION.cff, unquoted."""
    return re.search(rf"^{name}: \"?([^\"\n]+)\"?$", read("CITATION.cff"), re.M).group(1)


def test_one_version_in_setup_package_citation_and_changelog():
    version = tfgvae.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert setup_keywords()["version"] == version
    assert citation_field("version") == version
    assert changelog_releases()[0][0] == version
    assert citation_field("date-released") == changelog_releases()[0][1]


def test_changelog_keeps_an_unreleased_section_above_the_releases():
    text = read("CHANGELOG.md")
    headings = re.findall(r"^## (.+)$", text, re.M)
    assert headings[0] == "Unreleased" and headings.count("Unreleased") == 1
    assert [f"{v} - {d}" for v, d in changelog_releases()] == headings[1:]


def test_licence_is_apache_2_with_the_authors_copyright():
    text = read("LICENSE")
    assert text.splitlines()[0] == "Copyright The tfgvae authors. All rights reserved."
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert text.count("END OF TERMS AND CONDITIONS") == 1 and len(text.splitlines()) == 203
    assert setup_keywords()["license"] == "Apache-2.0" == citation_field("license")


def test_citation_names_the_package_authors_and_the_paper():
    text = read("CITATION.cff")
    assert citation_field("cff-version") == "1.2.0"
    assert re.search(r"^authors:\n  - name: \"The tfgvae authors\"$", text, re.M)
    paper = text[text.index("preferred-citation:"):]
    assert "Variational Autoencoders with Jointly Optimized Latent Dependency Structure" in paper
    names = re.findall(r"given-names: (\w+)\n +family-names: (\w+)", paper)
    assert names == [("Jiawei", "He"), ("Yu", "Gong"), ("Joseph", "Marino"), ("Greg", "Mori"),
                     ("Andreas", "Lehrmann")]
    assert re.search(r"^  year: 2019$", paper, re.M)


def test_bench_holds_benchmarks_and_analysis_the_results_scripts():
    assert not set(os.listdir(os.path.join(ROOT, "bench"))) & set(ANALYSIS)
    scripts = sorted(f for f in os.listdir(os.path.join(ROOT, "analysis")) if f.endswith(".py"))
    assert set(ANALYSIS) <= set(scripts)
    readme = read(os.path.join("analysis", "README.md"))
    assert [s for s in scripts if f"`{s}`" not in readme] == []
