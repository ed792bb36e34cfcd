"""`redes search`: hyperparameter search on Optuna; every trial an ordinary run directory.

The study lives in a database: a SQLite file in the search directory by default, or any URL Optuna
supports (PostgreSQL, MySQL) so that several processes or machines work on one study. Trials report
their per-epoch validation metric, so the median pruner stops the hopeless ones early.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from redes.config import load_config
from redes.errors import Diverged, RedesError
from redes.loop.callbacks import Callback
from redes.study.study_file import StudyFile, base_config, read_study_file

BEST_FILE, TRIALS_FILE = "best.yaml", "trials.csv"


class Param(BaseModel):
    """One searched config key: `choices`, or a range `low`..`high` (integers when both are integers)."""

    model_config = ConfigDict(extra="forbid")
    choices: Optional[list[Any]] = Field(None, description="the values to choose from")
    low: Optional[float | int] = Field(None, description="the range's lower end")
    high: Optional[float | int] = Field(None, description="the range's upper end")
    log: bool = Field(False, description="sample the range on a log scale")
    step: Optional[float | int] = Field(None, description="the range's step (needed by the grid sampler)")

    @field_validator("low", "high", "step", mode="before")
    @classmethod
    def _a_number(cls, value: Any) -> Any:
        """A number as written: pydantic would take `true` as 1 and "3" as 3.0."""
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ValueError(f"expected a number, got {value!r}")
        return value

    @model_validator(mode="after")
    def _valid_for_optuna(self) -> "Param":
        """Refuse, when the file is read, what Optuna's suggest_* would refuse or quietly change in a trial."""
        if (self.choices is None) == (self.low is None or self.high is None):
            raise ValueError("give either choices: [...] or both low: and high:")
        problem = self._choices_problem() if self.choices is not None else self._range_problem()
        if problem:
            raise ValueError(problem)
        return self

    def _choices_problem(self) -> Optional[str]:
        """Choices must be distinct to Optuna (it takes 1, 1.0 and true for one value) and survive its storage."""
        extra = [name for name in ("low", "high", "step") if getattr(self, name) is not None] + ["log"] * self.log
        if extra:
            return "choices: cannot be combined with " + " or ".join(f"{name}:" for name in extra)
        if not self.choices:
            return "choices is empty"
        for i, choice in enumerate(self.choices):
            if not _survives_storage(choice):
                return (f"choice {choice!r} would not come back from Optuna's storage as it is (lists and mappings "
                        f"are stored as JSON text, so text starting with [ or {{ and mapping keys other than text "
                        f"cannot be)")
            for earlier in self.choices[:i]:
                if _encode(earlier) == _encode(choice):
                    return (f"choices {earlier!r} and {choice!r} are one value to Optuna (it takes 1, 1.0 and true "
                            f"for the same); give each value once")
        return None

    def _range_problem(self) -> Optional[str]:
        """Optuna's FloatDistribution and IntDistribution rules, and a step that divides the range exactly."""
        low, high, step = self.low, self.high, self.step
        for name, value in (("low", low), ("high", high), ("step", step)):
            if value is not None and not math.isfinite(value):
                return f"{name} must be a finite number, got {value}"
        if not low < high:
            return f"low ({low}) must be below high ({high})"
        if self.log and step is not None:
            return "log: true cannot be combined with step: (a log range is continuous; give choices: instead)"
        if self.log and self.integer and low < 1:
            return f"log scale on integers needs low >= 1, got {low}"
        if self.log and low <= 0:
            return f"log scale needs low > 0, got {low}"
        if step is not None and step <= 0:
            return f"step must be positive, got {step}"
        return None if step is None else self._step_problem()

    def _step_problem(self) -> Optional[str]:
        """Optuna lowers `high` to the last whole step with a warning; say so and name the nearest valid highs."""
        span, size = Decimal(str(self.high)) - Decimal(str(self.low)), Decimal(str(self.step))
        try:
            if span % size == 0:
                return None
        except InvalidOperation:  # the range holds more steps than Decimal's 28 digits can count
            return f"step {self.step} is too small for the range {self.low}..{self.high}: over 10^28 values"
        below, above = (format((Decimal(str(self.low)) + (span // size + k) * size).normalize(), "f") for k in (0, 1))
        problem = f"step {self.step} is larger than" if span < size else f"step {self.step} does not divide"
        highs = f"high: {above}" if span < size else f"high: {below} or high: {above}"
        return f"{problem} the range {self.low}..{self.high} (Optuna would cut it short); use {highs}"

    @property
    def integer(self) -> bool:
        return all(isinstance(v, int) for v in (self.low, self.high)) and isinstance(self.step or 1, int)

    def grid(self, key: str) -> list:
        """The values the grid sampler walks through."""
        if self.choices is not None:
            return [_encode(choice) for choice in self.choices]
        if self.step is None:
            raise RedesError(f"search param {key}: the grid sampler needs choices: or a step:")
        count = int(round((self.high - self.low) / self.step)) + 1
        values = [self.low + i * self.step for i in range(count)]
        return [int(v) for v in values] if self.integer else [round(v, 12) for v in values]

    def probes(self) -> list:
        """The values load_search makes configs of: every choice, or both ends and, for a float range, a value
        just inside (fractional, so that an integer key searched with float ends is refused)."""
        if self.choices is not None:
            return self.choices
        inside = self.low + self.step if self.step else math.nextafter(self.low, self.high)
        return [self.low, self.high] + ([] if self.integer else [inside])

    def suggest(self, trial, key: str) -> Any:
        """This trial's value of the key, drawn by the study's sampler."""
        try:
            if self.choices is not None:
                return _decode(trial.suggest_categorical(key, [_encode(choice) for choice in self.choices]))
            if self.integer:
                return trial.suggest_int(key, self.low, self.high, step=self.step or 1, log=self.log)
            return trial.suggest_float(key, self.low, self.high, step=self.step, log=self.log)
        except ValueError as exc:  # the file is checked: what is left is a study that searched the key otherwise
            raise RedesError(f"params.{key}: {str(exc).rstrip('.')}: the study's earlier trials searched it "
                             f"another way; use a new --out (or, with --storage, a new name: in the file)") from None


class Pruner(BaseModel):
    """Median pruning on the per-epoch metric, or none."""

    model_config = ConfigDict(extra="forbid")
    name: Literal["median", "none"] = Field("median", description="median or none")
    startup_trials: int = Field(5, ge=0, description="trials finished before any is pruned")
    warmup_epochs: int = Field(0, ge=0, description="epochs of each trial never pruned")


class SearchFile(StudyFile):
    """What a search file holds: `base:` and `set:` (see StudyFile), then these."""

    params: dict[str, Param] = Field(description="dotted config key -> its choices or range")
    metric: Literal["val_accuracy", "val_loss", "train_accuracy", "train_loss"] = Field(
        "val_accuracy", description="the per-epoch metric optimised (accuracy maximised, loss minimised)")
    sampler: Literal["tpe", "random", "grid"] = Field("tpe", description="Optuna's sampler")
    pruner: Pruner = Field(default_factory=Pruner, description="median (default) or none")
    trials: int = Field(20, ge=1, description="trials one `redes search` process runs")
    seed: Optional[int] = Field(None, description="the sampler's seed (give each worker its own)")
    name: Optional[str] = Field(None, description="the study's name (default: the file's name)")

    @field_validator("pruner", mode="before")
    @classmethod
    def _pruner_by_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @property
    def direction(self) -> str:
        return "maximize" if self.metric.endswith("accuracy") else "minimize"


def _encode(value: Any) -> Any:
    """Optuna's categorical values are scalars; lists (such as model.hidden) travel as JSON text."""
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def _decode(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) and value[:1] in "[{" else value


def _survives_storage(choice: Any) -> bool:
    """Whether the choice comes back as it was: "[1]" would come back a list, {1: 2} as {"1": 2}."""
    try:
        return repr(_decode(_encode(choice))) == repr(choice)
    except ValueError:  # text such as "[abc" is not JSON
        return False


def load_search(path: Union[str, Path]) -> tuple[SearchFile, dict]:
    """The validated search file and its resolved base config (as a mapping)."""
    plan = read_study_file(path, SearchFile, "search")
    base = base_config(plan.base, plan.set, path, "search")
    for key, param in plan.params.items():  # every key and every choice must make a valid config
        for value in param.probes():
            try:
                load_config(base=base, settings={key: value})
            except RedesError as exc:
                inside = "" if param.choices is not None or value in (param.low, param.high) else "inside the range, "
                raise RedesError(f"search file {path}: params.{key}: {inside}{exc}") from None
    return plan, base


class ReportToTrial(Callback):
    """Report the metric to the Optuna trial after each epoch; stop the run when the pruner says so."""

    def __init__(self, trial, metric: str):
        self.trial, self.metric = trial, metric
        self.pruned_at: Optional[int] = None
        self.missing = False

    def on_epoch_end(self, state, logs: dict) -> None:
        if self.metric not in logs:
            self.missing = state.stop = True
            return
        self.trial.report(logs[self.metric], logs["epoch"])
        if self.trial.should_prune():
            self.pruned_at, state.stop = logs["epoch"], True


def run_search(search_file: Union[str, Path], out: Union[str, Path, None] = None, storage: Optional[str] = None,
               trials: Optional[int] = None, seed: Optional[int] = None, stream: Optional[IO[str]] = None):
    """Run `trials` trials of the study (created or joined), then write best.yaml and trials.csv; each trial's
    outcome is one line on `stream` as it ends.

    Returns the search directory and the Optuna study.
    """
    plan, base = load_search(search_file)  # checked before Optuna (and torch) are imported
    import optuna

    _quiet_optuna()
    search_dir = Path(out) if out is not None else Path("searches") / Path(search_file).stem
    search_dir.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(storage=_storage(storage or f"sqlite:///{(search_dir / 'study.db').absolute()}"),
                                sampler=_sampler(plan, plan.seed if seed is None else seed),
                                pruner=_pruner(plan.pruner), study_name=plan.name or Path(search_file).stem,
                                direction=plan.direction, load_if_exists=True)
    objective = _Objective(plan, base, search_dir, search_file)
    study.optimize(objective, n_trials=trials or plan.trials,
                   callbacks=[_TrialLine(plan.metric, stream)] if stream else [])
    write_outcome(study, plan, base, search_dir)
    return search_dir, study


class _TrialLine:
    """An Optuna callback: `search: trial 3 complete, val_accuracy=0.9521 (optimizer.lr=0.0031)` as a trial ends."""

    def __init__(self, metric: str, stream: IO[str]):
        self.metric, self.stream = metric, stream

    def __call__(self, study, trial) -> None:
        value = "" if trial.value is None else f", {self.metric}={trial.value:.4g}"
        values = ", ".join(f"{key}={value}" for key, value in trial.params.items())
        print(f"search: trial {trial.number} {trial.state.name.lower()}{value} ({values})", file=self.stream,
              flush=True)


class _OneLinePerFailedTrial(logging.Filter):
    """Optuna warns twice of a failed trial, first with its traceback: keep that warning, in one line, unless the
    trial raised a RedesError, which ends the search and which `redes` reports itself as its error line."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        record.exc_info = record.exc_text = None
        return not isinstance(error, RedesError) and " failed with value " not in record.getMessage()


_ONE_LINE_PER_FAILED_TRIAL = _OneLinePerFailedTrial()


def _quiet_optuna() -> None:
    """Optuna's warnings only, one line per failed trial, and no ExperimentalWarning for the heartbeats."""
    import warnings

    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # heartbeats: stable enough
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for handler in logging.getLogger("optuna").handlers:  # Optuna's own writes to stderr
        handler.addFilter(_ONE_LINE_PER_FAILED_TRIAL)


def _storage(url: str, attempts: int = 5):
    """The study's database; a trial whose process died is failed after a grace period and run again.

    Workers starting together on a new database race to create its tables: the loser retries.
    """
    import time

    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1)
    for attempt in range(1, attempts + 1):
        try:
            return optuna.storages.RDBStorage(url, heartbeat_interval=30, grace_period=120,
                                              heartbeat_stale_trial_callback=retry)
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            if not _lost_table_race(exc):
                raise RedesError(f"--storage {url}: cannot open the study database ({str(exc).splitlines()[0]}; "
                                 f"its driver is installed with redes[search])") from None
            if attempt == attempts:
                raise RedesError(f"--storage {url}: the study's tables could not be created") from None
            time.sleep(0.2 * attempt)


def _lost_table_race(exc: Exception) -> bool:
    """Whether another worker created the same table first: a unique-key clash in the catalog (IntegrityError)
    or, on PostgreSQL, "relation ... already exists" (DuplicateTable, a ProgrammingError)."""
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    return isinstance(exc, IntegrityError) or (isinstance(exc, ProgrammingError) and "already exists" in str(exc))


def _sampler(plan: SearchFile, seed: Optional[int]):
    import optuna

    if plan.sampler == "grid":
        return optuna.samplers.GridSampler({k: p.grid(k) for k, p in plan.params.items()}, seed=seed)
    kind = optuna.samplers.RandomSampler if plan.sampler == "random" else optuna.samplers.TPESampler
    return kind(seed=seed)


def _pruner(pruner: Pruner):
    import optuna

    if pruner.name == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=pruner.startup_trials, n_warmup_steps=pruner.warmup_epochs)


class _Objective:
    """One trial: the sampled values set into the base config, trained into trials/trial-NNNN."""

    def __init__(self, plan: SearchFile, base: dict, search_dir: Path, search_file: Union[str, Path]):
        self.plan, self.base, self.search_dir, self.search_file = plan, base, search_dir, search_file

    def __call__(self, trial) -> float:
        """The trial's metric; a RedesError names the file and the trial's values, and ends the search."""
        try:
            return self._train(trial)
        except RedesError as exc:
            values = ", ".join(f"{key}={value}" for key, value in trial.params.items())
            trial_name = f"trial {trial.number}" + (f" ({values})" if values else "")
            raise RedesError(f"search file {self.search_file}: {trial_name}: {exc}") from None

    def _train(self, trial) -> float:
        import optuna

        from redes.runs.train import train

        settings = {key: param.suggest(trial, key) for key, param in self.plan.params.items()}
        run_dir = self.search_dir / "trials" / f"trial-{trial.number:04d}"
        trial.set_user_attr("run_dir", str(run_dir.absolute()))
        report = ReportToTrial(trial, self.plan.metric)
        try:
            undrawn = {"log.plots": False}  # a trial's pictures: `redes plot` draws them when wanted
            run = train(load_config(base=self.base, settings=settings | undrawn), out=run_dir, verbose=False,
                        callbacks=[report])
        except Diverged as exc:  # a result (too high a learning rate, say): the trial fails, the search goes on
            trial.set_user_attr("error", str(exc))
            return float("nan")
        if report.missing:
            raise RedesError(f"the runs do not report {self.plan.metric} (no validation split, or a regression?); "
                             f"set metric: in the search file to one they report")
        if report.pruned_at is not None:
            raise optuna.TrialPruned(f"pruned after epoch {report.pruned_at}")
        return run.history[-1][self.plan.metric]


def best_config(study, plan: SearchFile, base: dict):
    """The config of the best finished trial, ready for `redes train`."""
    params = {key: _decode(value) for key, value in study.best_trial.params.items()}
    return load_config(base=base, settings={key: params[key] for key in plan.params if key in params})


def write_outcome(study, plan: SearchFile, base: dict, search_dir: Path) -> None:
    """best.yaml (when a trial finished) and trials.csv: every trial of the study, numbered."""
    from optuna.trial import TrialState

    with open(search_dir / TRIALS_FILE, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["trial", "state", plan.metric, *plan.params, "epochs", "run_dir"])
        for trial in study.get_trials(deepcopy=False):
            last = max(trial.intermediate_values, default=None)
            writer.writerow([trial.number, trial.state.name.lower(), trial.value,
                             *[_encode(_decode(trial.params.get(k))) for k in plan.params], last,
                             trial.user_attrs.get("run_dir")])
    if study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        header = (f"# best trial {study.best_trial.number} of study {study.study_name}: "
                  f"{plan.metric} {study.best_value:.6g}\n# train it: redes train {search_dir / BEST_FILE}\n")
        (search_dir / BEST_FILE).write_text(header + best_config(study, plan, base).to_yaml())


def describe_outcome(study, search_dir: Path) -> dict:
    """The study in numbers (trials by state, the best trial) and as the text `redes search` prints."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    counts = {state.name.lower(): sum(t.state == state for t in trials) for state in TrialState}
    finished = [t for t in trials if t.state == TrialState.COMPLETE]
    best = None if not finished else {"trial": study.best_trial.number, "value": study.best_value,
                                      "params": study.best_trial.params,
                                      "run_dir": study.best_trial.user_attrs.get("run_dir")}
    return {"search_dir": str(search_dir), "study": study.study_name, "trials": counts, "best": best}


def format_outcome(outcome: dict) -> str:
    """What `redes search` prints: the trials by state, the best trial and where its config is."""
    counts, best, where = outcome["trials"], outcome["best"], Path(outcome["search_dir"])
    lines = [f"study {outcome['study']}: {sum(counts.values())} trials ("
             + ", ".join(f"{n} {state}" for state, n in counts.items() if n) + ")"]
    if best:
        lines += [f"best trial {best['trial']}: {best['value']:.6g}  "
                  + "  ".join(f"{k}={v}" for k, v in best["params"].items()),
                  f"best config: {where / BEST_FILE} (redes train {where / BEST_FILE})"]
    return "\n".join(lines + [f"every trial: {where / TRIALS_FILE}"])
