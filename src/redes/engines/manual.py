"""The `manual` engine: forward and backward by hand, no autograd, on NumPy arrays or torch tensors (notebook 000)."""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn

from redes.arrays import Array, namespace, one_blas_thread
from redes.config import OptimizerConfig, RegularizationConfig
from redes.data import Split
from redes.engines.base import Engine, HandWrittenOptimizer, StepResult, map_arrays
from redes.engines.module import l2_as_weight_decay
from redes.manual.network import Network
from redes.manual.optim import SGDThroughProducts
from redes.nn.optimizers import OPTIMIZERS, SGD


class ManualEngine(HandWrittenOptimizer, Engine):
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
        self.optimizer = OPTIMIZERS[optimizer.name](xp, params, optimizer, decays)
        fused = fast and net.penalty_gradient is None and isinstance(self.optimizer, SGD) \
            and self.optimizer.applies_in_backward
        self.sgd_in_backward = SGDThroughProducts(self.optimizer, net, weight_decay,
                                                               optimizer.weight_decay) if fused else None
        self.last_grads = None

    @property
    def fused(self) -> bool:
        """Whether the SGD step goes through the products (`sgd_in_backward`), no weight gradient written out."""
        return self.sgd_in_backward is not None

    def running(self):
        """The context the training loop holds while it steps: with NumPy, one BLAS thread."""
        return one_blas_thread() if self.backend == "numpy" else contextlib.nullcontext()

    def arrays(self, split: Split) -> tuple[Array, Array]:
        """On NumPy, the split as NumPy arrays sharing its memory: the loop cuts NumPy batches."""
        return (split.x.numpy(), split.y.numpy()) if self.backend == "numpy" else (split.x, split.y)

    def step(self, x: Array, y: Array) -> StepResult:
        """One step on a batch of the backend's arrays (`arrays`) or of torch tensors; the result in the
        backend's arrays: on NumPy, no torch call a step."""
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

    def state_dict(self) -> dict:
        """The optimizer's state with one entry per parameter (also when it updates the one buffer)."""
        state = self.optimizer.state_dict()
        if self.update_grads is not None:
            state = {k: self._per_parameter(v) if isinstance(v, list) else v for k, v in state.items()}
        return map_arrays(state, lambda a: torch.from_numpy(a.copy()) if isinstance(a, np.ndarray) else a)

    def load_state_dict(self, state: dict) -> None:
        to_backend = (lambda t: t.numpy().copy()) if self.backend == "numpy" else (lambda t: t.to(self.device))
        state = map_arrays(state, to_backend)
        if self.update_grads is not None:
            state = {k: self._grouped(v) if isinstance(v, list) else v for k, v in state.items()}
        self.optimizer.load_state_dict(state)

    def _per_parameter(self, whole: list) -> list:
        """An optimizer's state for the one buffer, [array laid out like it], as one array per parameter."""
        return [None] * len(self.network.params) if whole[0] is None else self.network.split(whole[0])

    def _grouped(self, per_parameter: list) -> list:
        """One array per parameter as [one array laid out like the one buffer]."""
        return [None] if per_parameter[0] is None else [self.network.join(per_parameter)]


def _torch_mask(x: torch.Tensor, keep: float) -> torch.Tensor:
    return torch.empty_like(x).bernoulli_(keep)  # what F.dropout draws on the CPU


def _numpy_mask(x: np.ndarray, keep: float) -> np.ndarray:
    return torch.from_numpy(np.empty_like(x)).bernoulli_(keep).numpy()
