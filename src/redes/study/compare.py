"""Proof that the engines agree: N steps of every engine from one start, and notebook 003's line three ways."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from redes.config import Config
from redes.errors import RedesError
from redes.loop.fit import global_rng_seeded_from
from redes.nn.losses import classifies
from redes.runs.setup import Setup, prepare, with_engine

ENGINES = (("module", "torch"), ("autograd", "torch"), ("manual", "torch"), ("manual", "numpy"))
TOLERANCE = 1e-10


@dataclass
class EngineComparison:
    """Per parameter, the largest absolute and relative difference of each engine from `module`."""

    steps: int
    dtype: str
    tolerance: float
    engines: list[str]
    losses: dict[str, list[float]]
    differences: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(abs_diff <= self.tolerance for row in self.differences.values() for abs_diff, _ in row.values())

    def to_dict(self) -> dict:
        return {"steps": self.steps, "dtype": self.dtype, "tolerance": self.tolerance, "passed": self.passed,
                "engines": self.engines, "losses": self.losses,
                "parameters": {name: {engine: {"max_abs": a, "max_rel": r} for engine, (a, r) in row.items()}
                               for name, row in self.differences.items()}}

    def table(self) -> str:
        """The differences as an aligned table, then the verdict."""
        others = self.engines[1:]
        width = max(len(name) for name in self.differences) + 2
        head = f"{'parameter':<{width}}" + "".join(f"{engine:>28}" for engine in others)
        lines = [f"{self.steps} steps in {self.dtype}; max |difference| (relative) from {self.engines[0]}:", head]
        for name, row in self.differences.items():
            cells = "".join(f"{f'{row[e][0]:.2e} ({row[e][1]:.1e})':>28}" for e in others)
            lines.append(f"{name:<{width}}" + cells)
        finals = ", ".join(f"{engine} {values[-1]:.12g}" for engine, values in self.losses.items())
        lines += [f"final loss: {finals}",
                  f"{'PASS' if self.passed else 'FAIL'}: every difference "
                  f"{'within' if self.passed else 'must be within'} {self.tolerance:g}"]
        return "\n".join(lines)


def run_steps(setup: Setup, steps: int) -> list[float]:
    """Train `steps` mini-batches as the loop takes them (across epochs if needed); the loss of each."""
    t, engine, losses = setup.config.train, setup.engine, []
    x, y = engine.arrays(setup.splits.train)
    setup.model.train()
    with global_rng_seeded_from(setup.generator, setup.device), engine.running():
        while len(losses) < steps:
            for taken in engine.epoch(x, y, t.batch_size, t.sampler, setup.generator):
                losses += [float(result.loss) for result, _ in taken]
                if len(losses) >= steps:
                    break
    return losses[:steps]


def check_engines(cfg: Config, steps: int = 20, dtype: str = "float64",
                  tolerance: float = TOLERANCE) -> EngineComparison:
    """Train `steps` steps with every engine and backend from the same weights and batches; compare the weights.

    `train.device: auto` compares on the CPU: there every engine draws the same dropout masks (on CUDA,
    F.dropout's fused kernel draws its own), and the NumPy backend takes part."""
    if steps < 1:
        raise RedesError(f"--steps must be at least 1, got {steps}")
    device = "cpu" if cfg.train.device == "auto" else cfg.train.device
    combos = [c for c in ENGINES if c[1] != "numpy" or _numpy_possible(cfg)]
    names = [f"{engine}/{backend}" for engine, backend in combos]
    states, losses = {}, {}
    for name, (engine, backend) in zip(names, combos):
        setup = prepare(with_engine(cfg, engine, backend, dtype=dtype, device=device))
        losses[name] = run_steps(setup, steps)
        states[name] = {k: v.detach().cpu().double() for k, v in setup.model.state_dict().items()
                        if v.is_floating_point()}
    comparison = EngineComparison(steps, dtype, tolerance, names, losses)
    reference = states[names[0]]
    for key, ref in reference.items():
        scale = ref.abs().clamp_min(1e-12)
        comparison.differences[key] = {
            name: ((states[name][key] - ref).abs().max().item(), ((states[name][key] - ref).abs() / scale).max().item())
            for name in names[1:]}
    return comparison


def _numpy_possible(cfg: Config) -> bool:
    return cfg.train.device in ("auto", "cpu")


def fit_linear_every_way(cfg: Config) -> Iterator[tuple[str, float, float, float]]:
    """(name, a, b, train mse) of the configured line y = a + b x fitted by each engine and backend, then by
    scikit-learn's LinearRegression and by the closed-form least squares (notebook 003), each as it is done."""
    for engine, backend in ENGINES:
        setup = prepare(with_engine(cfg, engine, backend))
        if len(setup.model) != 1 or setup.model[0].in_features != 1 or classifies(setup.loss):
            raise RedesError("check linear needs one input feature, model.hidden=[] and loss mse "
                             "(see `redes config notebook003`)")
        history = setup.fit().history
        layer = setup.model[0]
        yield f"{engine}/{backend}", layer.bias.item(), layer.weight.item(), history[-1]["train_loss"]
    x = setup.splits.train.x.cpu().double().numpy()
    y = setup.splits.train.y.cpu().double().numpy().ravel()
    from sklearn.linear_model import LinearRegression

    fitted = LinearRegression().fit(x, y)
    design = np.column_stack([np.ones(len(x)), x[:, 0]])
    a, b = np.linalg.solve(design.T @ design, design.T @ y)  # the normal equations
    for name, a_, b_ in (("sklearn LinearRegression", fitted.intercept_, fitted.coef_[0]), ("closed form", a, b)):
        yield name, float(a_), float(b_), float(np.mean((design @ [a_, b_] - y) ** 2))


LINEAR_HEADER = f"{'fit':<26}{'a (intercept)':>16}{'b (slope)':>16}{'train mse':>14}"


def format_linear(row: tuple[str, float, float, float]) -> str:
    """One fit's line under LINEAR_HEADER."""
    name, a, b, mse = row
    return f"{name:<26}{a:>16.6f}{b:>16.6f}{mse:>14.6f}"
