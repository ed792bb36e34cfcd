import pytest

from redes.config import Config, config_keys, describe_keys, load_config
from redes.errors import RedesError, RedesWarning


def test_defaults_are_the_documented_default_run():
    cfg = load_config()
    assert cfg.data.name == "digits"
    assert cfg.model.hidden == [128, 64]
    assert cfg.train.engine == "module" and cfg.train.sampler == "shuffle"


def test_yaml_file_then_overrides_win(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train: {epochs: 7, batch_size: 16}\nmodel: {hidden: [8]}\n")
    cfg = load_config(path, ["train.epochs=3", "model.hidden=[4, 5]", "model.activation=[tanh, relu]"])
    assert cfg.train.epochs == 3 and cfg.train.batch_size == 16
    assert cfg.model.hidden == [4, 5] and cfg.model.activation == ["tanh", "relu"]


def test_resolved_yaml_round_trips(tmp_path):
    cfg = load_config(overrides=["optimizer.name=sgd", "regularization.l1=0.01"])
    path = tmp_path / "resolved.yaml"
    path.write_text(cfg.to_yaml())
    assert load_config(path) == cfg


@pytest.mark.parametrize("override, message", [
    ("train.epoch=3", r"unknown config key 'train.epoch' \(did you mean 'train.epochs'\?\)"),
    ("modle.hidden=[3]", r"unknown config key 'modle' \(did you mean 'model'\?\)"),
    ("train.epochs=abc", r"train.epochs.*expected int, got 'abc'"),
    ("optimizer.lr=-1", r"optimizer.lr.*greater than 0"),
    ("data.name=cifar", r"data.name.*'digits'.*got 'cifar'"),
    ("model.activation=rlu", r"unknown activation 'rlu' \(did you mean 'relu'\?\)"),
    ("model.activation=Relu", r"unknown activation 'Relu' \(did you mean 'relu'\?\)"),  # not 'elu'
    ("model.activation=swish", r"unknown activation 'swish'; the activations are relu, tanh, sigmoid, .*identity"),
    ("model.dropout=[0.1]", r"model.dropout: 1 values for 2 hidden layers"),
    ("train.device=gpu", r"train.device"),
    ("data.val_fraction=0.9", r"val_fraction \+ data.test_fraction must be below 1"),
    ("optimizer.nesterov=true", r"nesterov needs"),
    ("noequals", r"expected KEY=VALUE"),
])
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(RedesError, match=message):
        load_config(overrides=[override])


def test_missing_and_garbled_files(tmp_path):
    with pytest.raises(RedesError, match=r"config file .*nope.yaml not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: {epochs: 3\n  batch: [\n")
    with pytest.raises(RedesError, match=r"bad.yaml: not valid YAML at line"):
        load_config(bad)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(RedesError, match=r"list.yaml: expected a mapping"):
        load_config(listing)


def test_every_key_is_described_with_its_default():
    keys = {key for key, *_ in config_keys()}
    for section, field in Config.model_fields.items():
        assert {f"{section}.{name}" for name in field.annotation.model_fields} <= keys
    assert all(description for *_, description in config_keys())
    text = describe_keys()
    assert "train.epochs = 30" in text and "model.hidden = [128, 64]" in text


def test_the_old_names_of_train_backward_still_work_with_a_one_line_warning(cli):
    with pytest.warns(RedesWarning, match="train.backward=naive is now called train.backward=recompute"):
        assert load_config(overrides=["train.engine=manual", "train.backward=naive"]).train.backward == "recompute"
    result = cli("config", "--set", "train.engine=manual", "--set", "train.backward=fast")
    assert result.status == 0 and "backward: reuse" in result.out
    assert result.err == ("redes: warning: train.backward=fast is now called train.backward=reuse; the old name "
                          "will stop working in a later release\n")
