"""Where one training step's time goes: batching, engine.step, and the loop's bookkeeping, per engine.

Builds the notebook-000 preset with `redes.runs.setup.prepare` (what `redes.train` runs) and times,
per step, at each batch size:
  - batch:   cutting the batches (`redes.data.batches.batches`: one index_select per chunk of batches,
             each batch a view of its chunk);
  - step:    `engine.step(x, y)` alone, on pre-cut batches;
  - loop:    one epoch of `redes.loop.fit.fit` (batching + step + the loop's per-step bookkeeping:
             `EpochTotals.add` keeps each step's loss, size and outputs, folded at the epoch's end);
  - notebook: a step of the notebook's loop (elige_batch + forward + backward + update) for reference;
  - fused:   a reference step written out here in plain torch, a floor for the manual engine on torch:
             addmm forward, torch.tanh/sigmoid, fused sigmoid/tanh backward, the weight update fused into
             the gradient GEMM (W.addmm_(d.T, h, alpha=-lr)), no input gradient for layer 0.
Prints microseconds per step (best of repeats); with --sections, the time of each layer's forward
and backward, the loss and the optimizer inside the manual engine's step (both backends); with
--cprofile, the top functions of a profiled epoch of `fit` for each engine. Both at the first batch size.

    .venv/bin/python benchmarks/investigations/profile_step.py                  # batches 2, 32, 1000
    .venv/bin/python benchmarks/investigations/profile_step.py --batches 2 --sections --cprofile
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from pathlib import Path

import numpy as np
import torch

BENCHMARKS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCHMARKS.parent / "src"))  # a fresh clone finds redes
sys.path.insert(0, str(BENCHMARKS))  # and the notebook-000 baseline and preset

import notebook000_baseline as nb  # noqa: E402
from redes.data.batches import batches  # noqa: E402
from redes.runs.setup import prepare  # noqa: E402
from redes.loop.fit import fit  # noqa: E402

TRAINERS = ("module", "autograd", "manual/torch", "manual/numpy")


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def setup_for(trainer: str, batch: int):
    engine, _, backend = trainer.partition("/")
    return prepare(nb.preset(batch, 1, engine, backend or "torch"))


def time_trainer(trainer: str, batch: int, steps: int, repeats: int) -> dict:
    """Microseconds per step of batching, engine.step and a whole fit epoch."""
    setup = setup_for(trainer, batch)
    train, gen = setup.splits.train, torch.Generator().manual_seed(0)
    cut = list(batches(train.x, train.y, batch, "replacement", gen))[:steps]
    n = len(cut)
    per_step = {}
    per_step["batch"] = best_of(repeats, lambda: list(batches(train.x, train.y, batch, "replacement", gen))) \
        / (len(train) // batch) * 1e6

    def steps_only():
        with setup.engine.running():
            for x, y in cut:
                setup.engine.step(x, y)
    steps_only()  # warm-up
    per_step["step"] = best_of(repeats, steps_only) / n * 1e6

    def epoch():
        fit(setup.engine, train, None, setup.loss, epochs=1, batch_size=batch, sampler="replacement",
            generator=gen)
    per_step["loop"] = best_of(repeats, epoch) / (len(train) // batch) * 1e6
    return per_step


def time_notebook(batch: int, steps: int, repeats: int) -> float:
    """Microseconds per step of the notebook's loop body (its epoch loop, cut to `steps` steps)."""
    x, y = nb.notebook_data()
    n_steps = min(steps, 5000 // batch)
    # one epoch of the notebook on `n_steps * batch` samples runs exactly n_steps steps
    return best_of(repeats, lambda: nb.ejemplo_FFNN(x[:n_steps * batch], y[:n_steps * batch], b=batch, d1=300,
                                                     d2=400, epochs=1, init_v=0.8, verbose=False)) / n_steps * 1e6


def time_fused(batch: int, repeats: int) -> float:
    """Microseconds per step (batch cut included) of the fused reference step on the preset's network."""
    setup = setup_for("manual/torch", batch)
    train, gen = setup.splits.train, torch.Generator().manual_seed(0)
    lin = [m for m in setup.model if isinstance(m, torch.nn.Linear)]
    (w1, b1), (w2, b2), (w3, b3) = [(m.weight.detach(), m.bias.detach()) for m in lin]
    lr, y_float = setup.config.optimizer.lr, train.y.to(train.x.dtype)
    sigmoid_backward, tanh_backward = torch.ops.aten.sigmoid_backward, torch.ops.aten.tanh_backward

    def step(x, y):  # (B, 300) -> (B, 300) -> (B, 400) -> (B, 1)
        h1 = torch.tanh(torch.addmm(b1, x, w1.T))
        h2 = torch.sigmoid(torch.addmm(b2, h1, w2.T))
        u3 = torch.addmm(b3, h2, w3.T)
        p = torch.sigmoid(u3).squeeze(1)
        loss = torch.nn.functional.binary_cross_entropy(p.clamp(1e-5, 1 - 1e-5), y)
        d3 = ((p - y) / len(x)).unsqueeze(1)  # (B, 1)
        dh2 = d3 @ w3
        w3.addmm_(d3.T, h2, alpha=-lr), b3.sub_(d3.sum(0), alpha=lr)
        d2 = sigmoid_backward(dh2, h2)
        dh1 = d2 @ w2
        w2.addmm_(d2.T, h1, alpha=-lr), b2.sub_(d2.sum(0), alpha=lr)
        d1 = tanh_backward(dh1, h1)
        w1.addmm_(d1.T, x, alpha=-lr), b1.sub_(d1.sum(0), alpha=lr)
        return loss, u3

    def epoch():
        for x, y in batches(train.x, y_float, batch, "replacement", gen):
            step(x, y)
    epoch()
    return best_of(repeats, epoch) / (len(train) // batch) * 1e6


def sections(trainer: str, batch: int, steps: int) -> str:
    """Microseconds per step of each part of the manual engine's step (forward, loss, backward, update)."""
    setup = setup_for(trainer, batch)
    train, gen = setup.splits.train, torch.Generator().manual_seed(0)
    cut = list(batches(train.x, train.y, batch, "replacement", gen))[:steps]
    if trainer.endswith("numpy"):
        cut = [(x.numpy(), y.numpy()) for x, y in cut]
    spent: dict[str, float] = {}

    def tick(name, since):
        now = time.perf_counter()
        spent[name] = spent.get(name, 0.0) + now - since
        return now

    for _ in range(2):  # the first pass warms up, the second is kept
        spent.clear()
        with setup.engine.running():
            run_sections(setup.engine, cut, tick)
    lines = [f"{name:>26} {seconds / len(cut) * 1e6:8.1f}" for name, seconds in spent.items()]
    return "\n".join(lines + [f"{'total':>26} {sum(spent.values()) / len(cut) * 1e6:8.1f}"])


def run_sections(engine, cut, tick) -> None:
    """The manual engine's step written out, `tick`ing after each part."""
    network, optimizer, fused = engine.network, engine.optimizer, engine.fused
    for x, y in cut:
        if fused:
            engine.sgd_in_backward.begin()
        t = time.perf_counter()
        h = x
        for i, layer in enumerate(network.layers):
            h = layer.forward(h)
            t = tick(f"forward {i} {type(layer).__name__}", t)
        network.loss.forward(h, y)
        t = tick("loss forward", t)
        d = network.loss.backward()
        t = tick("loss backward", t)
        for i in reversed(range(len(network.layers))):
            layer = network.layers[i]
            d = layer.sgd_backward(d, engine.sgd_in_backward) if fused else layer.backward(d)
            t = tick(f"backward {i} {type(layer).__name__}{' + update' if fused else ''}", t)
        if fused:
            engine.sgd_in_backward.finish()
            tick("optimizer (the rest of the step)", t)
        else:
            grads = network.grads()
            optimizer.step(engine.update_grads or grads)
            tick("optimizer (p -= lr * g)", t)


def profile(trainer: str, batch: int, top: int) -> str:
    setup = setup_for(trainer, batch)
    train, gen = setup.splits.train, torch.Generator().manual_seed(0)
    run = lambda: fit(setup.engine, train, None, setup.loss, epochs=1, batch_size=batch,  # noqa: E731
                      sampler="replacement", generator=gen)
    run()
    profiler = cProfile.Profile()
    profiler.enable()
    run()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="per-step time of redes engines: batching, step, loop")
    parser.add_argument("--batches", type=lambda s: [int(v) for v in s.split(",")], default=[2, 32, 1000])
    parser.add_argument("--steps", type=int, default=500, help="steps timed for engine.step alone")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sections", action="store_true", help="also time each part of the manual step")
    parser.add_argument("--cprofile", action="store_true", help="also cProfile one epoch per engine")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    print(f"torch {torch.__version__}, numpy {np.__version__}, {torch.get_num_threads()} threads; "
          f"microseconds per step, best of {args.repeats}")
    print(f"{'batch':>5} {'trainer':>13} {'batch cut':>10} {'engine.step':>12} {'fit epoch':>10} "
          f"{'loop overhead':>14}")
    for b in args.batches:
        print(f"{b:>5} {'notebook':>13} {'':>10} {'':>12} {time_notebook(b, args.steps, args.repeats):>10.0f}")
        for trainer in TRAINERS:
            t = time_trainer(trainer, b, args.steps, args.repeats)
            print(f"{b:>5} {trainer:>13} {t['batch']:>10.0f} {t['step']:>12.0f} {t['loop']:>10.0f} "
                  f"{t['loop'] - t['step'] - t['batch']:>14.0f}", flush=True)
        print(f"{b:>5} {'fused (ref.)':>13} {'':>10} {'':>12} {time_fused(b, args.repeats):>10.0f}", flush=True)
    if args.sections:
        for trainer in ("manual/torch", "manual/numpy"):
            print(f"\n=== {trainer} step, batch {args.batches[0]}: microseconds per step ===")
            print(sections(trainer, args.batches[0], args.steps))
    if args.cprofile:
        for trainer in TRAINERS:
            print(f"\n=== cProfile: one epoch of fit, {trainer}, batch {args.batches[0]} ===")
            print(profile(trainer, args.batches[0], args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
