"""analysis/node_kl.py on TensorBoard logs written here by tf.summary, as Keras writes them."""
import json
import os
import sys

import pytest
import tensorflow as tf

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "analysis"))
import node_kl  # noqa: E402


def _log(run, rows):
    writer = tf.summary.create_file_writer(str(run / "logs" / "validation"))
    with writer.as_default():
        for epoch, kl in rows.items():
            tf.summary.scalar("epoch_kl", sum(kl), step=epoch)
            for i, value in enumerate(kl):
                tf.summary.scalar(f"epoch_kl_node_{i + 1}", value, step=epoch)
    writer.close()


def test_reads_per_node_kl_and_picks_epochs(tmp_path, capsys):
    run = tmp_path / "ladder_seed0"
    _log(run, {1: [0.5, 2.0, 3.0], 2: [0.25, 2.5, 3.5], 4: [0.0, 3.0, 4.0]})
    out = tmp_path / "kl.json"
    table = node_kl.main([str(run), "--epochs=2,3,10", f"--output={out}"])
    assert list(table["ladder_seed0"]) == [2, 4]  # 3 -> the last logged epoch <= 3 is 2; 10 -> 4
    assert table["ladder_seed0"][4] == pytest.approx([0.0, 3.0, 4.0])
    assert json.loads(out.read_text())["ladder_seed0"]["2"] == pytest.approx([0.25, 2.5, 3.5])
    assert "sum 7.00" in capsys.readouterr().out


def test_a_one_node_run_gives_its_total_kl(tmp_path):
    writer = tf.summary.create_file_writer(str(tmp_path / "vae" / "logs" / "validation"))
    with writer.as_default():
        tf.summary.scalar("epoch_kl", 21.5, step=3)
        tf.summary.scalar("epoch_kl_x", 1.0, step=3)  # not a KL of the nodes
    writer.close()
    assert node_kl.node_kl_history(str(tmp_path / "vae")) == {3: [pytest.approx(21.5)]}


def test_refuses_a_run_without_node_kl(tmp_path):
    (tmp_path / "logs" / "validation").mkdir(parents=True)
    with pytest.raises(ValueError, match="no epoch_kl"):
        node_kl.node_kl_history(str(tmp_path))
