"""The module engine's training steps replayed as CUDA graphs, a chunk of steps a launch (`train.cuda_graph`).

On a GPU, a small MLP's step is a few dozen short kernels and launching them one by one from Python
takes longer than running them. A CUDA graph records a chunk of whole steps (each one's batch gathered
by index, forward, loss, backward, optimizer update and the step's statistics) once and then launches
them with one call per chunk.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, Union

import torch

from redes.data.batches import index_chunks
from redes.engines.base import StepResult
from redes.engines.module import ModuleEngine
from redes.errors import RedesError
from redes.nn.losses import classifies, predictions


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
    """One captured chunk of steps: the data and index it reads, the statistics it writes, the gradients it
    leaves (those of its last step)."""

    graph: torch.cuda.CUDAGraph
    data: tuple  # the resident x and y the graph gathers from: held, so that their memory stays theirs
    index: torch.Tensor
    statistics: torch.Tensor  # (steps, 3): loss, penalty value, correct count
    grads: list
    has_penalty: bool


class GraphedEngine(ModuleEngine):
    """The module engine whose steps replay captured CUDA graphs, `steps_per_call` steps a launch, with the
    same numbers as eager steps.

    The training loop hands over a chunk of batch indices into the resident data (`steps`). Each chunk
    shape first runs eagerly on the capture's stream (and the engine's first `WARMUP` chunks, whatever their
    shape: the optimizer makes its state, cuBLAS its workspace); then the chunk's steps, each gathering
    its batch by index, are captured as one graph, and every later chunk of that shape copies its indices
    in and replays: one copy, one replay and one copy of the statistics out per `steps_per_call` steps.
    An epoch's last chunk (fewer batches, a partial one) gets a graph of its own. Where the optimizer's
    kernel reads its learning rate from the device (fused, or Adam's capturable loop), the rate is a device
    tensor that `lr` sets in place, so a schedule needs no new capture; otherwise, as for new data, a new rate
    captures again.
    """

    WARMUP = 3
    steps_per_call = 16  # one launch spread over 16 steps, few enough that Ctrl-C still stops at once

    def __init__(self, model, loss: str, optimizer, regularization, fast: bool = True, precision: str = "fp32",
                 compiled: bool = False):
        super().__init__(model, loss, optimizer, regularization, fast, precision, compiled)
        device = self.device
        if precision == "bf16":  # autocast's cache of cast weights must not outlive a capture
            self.autocast = functools.partial(torch.autocast, device.type, dtype=torch.bfloat16, cache_enabled=False)
        self.stream = torch.cuda.Stream(device)
        self.graphs: dict[tuple, _Captured] = {}
        self.eager_calls: dict[tuple, int] = {}
        self.last_replayed: Optional[_Captured] = None  # the graph whose gradients are the last step's
        self.failed = False

    def _build_optimizer(self, cfg):
        optimizer = _capturable(super()._build_optimizer(cfg))
        device = self.device
        dtype = torch.float32 if device.type == "cuda" else torch.float64  # as the fused kernels read it there
        for group in optimizer.param_groups:
            if group.get("fused") or (group.get("capturable") and cfg.name != "sgd"):  # they read a tensor rate
                group["lr"] = torch.tensor(float(group["lr"]), dtype=dtype, device=device)
        return optimizer

    def epoch(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, sampler: str, generator: torch.Generator,
              skip: int = 0) -> Iterator[list[tuple[StepResult, torch.Tensor]]]:
        """The epoch in chunks of `steps_per_call` steps, each chunk one call of `steps`; a chunk's targets are
        its batches' indices, of which the loop reads only the length (the engine counted correct predictions)."""
        for index in index_chunks(len(x), batch_size, sampler, generator, x.device, self.steps_per_call, skip):
            yield list(zip(self.steps(x, y, index, batch_size), index.split(batch_size)))

    def state_dict(self) -> dict:
        """The optimizer's state with its rates as numbers, as any other engine's checkpoint holds them."""
        state = super().state_dict()
        return {**state, "param_groups": [{**group, "lr": float(group["lr"])} for group in state["param_groups"]]}

    def step(self, x: torch.Tensor, y: torch.Tensor) -> StepResult:
        """One eager step (the chunks' steps call it too, when running or being captured)."""
        self.last_replayed = None
        return super().step(x, y)

    def steps(self, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor, batch_size: int) -> list[StepResult]:
        """A step on each `batch_size` rows of `index` in turn (rows of the resident x and y): what the training
        loop hands over, `steps_per_call` batches at a time. Replayed where a graph of this chunk is captured."""
        rates = tuple(None if isinstance(group["lr"], torch.Tensor) else group["lr"]  # a number is baked in
                      for group in self.optimizer.param_groups)
        source = (x.data_ptr(), y.data_ptr(), tuple(x.shape), tuple(y.shape), rates)  # what a graph bakes in
        key = (source, len(index), batch_size)
        captured = self.graphs.get(key)
        if captured is not None:
            captured.index.copy_(index)
            captured.graph.replay()
            return self._results(captured)
        self.last_replayed = None
        # graphs of other data or learning rates will not replay again: their memory goes
        self.graphs = {k: v for k, v in self.graphs.items() if k[0] == source}
        seen = self.eager_calls.get(key, 0)
        self.eager_calls[key] = seen + 1
        if self.failed:
            return self._eager_steps(x, y, index, batch_size)
        if seen == 0 or sum(self.eager_calls.values()) <= self.WARMUP:
            return self._on_stream(self._eager_steps, x, y, index, batch_size)
        return self._capture(key, x, y, index, batch_size)

    def _eager_steps(self, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor,
                     batch_size: int) -> list[StepResult]:
        """The chunk's steps launched one kernel at a time, as before a capture or after one failed."""
        statistics, has_penalty, _ = self._chunk(x, y, index, batch_size)
        return self._step_results(statistics, has_penalty)

    def _chunk(self, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor, batch_size: int) -> tuple:
        """The steps of `steps`, as a graph captures them: each step's inputs gathered by its batch's indices (one
        batch in memory at a time, whatever the chunk), the chunk's targets at once; then each step's loss,
        penalty value and correct count in a row of a (steps, 3) tensor (a graph's outputs are tensors it
        writes; counted for the whole chunk at its end, a few kernels instead of a few a step), whether there
        is a penalty, and the gradients the last step leaves."""
        targets = y.index_select(0, index)
        results = [self.step(x.index_select(0, part), yb) for part, yb in zip(index.split(batch_size),
                                                                               targets.split(batch_size))]
        losses = torch.stack([result.loss for result in results])
        has_penalty = results[0].penalty is not None
        penalties = torch.stack([r.penalty for r in results]).to(losses.dtype) if has_penalty else \
            torch.zeros_like(losses)
        if not classifies(self.loss_name):
            correct = torch.zeros_like(losses)
        else:
            hits = predictions(torch.cat([result.outputs for result in results]), self.loss_name) == targets
            correct = _sums_per_batch(hits, batch_size).to(losses.dtype)
        statistics = torch.stack([losses, penalties, correct], dim=1)
        return statistics, has_penalty, [p.grad for p in self.model.parameters()]

    def _step_results(self, statistics: torch.Tensor, has_penalty: bool) -> list[StepResult]:
        """One `StepResult` per row of `_chunk`'s statistics (views of them: no kernel, no host sync; taken a
        column at a time, a few Python calls per chunk rather than a few per step)."""
        nothing = [None] * len(statistics)
        losses, penalties, correct = (column.unbind(0) for column in statistics.unbind(1))
        return [StepResult(*row) for row in zip(losses, penalties if has_penalty else nothing, nothing,
                                                 correct if classifies(self.loss_name) else nothing)]

    def _on_stream(self, run, *args):
        """`run(*args)` on the capture's stream, ordered after and before the work on the current stream."""
        current = torch.cuda.current_stream()
        self.stream.wait_stream(current)
        with torch.cuda.stream(self.stream):
            result = run(*args)
        current.wait_stream(self.stream)
        return result

    def _capture(self, key: tuple, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor,
                 batch_size: int) -> list[StepResult]:
        static_index = index.clone()
        self.optimizer.zero_grad(set_to_none=True)  # the graph's backward writes gradients of its own
        try:
            graph, (statistics, has_penalty, grads) = record(
                self.stream, lambda: self._chunk(x, y, static_index, batch_size))
        except RuntimeError as error:  # an operation that cannot be captured: train on, eagerly
            warnings.warn(f"train.cuda_graph: the step could not be captured ({error}); training without "
                          "a CUDA graph", RuntimeWarning, stacklevel=2)
            self.failed, self.graphs = True, {}
            self.optimizer.zero_grad(set_to_none=True)
            return self._eager_steps(x, y, index, batch_size)
        captured = self.graphs[key] = _Captured(graph, (x, y), static_index, statistics, grads, has_penalty)
        graph.replay()  # capturing ran nothing: this replay is the steps
        return self._results(captured)

    def _results(self, captured: _Captured) -> list[StepResult]:
        """The steps' statistics, copied out of the graph's memory before the next replay writes over them."""
        self.last_replayed = captured
        return self._step_results(captured.statistics.clone(), captured.has_penalty)

    def gradients(self) -> list:
        if self.last_replayed is None:
            return super().gradients()
        return list(self.last_replayed.grads)

    def load_state_dict(self, state: dict) -> None:
        rates = [group["lr"] for group in self.optimizer.param_groups]
        super().load_state_dict(state)  # a CPU run's checkpoint says capturable=False
        _capturable(self.optimizer)
        for group, rate in zip(self.optimizer.param_groups, rates):
            if isinstance(rate, torch.Tensor):  # the checkpoint's number, into the tensor the steps read
                rate.fill_(float(group["lr"]))
                group["lr"] = rate
        self.graphs, self.last_replayed = {}, None  # the graphs read the replaced state tensors: capture again


def _sums_per_batch(values: torch.Tensor, batch_size: int) -> torch.Tensor:
    """The sum of each `batch_size` values in turn (the last batch may be shorter), in two or three kernels."""
    full = len(values) // batch_size * batch_size
    sums = values[:full].view(-1, batch_size).sum(1)
    return sums if full == len(values) else torch.cat([sums, values[full:].sum().view(1)])


def record(stream: torch.cuda.Stream, body: Callable[[], Any]) -> tuple[torch.cuda.CUDAGraph, Any]:
    """`body()` captured as a CUDA graph on `stream`, and what it returned: tensors in the graph's memory, which
    each replay writes again. Capturing runs nothing."""
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, stream=stream):
        outputs = body()
    return graph, outputs


def _capturable(optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """`optimizer` with Adam's step counts kept and advanced on the device, so that a graph can replay them."""
    for group in optimizer.param_groups:
        if "capturable" in group:
            group["capturable"] = True
    return optimizer
