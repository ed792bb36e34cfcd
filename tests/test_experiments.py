"""The sweep presets (notebook 000's experiments): each one runs, and docs/experiments.md shows it."""

import csv
import re
from pathlib import Path

import pytest
import yaml

from redes.config import presets
from redes.study.sweeps import load_sweep, run_sweep

ROOT = Path(__file__).resolve().parents[1]
PRESETS = sorted((presets.FOLDER / "sweep").glob("*.yaml"))
DOCS = (ROOT / "docs" / "experiments.md").read_text()


def test_there_is_a_preset_for_every_experiment_of_notebook_000():
    names = {preset.stem for preset in PRESETS}
    assert names == {"batch_size", "widths", "init_scale", "backward", "batch_order", "cpu_gpu"}


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_the_docs_give_the_command_and_the_picture_of_each_preset(preset):
    assert f"redes sweep {preset.stem}" in DOCS
    pictures = re.findall(rf"!\[[^\]]*\]\((experiments/{preset.stem}[^)]*\.png)\)", DOCS)
    assert pictures and all((ROOT / "docs" / picture).is_file() for picture in pictures)


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_each_preset_runs_end_to_end_on_a_small_copy(preset, tmp_path):
    """The preset's own base and axes, on 300 samples for one epoch and one seed."""
    spec = yaml.safe_load(preset.read_text())
    spec["base"] = str(presets.find(spec["base"], "config"))
    spec["set"] = {**spec.get("set", {}), "data.n_samples": 300, "train.epochs": 1}
    spec["seeds"] = [0]
    small = tmp_path / preset.name
    small.write_text(yaml.safe_dump(spec))
    sweep_dir, rows = run_sweep(small, tmp_path / "sweep")
    assert len(rows) == len(load_sweep(small).points)
    with open(sweep_dir / "results.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    for row in table:
        expected = "failed" if row.get("train.device") == "cuda" and not _has_cuda() else "done"
        assert row["status"] == expected, row
    assert (sweep_dir / "plots" / "learning_curves.png").is_file()


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()
