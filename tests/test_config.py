"""TrainConfig -> ModelConfig: shared fields by name, derived ones from the data; one set of checks."""
import dataclasses
import json

import pytest

from tfgvae.training.config import TrainConfig
from tfgvae.core.model import ModelConfig


def test_model_config_carries_every_shared_field_and_derives_the_rest():
    run = TrainConfig(structure="custom", num_nodes=3, latent_dim=12, decode_from="first",
                      per_example_gates=False, head_hidden=40, gate_init=0.3, gate_lr_multiplier=5.0,
                      adjacency=((0, 0, 0), (1, 0, 0), (1, 1, 0)), encoder_graph="fc")
    got = run.model_config(100, "gaussian")
    want = ModelConfig(input_dim=100, num_nodes=3, node_dim=4, structure="custom", likelihood="gaussian",
                       decode_from="first", per_example_gates=False, head_hidden=40, gate_init=0.3,
                       gate_lr_multiplier=5.0, adjacency=((0, 0, 0), (1, 0, 0), (1, 1, 0)),
                       freezable_gates=False, encoder_graph="fc")
    assert got == want
    assert TrainConfig(freeze_structure_epoch=2).model_config(784, "bernoulli").freezable_gates
    shared = {f.name for f in dataclasses.fields(ModelConfig)} & {f.name for f in dataclasses.fields(TrainConfig)}
    assert shared >= {"structure", "num_nodes", "decode_from", "per_example_gates", "head_hidden",
                      "gate_init", "gate_lr_multiplier", "adjacency", "encoder_graph"}


@pytest.mark.parametrize("change,message", [
    (dict(gate_init=1.0), "gate_init"), (dict(gate_lr_multiplier=0.0), "gate_lr_multiplier"),
    (dict(head_hidden=0), "head_hidden"), (dict(encoder_graph="tree"), "encoder_graph"),
    (dict(decode_from="last"), "decode_from"), (dict(num_nodes=3), "not divisible"),
])
def test_a_bad_architecture_field_is_refused_when_the_run_is_configured(change, message):
    with pytest.raises(ValueError, match=message) as raised:
        TrainConfig(**change)
    assert "\n" not in str(raised.value)


def test_a_config_json_without_head_init_predates_it_and_loads_as_stacked(tmp_path):
    config = TrainConfig()
    assert config.head_init == "per_node"
    values = config.to_dict()
    del values["head_init"]
    (tmp_path / "config.json").write_text(json.dumps(values))
    assert TrainConfig.load(str(tmp_path)).head_init == "stacked"
    (tmp_path / "config.json").write_text(json.dumps(config.to_dict()))
    assert TrainConfig.load(str(tmp_path)) == config
