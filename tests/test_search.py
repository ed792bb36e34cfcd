"""Hyperparameter search: trials as run directories, pruning, best config, and a study shared on PostgreSQL."""

import csv
import glob
import io
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

optuna = pytest.importorskip("optuna")

from redes.cli.main import main  # noqa: E402
from redes.config import load_config  # noqa: E402
from redes.errors import RedesError  # noqa: E402
from redes.study.search import load_search, run_search  # noqa: E402

BASE = {"model": {"hidden": [16]}, "train": {"epochs": 3, "batch_size": 64}}


def _search_file(path: Path, **spec) -> Path:
    spec.setdefault("base", BASE)
    spec.setdefault("params", {"optimizer.lr": {"low": 0.001, "high": 0.3, "log": True},
                               "model.hidden": {"choices": [[16], [32, 16]]}})
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _trial_rows(search_dir: Path) -> list[dict]:
    with open(search_dir / "trials.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_trial_is_a_run_of_its_params_and_best_yaml_is_the_best(tmp_path):
    path = _search_file(tmp_path / "s.yaml", sampler="random", seed=0, pruner="none")
    progress = io.StringIO()
    search_dir, study = run_search(path, tmp_path / "search", trials=4, stream=progress)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4
    lines = progress.getvalue().splitlines()  # one line per trial as it ends, with its metric and values
    assert [line.split(",")[0] for line in lines] == [f"search: trial {n} complete" for n in range(4)]
    assert f"val_accuracy={study.trials[0].value:.4g} (optimizer.lr=" in lines[0]
    for trial in study.trials:
        config = yaml.safe_load((Path(trial.user_attrs["run_dir"]) / "config.yaml").read_text())
        assert config["optimizer"]["lr"] == trial.params["optimizer.lr"]
        assert config["model"]["hidden"] == json.loads(trial.params["model.hidden"])
        summary = json.loads((Path(trial.user_attrs["run_dir"]) / "summary.json").read_text())
        assert trial.value == summary["val"]["accuracy"]
    best = load_config(search_dir / "best.yaml")
    assert best.optimizer.lr == study.best_params["optimizer.lr"]
    assert best.train.epochs == 3
    assert len(_trial_rows(search_dir)) == 4
    again_dir, again = run_search(path, tmp_path / "search", trials=1)  # the study goes on
    assert len(again.trials) == 5 and (again_dir / "trials" / "trial-0004" / "summary.json").is_file()


def test_median_pruning_stops_hopeless_trials_early(tmp_path):
    path = _search_file(tmp_path / "s.yaml", sampler="random", seed=0, base={**BASE, "train": {"epochs": 4}},
                        pruner={"name": "median", "startup_trials": 1},
                        params={"optimizer.lr": {"choices": [0.05, 1e-7]}})
    _, study = run_search(path, tmp_path / "search", trials=6)
    pruned = [t for t in study.trials if t.state.name == "PRUNED"]
    assert pruned and all(t.params["optimizer.lr"] == 1e-7 for t in pruned)
    assert all(t.state.name == "COMPLETE" for t in study.trials if t.params["optimizer.lr"] == 0.05)
    for trial in pruned:
        assert len(list(csv.DictReader(open(Path(trial.user_attrs["run_dir"]) / "metrics.csv")))) < 4


def test_a_diverging_trial_fails_and_the_search_goes_on(tmp_path, capsys, optuna_stderr):
    base = {"data": {"name": "linear", "n_samples": 200}, "model": {"hidden": [8], "init_scale": 3.0},
            "optimizer": {"name": "sgd"}, "train": {"epochs": 2, "batch_size": 10}}
    path = _search_file(tmp_path / "s.yaml", base=base, metric="val_loss", sampler="grid", pruner="none",
                        params={"optimizer.lr": {"choices": [0.01, 50.0]}})
    _, study = run_search(path, tmp_path / "search")
    states = {t.params["optimizer.lr"]: t.state.name for t in study.trials}
    assert states == {0.01: "COMPLETE", 50.0: "FAIL"}
    warning = capsys.readouterr().err  # Optuna's report of the failed trial: one line
    assert len(warning.splitlines()) == 1 and "Trial" in warning and "failed with parameters: {'optimizer.lr': 50.0}" \
        in warning, warning


@pytest.mark.parametrize("spec, message", [
    ({"param": {}}, "unknown key 'param' (did you mean 'params'?)"),
    ({"params": {"optimizer.lr": {"low": 0.1}}},
     "params.optimizer.lr: give either choices: [...] or both low: and high:"),
    ({"params": {"optimizer.lr": {"low": 1, "high": 0.1}}}, "low (1) must be below high (0.1)"),
    ({"params": {"optimizer.lrate": {"low": 0.1, "high": 1}}}, "unknown config key 'optimizer.lrate'"),
    ({"params": {"train.sampler": {"choices": ["random"]}}}, "params.train.sampler: config key train.sampler"),
    ({"metric": "test_accuracy"}, "metric: Input should be 'val_accuracy'"),
])
def test_a_bad_search_file_names_what_is_wrong(tmp_path, spec, message):
    with pytest.raises(RedesError, match="search file .*" + re.escape(message)):
        load_search(_search_file(tmp_path / "s.yaml", **spec))


@pytest.mark.parametrize("param, message", [
    ({"low": 0, "high": 0.3, "log": True}, "params.optimizer.lr: log scale needs low > 0, got 0"),
    ({"low": -0.1, "high": 0.3, "log": True}, "params.optimizer.lr: log scale needs low > 0, got -0.1"),
    ({"low": 0.1, "high": 0.3, "log": True, "step": 0.1},
     "params.optimizer.lr: log: true cannot be combined with step: (a log range is continuous; give choices: instead)"),
    ({"low": 0.1, "high": 0.3, "step": 0}, "params.optimizer.lr: step must be positive, got 0"),
    ({"low": 0.1, "high": 0.3, "step": -0.1}, "params.optimizer.lr: step must be positive, got -0.1"),
    ({"low": 0.1, "high": 0.3, "step": 0.5},
     "params.optimizer.lr: step 0.5 is larger than the range 0.1..0.3 (Optuna would cut it short); use high: 0.6"),
    ({"low": 0.1, "high": 0.3, "step": 0.15}, "params.optimizer.lr: step 0.15 does not divide the range 0.1..0.3 "
                                              "(Optuna would cut it short); use high: 0.25 or high: 0.4"),
    ({"low": 0.3, "high": 0.1}, "params.optimizer.lr: low (0.3) must be below high (0.1)"),
    ({"low": 0.1, "high": 0.1}, "params.optimizer.lr: low (0.1) must be below high (0.1)"),
    ({"low": float("nan"), "high": 0.3}, "params.optimizer.lr: low must be a finite number, got nan"),
    ({"low": 0.1, "high": float("inf")}, "params.optimizer.lr: high must be a finite number, got inf"),
    ({"low": True, "high": 0.3}, "params.optimizer.lr.low: expected a number, got True"),
    ({"low": "0.1", "high": 0.3}, "params.optimizer.lr.low: expected a number, got '0.1'"),
    ({"choices": [0.1, 0.2], "log": True}, "params.optimizer.lr: choices: cannot be combined with log:"),
    ({"choices": [0.1], "low": 0.1}, "params.optimizer.lr: choices: cannot be combined with low:"),
    ({"choices": []}, "params.optimizer.lr: choices is empty"),
    ({"choices": [0.1, 0.1]}, "params.optimizer.lr: choices 0.1 and 0.1 are one value to Optuna"),
])
def test_a_range_or_choices_optuna_would_refuse_is_refused_when_the_file_is_read(tmp_path, param, message):
    with pytest.raises(RedesError, match=r"^search file \S+s\.yaml: " + re.escape(message)):
        load_search(_search_file(tmp_path / "s.yaml", params={"optimizer.lr": param}))


@pytest.mark.parametrize("key, param, message", [
    ("train.epochs", {"low": 0, "high": 3, "log": True}, "log scale on integers needs low >= 1, got 0"),
    ("train.epochs", {"low": 1, "high": 6, "step": 2},
     "step 2 does not divide the range 1..6 (Optuna would cut it short); use high: 5 or high: 7"),
    ("train.epochs", {"low": 1.0, "high": 3.0}, "inside the range, config key train.epochs: Input should be a valid "
                                                "integer, got a number with a fractional part"),
    ("train.epochs", {"choices": [2, 2.0]}, "choices 2 and 2.0 are one value to Optuna (it takes 1, 1.0 and true for "
                                            "the same); give each value once"),
    ("model.hidden", {"choices": [[16], [16]]}, "choices [16] and [16] are one value to Optuna"),
    ("model.hidden", {"choices": [[16], "[16"]}, "choice '[16' would not come back from Optuna's storage as it is"),
    ("data.name", {"choices": ["digits", "[16]"]}, "choice '[16]' would not come back from Optuna's storage"),
])
def test_integer_ranges_and_choices_optuna_would_change_are_refused(tmp_path, key, param, message):
    with pytest.raises(RedesError, match=re.escape(f"params.{key}: {message}")):
        load_search(_search_file(tmp_path / "s.yaml", params={key: param}))


def test_ranges_optuna_takes_as_they_are_load(tmp_path):
    params = {"optimizer.lr": {"low": 0.1, "high": 0.3, "step": 0.1}, "train.epochs": {"low": 1, "high": 7, "step": 3},
              "train.batch_size": {"low": 16, "high": 64, "log": True}, "model.dropout": {"low": 0.0, "high": 0.5}}
    plan, _ = load_search(_search_file(tmp_path / "s.yaml", params=params))
    assert plan.params["optimizer.lr"].grid("optimizer.lr") == [0.1, 0.2, 0.3]
    assert plan.params["train.epochs"].grid("train.epochs") == [1, 4, 7]


def _one_error_line(capsys, status: int) -> str:
    """The one `redes: error:` line a failed command printed, after checking its status and that nothing else
    (no traceback, no Optuna warning) reached stderr."""
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err, err
    assert len(err.splitlines()) == 1 and err.startswith("redes: error: "), err
    return err


class _CurrentStderr:
    """Whatever sys.stderr is when written to: capsys's, while a test runs."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


@pytest.fixture
def optuna_stderr(monkeypatch):
    """Optuna's handler writes to the stderr of the moment Optuna was imported: make it write to capsys's."""
    for handler in logging.getLogger("optuna").handlers:
        if type(handler) is logging.StreamHandler:  # not pytest's own handlers, which Optuna's logger also gets
            monkeypatch.setattr(handler, "stream", _CurrentStderr())


def test_a_refused_range_is_one_error_line_of_the_cli(tmp_path, capsys):
    path = _search_file(tmp_path / "s.yaml", params={"optimizer.lr": {"low": 0, "high": 0.3, "log": True}})
    status = main(["search", str(path), "--out", str(tmp_path / "search")])
    assert "params.optimizer.lr: log scale needs low > 0, got 0" in _one_error_line(capsys, status)


def test_a_trial_that_fails_with_a_redes_error_ends_the_search_in_one_line(tmp_path, capsys, optuna_stderr):
    base = {"data": {"name": "linear", "n_samples": 200}, "model": {"hidden": [8]}, "train": {"epochs": 1}}
    path = _search_file(tmp_path / "s.yaml", base=base, pruner="none", params={"optimizer.lr": {"choices": [0.01]}})
    status = main(["search", str(path), "--out", str(tmp_path / "search"), "--trials", "2"])
    assert re.fullmatch(rf"redes: error: search file {re.escape(str(path))}: trial 0 \(optimizer.lr=0.01\): the runs "
                        r"do not report val_accuracy .*\n", _one_error_line(capsys, status))


def test_a_study_that_searched_a_key_another_way_is_one_error_line(tmp_path, capsys, optuna_stderr):
    path = _search_file(tmp_path / "s.yaml", base={**BASE, "train": {"epochs": 1}}, pruner="none",
                        params={"optimizer.lr": {"choices": [0.01, 0.1]}})
    out = ["--out", str(tmp_path / "search"), "--trials", "1"]
    assert main(["search", str(path), *out]) == 0
    capsys.readouterr()
    _search_file(path, base={**BASE, "train": {"epochs": 1}}, params={"optimizer.lr": {"low": 0.01, "high": 0.1}})
    error = _one_error_line(capsys, main(["search", str(path), *out]))
    assert ("trial 1: params.optimizer.lr: Cannot set different distribution kind to the same parameter name: the "
            "study's earlier trials searched it another way") in error


def test_the_grid_sampler_needs_discrete_values(tmp_path, cli):
    path = _search_file(tmp_path / "s.yaml", sampler="grid")
    result = cli("search", path, "--out", tmp_path / "search")
    assert result.status == 2
    assert "search param optimizer.lr: the grid sampler needs choices: or a step:" in result.err


def _postgres_bin() -> Path | None:
    found = shutil.which("initdb") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))), None)
    return Path(found).parent if found else None


@pytest.fixture
def postgres():
    """A PostgreSQL server of its own (Debian's packages; .ci/run installs them), on a free local port."""
    bin_dir = _postgres_bin()
    if bin_dir is None:
        if os.environ.get("REDES_REQUIRE_POSTGRES"):
            pytest.fail("PostgreSQL is required (REDES_REQUIRE_POSTGRES) but initdb was not found")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql; .ci/run does)")
    root = Path(tempfile.mkdtemp(prefix="redes-postgres-"))  # outside pytest's folders, which only root may enter
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []  # initdb refuses root
    if as_user:
        shutil.chown(root, "postgres")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    subprocess.run([*as_user, bin_dir / "initdb", "-D", root / "data", "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True)
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1"
    subprocess.run([*as_user, bin_dir / "pg_ctl", "-D", root / "data", "-o", options, "-l", root / "log", "-w",
                    "start"], check=True, capture_output=True)
    yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    subprocess.run([*as_user, bin_dir / "pg_ctl", "-D", root / "data", "-m", "immediate", "stop"],
                   capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


def test_two_workers_share_one_postgresql_study_and_no_trial_is_lost_or_run_twice(tmp_path, postgres):
    path = _search_file(tmp_path / "s.yaml", sampler="random", pruner="none", name="shared")
    workers = [subprocess.Popen([sys.executable, "-m", "redes", "search", str(path), "--storage", postgres,
                                 "--trials", "3", "--seed", str(seed), "--out", "search"], cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err
    study = optuna.load_study(study_name="shared", storage=postgres)
    trials = study.get_trials()
    assert sorted(t.number for t in trials) == list(range(6))
    assert [t.state.name for t in trials] == ["COMPLETE"] * 6
    run_dirs = [Path(t.user_attrs["run_dir"]) for t in trials]
    assert len(set(run_dirs)) == 6 and sorted(p.name for p in (tmp_path / "search" / "trials").iterdir()) == \
        [f"trial-{n:04d}" for n in range(6)]
    for trial, run_dir in zip(trials, run_dirs):  # each trial trained once, with its own params
        config = yaml.safe_load((run_dir / "config.yaml").read_text())
        assert config["optimizer"]["lr"] == trial.params["optimizer.lr"]
        assert len(list(csv.DictReader(open(run_dir / "metrics.csv")))) == 3
    assert load_config(tmp_path / "search" / "best.yaml").optimizer.lr == study.best_params["optimizer.lr"]


@pytest.mark.parametrize("error", ["integrity", "duplicate table"])
def test_a_worker_that_loses_the_race_to_create_the_tables_retries(monkeypatch, error):
    """Two workers on a new database both create its tables; PostgreSQL tells the loser "already exists"."""
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    from redes.study import search

    lost = {"integrity": IntegrityError("INSERT", {}, Exception("duplicate key value violates unique constraint")),
            "duplicate table": ProgrammingError("CREATE TABLE studies", {},
                                                Exception('relation "studies" already exists'))}[error]
    calls = []

    def storage(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise lost
        return "opened"
    monkeypatch.setattr(optuna.storages, "RDBStorage", storage)
    assert search._storage("postgresql://nowhere/db") == "opened" and len(calls) == 2
    def refused(*args, **kwargs):
        raise ProgrammingError("SELECT", {}, Exception("permission denied for table studies"))
    monkeypatch.setattr(optuna.storages, "RDBStorage", refused)  # any other error is not retried
    with pytest.raises(RedesError, match="cannot open the study database"):
        search._storage("postgresql://nowhere/db")
