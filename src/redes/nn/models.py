"""build_model(spec, n_in, n_out) -> nn.Sequential, its seeded initialisation and a printed summary."""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from redes.config import EmbeddingConfig, ModelConfig
from redes.nn.activations import ACTIVATIONS


class TokenBag(nn.Module):
    """nn.Embedding pooled over the sequence: token ids (B, L) -> one vector per sample (B, dim) (notebook 004).

    The ids arrive as floating-point numbers (the data pipeline holds every input as floats) and are
    turned back into integers here; `in_features` is the sequence length, as a Linear's would be.
    """

    def __init__(self, spec: EmbeddingConfig, length: int):
        super().__init__()
        self.in_features, self.pooling = length, spec.pooling
        self.embedding = nn.Embedding(spec.vocab, spec.dim, device="meta")

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        vectors = self.embedding(ids.long())  # (B, L) -> (B, L, dim)
        return vectors.mean(1) if self.pooling == "mean" else vectors.sum(1)  # -> (B, dim)

    def extra_repr(self) -> str:
        return f"length={self.in_features}, pooling={self.pooling}"


def build_model(spec: ModelConfig, n_in: int, n_out: int, generator: Optional[torch.Generator] = None) -> nn.Sequential:
    """[TokenBag] then Linear → [BatchNorm1d] → activation → [Dropout] per hidden width, then a linear head.

    The head emits raw scores (logits for cross-entropy and bce, values for mse); the loss or
    `predict` applies softmax/sigmoid. Weights come from `generator`, never the global RNG.
    """
    layers: list[nn.Module] = [TokenBag(spec.embedding, n_in)] if spec.embedding else []
    width = spec.embedding.dim if spec.embedding else n_in
    for i, hidden in enumerate(spec.hidden):
        layers.append(nn.Linear(width, hidden, device="meta"))
        if spec.batchnorm:
            layers.append(nn.BatchNorm1d(hidden))
        layers.append(ACTIVATIONS[_per_layer(spec.activation, i)].module())
        p = _per_layer(spec.dropout, i)
        if p > 0:
            layers.append(nn.Dropout(p))
        width = hidden
    layers.append(nn.Linear(width, n_out, device="meta"))
    model = _on_cpu(nn.Sequential(*layers))
    init_weights(model, spec, generator or torch.Generator().manual_seed(0))
    return model


def _on_cpu(model: nn.Module) -> nn.Module:
    """`model` with its parameters on the meta device given uninitialised CPU storage (what `to_empty` does,
    without its `empty_like` on meta tensors, which imports SymPy)."""
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if param.is_meta:
                setattr(module, name, nn.Parameter(torch.empty(param.shape, dtype=param.dtype), param.requires_grad))
    return model


def activation_curves(low: float = -4.0, high: float = 4.0, points: int = 401) -> dict[str, tuple]:
    """Every activation's values and derivative (by autograd) on a grid: name -> (x, f(x), f'(x)) as NumPy."""
    curves = {}
    for name, kind in ACTIVATIONS.items():
        x = torch.linspace(low, high, points, dtype=torch.float64, requires_grad=True)
        y = kind.module()(x)
        (slope,) = torch.autograd.grad(y.sum(), x)
        curves[name] = (x.detach().numpy(), y.detach().numpy(), slope.numpy())
    return curves


def init_weights(model: nn.Module, spec: ModelConfig, generator: torch.Generator) -> None:
    """Linear layers as `spec.init` says (or N(0, 1) * init_scale with zero biases), drawn from `generator`."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear):
                _init_linear(module, spec, generator)
            elif isinstance(module, nn.Embedding):  # PyTorch's own: N(0, 1), or N(0, 1) * init_scale
                nn.init.normal_(module.weight, 0.0, spec.init_scale or 1.0, generator=generator)
            elif isinstance(module, nn.BatchNorm1d):
                module.reset_parameters()
                module.reset_running_stats()


def _init_linear(layer: nn.Linear, spec: ModelConfig, generator: torch.Generator) -> None:
    if spec.init_scale is not None:
        nn.init.normal_(layer.weight, 0.0, spec.init_scale, generator=generator)
        nn.init.zeros_(layer.bias)
    elif spec.init == "torch":
        nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
        bound = 1 / math.sqrt(layer.in_features)
        nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
    elif spec.init == "glorot":
        nn.init.xavier_uniform_(layer.weight, generator=generator)
        nn.init.zeros_(layer.bias)
    else:  # scikit-learn's _init_coef: one factor for every layer, 2 when the activation is the logistic
        names = spec.activation if isinstance(spec.activation, list) else [spec.activation]
        bound = math.sqrt((2 if set(names) == {"sigmoid"} else 6) / (layer.in_features + layer.out_features))
        nn.init.uniform_(layer.weight, -bound, bound, generator=generator)
        nn.init.uniform_(layer.bias, -bound, bound, generator=generator)


def _per_layer(value, i: int):
    return value[i] if isinstance(value, list) else value


def parameter_count(spec: ModelConfig, n_in: int, n_out: int) -> int:
    """How many parameters `build_model(spec, n_in, n_out)` makes, known before any memory is taken."""
    width = spec.embedding.dim if spec.embedding else n_in
    count = spec.embedding.vocab * spec.embedding.dim if spec.embedding else 0
    for hidden in spec.hidden:
        count += width * hidden + hidden + (2 * hidden if spec.batchnorm else 0)
        width = hidden
    return count + width * n_out + n_out


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def summary(model: nn.Module) -> str:
    """`print(model)` followed by a table of parameters per layer and in total."""
    rows = [(name, type(module).__name__, sum(p.numel() for p in module.parameters(recurse=False)))
            for name, module in model.named_modules() if name]
    width = max([len(f"{name} ({kind})") for name, kind, _ in rows] + [5])
    lines = [repr(model), "", f"{'layer':<{width}}  {'parameters':>12}"]
    lines += [f"{f'{name} ({kind})':<{width}}  {count:>12,}" for name, kind, count in rows]
    lines.append(f"{'total':<{width}}  {count_parameters(model):>12,}")
    return "\n".join(lines)
