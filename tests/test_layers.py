"""The package's layers, read from the source with ``ast``: every import, at module level or inside
a function, runs within a layer or down to a lower one, no module imports itself through others,
and the only imports inside functions are the heavy or optional ones listed here."""
import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Bottom to top. A module may import its own layer's modules and lower layers' (README, Layout).
LAYERS = (
    ("tfgvae.atomic", "tfgvae.flagfiles", "tfgvae.settings"),  # helpers that import no other tfgvae module
    ("tfgvae.data",),  # the dataset registry, readers, your own data
    ("tfgvae.core",),  # the paper's model; reads no flags or files
    ("tfgvae.serving",),  # SavedModels of a model (a training run exports one at its end)
    ("tfgvae.training",),  # TrainConfig and its flags, training runs, tuning
    ("tfgvae.experiments",),  # evaluation, Table 1's protocol, figures
    ("tfgvae", "tfgvae.commands", "tfgvae.reference", "tfgvae.cli", "tfgvae.__main__"),  # the programs
)
# Imports inside functions, and why each is not at the top of its module.
LAZY = {
    "tensorflow": "cli.quiet_tensorflow filters the start-up lines of TensorFlow's first import",
    "tfgvae.commands": "cli imports the one program it runs, after quiet_tensorflow",
    "tfgvae.serving.sample": "cli imports the one program it runs, after quiet_tensorflow",
    "matplotlib": "figures only: plotting is not imported by training or evaluation that draws nothing",
    "sklearn": "Fig. 6's t-SNE only",
    "tqdm": "progress bars only, when shown",
    "tensorflow_datasets": "the download fallback only, when no local data is given",
}


def modules():
    """{module name: path} of every module of the package."""
    out = {}
    for folder, _, files in os.walk(os.path.join(ROOT, "tfgvae")):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                module = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".").removesuffix(".__init__")
                out[module] = path
    return out


MODULES = modules()


def imports(module):
    """[(imported name, line, inside a function)] of a module: a tfgvae module where the import
    names one, else what it imports (``from tfgvae.data import DATASETS``: the package)."""
    path = MODULES[module]
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")[:len(package.split(".")) - child.level + 1]
                    base = ".".join(parts + [base] if base else parts)
                for alias in child.names:
                    full = f"{base}.{alias.name}"
                    found.append((full if full in MODULES else base, child.lineno, in_function))
            visit(child, inner)

    with open(path) as f:
        visit(ast.parse(f.read()), False)
    return found


def layer(module):
    for rank, members in enumerate(LAYERS):
        if any(module == m or (m != "tfgvae" and module.startswith(m + ".")) for m in members):
            return rank
    return None


def folder(module):
    """The package folder of a module (``core``), or the module itself at the top level."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and os.path.isdir(os.path.join(ROOT, *parts[:2])) else module


GRAPH = {m: sorted({name for name, _, _ in imports(m) if name in MODULES and name != m}) for m in MODULES}


def cycles(graph):
    """The strongly connected components of more than one node (Tarjan), as sorted lists."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def connect(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_every_module_has_a_layer():
    assert [m for m in MODULES if layer(m) is None] == []
    assert {"tfgvae.core.model", "tfgvae.training.config", "tfgvae.cli"} <= set(MODULES)  # the walk found them


def test_no_import_runs_from_a_lower_layer_up_to_a_higher_one():
    upward = [f"{m} (line {line}) imports {name}" for m in MODULES for name, line, _ in imports(m)
              if name in MODULES and layer(name) > layer(m)]
    assert upward == []


def test_no_circle_between_modules():
    assert cycles(GRAPH) == []


def test_no_circle_between_folders():
    folders = {}
    for module, targets in GRAPH.items():
        folders.setdefault(folder(module), set()).update(folder(t) for t in targets if folder(t) != folder(module))
    assert cycles(folders) == []


def test_imports_inside_functions_are_the_listed_heavy_or_optional_ones():
    lazy = sorted({name for m in MODULES for name, _, inside in imports(m) if inside})
    unlisted = [name for name in lazy if name not in LAZY and name.split(".")[0] not in LAZY]
    assert unlisted == []


@pytest.mark.parametrize("graph,want", [
    ({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}, [["a", "b", "c"]]),
    ({"a": ["b"], "b": [], "c": ["a", "b"]}, []),
])
def test_cycles_finds_every_circle_and_only_circles(graph, want):
    assert cycles(graph) == want


def test_imports_are_read_at_module_level_and_inside_functions(tmp_path, monkeypatch):
    source = "from tfgvae.core import model\n\ndef f():\n    from tfgvae.training import runs\n    import tqdm\n"
    (tmp_path / "probe.py").write_text(source)
    monkeypatch.setitem(MODULES, "tfgvae.core.probe", str(tmp_path / "probe.py"))
    assert imports("tfgvae.core.probe") == [("tfgvae.core.model", 1, False), ("tfgvae.training.runs", 4, True),
                                            ("tqdm", 5, True)]
    assert layer("tfgvae.training.runs") > layer("tfgvae.core.probe")  # an upward import, as the test sees it


def test_no_script_or_module_edits_sys_path():
    folders = ("bin", "tfgvae", "examples", "bench", "analysis")
    edits = [os.path.relpath(os.path.join(folder_, name), ROOT) for top in folders
             for folder_, _, files in os.walk(os.path.join(ROOT, top)) for name in files
             if name.endswith(".py") and "sys.path" in open(os.path.join(folder_, name)).read()]
    assert edits == []
