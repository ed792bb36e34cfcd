"""build_model(spec, n_in, n_out) -> nn.Sequential, its seeded initialisation and a printed summary."""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from redes.config import ModelConfig

ACTIVATION_MODULES = {  # every name in config.ACTIVATIONS (tests/test_models.py builds each one)
    "relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "hardsigmoid": nn.Hardsigmoid,
    "leaky_relu": nn.LeakyReLU, "gelu": nn.GELU, "elu": nn.ELU, "selu": nn.SELU, "silu": nn.SiLU,
    "softplus": nn.Softplus, "identity": nn.Identity,
}


def build_model(spec: ModelConfig, n_in: int, n_out: int, generator: Optional[torch.Generator] = None) -> nn.Sequential:
    """Linear → [BatchNorm1d] → activation → [Dropout] per hidden width, then a linear head of `n_out` units.

    The head emits raw scores (logits for cross-entropy and bce, values for mse); the loss or
    `predict` applies softmax/sigmoid. Weights come from `generator`, never the global RNG.
    """
    layers: list[nn.Module] = []
    width = n_in
    for i, hidden in enumerate(spec.hidden):
        layers.append(nn.Linear(width, hidden, device="meta"))
        if spec.batchnorm:
            layers.append(nn.BatchNorm1d(hidden))
        layers.append(ACTIVATION_MODULES[_per_layer(spec.activation, i)]())
        p = _per_layer(spec.dropout, i)
        if p > 0:
            layers.append(nn.Dropout(p))
        width = hidden
    layers.append(nn.Linear(width, n_out, device="meta"))
    model = nn.Sequential(*layers).to_empty(device="cpu")
    init_weights(model, spec.init_scale, generator or torch.Generator().manual_seed(0))
    return model


def init_weights(model: nn.Module, init_scale: Optional[float], generator: torch.Generator) -> None:
    """PyTorch's default Linear init drawn from `generator`, or N(0, 1) * init_scale with zero biases."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear):
                if init_scale is None:
                    nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
                    bound = 1 / math.sqrt(module.in_features)
                    nn.init.uniform_(module.bias, -bound, bound, generator=generator)
                else:
                    nn.init.normal_(module.weight, 0.0, init_scale, generator=generator)
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm1d):
                module.reset_parameters()
                module.reset_running_stats()


def _per_layer(value, i: int):
    return value[i] if isinstance(value, list) else value


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
