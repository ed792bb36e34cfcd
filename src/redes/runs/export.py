"""A trained run as a file that other tools load: ONNX (onnxruntime and the rest), a torch.export program
(.pt2) or TorchScript. The graph takes raw inputs, as `redes predict` does (the run's input scaling is part of
it), any number of rows at a time, and returns class probabilities (classifiers) or values (regression).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from redes.errors import RedesError
from redes.nn.losses import classifies, probabilities
from redes.runs.run import Run

ONNX_OPSET = 18


class Predictor(nn.Module):
    """The run's model between its input scaling and its probabilities: raw inputs (N, n_features) in, what
    `Run.predict_proba` (classifiers) or `Run.predict` (regression) returns out."""

    def __init__(self, run: Run):
        super().__init__()
        self.model, self.loss, self.classifier = run.model, run.loss, classifies(run.loss)
        dtype = next(run.model.parameters()).dtype
        self.register_buffer("shift", run.scaler.shift.detach().to("cpu", torch.float32))
        self.register_buffer("scale", run.scaler.scale.detach().to("cpu", torch.float32))
        self.dtype = dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = self.model(((x.float() - self.shift) / self.scale).to(self.dtype))
        return probabilities(outputs, self.loss) if self.classifier else outputs


def export(run: Run, format: str, out: Path) -> Path:
    """Write `run`'s predictor to `out` (a new file) in `format`, one of FORMATS; the file written."""
    if format not in FORMATS:
        raise RedesError(f"--format {format!r}: expected one of {', '.join(FORMATS)}")
    write = FORMATS[format][1]
    predictor = Predictor(run).to("cpu").eval()
    example = torch.zeros(2, run.data.n_features)
    scratch = out.with_name(f".{out.name}.{os.getpid()}.part")  # renamed to `out` once whole
    onnx_log = logging.getLogger("torch.onnx")
    level = onnx_log.level
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):  # torch's own chatter
            warnings.simplefilter("ignore")
            onnx_log.setLevel(logging.ERROR)
            write(predictor, example, scratch)
        os.replace(scratch, out)
    finally:
        onnx_log.setLevel(level)
        scratch.unlink(missing_ok=True)
    return out


def _batch() -> dict:
    return {0: torch.export.Dim("batch")}


def _onnx(predictor: nn.Module, example: torch.Tensor, path: Path) -> None:
    for module in ("onnx", "onnxscript"):
        if importlib.util.find_spec(module) is None:
            raise RedesError(f"--format onnx needs {module}: pip install 'redes[export]'")
    torch.onnx.export(predictor, (example,), str(path), dynamo=True, dynamic_shapes=(_batch(),),
                      opset_version=ONNX_OPSET, input_names=["x"], output_names=["y"], verbose=False,
                      external_data=False)  # one self-contained file (an MLP is far below ONNX's 2 GB)


def _pt2(predictor: nn.Module, example: torch.Tensor, path: Path) -> None:
    torch.export.save(torch.export.export(predictor, (example,), dynamic_shapes=(_batch(),)), str(path))


def _torchscript(predictor: nn.Module, example: torch.Tensor, path: Path) -> None:
    torch.jit.trace(predictor, example).save(str(path))


FORMATS = {"onnx": (".onnx", _onnx), "pt2": (".pt2", _pt2), "torchscript": (".torchscript.pt", _torchscript)}
