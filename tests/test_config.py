"""TrainConfig: one ModelConfig and one Schedule inside it, every setting declared once (its flag,
default, choices and help come from its field), and config.json in the nested and the flat form."""
import dataclasses
import json
import os

import pytest
from absl import flags

from tfgvae.core.model import ModelConfig
from tfgvae.core.schedules import Schedule
from tfgvae.settings import flag
from tfgvae.training import config as config_module
from tfgvae.training.config import TrainConfig
from tfgvae.training.train import prepare_workdir

HERE = os.path.dirname(os.path.abspath(__file__))
# config.json files as TrainConfig.to_dict() wrote them before the nested form: every setting at the
# top level under its flag name. "finished_run" is the config.json of a finished 10-epoch MNIST run.
with open(os.path.join(HERE, "config_json_flat.json")) as f:
    FLAT = json.load(f)


def _flags():
    fv = flags.FlagValues()
    config_module.define_flags(fv)
    return fv


def test_the_run_holds_a_model_config_and_a_schedule_and_copies_none_of_their_fields():
    run = TrainConfig.from_dict(dict(structure="custom", num_nodes=3, latent_dim=12, decode_from="first",
                                     per_example_gates=False, head_hidden=40, gate_init=0.3, gate_lr_multiplier=5.0,
                                     adjacency=((0, 0, 0), (1, 0, 0), (1, 1, 0)), encoder_graph="fc",
                                     dataset="cifar10", epochs=7, kl_warmup_fraction=0.25))
    assert run.model == ModelConfig(input_dim=3072, num_nodes=3, node_dim=4, structure="custom",
                                    likelihood="gaussian", decode_from="first", per_example_gates=False,
                                    head_hidden=40, gate_init=0.3, gate_lr_multiplier=5.0,
                                    adjacency=((0, 0, 0), (1, 0, 0), (1, 1, 0)), encoder_graph="fc")
    assert run.schedule == Schedule(kl_warmup_fraction=0.25, epochs=7)
    assert TrainConfig.from_dict(dict(freeze_structure_epoch=2)).model.freezable_gates
    names = [f.name for cls in (TrainConfig, ModelConfig, Schedule) for f in dataclasses.fields(cls)]
    assert len(names) == len(set(names)) and "latent_dim" not in names  # a flag name names one setting


def test_every_flag_is_one_field_with_its_default_choices_and_help():
    fv = _flags()
    owners = {f.name: (f, DEFAULT) for f, DEFAULT in
              [(f, TrainConfig()) for f in dataclasses.fields(TrainConfig)] +
              [(f, TrainConfig().model) for f in dataclasses.fields(ModelConfig)] +
              [(f, TrainConfig().schedule) for f in dataclasses.fields(Schedule)]}
    assert set(fv) - set(owners) == {"workdir", "latent_dim"}  # M: N' = M / N
    for name in set(fv) - {"workdir", "latent_dim"}:
        field, owner = owners[name]
        flag = fv[name]
        assert flag.help.endswith(field.metadata["help"]), name
        assert flag.default == field.metadata.get("flag_default", getattr(owner, name)), name
        assert tuple(getattr(flag.parser, "enum_values", None) or ()) == (field.metadata["choices"] or ()), name
    helped = {f.name for cls in (TrainConfig, ModelConfig, Schedule) for f in dataclasses.fields(cls)
              if f.metadata.get("help")}
    assert helped == set(fv) - {"workdir", "latent_dim"}
    assert fv["epochs"].default == 2000 and fv["kl_warmup_fraction"].default == 0.5 == Schedule().kl_warmup_fraction


def test_a_new_field_is_a_flag_a_setting_and_a_config_json_entry(monkeypatch):
    """What a new setting takes: one field, with its default, help and choices."""
    @dataclasses.dataclass(frozen=True)
    class Extended(Schedule):
        warmup_shape: str = dataclasses.field(default="linear", metadata=flag(
            "Shape of the KL warm-up.", choices=("linear", "cosine")))

    monkeypatch.setattr(config_module, "DEFAULTS", dataclasses.replace(
        config_module.DEFAULTS, schedule=Extended(**dataclasses.asdict(config_module.DEFAULTS.schedule))))
    monkeypatch.setattr(config_module, "SCHEDULE_FIELDS", config_module.SCHEDULE_FIELDS | {"warmup_shape"})
    fv = _flags()
    assert fv["warmup_shape"].default == "linear" and fv["warmup_shape"].parser.enum_values == ["linear", "cosine"]
    with pytest.raises(flags.IllegalFlagValueError):
        fv(["train", "--warmup_shape=square"])
    fv(["train", "--warmup_shape=cosine", "--epochs=3"])
    run = config_module.config_from_flags(fv)
    assert run.schedule.warmup_shape == "cosine" and run.to_dict()["schedule"]["warmup_shape"] == "cosine"
    assert TrainConfig.from_dict(json.loads(json.dumps(run.to_dict()))) == run


@pytest.mark.parametrize("change,message", [
    (dict(gate_init=1.0), "gate_init"), (dict(gate_lr_multiplier=0.0), "gate_lr_multiplier"),
    (dict(head_hidden=0), "head_hidden"), (dict(encoder_graph="tree"), "encoder_graph"),
    (dict(decode_from="last"), "decode_from must be one of first, all"), (dict(num_nodes=3), "not divisible"),
    (dict(strategy="gpu"), "strategy must be one of"), (dict(node_dim=4), "node_dim N'=4 x num_nodes N=5 != "),
    (dict(epochs=0), "epochs must be >= 1"), (dict(batch_size=0), "batch_size must be >= 1"),
])
def test_a_bad_setting_is_refused_with_one_line(change, message):
    with pytest.raises(ValueError, match=message) as raised:
        TrainConfig.from_dict(change)
    assert "\n" not in str(raised.value)


def test_a_run_needs_its_length():
    with pytest.raises(ValueError, match="a run needs its length"):
        TrainConfig(schedule=Schedule())


@pytest.mark.parametrize("name", sorted(FLAT))
def test_a_flat_config_json_loads_as_the_settings_it_names(name, tmp_path):
    flat = FLAT[name]
    (tmp_path / "config.json").write_text(json.dumps(flat))
    loaded = TrainConfig.load(str(tmp_path))
    settings = loaded.flat_dict()
    for key, value in flat.items():
        if key == "node_dim" and value is None:  # derived: M / N
            assert settings["node_dim"] * settings["num_nodes"] == flat["latent_dim"]
        elif key == "likelihood" and value is None:  # the registered dataset's
            assert settings["likelihood"] in ("bernoulli", "gaussian")
        else:
            assert json.loads(json.dumps(settings[key])) == value, key
    assert TrainConfig.from_dict(json.loads(json.dumps(loaded.to_dict()))) == loaded  # the nested form
    assert TrainConfig.from_dict(loaded.flat_dict()) == loaded
    assert TrainConfig.load(str(tmp_path)) == TrainConfig.from_dict(flat)


def test_a_run_with_a_flat_config_json_resumes_with_the_same_flags_and_is_refused_with_others(tmp_path):
    """The config.json of a finished run (flat) against the settings its flags give today."""
    flat = FLAT["finished_run"]
    args = [f"--{k}={v}" for k, v in flat.items() if v is not None and k != "node_dim"]
    fv = _flags()
    fv(["train", *args])
    same = config_module.config_from_flags(fv)
    workdir = str(tmp_path / "run")
    os.makedirs(workdir)
    (tmp_path / "run" / "config.json").write_text(json.dumps(flat))
    prepare_workdir(dataclasses.replace(same, verbose=2, schedule=dataclasses.replace(same.schedule, epochs=20)),
                    workdir, write=False)  # resumable settings may change
    for changed in (dataclasses.replace(same, model=dataclasses.replace(same.model, gate_init=0.3)),
                    dataclasses.replace(same, schedule=dataclasses.replace(same.schedule, temperature_decay=0.9)),
                    dataclasses.replace(same, learning_rate=0.01)):
        with pytest.raises(ValueError, match="holds a run with different settings"):
            prepare_workdir(changed, workdir, write=False)
    prepare_workdir(same, workdir)
    written = json.loads((tmp_path / "run" / "config.json").read_text())
    assert written["model"]["num_nodes"] == flat["num_nodes"] and "num_nodes" not in written
    assert TrainConfig.load(workdir) == same


def test_a_config_json_without_head_init_predates_it_and_loads_as_stacked(tmp_path):
    config = TrainConfig()
    assert config.model.head_init == "per_node"
    values = config.flat_dict()
    del values["head_init"]
    (tmp_path / "config.json").write_text(json.dumps(values))
    assert TrainConfig.load(str(tmp_path)).model.head_init == "stacked"
    (tmp_path / "config.json").write_text(json.dumps(config.to_dict()))
    assert TrainConfig.load(str(tmp_path)) == config


def test_the_sparse_config_has_no_kl_warm_up_whatever_its_base_sets():
    """mnist_sparse.cfg's price per edge needs the KL weight at 1 from the first step (its comment);
    base/mnist.cfg's fixed 10-epoch warm-up must not leak through, so no warm-up step remains."""
    from tfgvae.training.config import config_from_flagfile

    configs = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")
    run, _ = config_from_flagfile(os.path.join(configs, "mnist_sparse.cfg"))
    assert run.model.edge_cost == 0.1 and run.train_split == "train"
    assert run.schedule.resolved(781, None).kl_warmup_steps == 0
    base, _ = config_from_flagfile(os.path.join(configs, "mnist.cfg"))
    assert base.schedule.resolved(937, None).kl_warmup_steps == 9370
