"""One way in: the ``tfgvae`` command (setup.py's console script, ``python -m tfgvae``, the ``bin/``
shims) and flagfile paths resolved relative to the including file or to the shipped configs."""
import ast
import glob
import os
import subprocess
import sys

import pytest

from tfgvae import cli, flagfiles
from tfgvae.training.config import config_from_flagfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _setup_call():
    with open(os.path.join(ROOT, "setup.py")) as f:
        tree = ast.parse(f.read())
    call = next(node for node in ast.walk(tree) if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setup")
    return {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg in ("entry_points", "package_data")}


def test_setup_installs_the_command_and_ships_every_config():
    setup = _setup_call()
    assert setup["entry_points"] == {"console_scripts": ["tfgvae=tfgvae.cli:main"]}
    shipped = {os.path.relpath(p, os.path.join(ROOT, "tfgvae")) for pattern in setup["package_data"]["tfgvae"]
               for p in glob.glob(os.path.join(ROOT, "tfgvae", pattern))}
    every = {os.path.relpath(p, os.path.join(ROOT, "tfgvae"))
             for p in glob.glob(os.path.join(flagfiles.CONFIGS, "**", "*.cfg"), recursive=True)}
    assert shipped == every and "configs/base/paper.cfg" in every
    assert os.path.realpath(os.path.join(ROOT, "configs")) == os.path.realpath(flagfiles.CONFIGS)


def test_every_bin_script_is_a_shim_over_the_command():
    scripts = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "bin", "*.py")))
    assert scripts == sorted(cli.PROGRAMS)
    for name in scripts:
        with open(os.path.join(ROOT, "bin", f"{name}.py")) as f:
            tree = ast.parse(f.read())
        imported = [ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
        assert imported == ["import sys", "from tfgvae import cli"], name
        calls = [ast.unparse(node) for node in ast.walk(tree) if isinstance(node, ast.Call)]
        assert calls == [f"cli.main(['{name}', *sys.argv[1:]])"], name


def _command(args, cwd, module=False):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    head = [sys.executable, "-m", "tfgvae"] if module else [sys.executable, os.path.join(ROOT, "bin", f"{args[0]}.py")]
    return subprocess.run(head + (args if module else args[1:]), cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def test_python_m_tfgvae_runs_every_program_and_refuses_others(tmp_path):
    proc = _command(["nope"], tmp_path, module=True)
    assert proc.returncode != 0 and proc.stderr.strip() == (
        "usage: tfgvae {train|evaluate|export|sample|tune|reproduce} [--flag=value ...] (PROGRAM --help: its flags)")
    proc = _command(["export", "--help"], tmp_path, module=True)
    assert proc.returncode == 0 and proc.stdout.startswith("usage: tfgvae export") and "--export_dir:" in proc.stdout
    assert proc.stderr == ""


def test_a_shipped_config_name_works_from_any_folder(tmp_path):
    """``--flagfile=mnist_fc.cfg`` from a folder without it: the shipped config and its bases."""
    proc = _command(["train", "--flagfile=mnist_fc.cfg", f"--workdir={tmp_path}/w", "--epochs=0"], tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "train.py: error: epochs must be >= 1 when given, got 0"
    proc = _command(["train", "--flagfile=nope.cfg", f"--workdir={tmp_path}/w"], tmp_path)
    assert proc.returncode == 1 and proc.stderr.strip().splitlines()[-1] == (
        f"train.py: error: flagfile nope.cfg not found: not a file, nor a config shipped in {flagfiles.CONFIGS}")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("program, flag", [("train", "workdir"), ("export", "workdir"), ("reproduce", "results_dir")])
def test_a_folder_flag_naming_a_file_is_one_line_and_leaves_the_file(program, flag, tmp_path):
    target = tmp_path / "a_file"
    target.write_text("mine")
    needs = {"train": ["--flagfile=mnist.cfg"], "reproduce": ["--dataset=mnist"]}.get(program, [])
    args = [program, *needs, f"--{flag}={target}"]
    proc = _command(args, tmp_path)
    assert proc.returncode == 1 and proc.stderr.strip() == (
        f"{program}.py: error: --{flag}={target} is a file; it must name a folder (new or existing)")
    assert target.read_text() == "mine" and os.listdir(tmp_path) == ["a_file"]


def test_prepare_workdir_refuses_a_file_in_one_line(tmp_path):
    from tfgvae.training.config import TrainConfig
    from tfgvae.training.train import prepare_workdir
    target = tmp_path / "a_file"
    target.write_text("mine")
    with pytest.raises(ValueError, match=f"^workdir {target} is a file; it must name a folder"):
        prepare_workdir(TrainConfig.from_dict({"epochs": 1}), str(target))
    assert target.read_text() == "mine"


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def test_nested_flagfiles_resolve_relative_to_the_including_file(tmp_path, monkeypatch):
    _write(tmp_path / "mine" / "base" / "protocol.cfg", "# a comment\n\n--epochs=7\n// another\n--seed=3\n")
    top = _write(tmp_path / "mine" / "run.cfg", "--flagfile=base/protocol.cfg\n  --structure=fc  \n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # absl would look for base/protocol.cfg here
    assert flagfiles.expand([f"--flagfile={top}", "--seed=4"]) == ["--epochs=7", "--seed=3", "--structure=fc", "--seed=4"]
    assert flagfiles.expand(["--flagfile", top, "--", "--flagfile=x"])[-2:] == ["--", "--flagfile=x"]
    origins = flagfiles.expand_with_origins([f"--flagfile={top}"])
    assert origins[1] == ("--seed=3", (os.path.join(os.path.dirname(top), "base/protocol.cfg"), 5))
    config, _ = config_from_flagfile(top)
    assert (config.schedule.epochs, config.seed, config.model.structure) == (7, 3, "fc")


def test_a_config_name_resolves_to_the_shipped_one_unless_the_folder_has_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shipped = os.path.join(flagfiles.CONFIGS, "mnist_vae.cfg")
    assert flagfiles.resolve("mnist_vae") == flagfiles.resolve("mnist_vae.cfg") == shipped
    assert flagfiles.resolve("configs/mnist_vae.cfg") == shipped
    local = _write(tmp_path / "configs" / "mnist_vae.cfg", "--structure=vae\n--num_nodes=1\n--epochs=5\n")
    assert flagfiles.resolve("configs/mnist_vae.cfg") == "configs/mnist_vae.cfg" and os.path.exists(local)
    assert config_from_flagfile("configs/mnist_vae.cfg")[0].schedule.epochs == 5  # the local file
    config, workdir = config_from_flagfile("mnist_vae")
    assert (config.model.structure, config.model.latent_dim, config.schedule.epochs, workdir) == (
        "vae", 80, 2000, "runs/mnist_vae")


@pytest.mark.parametrize("text,message", [
    ("--flagfile=loop.cfg\n", "flagfile {tmp}/loop.cfg includes itself"),
    ("--flagfile=missing.cfg\n", "flagfile missing.cfg (named in {tmp}/loop.cfg) not found"),
])
def test_a_bad_nested_flagfile_is_one_line(tmp_path, text, message):
    loop = _write(tmp_path / "loop.cfg", text)
    with pytest.raises(ValueError) as raised:
        flagfiles.expand([f"--flagfile={loop}"])
    assert str(raised.value).startswith(message.format(tmp=tmp_path)) and "\n" not in str(raised.value)


def test_every_structure_config_is_a_few_lines_on_its_datasets_base():
    """The paper's protocol is written once (base/paper.cfg); a dataset's base adds the dataset."""
    for path in glob.glob(os.path.join(flagfiles.CONFIGS, "*.cfg")):
        with open(path) as f:
            flags_ = [line for line in f.read().splitlines() if line.startswith("--")]
        assert flags_[0].startswith("--flagfile=base/") and len(flags_) <= 8, path
    for path in glob.glob(os.path.join(flagfiles.CONFIGS, "base", "*.cfg")):
        if not path.endswith("paper.cfg"):
            with open(path) as f:
                assert "--flagfile=paper.cfg" in f.read().splitlines(), path


@pytest.mark.slow
def test_an_installed_package_trains_from_a_config_name_outside_the_checkout(tmp_path, tiny_data):
    """``pip install`` of the package into a fresh virtual environment, then ``tfgvae train`` with a
    shipped config's name from a folder that has no configs/."""
    import shutil

    source = tmp_path / "source"
    shutil.copytree(os.path.join(ROOT, "tfgvae"), source / "tfgvae", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(os.path.join(ROOT, "setup.py"), source)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv), "--system-site-packages"], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-deps", str(source)], check=True, timeout=600)
    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TFGVAE_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.run([str(venv / "bin" / "tfgvae"), "train", "--flagfile=mnist_ladder.cfg", f"--data_dir={tiny_data}",
                           "--workdir=run", "--epochs=1", "--steps_per_epoch=2", "--validation_steps=1",
                           "--batch_size=8", "--nojit_compile", "--noexport"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    code = "import tfgvae.experiments.reproduce as r; print(r.config_file('mnist', 'fc'))"
    where = subprocess.run([str(venv / "bin" / "python"), "-c", code], cwd=work, env=env, capture_output=True,
                           text=True, check=True).stdout.strip()
    assert where.startswith(str(venv)) and os.path.isfile(where)
    with open(work / "run" / "config.json") as f:
        assert '"structure": "ladder"' in f.read()
