"""The presets inside the package: addressed by name by every command that takes a file, listed by
`redes presets`, a file of the same name winning, a misspelt name answered with the nearest."""

from __future__ import annotations

import pytest
import yaml

from redes.config import load_config, presets
from redes.study.search import load_search
from redes.study.sweeps import load_sweep
from tests.test_cli import assert_one_line_error


def test_every_preset_loads_by_name():
    for name in presets.names("config"):
        assert load_config(name) == load_config(presets.FOLDER / "config" / f"{name}.yaml")
    for name in presets.names("sweep"):
        assert load_sweep(name).points
    for name in presets.names("search"):
        assert load_search(name)[0].params


def test_redes_presets_lists_each_with_its_line(cli):
    lines = cli("presets").out.splitlines()
    for kind in presets.KINDS:
        for name in presets.names(kind):
            summary = presets.summary(kind, name)
            assert len(summary) > 20 and any(line.split()[:1] == [name] and summary in line for line in lines)
    assert any(line.startswith("  batch_size   Notebook 000, experiment 1: the batch size") for line in lines)


def test_the_commands_take_names(cli):
    assert "name: linear" in cli("config", "notebook003").out
    assert cli("explain", "notebook000").status == 0
    assert cli("train", "notebook003", "--set", "train.epochs=2", "--out", "line").status == 0


def test_a_file_wins_over_a_preset_of_the_same_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notebook003").write_text(yaml.safe_dump({"train": {"epochs": 7}}))
    assert load_config("notebook003").train.epochs == 7
    (tmp_path / "digits.yaml").write_text(yaml.safe_dump({"model": {"hidden": [5]}}))
    sweep = tmp_path / "s.yaml"
    sweep.write_text(yaml.safe_dump({"base": "digits.yaml", "axes": {"train.epochs": [1]}}))
    assert load_sweep(sweep).points[0].config.model.hidden == [5]  # the file beside it, not the preset
    sweep.write_text(yaml.safe_dump({"base": "digits", "axes": {"train.epochs": [1]}}))
    assert load_sweep(sweep).points[0].config.data.name == "digits"  # the preset


@pytest.mark.parametrize("args, fragments", [
    (["train", "notebok003"], ["config file notebok003 not found, and no config preset is called 'notebok003' "
                               "(did you mean 'notebook003'?)"]),
    (["sweep", "batch_sizes"], ["no sweep preset is called 'batch_sizes' (did you mean 'batch_size'?)"]),
    (["search", "nothing_like_it"], ["no search preset is called 'nothing_like_it'; the search presets are digits"]),
])
def test_a_name_that_is_neither_a_file_nor_a_preset_is_one_line(cli, args, fragments):
    assert_one_line_error(cli(*args), *fragments)
