"""Three engines compute the same training step three ways, behind one `step(x, y)` interface.

- `module`: nn.Module + torch.optim (notebooks 001, 004);
- `autograd`: the model's tensors as leaves, `loss.backward()`, a hand-written update under
  no_grad with the gradients zeroed (notebook 003);
- `manual`: forward and backward by hand, no autograd, on NumPy arrays or torch tensors (notebook 000).
All three start from the model they are given, so for one seed they share initial weights.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np
import torch
from torch import nn

from redes.config import OptimizerConfig, RegularizationConfig, TrainConfig
from redes.errors import RedesError
from redes.nn.losses import loss_function, penalized_weights, weight_penalty
from redes.manual import optim as manual_optim
from redes.arrays import Array, namespace, one_blas_thread
from redes.manual.network import Network


@dataclass
class StepResult:
    """What one step leaves behind, in the engine's arrays (`backend`), with no host sync: torch tensors still on
    the device, or NumPy arrays (the manual engine on NumPy; the loss a 0-d array)."""

    loss: Array
    penalty: Optional[Array]
    outputs: Optional[Array]
    correct: Optional[Array] = None  # set by engines that count correct predictions themselves


def build_optimizer(cfg: OptimizerConfig, model: nn.Module, fast: bool = True,
                    l2: float = 0.0) -> torch.optim.Optimizer:
    """torch.optim's SGD, Adam or AdamW over all the model's parameters, with the config's settings.

    `fast`: the fused kernel (one pass over each parameter, its gradient and state) on CPU and CUDA,
    where torch's default is a Python loop over parameters on the CPU (50-100x slower for the
    notebook-001 MLP); it differs from the loop by rounding only (benchmarks/notebook001.py).
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
    if cfg.name == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                               weight_decay=cfg.weight_decay, **speed)
    kind = torch.optim.Adam if cfg.name == "adam" else torch.optim.AdamW
    return kind(groups, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay, **speed)


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
    SGD or Adam: both add the decay to the gradient, as the penalty would; AdamW's decay is decoupled)."""
    return fast and l2 > 0 and cfg.name in ("sgd", "adam")


class ModuleEngine:
    """forward → loss (+ penalty) → backward → optimizer step, with gradients zeroed before each step.

    With `fast`, an L2 penalty under SGD or Adam is applied by the optimizer as weight decay on the
    weight matrices (its gradient, 2 l2 W, added inside the fused step instead of by a dozen autograd
    operators a step); its value is still computed, outside autograd, for the history.
    With `compiled` (train.compile), the step's forward is torch.compile's (one graph per batch shape, its
    backward compiled with it); evaluation and prediction call the model itself, eagerly.
    """

    backend = "torch"  # the arrays its steps take and return

    def __init__(self, model: nn.Module, loss: str, optimizer: OptimizerConfig, regularization: RegularizationConfig,
                 fast: bool = True, precision: str = "fp32", compiled: bool = False):
        self.model, self.loss_name, self.loss_fn, self.fast = model, loss, loss_function(loss), fast
        self.forward = torch.compile(model, dynamic=False) if compiled else model  # shares the model's parameters
        self.l1, self.l2 = regularization.l1, regularization.l2
        self.l2_as_decay = False  # set by _build_optimizer
        self.optimizer = self._build_optimizer(optimizer)
        device = next(model.parameters()).device.type
        if precision == "tf32" and device != "cuda":
            raise RedesError(f"train.precision=tf32 needs a CUDA device (TF32 is the tensor-core format of NVIDIA "
                             f"GPUs from Ampere on), not {device}; use fp32, or bf16 where the CPU has bfloat16 units")
        self.autocast = functools.partial(torch.autocast, device, dtype=torch.bfloat16) if precision == "bf16" \
            else contextlib.nullcontext
        self.matmuls = tf32_matmuls if precision == "tf32" else contextlib.nullcontext
        self.compile_errors = compile_errors if compiled else contextlib.nullcontext

    def _build_optimizer(self, cfg: OptimizerConfig):
        self.l2_as_decay = l2_as_weight_decay(self.fast, self.l2, cfg)
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

    def optimizer_state(self) -> dict:
        """The optimizer's state (momentum buffers, Adam moments, step counts) as nested torch tensors."""
        return self.optimizer.state_dict()

    def load_optimizer_state(self, state: dict) -> None:
        self.optimizer.load_state_dict({**state, "state": {int(k): v for k, v in state["state"].items()}})

    def running(self):
        """The context the training loop holds while it steps (nothing to set up here)."""
        return contextlib.nullcontext()


class AutogradEngine(ModuleEngine):
    """Gradients from autograd, the update by hand (p -= lr * g) under no_grad, then the gradients zeroed."""

    def _build_optimizer(self, cfg: OptimizerConfig):
        self.params = list(self.model.parameters())
        return manual_optim.build(namespace("torch"), [p.detach() for p in self.params], cfg)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> StepResult:
        for p in self.params:
            p.grad = None  # the zeroing notebook 004 forgets: without it gradients add up across steps
        result = self._forward_backward(x, y)
        with torch.no_grad():
            self.optimizer.step([p.grad for p in self.params])
        return result

    def optimizer_state(self) -> dict:
        return self.optimizer.state_dict()

    def load_optimizer_state(self, state: dict) -> None:
        self.optimizer.load_state_dict(_map_arrays(state, lambda t: t.to(self.params[0].device)))


class ManualEngine:
    """The hand-written network and optimizer on `backend` arrays that share the model's memory.

    `fast` (train.fast): the model's parameters are moved into one buffer (`Network`'s `one_buffer`) and
    the optimizer updates it as one array, a few calls instead of a few per parameter (with one weight
    decay per entry where the weights' differs; its state still reads per parameter). With SGD (not
    Nesterov) and no L1 penalty, each weight gradient is added by its own product into the momentum buffer,
    or into the weights without momentum, and the rest of the step is a few passes over the buffer
    (`Network.sgd_step`, `optim.SGDThroughProducts`): no gradient matrix is written out. With SGD or Adam,
    an L2 penalty's gradient is the optimizer's weight decay on the weight matrices.
    """

    def __init__(self, model: nn.Module, loss: str, optimizer: OptimizerConfig, regularization: RegularizationConfig,
                 backend: str = "torch", backward: str = "reuse", fast: bool = True):
        self.model, self.backend, self.fast = model, backend, fast
        device = next(model.parameters()).device
        if backend == "numpy" and device.type != "cpu":
            raise RedesError(f"train.backend=numpy runs on the CPU, not {device}; set train.device=cpu")
        xp = namespace(backend)
        view, draw_mask = ((lambda t: t.detach().numpy()), _numpy_mask) if backend == "numpy" else \
            ((lambda t: t.detach()), _torch_mask)
        l2_by_optimizer = l2_as_weight_decay(fast, regularization.l2, optimizer)
        self.network = net = Network(model, loss, xp, view, reuse=backward == "reuse", draw_mask=draw_mask,
                                     l1=regularization.l1, l2=regularization.l2, l2_by_optimizer=l2_by_optimizer,
                                     one_buffer=fast)
        weight_decay = optimizer.weight_decay + (2 * regularization.l2 if l2_by_optimizer else 0.0)
        if fast:  # the whole buffer as one array, with one decay per entry where the weights' differs
            params, self.update_grads = [net.flat_params], [net.flat_grads]
            decays = [weight_decay if weight_decay == optimizer.weight_decay else
                      net.laid_out(weight_decay, optimizer.weight_decay)]
        else:
            params, self.update_grads = net.params, None
            decays = net.decays(weight_decay, optimizer.weight_decay)
        self.optimizer = manual_optim.build(xp, params, optimizer, decays)
        fused = fast and net.penalty_gradient is None and isinstance(self.optimizer, manual_optim.SGD) \
            and self.optimizer.applies_in_backward
        self.sgd_in_backward = manual_optim.SGDThroughProducts(self.optimizer, net, weight_decay,
                                                               optimizer.weight_decay) if fused else None
        self.last_grads = None

    @property
    def fused(self) -> bool:
        """Whether the SGD step goes through the products (`sgd_in_backward`), no weight gradient written out."""
        return self.sgd_in_backward is not None

    def running(self):
        """The context the training loop holds while it steps: with NumPy, one BLAS thread."""
        return one_blas_thread() if self.backend == "numpy" else contextlib.nullcontext()

    def step(self, x: Array, y: Array) -> StepResult:
        """One step on a batch of the backend's arrays (the training loop cuts NumPy batches for NumPy) or of
        torch tensors; the result in the backend's arrays: on NumPy, no torch call a step."""
        if self.backend == "numpy" and isinstance(x, torch.Tensor):
            x, y = x.numpy(), y.numpy()
        if self.fused:
            penalty = None if self.network.penalty is None else self.network.penalty.forward(self.network.weights)
            loss, outputs = self.network.sgd_step(x, y, self.sgd_in_backward)
            self.last_grads = self.network.grads  # computed only if asked for: the update did without them
        else:
            loss, penalty, outputs, self.last_grads = self.network.loss_and_grads(x, y)
            self.optimizer.step(self.update_grads or self.last_grads)
        if self.backend == "numpy":
            loss, penalty = np.asarray(loss), None if penalty is None else np.asarray(penalty)
        return StepResult(loss, penalty, outputs)

    def gradients(self) -> list:
        """The gradients the last step used (loss and penalty), in `model.parameters()` order (copies)."""
        grads = self.last_grads() if callable(self.last_grads) else self.last_grads
        return [torch.as_tensor(g).clone() for g in grads or []]

    def optimizer_state(self) -> dict:
        """The optimizer's state with one entry per parameter (also when it updates the one buffer)."""
        state = self.optimizer.state_dict()
        if self.update_grads is not None:
            state = {k: self._per_parameter(v) if isinstance(v, list) else v for k, v in state.items()}
        return _map_arrays(state, lambda a: torch.from_numpy(a.copy()) if isinstance(a, np.ndarray) else a)

    def load_optimizer_state(self, state: dict) -> None:
        device = next(self.model.parameters()).device
        to_backend = (lambda t: t.numpy().copy()) if self.backend == "numpy" else (lambda t: t.to(device))
        state = _map_arrays(state, to_backend)
        if self.update_grads is not None:
            state = {k: self._grouped(v) if isinstance(v, list) else v for k, v in state.items()}
        self.optimizer.load_state_dict(state)

    def _per_parameter(self, whole: list) -> list:
        """An optimizer's state for the one buffer, [array laid out like it], as one array per parameter."""
        return [None] * len(self.network.params) if whole[0] is None else self.network.split(whole[0])

    def _grouped(self, per_parameter: list) -> list:
        """One array per parameter as [one array laid out like the one buffer]."""
        return [None] if per_parameter[0] is None else [self.network.join(per_parameter)]


def build_engine(cfg: TrainConfig, model: nn.Module, loss: str, optimizer: OptimizerConfig,
                 regularization: RegularizationConfig):
    """The engine `train.engine` names, over `model` (whose weights it trains in place); on CUDA, the module
    engine replays its steps as a CUDA graph unless `train.cuda_graph` is false."""
    from redes.engines.graphed import GraphedEngine, uses_cuda_graph  # it builds on ModuleEngine

    if uses_cuda_graph(cfg.cuda_graph, cfg.engine, next(model.parameters()).device):
        return GraphedEngine(model, loss, optimizer, regularization, cfg.fast, cfg.precision, cfg.compile)
    if cfg.engine == "manual":
        return ManualEngine(model, loss, optimizer, regularization, cfg.backend, cfg.backward, cfg.fast)
    kind = AutogradEngine if cfg.engine == "autograd" else ModuleEngine
    return kind(model, loss, optimizer, regularization, cfg.fast, cfg.precision, cfg.compile)


def _torch_mask(x: torch.Tensor, keep: float) -> torch.Tensor:
    return torch.empty_like(x).bernoulli_(keep)  # what F.dropout draws on the CPU


def _numpy_mask(x: np.ndarray, keep: float) -> np.ndarray:
    return torch.from_numpy(np.empty_like(x)).bernoulli_(keep).numpy()


def _map_arrays(state, convert):
    """`state` with every array (tensor or ndarray) in its nested dicts and lists passed through `convert`."""
    if isinstance(state, dict):
        return {k: _map_arrays(v, convert) for k, v in state.items()}
    if isinstance(state, list):
        return [_map_arrays(v, convert) for v in state]
    return convert(state) if isinstance(state, (torch.Tensor, np.ndarray)) else state

