"""explain(model, ...) -> a network's forward and backward equations with its real shapes, as written on paper.

The equations are those of the hand-written engine (`redes.manual`), term for term: with train.backward=reuse
the backward reuses forward values (h(1-h), 1-h²), with recompute it recomputes sigmoid(u)/tanh(u).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Optional

from torch import nn

from redes.config import Config, OptimizerConfig
from redes.data import load_data
from redes.errors import RedesError
from redes.nn.activations import activation_of
from redes.nn.losses import loss_of, output_width, resolve_loss
from redes.nn.models import build_model
from redes.nn.optimizers import OPTIMIZERS

Row = tuple[str, str, str, str]  # (tensor, shape, "= formula", note)

@dataclass
class _Step:
    """One module's share of the story: its forward rows, its backward rows, its row in the parameter table."""

    forward: list[Row]
    backward: list[Row]
    params: Optional[tuple[str, str, int]] = None


def explain(model: nn.Sequential, loss: str, batch_size: int, *, reuse: bool = True, l1: float = 0.0,
            l2: float = 0.0, optimizer: Optional[OptimizerConfig] = None) -> str:
    """Each layer's forward and backward equations with real shapes, the update rule and the parameter count."""
    steps, out, width = _walk(model, batch_size, reuse, l1, l2)
    n_in = next(m.in_features for m in model if isinstance(m, nn.Linear))
    widths = [n_in] + [m.out_features for m in model if isinstance(m, nn.Linear)]
    penalty = _penalty_rows(l1, l2, sum(isinstance(m, nn.Linear) for m in model))
    loss_forward, loss_backward = loss_of(loss).equations(out, (batch_size, width), reuse, "L_data" if penalty else "L")
    forward = [("x", _fmt((batch_size, n_in)), "", "the input batch")]
    forward += [row for step in steps for row in step.forward] + loss_forward + penalty
    backward = loss_backward + [row for step in reversed(steps) for row in step.backward]
    lines = [f"Network {' → '.join(map(str, widths))}, batch B = {batch_size}, loss {loss}, "
             f"backward {'reuse' if reuse else 'recompute'}", "", "Forward", *_table(forward),
             "", "Backward (chain rule, from the loss to the input)", *_table(backward)]
    if optimizer is not None:
        lines += ["", *OPTIMIZERS[optimizer.name].equations(optimizer)]
    lines += ["", "Parameters", *_parameter_table(steps, model)]
    return "\n".join(lines)


def explain_config(cfg: Config) -> str:
    """`explain` for the model, loss, batch size, backward mode, penalties and optimizer a config describes."""
    if cfg.model.embedding is not None:
        raise RedesError("redes explain covers Linear layers only; it does not explain model.embedding yet")
    splits = load_data(cfg.data, cfg.train.seed)
    n_classes = len(splits.classes or [])
    loss = resolve_loss(cfg.loss.name, splits.task, n_classes)
    model = build_model(cfg.model, splits.n_features, output_width(loss, n_classes, splits.n_targets))
    classes = f", {n_classes} classes" if n_classes else ""
    features = f"{splits.n_features} feature" + ("s" if splits.n_features != 1 else "")
    header = f"Data {cfg.data.name} ({splits.task}{classes}, {features}), loss {loss}, engine {cfg.train.engine}"
    text = explain(model, loss, cfg.train.batch_size, reuse=cfg.train.backward == "reuse",
                   l1=cfg.regularization.l1, l2=cfg.regularization.l2, optimizer=cfg.optimizer)
    return f"{header}\n{text}"


def _walk(model: nn.Sequential, batch: int, reuse: bool, l1: float, l2: float) -> tuple[list[_Step], str, int]:
    """The steps of every module, named as a student would: u_i, z_i (batchnorm), h_i (a_i before dropout)."""
    steps, src, i, width, modules = [], "x", 0, 0, list(model)
    for j, module in enumerate(modules):
        if isinstance(module, nn.Linear):
            i, width, out = i + 1, module.out_features, f"u{i + 1}"
            steps.append(_linear(module, i, src, batch, l1, l2))
        elif isinstance(module, nn.BatchNorm1d):
            out = f"z{i}"
            steps.append(_batchnorm(module, i, src, out, (batch, width)))
        elif isinstance(module, nn.Dropout):
            out = f"h{i}"
            steps.append(_dropout(module, i, src, out, (batch, width)))
        else:
            followed = j + 1 < len(modules) and isinstance(modules[j + 1], nn.Dropout)
            out = f"{'a' if followed else 'h'}{i}"
            steps.append(_activation(module, src, out, (batch, width), reuse))
        src = out
    return steps, src, width


def _linear(module: nn.Linear, i: int, src: str, batch: int, l1: float, l2: float) -> _Step:
    w, b, u = f"W{i}", f"b{i}", f"u{i}"
    w_shape, b_shape = _fmt(tuple(module.weight.shape)), _fmt(tuple(module.bias.shape))
    forward = [(u, _fmt((batch, module.out_features)), f"= {src} {w}ᵀ + {b}", f"{w} {w_shape}, {b} {b_shape}")]
    backward = [(f"dL/d{w}", w_shape, f"= (dL/d{u})ᵀ {src}", ""),
                (f"dL/d{b}", b_shape, f"= Σ_batch dL/d{u}", "")]
    if l1 or l2:
        terms = ([f"l1·sign({w})"] if l1 else []) + ([f"2·l2·{w}"] if l2 else [])
        backward.insert(1, (f"dL/d{w}", w_shape, f"= dL/d{w} + " + " + ".join(terms), "plus the penalty's gradient"))
    note = "not needed to train; computed all the same" if src == "x" else ""
    backward.append((f"dL/d{src}", _fmt((batch, module.in_features)), f"= dL/d{u} {w}", note))
    count = sum(p.numel() for p in module.parameters())
    return _Step(forward, backward, (f"Linear {module.in_features} → {module.out_features}",
                                     f"{w} {w_shape}, {b} {b_shape}", count))


def _batchnorm(module: nn.BatchNorm1d, i: int, src: str, out: str, shape: tuple[int, int]) -> _Step:
    s, c, xh, std = _fmt(shape), _fmt(shape[1:]), f"x̂{i}", f"√(σ{i}² + ε)"
    forward = [(f"μ{i}", c, f"= Σ_batch {src} / B", "batch mean"),
               (f"σ{i}²", c, f"= Σ_batch ({src} - μ{i})² / B", "biased batch variance"),
               (xh, s, f"= ({src} - μ{i}) / {std}", f"ε = {module.eps:g}"),
               (out, s, f"= γ{i} ⊙ {xh} + β{i}",
                f"γ{i}, β{i} {c}; evaluation uses running μ, σ² (momentum {module.momentum})")]
    backward = [(f"dL/dγ{i}", c, f"= Σ_batch dL/d{out} ⊙ {xh}", ""),
                (f"dL/dβ{i}", c, f"= Σ_batch dL/d{out}", ""),
                (f"dL/d{xh}", s, f"= dL/d{out} ⊙ γ{i}", ""),
                (f"dL/d{src}", s, f"= (B·dL/d{xh} - Σ_batch dL/d{xh} - {xh} ⊙ Σ_batch(dL/d{xh} ⊙ {xh}))"
                                  f" / (B·{std})", "")]
    count = sum(p.numel() for p in module.parameters())
    return _Step(forward, backward, (f"BatchNorm1d {shape[1]}", f"γ{i} {c}, β{i} {c}", count))


def _dropout(module: nn.Dropout, i: int, src: str, out: str, shape: tuple[int, int]) -> _Step:
    s, keep = _fmt(shape), f"{1 - module.p:g}"
    forward = [(out, s, f"= {src} ⊙ m{i} / (1 - p)",
                f"p = {module.p:g}, mask m{i} {s} of 0/1 ~ Bernoulli({keep}); training only, else {out} = {src}")]
    return _Step(forward, [(f"dL/d{src}", s, f"= dL/d{out} ⊙ m{i} / (1 - p)", "the same mask")])


def _activation(module: nn.Module, src: str, out: str, shape: tuple[int, int], reuse: bool) -> _Step:
    kind = activation_of(module)
    if kind is None:
        raise RedesError(f"explain: no equations for {type(module).__name__}")
    values = {"a": src, "h": out, **{key: getattr(module, attribute) for key, attribute in kind.options.items()}}
    derivative, note = (kind.derivative, kind.note) if reuse or kind.recompute is None else kind.recompute
    function, derivative, note = (part.format(**values) for part in (kind.equation, derivative, note))
    formula = function if function.startswith(kind.name) else f"{kind.name}({src}) = {function}"
    grad = f"= dL/d{out} ⊙ {derivative}" if derivative else f"= dL/d{out}"
    s = _fmt(shape)
    return _Step([(out, s, f"= {formula}", "" if kind.hand_written else note)], [(f"dL/d{src}", s, grad, note)])


def _penalty_rows(l1: float, l2: float, n_weights: int) -> list[Row]:
    if not (l1 or l2):
        return []
    terms = (["l1·Σ|W|"] if l1 else []) + (["l2·ΣW²"] if l2 else [])
    values = ", ".join(f"{k} = {v:g}" for k, v in (("l1", l1), ("l2", l2)) if v)
    return [("L", "()", f"= L_data + {' + '.join(terms)}", f"over W1..W{n_weights}, not biases; {values}")]


def _parameter_table(steps: list[_Step], model: nn.Module) -> list[str]:
    """One row per module with parameters, named by its index in the Sequential as `summary` does; then the total."""
    total = sum(p.numel() for p in model.parameters())
    rows = [(f"{j}  {s.params[0]}", *s.params[1:]) for j, s in enumerate(steps) if s.params] + [("total", "", total)]
    kind, names = (max(_width(r[i]) for r in rows) for i in (0, 1))
    digits = len(f"{total:,}")
    return [f"  {_pad(k, kind)}  {_pad(n, names)}  {count:>{digits},}" for k, n, count in rows]


def _table(rows: list[Row]) -> list[str]:
    """Rows aligned in columns: tensor, shape, formula, then the notes lined up after the longest noted formula."""
    name, shape = (max(_width(r[i]) for r in rows) for i in (0, 1))
    formula = max((_width(r[2]) for r in rows if r[3]), default=0)
    lines = []
    for tensor, size, text, note in rows:
        line = f"  {_pad(tensor, name)}  {_pad(size, shape)}  {_pad(text, formula) if note else text}"
        lines.append(f"{line}   {note}".rstrip() if note else line.rstrip())
    return lines


def _fmt(shape: tuple[int, ...]) -> str:
    """A shape as Python writes it: (32, 128), (128,), ()."""
    return str(tuple(shape))


def _width(text: str) -> int:
    """Columns `text` takes in a terminal: combining marks (the hat of x̂) take none."""
    return sum(not unicodedata.combining(c) for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))
