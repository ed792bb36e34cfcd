"""`redes.train` and `redes.resume`: a config trained into a run directory, and a killed run continued."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import IO, Optional, Sequence, Union

from redes.checkpoint import load_state, load_tree
from redes.config import Config, load_config
from redes.data.batches import steps_per_epoch
from redes.engines.sharded import leave
from redes.errors import Diverged, RedesError, TrainingInterrupted
from redes.loop.callbacks import Callback, Checkpoint, CSVLogger, ProgressBar
from redes.loop.state import check_snapshot
from redes.nn.models import summary
from redes.runs.layout import RunFiles
from redes.runs.run import Run, create_run_dir, save_run, write_summary_and_reports
from redes.runs.setup import Setup, prepare
from redes.runs.writer import writing

ConfigLike = Union[Config, dict, str, Path, None]


def train(config: ConfigLike = None, *, out: Union[str, Path, None] = None, verbose: bool = True,
          stream: Optional[IO[str]] = None, callbacks: Sequence[Callback] = (), pictures_later: bool = False) -> Run:
    """Train the model `config` describes and write a new run directory (`out`, or the next runs/<data>-NNN).

    `callbacks` are called after redes' own (metrics files, progress bar, checkpoints). `pictures_later`: the
    pictures are drawn by a process of their own, which goes on after this call (and this process) ends and
    holds the run's lock until they are written (`redes train` does this: its user does not wait for them).
    """
    cfg = _with_absolute_paths(_as_config(config))
    if cfg.log.tensorboard:
        from redes.runs.tensorboard import require_tensorboard

        require_tensorboard()  # before anything is written
    setup = prepare(cfg)
    if not _is_main(setup):  # under torchrun, rank 0 alone writes the run directory
        return _train(setup, None, verbose, stream or sys.stdout, snapshot=None, extra=callbacks)
    run_dir = create_run_dir(out, cfg.data.name)
    with writing(run_dir, new=True):
        RunFiles(run_dir).config.write_text(cfg.to_yaml())
        return _train(setup, run_dir, verbose, stream or sys.stdout, snapshot=None, extra=callbacks,
                      pictures_later=pictures_later)


def resume(run_dir: Union[str, Path], *, verbose: bool = True, stream: Optional[IO[str]] = None,
           pictures_later: bool = False) -> Run:
    """Continue a run that was stopped (Ctrl-C, kill -9, a crash) from its last checkpoint, to the same end.

    A checkpoint taken at an epoch boundary replays the interrupted epoch from its start; one taken by
    Ctrl-C continues mid-epoch. Either way the result is the run that was never interrupted, bit for bit.
    `pictures_later` as in `train`.
    """
    run_dir, files = Path(run_dir), RunFiles(Path(run_dir))
    _check_resumable(run_dir)
    setup = prepare(load_config(files.config))
    main = _is_main(setup)
    with writing(run_dir) if main else contextlib.nullcontext():
        _check_resumable(run_dir)  # again, now that no other process writes it
        state = load_tree(files.checkpoint, "checkpoint")
        _restore(setup, state, files.checkpoint)
        if main:
            CSVLogger(files.metrics, files.timing).rewrite(state["loop"]["history"])
        return _train(setup, run_dir if main else None, verbose, stream or sys.stdout, state["loop"],
                      pictures_later=pictures_later)


def _check_resumable(run_dir: Path) -> None:
    files = RunFiles(run_dir)
    if not files.config.is_file():
        raise RedesError(f"{run_dir} is not a run directory (no {files.config.name})")
    if files.summary.is_file():
        raise RedesError(f"{run_dir} already finished; nothing to resume")
    if not files.checkpoint.is_file():
        raise RedesError(f"{run_dir} has no {files.checkpoint.name} to resume from (train.checkpoint_every=0?)")


def _is_main(setup: Setup) -> bool:
    return setup.world is None or setup.world.is_main


def _train(setup: Setup, run_dir: Optional[Path], verbose: bool, stream: IO[str], snapshot: Optional[dict],
           extra: Sequence[Callback] = (), pictures_later: bool = False) -> Run:
    """Fit with the progress bar, metrics files and checkpoints, then save and report; or stop cleanly.

    With no `run_dir` (the other ranks under torchrun) it trains, writes nothing and reports nothing.
    """
    try:
        return _fit_and_save(setup, run_dir, verbose and run_dir is not None, stream, snapshot, extra,
                             pictures_later)
    finally:
        if setup.world is not None:
            leave()


def _fit_and_save(setup: Setup, run_dir: Optional[Path], verbose: bool, stream: IO[str],
                  snapshot: Optional[dict], extra: Sequence[Callback], pictures_later: bool) -> Run:
    cfg, splits = setup.config, setup.splits
    run = Run.trained(cfg, setup.model, setup.loss, splits, run_dir)
    if verbose:
        where = "resuming" if snapshot else "run"
        print(f"{where} {run_dir}\ndata {cfg.data.name}: {len(splits.train)} train, {_size(splits.val)} val, "
              f"{_size(splits.test)} test, {splits.n_features} features, task {splits.task}, loss {setup.loss}, "
              f"device {setup.device}\n\n{summary(setup.model)}\n", file=stream, flush=True)
    files = RunFiles(run_dir) if run_dir else None
    callbacks = [CSVLogger(files.metrics, files.timing)] + ([ProgressBar(file=stream)] if verbose else []) \
        if files else []
    if cfg.train.checkpoint_every and files:
        callbacks.append(Checkpoint(files.checkpoint, cfg.train.checkpoint_every, cfg.to_dict()))
    if cfg.log.tensorboard and run_dir:
        from redes.runs.tensorboard import TensorBoardLogger

        callbacks.append(TensorBoardLogger(files.tensorboard))
    start = time.perf_counter()
    state = setup.fit([*callbacks, *extra], resume=snapshot)
    run.history = state.history
    if state.diverged:
        raise Diverged(_divergence(setup, run, state.diverged))
    if state.interrupted:
        raise TrainingInterrupted(run_dir, state.epoch, state.step, bool(cfg.train.checkpoint_every))
    if run_dir is None:
        return run
    save_run(run)
    processes = 1 if setup.world is None else setup.world.size
    write_summary_and_reports(run, time.perf_counter() - start, setup.device, processes, pictures_later)
    if verbose:
        print("\n" + files.report.read_text(), file=stream, flush=True)
    return run


def _restore(setup: Setup, state: dict, path: Path) -> None:
    """Put a checkpoint's weights and optimizer state into a freshly prepared setup, once each part is checked
    against the config: the weights' names, shapes and dtypes, the optimizer's buffers, the loop's position."""
    t = setup.config.train
    try:
        if not isinstance(state, dict) or not {"model", "optimizer", "loop"} <= set(state):
            raise ValueError("it must hold model, optimizer and loop")
        load_state(setup.model, state["model"], path)
        setup.engine.check_state_dict(state["optimizer"])
        setup.engine.load_state_dict(state["optimizer"])
        check_snapshot(state["loop"], t.epochs, steps_per_epoch(len(setup.splits.train), t.batch_size, t.sampler))
    except (ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise RedesError(f"{path}: checkpoint does not fit this run's config: {exc}") from None


def _divergence(setup: Setup, run: Run, what: str) -> str:
    """Keep the last good weights as the run's model and say what went wrong, with the causes that apply."""
    checkpoint = RunFiles(run.path).checkpoint if run.path else None
    if checkpoint is not None and checkpoint.is_file():
        good = load_tree(checkpoint, "checkpoint")
        _restore(setup, good, checkpoint)
        save_run(run)
        kept = (f"the last good checkpoint ({checkpoint}, {good['loop']['epoch'] - 1} epochs done) is kept and "
                f"{RunFiles(run.path).model} holds its weights")
    else:
        kept = "no checkpoint was written"
    return f"{what}, and training stopped; {kept}; likely causes: {', '.join(_divergence_causes(setup))}"


LARGE = 100.0  # inputs or targets beyond this size make steps large: scaled data stays within a few units


def _divergence_causes(setup: Setup) -> list[str]:
    """The learning rate, and only those other causes the config or the data show."""
    cfg, train = setup.config, setup.splits.train
    causes = [f"a learning rate too high (optimizer.lr={cfg.optimizer.lr:g})"]
    if cfg.model.init_scale is not None:
        causes.append(f"weights initialised too large (model.init_scale={cfg.model.init_scale:g})")
    largest_input = float(train.x.abs().max())
    if largest_input > LARGE:
        causes.append(f"inputs as large as {largest_input:.3g} (data.scale={cfg.data.scale}; data.scale=standard "
                      "scales them)")
    if setup.splits.task == "regression" and (largest_target := float(train.y.abs().max())) > LARGE:
        causes.append(f"targets as large as {largest_target:.3g}, whose squared errors make large steps")
    return causes


def _as_config(config: ConfigLike) -> Config:
    if isinstance(config, Config):
        return config
    if isinstance(config, dict):
        return load_config(base=config)
    return load_config(config)


def _with_absolute_paths(cfg: Config) -> Config:
    """data.path and data.root made absolute, so the saved config finds the data from any folder."""
    absolute = {key: str(Path(value).expanduser().absolute()) for key in ("path", "root")
                if (value := getattr(cfg.data, key)) is not None}
    return cfg.model_copy(update={"data": cfg.data.model_copy(update=absolute)}) if absolute else cfg


def _size(split) -> int:
    return 0 if split is None else len(split)
