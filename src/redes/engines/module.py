"""The `module` engine: nn.Module + torch.optim (notebooks 001, 004), and the torch.optim optimizer it builds."""

from __future__ import annotations

import contextlib
import functools
import math
from typing import Iterator, Optional

import torch
from torch import nn

from redes.config import OptimizerConfig, RegularizationConfig
from redes.engines.base import Engine, StepResult, check_buffer, check_entries
from redes.engines.eager import eager
from redes.errors import RedesError
from redes.nn.losses import loss_function, penalized_weights, weight_penalty
from redes.nn.optimizers import OPTIMIZERS


def build_optimizer(cfg: OptimizerConfig, model: nn.Module, fast: bool = True,
                    l2: float = 0.0) -> torch.optim.Optimizer:
    """The torch.optim optimizer the config names, over all the model's parameters, with the config's settings.

    `fast`: the fused kernel (one pass over each parameter, its gradient and state) on CPU and CUDA,
    where torch's default on the CPU is a Python loop over parameters (docs/benchmarks.md, the speed
    options, train.fast); it differs from the loop by rounding only (tests/test_fast.py).
    `l2`: an L2 penalty l2 * sum W² applied as its gradient, weight decay 2 * l2 on the penalized
    weight matrices (a parameter group of their own), on top of the config's weight decay.
    """
    params = list(model.parameters())
    device = params[0].device.type if params else "cpu"
    speed = {"fused": True} if fast and device in ("cpu", "cuda") else {"foreach": None if fast else False}
    groups: list = params
    if l2:
        penalized = {id(w) for w in penalized_weights(model)}
        groups = [{"params": [p for p in params if id(p) in penalized], "weight_decay": cfg.weight_decay + 2 * l2},
                  {"params": [p for p in params if id(p) not in penalized]}]
        groups = [group for group in groups if group["params"]]
    kind = OPTIMIZERS[cfg.name]
    return eager(getattr(torch.optim, kind.torch_name))(groups, lr=cfg.lr, weight_decay=cfg.weight_decay,
                                                        **kind.torch_options(cfg), **speed)


@contextlib.contextmanager
def tf32_matmuls() -> Iterator[None]:
    """float32 matrix products on TF32 tensor cores (inputs rounded to a 10-bit mantissa, float32 sums) while it
    is held (`train.precision: tf32`); the process's setting is given back afterwards, so evaluation is fp32."""
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


@contextlib.contextmanager
def compile_errors() -> Iterator[None]:
    """torch.compile's failures in a step (no C++ compiler for inductor, or C compiler for Triton; an operation
    it cannot compile) as one RedesError naming train.compile, not a stack trace from inside the compiler. Its
    backward is compiled at the first backward pass, so the whole step is held."""
    from torch._dynamo.exc import TorchDynamoException

    try:
        yield
    except TorchDynamoException as error:
        reason = next((line for line in str(error).splitlines() if line.strip()), type(error).__name__)
        raise RedesError(f"train.compile: torch.compile could not compile the training step ({reason.strip()}); "
                         "set train.compile=false") from None


def l2_as_weight_decay(fast: bool, l2: float, cfg: OptimizerConfig) -> bool:
    """Whether an L2 penalty is applied as the optimizer's weight decay 2 l2 on the weight matrices (train.fast,
    an optimizer that adds the decay to the gradient, as the penalty would: not AdamW, whose decay is decoupled)."""
    return fast and l2 > 0 and OPTIMIZERS[cfg.name].decay_in_gradient


class ModuleEngine(Engine):
    """forward → loss (+ penalty) → backward → optimizer step, with gradients zeroed before each step.

    With `fast`, an L2 penalty under SGD or Adam is applied by the optimizer as weight decay on the
    weight matrices (its gradient, 2 l2 W, added inside the fused step instead of by a dozen autograd
    operators a step); its value is still computed, outside autograd, for the history.
    With `compiled` (train.compile), the step's forward is torch.compile's (one graph per batch shape, its
    backward compiled with it); evaluation and prediction call the model itself, eagerly.
    """

    def __init__(self, model: nn.Module, loss: str, optimizer: OptimizerConfig, regularization: RegularizationConfig,
                 fast: bool = True, precision: str = "fp32", compiled: bool = False):
        self.model, self.loss_name, self.loss_fn, self.fast = model, loss, loss_function(loss), fast
        self.forward = torch.compile(model, dynamic=False) if compiled else model  # shares the model's parameters
        self.l1, self.l2 = regularization.l1, regularization.l2
        self.l2_as_decay = False  # set by _build_optimizer
        self.optimizer = self._build_optimizer(optimizer)
        device = self.device.type
        self.autocast = functools.partial(torch.autocast, device, dtype=torch.bfloat16) if precision == "bf16" \
            else contextlib.nullcontext
        self.matmuls = tf32_matmuls if precision == "tf32" else contextlib.nullcontext
        self.compile_errors = compile_errors if compiled else contextlib.nullcontext

    def _build_optimizer(self, cfg: OptimizerConfig):
        self.l2_as_decay = l2_as_weight_decay(self.fast, self.l2, cfg)
        self.buffer_names = OPTIMIZERS[cfg.name].torch_state(cfg)
        return build_optimizer(cfg, self.model, self.fast, self.l2 if self.l2_as_decay else 0.0)

    def _penalty(self) -> Optional[torch.Tensor]:
        """The penalty to backpropagate: L1, and L2 unless the optimizer applies it as weight decay."""
        return weight_penalty(self.model, self.l1, 0.0 if self.l2_as_decay else self.l2)

    def _penalty_value(self, penalty: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
        """The whole penalty's value for the history, detached: with L2 as weight decay, l2 * sum W² added here."""
        if not self.l2_as_decay:
            return None if penalty is None else penalty.detach()
        with torch.no_grad():
            value = self.l2 * torch.nn.utils.get_total_norm(penalized_weights(self.model)) ** 2
        return value if penalty is None else penalty.detach() + value

    def _forward_backward(self, x: torch.Tensor, y: torch.Tensor) -> StepResult:
        with self.compile_errors(), self.matmuls():  # tf32: the backward's products too; bf16: the forward only
            with self.autocast():
                outputs = self.forward(x)  # (B, n_in) -> (B, n_out)
            loss = self.loss_fn(outputs.to(x.dtype), y)  # the loss in the data's precision, also under bf16
            penalty = self._penalty()
            (loss if penalty is None else loss + penalty).backward()
        return StepResult(loss.detach(), self._penalty_value(penalty), outputs.detach())

    def step(self, x: torch.Tensor, y: torch.Tensor) -> StepResult:
        self.optimizer.zero_grad(set_to_none=True)
        result = self._forward_backward(x, y)
        self.optimizer.step()
        return result

    def gradients(self) -> list:
        """The gradients the last step used, in `model.parameters()` order (None where a parameter had none)."""
        return [p.grad for p in self.model.parameters()]

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    @lr.setter
    def lr(self, value: float) -> None:
        for group in self.optimizer.param_groups:
            if isinstance(group["lr"], torch.Tensor):  # a rate the steps read from the device (CUDA graphs)
                group["lr"].fill_(value)
            else:
                group["lr"] = value

    def state_dict(self) -> dict:
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict({**state, "state": {int(k): v for k, v in state["state"].items()}})

    def check_state_dict(self, state) -> None:
        """torch.optim's layout: the same param_groups, settings of their kinds, and per parameter (numbered in
        the groups' order) tensors of its shape and dtype, or scalars; torch.optim checks none of this."""
        reference = self.state_dict()
        check_entries(state, reference)
        _check_groups(state["param_groups"], reference["param_groups"])
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        per_parameter = state["state"]
        if not isinstance(per_parameter, dict) or not all(_index(k, len(params)) for k in per_parameter):
            raise ValueError(f"optimizer state must be keyed by parameter number, 0 to {len(params) - 1}")
        if per_parameter and len(per_parameter) != len(params) and self.buffer_names:
            raise ValueError(f"optimizer state must hold every parameter's buffers, 0 to {len(params) - 1}")
        for key, buffers in per_parameter.items():
            if not isinstance(buffers, dict) or set(buffers) != self.buffer_names:
                raise ValueError(f"optimizer state {key} must map the names {sorted(self.buffer_names)} to tensors")
            for name, value in buffers.items():
                check_buffer(value, params[int(key)], f"optimizer state {key}.{name}")


def _check_groups(groups, reference: list[dict]) -> None:
    """param_groups: the same groups of the same parameters, each setting of its kind and finite."""
    if not isinstance(groups, list) or len(groups) != len(reference):
        raise ValueError(f"optimizer param_groups must be a list of {len(reference)}")
    for number, (group, expected) in enumerate(zip(groups, reference)):
        if not isinstance(group, dict) or set(group) != set(expected) or group["params"] != expected["params"]:
            raise ValueError(f"optimizer param_groups[{number}] must have the entries {sorted(expected)} "
                             f"and params {expected['params']}")
        for key, value in group.items():
            same = isinstance(value, bool) and value == expected[key]
            if not (same if key in SAME_SWITCHES else _alike(value, expected[key])):
                shown = repr(value) if isinstance(value, (bool, int, float, str, type(None))) else type(value).__name__
                raise ValueError(f"optimizer param_groups[{number}].{key} must be like {expected[key]!r}, "
                                 f"got {shown[:80]}")


# Switches the config or the engine chose: another value would change the update, or fail at the first step.
SAME_SWITCHES = ("amsgrad", "maximize", "differentiable", "nesterov", "decoupled_weight_decay")


def _alike(value, expected) -> bool:
    """A setting read back from JSON that can stand where `expected` stood: a finite number for a number."""
    if isinstance(expected, bool) or expected is None:  # fused, foreach, capturable: they differ by device
        return value is None or isinstance(value, bool)
    if isinstance(expected, (int, float)):
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if isinstance(expected, (list, tuple)):
        return isinstance(value, (list, tuple)) and len(value) == len(expected) and all(map(_alike, value, expected))
    return isinstance(value, type(expected))


def _index(key, count: int) -> bool:
    return isinstance(key, (int, str)) and str(key).isdigit() and int(key) < count
