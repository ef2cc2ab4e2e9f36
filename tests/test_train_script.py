"""bin/train.py end to end: every shipped config on tiny data, and bad input."""
import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(c for c in glob.glob(os.path.join(ROOT, "configs", "*.cfg"))
                 if not os.path.basename(c).startswith("tune_"))
TINY = ["--epochs=2", "--steps_per_epoch=2", "--validation_steps=1", "--batch_size=8",
        "--nojit_compile", "--verbose=2"]


def run_train(args, tmp_path, data_dir):
    env = dict(os.environ, TFGVAE_CACHE_DIR=str(tmp_path / "cache"), TF_CPP_MIN_LOG_LEVEL="2")
    if data_dir is not None:
        env["TFGVAE_DATA_DIR"] = data_dir
    else:
        env.pop("TFGVAE_DATA_DIR", None)
    return subprocess.run([sys.executable, os.path.join(ROOT, "bin", "train.py"), *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)


def test_every_config_is_shipped():
    names = {os.path.basename(c) for c in CONFIGS}
    for dataset in ("mnist", "binarized_mnist", "omniglot", "cifar10"):
        assert {f"{dataset}.cfg", f"{dataset}_fc.cfg", f"{dataset}_ladder.cfg",
                f"{dataset}_vae.cfg"} <= names


# Through bin/train.py in a subprocess, exported and reloaded: the Graph VAE configs of MNIST,
# Omniglot and CIFAR-10 (Bernoulli and Gaussian) and the encoder ablation. The others differ from
# these in structure or data file only: they train in process (below), and through the script
# as well under -m slow.
SCRIPT_CONFIGS = [os.path.join(ROOT, "configs", n) for n in
                  ("mnist.cfg", "omniglot.cfg", "cifar10.cfg", "mnist_fc_encoder.cfg")]
VARIANT_CONFIGS = [c for c in CONFIGS if c not in SCRIPT_CONFIGS]


@pytest.mark.parametrize("config", VARIANT_CONFIGS, ids=os.path.basename)
def test_variant_config_trains_in_process(config, tmp_path, tiny_data, monkeypatch):
    """Every baseline config, parsed by absl as bin/train.py parses it, trains end to end into a
    temp dir (train.train_and_evaluate, without the SavedModel: --noexport)."""
    from tfgvae.training import train
    from tfgvae.training.config import config_from_flagfile

    monkeypatch.setenv("TFGVAE_CACHE_DIR", str(tmp_path / "cache"))
    export = tmp_path / "export"
    run, workdir = config_from_flagfile(config, data_dir=tiny_data, export_dir=export, export=False,
                                        epochs=2, steps_per_epoch=2, validation_steps=1, batch_size=8,
                                        jit_compile=False, verbose=0)
    name = os.path.basename(config)
    suffix = name[:-len(".cfg")].rsplit("_", 1)[-1]
    assert workdir == f"runs/{name[:-len('.cfg')]}"
    assert run.model.structure == (suffix if suffix in ("fc", "ladder", "vae") else "graph")
    results = train.train_and_evaluate(run, str(tmp_path / "run"))
    assert all(np.isfinite(results[k]) for k in ("elbo", "kl", "reconstruction")), results
    assert glob.glob(str(tmp_path / "run" / "checkpoints" / "ckpt-2.index"))
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["structure"] == run.model.structure and saved["metrics"]["elbo"] == pytest.approx(results["elbo"])
    assert (tmp_path / "run" / "structure.json").exists() and not export.exists()


@pytest.mark.parametrize("config", [pytest.param(c, marks=pytest.mark.slow) if c in VARIANT_CONFIGS else c
                                    for c in CONFIGS], ids=os.path.basename)
def test_config_trains_exports_and_reloads(config, tmp_path, tiny_data):
    import tensorflow as tf

    workdir, export = tmp_path / "run", tmp_path / "export"
    proc = run_train([f"--flagfile={config}", f"--workdir={workdir}", f"--export_dir={export}", *TINY],
                     tmp_path, tiny_data)
    assert proc.returncode == 0, proc.stderr[-3000:]
    train_proc = proc  # the evaluation below reuses the name
    assert glob.glob(str(workdir / "checkpoints" / "ckpt-2.index"))
    for name in ("results.json", "gate_history.json", "structure.json", "structure.dot",
                 "structure.png", "gate_history.png"):
        assert (workdir / name).exists(), name
    assert glob.glob(str(workdir / "logs" / "train" / "events.out.tfevents.*"))
    loaded = tf.saved_model.load(str(export))
    dim = 3072 if "cifar" in os.path.basename(config) else 784
    x = np.random.default_rng(0).random((3, dim)).astype(np.float32)
    means = loaded.serve(tf.constant(x))["means"].numpy()
    assert means.shape == (3, dim) and np.all((means >= 0) & (means <= 1))
    name = os.path.basename(config)
    if "_" not in name.replace("binarized_mnist", "bm"):  # each dataset's Graph VAE: evaluate it too
        env = dict(os.environ, TFGVAE_DATA_DIR=tiny_data, TFGVAE_CACHE_DIR=str(tmp_path / "cache"))
        proc = subprocess.run(
            [sys.executable, os.path.join(ROOT, "bin", "evaluate.py"), f"--workdir={workdir}",
             "--num_importance_samples=4", "--chunk_size=2", "--batch_size=4", "--limit=8",
             f"--output={tmp_path / 'eval.json'}"], cwd=tmp_path, env=env, capture_output=True,
            text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "LL" in proc.stdout and "note:" in proc.stdout
        results = json.loads((tmp_path / "eval.json").read_text())
        assert np.isfinite(results["log_likelihood"]) and results["num_examples"] == 8
        assert ("bits_per_dim" in results) == name.startswith("cifar10")
    if name != "mnist.cfg":
        return
    # The console: one compact line per epoch, no per-gate or per-node metrics, no TF start-up noise.
    lines = [l for l in train_proc.stdout.splitlines() if l.startswith("epoch ")]
    assert [l.split()[1] for l in lines] == ["1/2", "2/2"], train_proc.stdout
    assert "tau" in lines[0] and "gates on" in lines[0] and "val elbo" in lines[0]
    assert "gate_2_1" not in train_proc.stdout and "kl_node" not in train_proc.stdout
    for noise in ("absl::InitializeLog", "cudart_stub", "cuInit", "oneDNN", "cpu_feature_guard"):
        assert noise not in train_proc.stderr, train_proc.stderr
    assert f"SavedModel: {export}" in train_proc.stdout and "results.json" in train_proc.stdout
    # TensorBoard: pictures at the last epoch (step 2), scalars from epoch 1, validation once.
    tags = {}
    for path in glob.glob(str(workdir / "logs" / "**" / "events.out.tfevents.*"), recursive=True):
        for record in tf.data.TFRecordDataset(path):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                tags.setdefault(value.tag, set()).add(event.step)
    for tag in ("structure/dag", "structure/gate_means", "samples", "reconstructions"):
        assert tags.get(tag) == {2}, (tag, sorted(tags))
    assert tags["epoch_elbo"] == {1, 2} and not [t for t in tags if t.startswith("evaluation_")]
    # Re-running the finished command resumes from its checkpoint instead of training again
    # (--noexport: a resumable flag; the SavedModel above stays as it was).
    mtime = os.path.getmtime(export / "saved_model.pb")
    proc = run_train([f"--flagfile={config}", f"--workdir={workdir}", f"--export_dir={export}", *TINY,
                      "--noexport"], tmp_path, tiny_data)
    assert proc.returncode == 0 and "Resuming" in proc.stdout, proc.stderr[-3000:]
    assert "SavedModel: not written (--noexport)" in proc.stdout
    assert os.path.getmtime(export / "saved_model.pb") == mtime
    def refused(epochs, message):  # one line, and config.json still says what was trained
        tiny = [a if a != "--epochs=2" else f"--epochs={epochs}" for a in TINY]
        proc = run_train([f"--flagfile={config}", f"--workdir={workdir}", *tiny, "--noexport"], tmp_path, tiny_data)
        assert proc.returncode != 0 and proc.stderr.strip().splitlines()[-1] == f"train.py: error: {workdir} {message}"
        assert json.loads((workdir / "config.json").read_text())["schedule"]["epochs"] == 2

    # Fewer epochs than the run has done.
    refused(1, "was trained for 4 steps (2 epochs), more than --epochs=1: use a new --workdir or --epochs >= 2")
    from tfgvae.training.config import config_from_flagfile
    if config_from_flagfile(config)[0].schedule.kl_warmup_epochs:  # mnist.cfg: a warm-up of fixed length
        longer = [a if a != "--epochs=2" else "--epochs=3" for a in TINY]
        proc = run_train([f"--flagfile={config}", f"--workdir={workdir}", *longer, "--noexport"],
                         tmp_path, tiny_data)  # more epochs train the run on
        assert proc.returncode == 0 and "Resuming" in proc.stdout, proc.stderr[-3000:]
        assert glob.glob(str(workdir / "checkpoints" / "ckpt-6.index"))
        return
    # More epochs on a run with a KL warm-up of half the run would stretch the warm-up from 1 to
    # 1.5 epochs after it ended.
    refused(3, "warms the KL up over 0.5 of its 2 epochs: --epochs=3 would change the warm-up mid-run; "
               "use a new --workdir or --epochs=2")
    assert not glob.glob(str(workdir / "checkpoints" / "ckpt-6.index"))


def test_more_epochs_resume_a_run_only_without_kl_warmup(tmp_path):
    """A larger budget trains a started run on when its schedule does not depend on the run's length
    (no warm-up); with a warm-up (W = fraction x epochs) it is refused, as is fewer epochs than done."""
    from tfgvae.training.config import TrainConfig
    from tfgvae.training.train import check_budget

    for fraction in (0.0, 0.25):
        workdir = tmp_path / f"w{fraction}"
        workdir.mkdir()
        planned, longer, shorter = (TrainConfig.from_dict(dict(epochs=e, kl_warmup_fraction=fraction))
                                    for e in (4, 6, 1))
        (workdir / "config.json").write_text(json.dumps(planned.to_dict()))
        check_budget(planned, str(workdir), done=10, steps=5)
        check_budget(longer, str(workdir), done=0, steps=5)  # nothing trained yet: any budget
        with pytest.raises(ValueError, match="--epochs >= 2"):
            check_budget(shorter, str(workdir), done=10, steps=5)
        if fraction:
            with pytest.raises(ValueError, match="over 0.25 of its 4 epochs: --epochs=6 would change"):
                check_budget(longer, str(workdir), done=10, steps=5)
        else:
            check_budget(longer, str(workdir), done=10, steps=5)


@pytest.mark.parametrize("args,message", [
    (["--structure=tree"], "--structure"),
    (["--num_nodes=3"], "not divisible by num_nodes"),
    (["--structure=vae"], "num_nodes=1"),
    (["--node_dim=10"], "node_dim"),
    (["--batch_size=0"], "batch_size"),
    (["--dataset=imagenet"], "unknown dataset"),
])
def test_bad_flags_fail_with_one_line(args, message, tmp_path, tiny_data):
    proc = run_train([f"--flagfile={ROOT}/configs/mnist.cfg", f"--workdir={tmp_path}/w", *args],
                     tmp_path, tiny_data)
    assert proc.returncode != 0
    lines = [l for l in proc.stderr.strip().splitlines() if l.strip()]
    assert message in lines[0] or message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_data_fails_with_one_line(tmp_path):
    empty = tmp_path / "nodata"
    empty.mkdir()
    proc = run_train([f"--flagfile={ROOT}/configs/mnist.cfg", f"--workdir={tmp_path}/w"], tmp_path,
                     str(empty))
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "train-images-idx3-ubyte.gz" in last and "TFGVAE_DATA_DIR" in last, proc.stderr
    assert not os.path.exists(tmp_path / "w")


def test_steps_per_execution_divides_every_fit_call_and_0_picks_one():
    from tfgvae.training.train import steps_per_execution

    epoch = "training steps of an epoch"
    assert steps_per_execution(0, {781: epoch}) == 11  # MNIST at batch 64: 11 x 71
    assert steps_per_execution(0, {703: epoch}) == 19  # CIFAR-10: 19 x 37
    assert steps_per_execution(0, {271: epoch}) == 1  # Omniglot: prime
    assert steps_per_execution(0, {2: epoch}) == 2
    assert steps_per_execution(0, {780: epoch}) == 20  # the most it picks
    # A run interrupted at step 11 * 20 of a 781-step epoch has 561 = 11 x 51 left.
    assert steps_per_execution(0, {781: epoch, 561: "steps left"}) == 11
    assert steps_per_execution(0, {781: epoch, 281: "steps left"}) == 1
    assert steps_per_execution(11, {781: epoch, 561: "steps left"}) == 11
    with pytest.raises(ValueError, match="does not divide the 281 steps left"):
        steps_per_execution(11, {781: epoch, 281: "steps left"})
    # Epochs that end with their data (registered data and arrays): any k, and 0 picks the most.
    assert steps_per_execution(0, {937: epoch}, bounded=True) == 20  # all 60,000 MNIST images: prime
    assert steps_per_execution(7, {937: epoch, 281: "steps left"}, bounded=True) == 7


def test_help_lists_this_programs_flags_as_the_flag_reference_does(tmp_path):
    """--help against the flag reference page that the docs build generates (docs/reference/flags.md:
    ``tfgvae.reference``): the same flags, each enum with the same choices."""
    import re

    from tfgvae import reference

    proc = run_train(["--help"], tmp_path, None)
    assert proc.returncode == 0, proc.stderr[-2000:]
    shown = set(re.findall(r"^  --(?:\[no\])?(\w+):", proc.stdout, re.M))
    from tfgvae.core.structure import STRUCTURES
    assert f"--structure: <{'|'.join(STRUCTURES)}>" in proc.stdout and "tpu_address" in shown
    from tfgvae.data import DATASETS
    dataset_help = proc.stdout.split("--dataset:")[1].split("\n  --")[0]
    assert all(name in dataset_help for name in DATASETS) and ".npz" in dataset_help, dataset_help
    assert not [f for f in shown if f.startswith(("xla", "tpu_", "test_")) and f != "tpu_address"
                and not f.startswith("test_ll_")]  # absl's and TF's own test flags
    with open(os.path.join(ROOT, "docs", "reference", "flags.md")) as f:
        assert "<!-- reference: flags train -->" in f.read()
    rows = [line.split(" | ") for line in reference.render("flags train").splitlines()[2:]]
    documented = {row[0].strip("|` ").removeprefix("--"): row[3] for row in rows}
    assert set(documented) == shown, set(documented) ^ shown
    for name, choices in documented.items():
        if choices:
            assert f"--{name}: <{'|'.join(re.findall(r'`([^`]+)`', choices))}>" in proc.stdout, name


def test_stray_flagfile_line_is_named_with_file_and_line(tmp_path):
    from tfgvae import cli

    bad = tmp_path / "bad.cfg"
    bad.write_text("# a comment\n--dataset=mnist\nthis is not a flag = 3\n")
    proc = run_train([f"--flagfile={bad}", f"--workdir={tmp_path}/w"], tmp_path, None)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        f"train.py: error: {bad}, line 3: 'this is not a flag = 3' is not a flag (write "
        "--name=value; comments start with #)")
    assert "on the command line" in cli.stray_arguments_message(["oops"], ["train.py", "oops"])
