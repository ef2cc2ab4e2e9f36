"""tf.distribute: MirroredStrategy on 2 logical CPUs == one device; a 2-worker cluster stays in sync
and ends where one device does.

Strategies must be set up before TensorFlow initializes, so every run happens in a fresh
subprocess running this file as a script (``main`` below): it trains through
``train.train_and_evaluate`` and dumps the final weights and metrics to an .npz file.
"""
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# A tiny Graph VAE: 3 nodes so that gates, fusion and the node batch norm all take part.
TINY = dict(dataset="mnist", num_nodes=3, latent_dim=6, batch_size=8, epochs=2, steps_per_epoch=3,
            validation_steps=1, jit_compile=False, verbose=0, learning_rate=3e-3)


def main(out, *runs):
    """Script mode: for each JSON (workdir, config) in ``runs``, train and save weights to ``out``-k.npz."""
    sys.path.insert(0, ROOT)
    import keras

    keras.config.disable_traceback_filtering()  # full tracebacks in failing tests
    from tfgvae.training import train
    from tfgvae.training.config import TrainConfig

    if os.environ.get("TEST_OPTIMIZER") == "sgd":  # see test_mirrored_two_cpus_matches_one_device
        import keras

        keras.optimizers.Adam = keras.optimizers.SGD
    if os.environ.get("TEST_ADAM_EPSILON"):  # see test_two_worker_cluster_trains_in_sync
        import functools

        keras.optimizers.Adam = functools.partial(keras.optimizers.Adam,
                                                  epsilon=float(os.environ["TEST_ADAM_EPSILON"]))
    built, initial = [], []

    def build_model(*args):
        built.append(build(*args))
        initial.append([np.asarray(v) for v in built[-1].weights])
        return built[-1]

    build = train.build_model
    train.build_model = build_model
    for k, run in enumerate(runs):
        workdir, fields = json.loads(run)
        results = train.train_and_evaluate(TrainConfig.from_dict(fields), workdir)
        model = built[-1]
        arrays = {f"w{i}": np.asarray(v) for i, v in enumerate(model.weights)}
        arrays.update({f"i{i}": v for i, v in enumerate(initial[-1])})
        names = [v.path.split("/", 1)[-1] for v in model.weights]  # without the model's own name
        np.savez(f"{out}-{k}.npz", names=np.array(names), results=json.dumps(results), **arrays)


def run_script(tmp_path, data_dir, out, runs, env_extra=None, wait=True):
    env = dict(os.environ, TFGVAE_DATA_DIR=data_dir, TFGVAE_CACHE_DIR=str(tmp_path / "cache"),
               TF_CPP_MIN_LOG_LEVEL="2", **(env_extra or {}))
    args = [sys.executable, __file__, out, *[json.dumps(r) for r in runs]]
    if not wait:
        return subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    proc = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def load(path):
    with np.load(path) as f:
        weights = [f[f"w{i}"] for i in range(len(f["names"]))]
        moved = max(np.abs(f[f"w{i}"] - f[f"i{i}"]).max() for i in range(len(f["names"])))
        return list(f["names"]), weights, json.loads(str(f["results"])), moved


def test_mirrored_two_cpus_matches_one_device(tmp_path, tiny_data):
    """Same seeds and global batch: 2 replicas end with the one-device parameters (to 1e-5).

    Plain SGD stands in for Adam here: Adam divides by sqrt(v) + 1e-7, so a weight whose
    gradient is ~1e-7 (batch norm makes many such) turns float32 reduction-order noise into
    a whole step of difference, and Adam's scale invariance would hide a wrong loss scaling.
    """
    runs = [(str(tmp_path / name), dict(TINY, strategy=strategy, logical_cpus=2, learning_rate=1e-4,
                                       export_dir=str(tmp_path / f"export-{name}")))
            for name, strategy in (("one", "default"), ("two", "mirrored"))]
    run_script(tmp_path, tiny_data, str(tmp_path / "w"), runs, env_extra={"TEST_OPTIMIZER": "sgd"})
    names, one, res_one, moved = load(tmp_path / "w-0.npz")
    names2, two, res_two, _ = load(tmp_path / "w-1.npz")
    assert names == names2
    for name, a, b in zip(names, one, two):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5, err_msg=name)
    assert moved > 1e-2  # training moved the weights far beyond the tolerance
    for key in res_one:
        if key.startswith(("loss", "elbo", "kl", "reconstruction")):
            assert res_two[key] == pytest.approx(res_one[key], rel=1e-4, abs=1e-3), key


@pytest.mark.slow
def test_synchronized_batch_norm_is_what_makes_replicas_agree(tmp_path, tiny_data):
    """Without global moments, 2 replicas of 4 examples normalize differently: parameters drift."""
    runs = [(str(tmp_path / name), dict(TINY, strategy=strategy, logical_cpus=2, epochs=1,
                                       sync_batch_norm=False, learning_rate=1e-4,
                                       export_dir=str(tmp_path / f"export-{name}")))
            for name, strategy in (("one", "default"), ("two", "mirrored"))]
    run_script(tmp_path, tiny_data, str(tmp_path / "w"), runs, env_extra={"TEST_OPTIMIZER": "sgd"})
    _, one, _, _ = load(tmp_path / "w-0.npz")
    _, two, _, _ = load(tmp_path / "w-1.npz")
    assert max(np.abs(a - b).max() for a, b in zip(one, two)) > 1e-4


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_worker_cluster_trains_in_sync(tmp_path, tiny_data):
    """MultiWorkerMirroredStrategy over 127.0.0.1, with Adam: both workers end with identical
    weights, which are those of a one-device run of the same global batch, and only the chief
    (worker 0) writes into the shared workdir and the export.

    Adam's epsilon is raised to 1e-3 here: at 1e-7 a weight whose gradient is ~1e-7 turns float32
    reduction-order noise into a whole step (see test_mirrored_two_cpus_matches_one_device)."""
    cluster = {"worker": [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]}
    workdir, export = tmp_path / "run", tmp_path / "export"
    fields = dict(TINY, strategy="multi_worker", export_dir=str(export))
    adam = {"TEST_ADAM_EPSILON": "1e-3"}
    procs = [run_script(tmp_path, tiny_data, str(tmp_path / f"worker{i}"), [(str(workdir), fields)],
                        env_extra={**adam, "TF_CONFIG": json.dumps({"cluster": cluster,
                                                                    "task": {"type": "worker", "index": i}})},
                        wait=False)
             for i in range(2)]
    procs.append(run_script(tmp_path, tiny_data, str(tmp_path / "one"), [(str(tmp_path / "one_run"), dict(
        TINY, export_dir=str(tmp_path / "one_export")))], env_extra=adam, wait=False))
    try:
        outputs = [p.communicate(timeout=240) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (_, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-4000:]
    names, chief, res0, moved = load(tmp_path / "worker0-0.npz")
    _, other, res1, _ = load(tmp_path / "worker1-0.npz")
    assert moved > 1e-3
    for name, a, b in zip(names, chief, other):
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert res0 == res1
    one_names, one, _, _ = load(tmp_path / "one-0.npz")
    assert one_names == names
    for name, a, b in zip(names, chief, one):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-4, err_msg=name)
    assert sorted(os.listdir(workdir / "checkpoints"))[-1].startswith("ckpt-6")  # 2 epochs x 3 steps
    assert (workdir / "results.json").exists() and (export / "saved_model.pb").exists()
    # Nothing but the chief's files: no worker scratch copies left in the run or export folder.
    leftovers = [n for d in (workdir, workdir / "checkpoints", tmp_path) for n in os.listdir(d)
                 if n.startswith(".worker-")]
    assert not leftovers


if __name__ == "__main__":
    main(*sys.argv[1:])
