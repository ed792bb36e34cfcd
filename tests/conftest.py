"""Shared fixtures: the CLI run in-process, small trained runs reused across tests, torch.compile watched."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
from hypothesis import settings

from redes.cli.main import main

# CI draws the same examples every run (a red build names a change, not a lucky draw); a developer's run
# explores new ones, and HYPOTHESIS_PROFILE=ci repeats CI's.
settings.register_profile("ci", derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@dataclass
class CliResult:
    status: int
    out: str
    err: str


@pytest.fixture
def cli(capsys, monkeypatch, tmp_path):
    """Run `redes ARGS...` in-process from a temporary working directory; returns status, stdout, stderr."""
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> CliResult:
        try:
            status = main([str(a) for a in args])
        except SystemExit as exc:  # argparse: --help and usage errors
            status = exc.code
        captured = capsys.readouterr()
        return CliResult(status, captured.out, captured.err)

    return run


def fast_config(**sections) -> dict:
    """A digits config that trains in well under a second."""
    config = {"model": {"hidden": [32]}, "train": {"epochs": 3, "batch_size": 64}}
    for section, values in sections.items():
        config.setdefault(section, {}).update(values)
    return config


def stopped_run(path, config: dict, epoch: int = 1):
    """Train `config` into `path` and stop it (as Ctrl-C does) after `epoch`: a run `redes resume` continues."""
    import redes
    from redes.loop.callbacks import Callback

    class StopAfter(Callback):
        def on_epoch_end(self, state, logs):
            state.interrupted = state.interrupted or logs["epoch"] == epoch

    with pytest.raises(redes.errors.TrainingInterrupted):
        redes.train(config, out=path, verbose=False, callbacks=[StopAfter()])
    return path


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    """One short digits run shared by the tests that only read it."""
    import redes

    return redes.train(fast_config(), out=tmp_path_factory.mktemp("runs") / "digits", verbose=False)


@pytest.fixture
def compiled_calls(monkeypatch) -> list:
    """torch.compile as it is, but each call of a module it compiled appends the module it wraps here."""
    import torch

    calls, compile_ = [], torch.compile

    def watched(model, **options):
        compiled = compile_(model, **options)
        compiled.register_forward_pre_hook(lambda module, args: calls.append(model))
        return compiled
    monkeypatch.setattr(torch, "compile", watched)
    return calls
