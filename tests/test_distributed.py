"""torchrun with 2 CPU processes (gloo) against one process on the same global batches."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import redes

CONFIG = {"model": {"hidden": [32]}, "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
          "regularization": {"l2": 0.001}, "train": {"epochs": 3, "batch_size": 31, "device": "cpu"}}
TORCHRUN = Path(sys.executable).parent / "torchrun"


def _torchrun(tmp_path: Path, config: dict, *args: str) -> subprocess.CompletedProcess:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    scratch = tmp_path.parent / f"{tmp_path.name}-scratch"  # torchrun's own temporary directories, not in /tmp
    scratch.mkdir(exist_ok=True)
    return subprocess.run([str(TORCHRUN), "--standalone", "--nproc_per_node=2", "-m", "redes", "train", str(path),
                           *args], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TMPDIR": str(scratch)})


def _rows(path: Path) -> list[dict]:
    with open(path) as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def test_two_processes_train_like_one_with_the_same_global_batch(tmp_path):
    result = _torchrun(tmp_path, CONFIG, "--out", "ddp", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["processes"] == 2
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["ddp"]  # written once, by rank 0
    single = redes.train(CONFIG, out=tmp_path / "single", verbose=False)
    parallel = redes.load_run(tmp_path / "ddp")
    for p, q in zip(parallel.model.parameters(), single.model.parameters()):
        assert (p - q).abs().max().item() < 1e-5
    for a, b in zip(_rows(tmp_path / "ddp/metrics.csv"), _rows(tmp_path / "single/metrics.csv")):
        assert a == pytest.approx(b, rel=1e-5)


def test_torchrun_needs_the_module_engine(tmp_path):
    result = _torchrun(tmp_path, {**CONFIG, "train": {**CONFIG["train"], "engine": "manual"}})
    assert result.returncode != 0
    assert "redes: error: torchrun trains with train.engine=module" in result.stderr


def test_torchrun_refuses_to_be_asked_for_a_cuda_graph():
    from redes.engines.sharded import check_sharded
    from redes.errors import RedesError

    check_sharded("module", "fp32", "auto")
    with pytest.raises(RedesError, match="torchrun trains without a CUDA graph.*train.cuda_graph=auto or false"):
        check_sharded("module", "fp32", True)
    with pytest.raises(RedesError, match="torchrun trains without train.compile"):
        check_sharded("module", "fp32", "auto", compiled=True)
