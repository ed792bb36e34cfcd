"""The module engine's training step replayed as one CUDA graph (`train.cuda_graph`).

On a GPU, a small MLP's step is a few dozen short kernels and launching them one by one from Python
takes longer than running them. A CUDA graph records the whole step (forward, loss, backward, optimizer
update and the step's statistics) once and then launches it with one call per step.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from typing import Optional, Union

import torch

from redes.engines import ModuleEngine, StepResult
from redes.errors import RedesError
from redes.losses import predictions


def uses_cuda_graph(setting: Union[str, bool], engine: str, device: torch.device) -> bool:
    """Whether `train.cuda_graph` (auto, true or false) applies to this engine on this device."""
    if setting == "auto":
        return device.type == "cuda" and engine == "module"
    if setting and (device.type != "cuda" or engine != "module"):
        raise RedesError(f"train.cuda_graph=true needs train.engine=module on a CUDA device "
                         f"(got train.engine={engine} on {device}); use train.cuda_graph=auto")
    return bool(setting)


@dataclass
class _Captured:
    """One captured step: the inputs it reads, the statistics it writes, the gradients it leaves."""

    key: tuple
    graph: torch.cuda.CUDAGraph
    x: torch.Tensor
    y: torch.Tensor
    stats: torch.Tensor  # loss, penalty value, correct count
    grads: list
    has_penalty: bool


class GraphedEngine(ModuleEngine):
    """The module engine whose steps replay a captured CUDA graph, with the same numbers as eager steps.

    The first `WARMUP` steps of a batch shape run eagerly on the capture's stream (the optimizer makes its
    state, cuBLAS its handle), then the step is captured on static input tensors, and every later step of
    that shape copies its batch in and replays. A change of learning rate captures again. Other shapes (an
    epoch's last, partial batch) run eagerly.
    """

    WARMUP = 3

    def __init__(self, model, loss: str, optimizer, regularization, fast: bool = True, precision: str = "fp32"):
        super().__init__(model, loss, optimizer, regularization, fast, precision)
        if precision == "bf16":  # autocast's cache of cast weights must not outlive a capture
            self.autocast = functools.partial(torch.autocast, "cuda", dtype=torch.bfloat16, cache_enabled=False)
        self.loss_name = loss
        self.stream = torch.cuda.Stream(next(model.parameters()).device)
        self.captured: Optional[_Captured] = None
        self.eager_steps: dict[tuple, int] = {}
        self.replayed = False  # whether the last step was a replay (its gradients are the graph's)
        self.failed = False

    def _build_optimizer(self, cfg):
        return _capturable(super()._build_optimizer(cfg))

    def step(self, x: torch.Tensor, y: torch.Tensor) -> StepResult:
        key = (x.shape, y.shape, tuple(group["lr"] for group in self.optimizer.param_groups))
        captured = self.captured
        if captured is not None and captured.key == key:
            return self._replay(captured, x, y)
        seen = self.eager_steps.get(key, 0)
        if self.failed or seen < self.WARMUP or (captured is not None and captured.key[2] == key[2]):
            self.eager_steps[key] = seen + 1
            self.replayed = False
            return self._on_stream(super().step, x, y) if seen < self.WARMUP else super().step(x, y)
        return self._capture(key, x, y)

    def _on_stream(self, run, *args):
        """`run(*args)` on the capture's stream, ordered after and before the work on the current stream."""
        current = torch.cuda.current_stream()
        self.stream.wait_stream(current)
        with torch.cuda.stream(self.stream):
            result = run(*args)
        current.wait_stream(self.stream)
        return result

    def _capture(self, key: tuple, x: torch.Tensor, y: torch.Tensor) -> StepResult:
        self.captured = None  # the old graph (another learning rate) and its memory go
        static_x, static_y = x.clone(), y.clone()
        self.optimizer.zero_grad(set_to_none=True)  # the graph's backward writes gradients of its own
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph, stream=self.stream):
                stats, has_penalty = self._statistics_step(static_x, static_y)
        except RuntimeError as error:  # an operation that cannot be captured: train on, eagerly
            warnings.warn(f"train.cuda_graph: the step could not be captured ({error}); training without "
                          "a CUDA graph", RuntimeWarning, stacklevel=2)
            self.failed = True
            self.optimizer.zero_grad(set_to_none=True)
            return ModuleEngine.step(self, x, y)
        grads = [p.grad for p in self.model.parameters()]
        self.captured = _Captured(key, graph, static_x, static_y, stats, grads, has_penalty)
        graph.replay()  # capturing ran nothing: this replay is the step
        return self._result(self.captured)

    def _statistics_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, bool]:
        """One step that leaves its loss, penalty value and correct count in one small tensor."""
        result = self._forward_backward(x, y)
        self.optimizer.step()
        zero = result.loss.new_zeros(())
        correct = zero if self.loss_name == "mse" else (predictions(result.outputs, self.loss_name) == y).sum()
        penalty = zero if result.penalty is None else result.penalty
        return torch.stack([result.loss, penalty.to(zero.dtype), correct.to(zero.dtype)]), result.penalty is not None

    def _replay(self, captured: _Captured, x: torch.Tensor, y: torch.Tensor) -> StepResult:
        captured.x.copy_(x)
        captured.y.copy_(y)
        captured.graph.replay()
        return self._result(captured)

    def _result(self, captured: _Captured) -> StepResult:
        """The step's statistics, copied out of the graph's memory before the next replay writes over them."""
        self.replayed = True
        stats = captured.stats.clone()
        return StepResult(stats[0], stats[1] if captured.has_penalty else None, None,
                          None if self.loss_name == "mse" else stats[2])

    def gradients(self) -> list:
        return list(self.captured.grads) if self.replayed else super().gradients()

    def load_optimizer_state(self, state: dict) -> None:
        super().load_optimizer_state(state)  # a CPU run's checkpoint says capturable=False
        _capturable(self.optimizer)
        self.captured = None  # the graph reads the replaced state tensors: capture again


def _capturable(optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """`optimizer` with Adam's step counts kept and advanced on the device, so that a graph can replay them."""
    for group in optimizer.param_groups:
        if "capturable" in group:
            group["capturable"] = True
    return optimizer
