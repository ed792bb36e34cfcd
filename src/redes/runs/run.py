"""A run: train from a config into a new run directory, reload it, evaluate and predict with it."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import torch
from pydantic import ValidationError
from torch import nn

from redes.checkpoint import load_state, load_tensors, save_tensors, write_atomic
from redes.config import Config, ModelConfig, explain_validation, load_config
from redes.config.schema import SIZE
from redes.data import IMAGE_SHAPES, SPLIT_NAMES, Scaler, Split, Splits, load_data
from redes.devices import peak_memory, resolve_device
from redes.errors import RedesError
from redes.loop.evaluate import Evaluation, evaluate, model_outputs
from redes.loop.metrics import confusion_matrix
from redes.nn.losses import LOSSES, output_width, predictions, probabilities
from redes.nn.models import build_model, count_parameters, parameter_count
from redes.runs.layout import RunFiles
from redes.runs.reports import evaluation_report


@dataclass
class Run:
    """A trained model with its config, data scaling and history; `path` is its run directory."""

    config: Config
    model: nn.Module
    loss: str
    task: str
    classes: Optional[list[str]]
    scaler: Scaler
    history: list[dict]
    path: Optional[Path] = None
    summary: dict = field(default_factory=dict)
    _data: Optional[Splits] = field(default=None, init=False, repr=False)  # as training left them, on its device
    _cpu_data: Optional[Splits] = field(default=None, init=False, repr=False)

    @classmethod
    def trained(cls, config: Config, model: nn.Module, loss: str, splits: Splits, path: Optional[Path]) -> "Run":
        """The run a training makes, before its history: the splits kept as training left them (on its device)."""
        run = cls(config, model, loss, splits.task, splits.classes, splits.scaler, [], path)
        run._data = splits
        return run

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def data(self) -> Splits:
        """The run's splits on the CPU (ready for NumPy and scikit-learn); `evaluate` uses them on the model's
        device."""
        if self._cpu_data is None:
            self._cpu_data = self._splits().to(torch.device("cpu"), self.dtype)
        return self._cpu_data

    def _splits(self) -> Splits:
        """The splits training used, or re-read from the config (same seed, same split) on first use."""
        if self._data is None:
            splits = load_data(self.config.data, self.config.train.seed)
            n_in = self.model[0].in_features
            if splits.n_features != n_in:
                raise RedesError(f"data {self.config.data.name!r} has {splits.n_features} features but the "
                                 f"model of {self.path or 'this run'} expects {n_in}")
            self._data = splits.to(torch.device("cpu"), self.dtype)
        return self._data

    def evaluate(self, split: str = "test") -> Evaluation:
        """Loss and metrics on one split, computed exactly as at the end of training."""
        data = self._splits().get(split)
        return evaluate(self.model, Split(data.x.to(self.device), data.y.to(self.device)), self.loss,
                        self.config.train.eval_batch_size)

    def report(self, split: str = "test") -> str:
        """Metrics, per-class precision/recall/F1 and the confusion matrix of one split, as text."""
        return evaluation_report(split, self.evaluate(split), self.classes)

    def _outputs(self, x: np.ndarray | torch.Tensor) -> torch.Tensor:
        inputs = self.scaler(x).to(self.device, self.dtype)
        return model_outputs(self.model, inputs, self.config.train.eval_batch_size).cpu()

    def predict(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        """Class indices (into `classes`) or regression values for raw, unscaled inputs (N, n_features)."""
        return predictions(self._outputs(x), self.loss).numpy()

    def predict_proba(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        """Class probabilities (N, n_classes) for raw inputs; classifiers only."""
        return probabilities(self._outputs(x), self.loss).numpy()


def create_run_dir(out: Union[str, Path, None], name: str, root: Union[str, Path] = "runs") -> Path:
    """A new, empty run directory: `out` (which must not hold anything) or the next free root/<name>-NNN.
    The writer checks `out` again once it holds the directory's lock (runs/writer.py)."""
    if out is not None:
        path = Path(out)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise RedesError(f"run directory {path} already exists and is not empty; choose another --out")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RedesError(f"cannot create run directory {path} ({exc.strerror}); choose another --out") from None
        return path
    try:
        Path(root).mkdir(parents=True, exist_ok=True)
        for index in range(1, 100_000):
            path = Path(root) / f"{name}-{index:03d}"
            try:
                path.mkdir()
                return path
            except FileExistsError:
                continue
    except OSError as exc:
        raise RedesError(f"cannot create a run directory in {Path(root).absolute()} ({exc.strerror}); choose "
                         "another folder with --out") from None
    raise RedesError(f"no free run directory name left under {root}")


def save_run(run: Run) -> None:
    """model.safetensors: the weights and the input scaling, with what rebuilds the model as metadata."""
    tensors = {f"model.{k}": v for k, v in run.model.state_dict().items()}
    tensors.update({f"scaler.{k}": v for k, v in run.scaler.state_dict().items()})
    meta = {"model": run.config.model.model_dump(mode="json"), "n_in": run.model[0].in_features,
            "n_out": run.model[-1].out_features, "loss": run.loss, "task": run.task, "classes": run.classes}
    save_tensors(RunFiles(run.path).model, tensors, meta)


def load_run(path: Union[str, Path], device: Optional[str] = None) -> Run:
    """Reload a run directory written by `train`: config, weights, scaling and history."""
    run_dir = Path(path)
    files = RunFiles(run_dir)
    if not run_dir.is_dir():
        raise RedesError(f"run directory {run_dir} does not exist")
    if not files.model.is_file():
        raise RedesError(f"run directory {run_dir} has no {files.model.name} (did its training finish?)")
    cfg = load_config(files.config)
    tensors, meta = load_tensors(files.model)
    try:
        spec = ModelConfig.model_validate(meta["model"])
        n_in, n_out = meta["n_in"], meta["n_out"]
        if not all(isinstance(n, int) and not isinstance(n, bool) and 0 < n <= SIZE for n in (n_in, n_out)):
            raise ValueError(f"n_in and n_out must be whole numbers from 1 to {SIZE}, got {n_in!r} and {n_out!r}")
        described = parameter_count(spec, n_in, n_out)
        stored = sum(t.numel() for t in _prefixed(tensors, "model.").values())
        if described > stored:  # checked before the model is built: the sizes could ask for terabytes
            raise ValueError(f"it describes a model of {described:,} parameters, but holds {stored:,} values")
        model = build_model(spec, n_in, n_out)
        loss, task, classes = meta["loss"], meta["task"], meta["classes"]
        _check_head(loss, task, classes, n_out)
    except ValidationError as exc:
        raise RedesError(f"{files.model}: invalid model metadata: {explain_validation(exc)}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise RedesError(f"{files.model}: metadata is incomplete or invalid ({exc})") from None
    load_state(model, _prefixed(tensors, "model."), files.model)
    scaling = _prefixed(tensors, "scaler.")
    if set(scaling) != {"shift", "scale"}:
        raise RedesError(f"{files.model}: the input scaling tensors are missing")
    if not all(t.is_floating_point() and t.shape in ((), (n_in,)) and torch.isfinite(t).all() and
               (name == "shift" or (t > 0).all()) for name, t in scaling.items()):
        raise RedesError(f"{files.model}: the input scaling must be finite floats of shape ({n_in},), its scale "
                         "positive; the file is damaged")
    model.to(resolve_device(device or cfg.train.device), getattr(torch, cfg.train.dtype)).eval()
    return Run(cfg, model, loss, task, classes, Scaler(**scaling), read_history(run_dir),
               run_dir, files.read_summary())


def _check_head(loss, task, classes, n_out: int) -> None:
    """The model file's loss, task and class names agree with each other and with its output layer."""
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}, expected one of {', '.join(LOSSES)}")
    tasks = {kind.task for kind in LOSSES.values()}
    if task not in tasks or LOSSES[loss].refusal(task, len(classes) if isinstance(classes, list) else 0):
        raise ValueError(f"task {task!r} does not go with loss {loss!r} (tasks: {', '.join(sorted(tasks))})")
    if LOSSES[loss].classifies:
        if not (isinstance(classes, list) and len(classes) >= 2 and all(isinstance(c, str) for c in classes)
                and output_width(loss, len(classes), 1) == n_out):
            raise ValueError(f"classes must be the names of the {n_out}-output model's classes, got {classes!r}")
    elif classes is not None:
        raise ValueError(f"a {task} model has no classes, got {classes!r}")


def _prefixed(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def read_history(run_dir: Path) -> list[dict]:
    """metrics.csv rows, with each epoch's seconds from timing.csv where it has them."""
    path, timing = RunFiles(run_dir).metrics, RunFiles(run_dir).timing
    if not path.is_file():
        return []
    try:
        seconds = {int(r["epoch"]): float(r["seconds"]) for r in _csv_rows(timing)} if timing.is_file() else {}
        rows = [{k: (int(v) if k == "epoch" else float(v)) for k, v in row.items()} for row in _csv_rows(path)]
        return [{**row, "seconds": seconds[row["epoch"]]} if row["epoch"] in seconds else row for row in rows]
    except (KeyError, TypeError, ValueError, csv.Error) as exc:
        raise RedesError(f"{path}: not a metrics file written by redes ({type(exc).__name__}: {exc})") from None


def _csv_rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def write_summary_and_reports(run: Run, seconds: float, device: torch.device, processes: int = 1,
                              pictures_later: bool = False) -> None:
    """Evaluate every split once, then write summary.json, report.txt and the plots (`pictures_later`: see
    write_plots)."""
    evaluations = {name: run.evaluate(name) for name in SPLIT_NAMES if getattr(run.data, name) is not None}
    run.summary = _summary(run, seconds, device, evaluations) | {"processes": processes}
    _write_reports(run, evaluations, pictures_later)


def _summary(run: Run, seconds: float, device: torch.device, evaluations: dict[str, Evaluation]) -> dict[str, Any]:
    """The `--json` object: where the run is, how long it took, and the final metrics of each split."""
    epochs = len(run.history)
    result: dict[str, Any] = {
        "run_dir": str(run.path), "epochs": epochs, "seconds": seconds,
        "seconds_per_epoch": sum(row["seconds"] for row in run.history) / max(epochs, 1),
        "task": run.task, "loss": run.loss, "device": str(device), "parameters": count_parameters(run.model),
        "peak_memory": peak_memory(device),
    }
    for name in SPLIT_NAMES:
        result[name] = evaluations[name].metrics() if name in evaluations else None
    return result


def _write_reports(run: Run, evaluations: dict[str, Evaluation], pictures_later: bool) -> None:
    """report.txt (per-class metrics of test, else val, else train), the plots (unless log.plots is false),
    and last summary.json."""
    files = RunFiles(run.path)
    split = next(name for name in ("test", "val", "train") if name in evaluations)
    evaluation = evaluations[split]
    text = f"run {run.path}\n\n" + evaluation_report(split, evaluation, run.classes)
    files.report.write_text(text + "\n")
    if run.config.log.plots:
        write_plots(run, split, evaluation, later=pictures_later)
    write_atomic(files.summary, (json.dumps(run.summary, indent=2) + "\n").encode())  # last: the run is finished


def write_plots(run: Run, split: Optional[str] = None, evaluation: Optional[Evaluation] = None,
                later: bool = False) -> list[Path]:
    """RUN_DIR/plots: the learning curves; for classifiers the confusion matrix of `split` (test, else val,
    else train) and, for images, a grid of samples with true and predicted classes; for a regression on one
    feature, the data and the fitted line. Drawn from the saved run when no evaluation is given; `later`: by
    a process of their own, which holds the run's lock (held by this process) until they are written."""
    from redes.runs import plots

    files = RunFiles(run.path)
    if not run.history:
        raise RedesError(f"{files.metrics} is missing or empty: there are no learning curves to draw")
    orders = [("learning_curves", {"history": run.history, "path": files.picture("learning_curves")})]
    split = split or next(name for name in ("test", "val", "train") if getattr(run.data, name) is not None)
    if run.classes:
        evaluation = evaluation or run.evaluate(split)
        counts = confusion_matrix(evaluation.predicted, evaluation.target, len(run.classes)).numpy()
        orders.append(("confusion_matrix", {"counts": counts, "classes": run.classes, "title": split,
                                            "path": files.picture("confusion_matrix")}))
    if run.classes and run.config.data.name in IMAGE_SHAPES:
        images, true, predicted = _samples(run, split, evaluation)
        orders.append(("sample_grid", {"images": images, "true": true, "predicted": predicted,
                                       "path": files.picture("samples")}))
    if run.task == "regression" and run.data.n_features == 1 and run.data.n_targets == 1:
        points, line = _fit_line(run)
        orders.append(("regression_fit", {"points": points, "line": line, "path": files.picture("fit")}))
    return plots.draw_later(orders, run.path) if later else plots.draw(orders, run.path)


def _raw(run: Run, x: torch.Tensor) -> np.ndarray:
    """Inputs as they were before scaling, (x * scale) + shift."""
    return (x.cpu().float() * run.scaler.scale + run.scaler.shift).numpy()


def _samples(run: Run, split: str, evaluation: Evaluation, count: int = 16) -> tuple[np.ndarray, list[str], list[str]]:
    """The first `count` images of `split` in [0, 1], shaped for drawing, with true and predicted class names
    (the predictions the evaluation of `split` already made)."""
    raw = _raw(run, run.data.get(split).x[:count])
    images = (raw - raw.min()) / max(float(raw.max() - raw.min()), 1e-12)
    images = images.reshape(len(raw), *IMAGE_SHAPES[run.config.data.name])
    if images.ndim == 4:  # (N, C, H, W) -> (N, H, W, C)
        images = images.transpose(0, 2, 3, 1)
    names = run.classes or []
    return images, [names[i] for i in evaluation.target[:count].tolist()], \
        [names[i] for i in evaluation.predicted[:count].tolist()]


def _fit_line(run: Run) -> tuple[dict[str, tuple], tuple]:
    """Each split's (x, y) points and the model's prediction along the range of x."""
    splits = {name: getattr(run.data, name) for name in SPLIT_NAMES if getattr(run.data, name) is not None}
    points = {name: (_raw(run, s.x)[:, 0], s.y.cpu().numpy()[:, 0]) for name, s in splits.items()}
    xs = np.concatenate([x for x, _ in points.values()])
    grid = np.linspace(xs.min(), xs.max(), 200, dtype=np.float32)[:, None]
    return points, (grid[:, 0], run.predict(grid)[:, 0])
