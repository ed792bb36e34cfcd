"""The computation graph of a model's loss as Graphviz DOT text (notebook 003's torchviz pictures), and its
rendering to SVG or PNG by Graphviz's `dot` program when it is installed."""

from __future__ import annotations

import shutil
import subprocess

import torch

from redes.config import Config
from redes.errors import RedesError
from redes.nn.losses import loss_function, weight_penalty

FORMATS = ("dot", "svg", "png")
_STYLE = {"param": "lightblue", "output": "darkolivegreen1", "op": "lightgrey"}


def loss_graph(cfg: Config, batch: int = 4) -> str:
    """DOT text of the graph autograd records for the configured model's loss (+ penalty) on `batch` samples."""
    from redes.runs.setup import prepare

    setup = prepare(cfg)
    x, y = setup.splits.train.x[:batch], setup.splits.train.y[:batch]
    loss = loss_function(setup.loss)(setup.model(x), y)
    penalty = weight_penalty(setup.model, cfg.regularization.l1, cfg.regularization.l2)
    return autograd_dot(loss if penalty is None else loss + penalty, dict(setup.model.named_parameters()))


def autograd_dot(output: torch.Tensor, params: dict[str, torch.Tensor]) -> str:
    """Walk `output.grad_fn` back to the leaves: one box per parameter (named, with its shape), one per
    backward operation, edges in the direction the forward pass ran (as torchviz's make_dot draws it)."""
    if output.grad_fn is None:
        raise RedesError("this tensor has no computation graph (it does not depend on any parameter)")
    names = {id(p): name for name, p in params.items()}
    lines = ["digraph loss {", '  graph [rankdir=TB]; node [shape=box, style=filled, fontname="monospace", '
             'fontsize=10];', _node("output", f"loss\\n{_shape(output)}", "output")]
    keys: dict[int, str] = {}
    kept, stack = [], [(output.grad_fn, "output")]  # kept: the nodes stay alive, so their ids stay unique
    while stack:
        fn, child = stack.pop()
        seen = id(fn) in keys
        key = keys.setdefault(id(fn), f"n{len(keys)}")
        lines.append(f"  {key} -> {child};")
        if not seen:
            kept.append(fn)
            lines.append(_describe(fn, key, names))
            stack.extend((parent, key) for parent, _ in reversed(fn.next_functions) if parent is not None)
    return "\n".join(lines + ["}"]) + "\n"


def _describe(fn, key: str, names: dict[int, str]) -> str:
    variable = getattr(fn, "variable", None)  # AccumulateGrad: where a leaf's gradient lands
    if variable is not None:
        return _node(key, f"{names.get(id(variable), 'leaf')}\\n{_shape(variable)}", "param")
    return _node(key, type(fn).__name__, "op")


def _node(key: str, label: str, kind: str) -> str:
    return f'  {key} [label="{label}", fillcolor={_STYLE[kind]}];'


def _shape(tensor: torch.Tensor) -> str:
    return "(" + ", ".join(map(str, tensor.shape)) + ")"


def render(dot: str, fmt: str) -> bytes:
    """The DOT text itself, or the picture Graphviz's `dot` draws from it (svg, png)."""
    if fmt not in FORMATS:
        raise RedesError(f"cannot draw a graph as .{fmt}; use one of {', '.join('.' + f for f in FORMATS)}")
    if fmt == "dot":
        return dot.encode()
    program = shutil.which("dot")
    if program is None:
        raise RedesError(f"drawing .{fmt} needs Graphviz's `dot` program, which is not on PATH: install Graphviz "
                         "(apt-get install graphviz, brew install graphviz or conda install graphviz), or write "
                         "--out FILE.dot")
    done = subprocess.run([program, f"-T{fmt}"], input=dot.encode(), capture_output=True, check=False)
    if done.returncode != 0:
        raise RedesError(f"Graphviz's dot failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout
