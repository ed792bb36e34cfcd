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


@pytest.mark.parametrize("setting, message", [
    ("train.seed=-1", "train.seed: Input should be greater than or equal to 0"),
    ("train.seed=4294967296", "train.seed: Input should be less than 4294967296"),
    ("optimizer.lr=.nan", "optimizer.lr: Input should be a finite number"),
    ("data.intercept=.inf", "data.intercept: Input should be a finite number"),
    ("regularization.l2=.inf", "regularization.l2: Input should be a finite number"),
    ("optimizer.betas=[1, 1]", r"optimizer.betas: each must be in \[0, 1\)"),
    ("optimizer.betas=[-1, 2]", r"optimizer.betas: each must be in \[0, 1\)"),
    ("train.batch_size=100000000000000000000000", "train.batch_size: Input should be less than or equal to"),
    ("model.hidden=[1000000000000]", "model.hidden: widths must be from 1 to 2147483647"),
    ("train.device=cuda:99999999999999999999999", "train.device: String should match pattern"),
])
def test_numbers_out_of_bounds_are_refused_by_the_config(setting, message):
    with pytest.raises(RedesError, match=message):
        load_config(overrides=[setting])


@pytest.mark.parametrize("text, message", [
    ("train:\n  epochs: -5\n  epochs: 1\n", r"the key 'epochs' is given twice \(line 3\)"),
    ("train:\n  seed: !!binary aGVsbG8=\n", r"the tag 'binary' is not plain data .* \(line 2\)"),
    ("model:\n  hidden: !!set {8: null}\n", "the tag 'set' is not plain data"),
    ("data: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than 32 levels deep"),
    ("data: " + "[" * 40 + "]" * 40 + "\n", r"nested more than 32 levels deep \(line 1\)"),
    ("train:\n  seed: " + "9" * 5000 + "\n", "a value redes cannot read"),
])
def test_yaml_that_is_not_plain_data_is_one_clear_error(tmp_path, cli, text, message):
    (tmp_path / "c.yaml").write_text(text)
    with pytest.raises(RedesError, match=f"config file .*c.yaml: {message}"):
        load_config(tmp_path / "c.yaml")
    result = cli("train", tmp_path / "c.yaml")
    assert result.status == 2 and result.err.count("\n") == 1 and "Traceback" not in result.err


def test_set_values_get_the_same_yaml_checks_and_plain_text_stays_text():
    with pytest.raises(RedesError, match="--set train.seed: a value redes cannot read"):
        load_config(overrides=["train.seed=" + "9" * 5000])
    with pytest.raises(RedesError, match="--set model.hidden: the tag 'set' is not plain data"):
        load_config(overrides=["model.hidden=!!set {8: null}"])
    assert load_config(overrides=["data.name=file", "data.path=[unclosed.csv"]).data.path == "[unclosed.csv"
