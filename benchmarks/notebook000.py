"""Seconds per epoch of notebook 000's hand-written loop and of each redes engine, as ratios, in one process.

The notebook-000 preset (notebook000: bernoulli 5000x300, hidden [300, 400] tanh/sigmoid,
init_scale 0.8, bce, sgd lr 0.06, sampler replacement) at batch sizes 2, 32, 256 and 1000, trained by
  - the baseline: benchmarks/notebook000_baseline.py (the notebook's loop, per-sample batch picker);
  - redes.train with train.engine = module, autograd, manual (backend torch), manual (backend numpy).
redes trains on all 5000 samples (data.val_fraction=0, data.test_fraction=0) so an epoch has the
notebook's N // b steps; its seconds are `run.history[i]['seconds']` (training only, as the notebook's
tiempo_epochs). Each (batch size, trainer) is repeated, interleaved with the others so that a burst of
load elsewhere hits every trainer alike, and the best repeat is kept (the least disturbed one).

Targets (the best manual backend at each batch size):
  manual >= 3x faster than the notebook loop at batch 2, >= 1.6x at batch 32,
  and never slower than the module engine: manual s/epoch / module s/epoch <= 1.0 at every batch size.

    .venv/bin/python benchmarks/notebook000.py            # full (about 2 minutes on 2 idle cores)
    .venv/bin/python benchmarks/notebook000.py --quick    # fewer repeats
    .venv/bin/python benchmarks/notebook000.py --json     # last line: one JSON object
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # a fresh clone without `pip install -e .` still finds redes

import redes  # noqa: E402
from notebook000_baseline import PRESET, ejemplo_FFNN, preset  # noqa: E402

BATCHES = (2, 32, 256, 1000)
EPOCHS = {2: 1, 32: 2, 256: 3, 1000: 3}  # per measurement; batch 2 is 2500 steps an epoch
TRAINERS = ("baseline", "module", "autograd", "manual/torch", "manual/numpy")
TARGET_SPEEDUP = {2: 3.0, 32: 1.6}  # manual vs the notebook loop
TARGET_MANUAL_OVER_MODULE = 1.0


class Timer:
    """Runs one trainer for a few epochs and returns its training seconds per epoch."""

    def __init__(self, workdir: Path):
        self.workdir, self.count = workdir, 0
        cfg = preset(32, 1)
        splits = redes.load_data(cfg.data, cfg.train.seed)
        # the baseline trains on the very samples redes trains on: x (N, 300) float, y (N, 1) float 0/1
        self.x, self.y = splits.train.x, splits.train.y.to(torch.float32).reshape(-1, 1)
        self.model = cfg.model

    def __call__(self, trainer: str, batch: int, epochs: int) -> float:
        if trainer == "baseline":
            hidden = self.model.hidden
            out = ejemplo_FFNN(self.x, self.y, b=batch, d1=hidden[0], d2=hidden[1], lr=0.06, epochs=epochs,
                               init_v=self.model.init_scale, verbose=False, seed=1547)
            return out["seconds_per_epoch"]
        engine, _, backend = trainer.partition("/")
        self.count += 1
        run = redes.train(preset(batch, epochs, engine, backend or "torch"),
                          out=self.workdir / f"run-{self.count:04d}", verbose=False)
        return sum(row["seconds"] for row in run.history) / len(run.history)


def measure(batches, repeats: int, log) -> dict:
    """{batch: {trainer: [seconds/epoch of each repeat]}}, after one warm-up of every trainer."""
    times = {b: {t: [] for t in TRAINERS} for b in batches}
    with tempfile.TemporaryDirectory(prefix="redes-bench-") as tmp:
        timer = Timer(Path(tmp))
        for trainer in TRAINERS:  # warm-up: imports, allocator, first-call dispatch
            timer(trainer, 32, 1)
        for b in batches:
            epochs = EPOCHS.get(b, 2)
            for r in range(repeats):
                for trainer in TRAINERS:
                    times[b][trainer].append(timer(trainer, b, epochs))
            log(f"  batch {b:>4}: {epochs} epoch(s) x {repeats} repeats done")
    return times


def summarise(times: dict) -> dict:
    """Best and median s/epoch of each trainer, speed-ups vs the baseline, manual/module, and the targets."""
    rows, targets = {}, []
    for b, by_trainer in times.items():
        best = {t: min(v) for t, v in by_trainer.items()}
        median = {t: statistics.median(v) for t, v in by_trainer.items()}
        manual = min(("manual/torch", "manual/numpy"), key=best.get)
        rows[b] = {"best": best, "median": median, "all": by_trainer,
                   "speedup": {t: best["baseline"] / best[t] for t in TRAINERS if t != "baseline"},
                   "best_manual": manual, "manual_over_module": best[manual] / best["module"],
                   "manual_over_module_by_backend": {t: best[t] / best["module"]
                                                     for t in ("manual/torch", "manual/numpy")}}
        if b in TARGET_SPEEDUP:
            value = rows[b]["speedup"][manual]
            targets.append({"name": f"manual vs notebook loop, batch {b}", "value": value,
                            "target": f">= {TARGET_SPEEDUP[b]}x", "pass": value >= TARGET_SPEEDUP[b]})
        value = rows[b]["manual_over_module"]
        targets.append({"name": f"manual / module s/epoch, batch {b}", "value": value,
                        "target": f"<= {TARGET_MANUAL_OVER_MODULE}", "pass": value <= TARGET_MANUAL_OVER_MODULE})
    return {"rows": rows, "targets": targets}


def table(summary: dict) -> str:
    """One line per batch size: baseline s/epoch, each engine's s/epoch (speed-up), manual/module."""
    engines = [t for t in TRAINERS if t != "baseline"]
    head = f"{'batch':>5} {'baseline':>9} " + " ".join(f"{t:>19}" for t in engines) + f" {'manual/module':>14}"
    lines = [head, f"{'':>5} {'s/epoch':>9} " + " ".join(f"{'s/epoch (speed-up)':>19}" for _ in engines)
             + f" {'(best backend)':>14}"]
    for b, row in summary["rows"].items():
        cells = " ".join(f"{row['best'][t]:>10.4f} ({row['speedup'][t]:>5.2f}x)" for t in engines)
        ratio = f"{row['manual_over_module']:.2f} ({row['best_manual'].split('/')[1]})"
        lines.append(f"{b:>5} {row['best']['baseline']:>9.4f} {cells} {ratio:>14}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="redes engines vs notebook 000's loop, seconds per epoch")
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 7")
    parser.add_argument("--repeats", type=int, default=None, help="repeats per batch size and trainer")
    parser.add_argument("--batches", type=lambda s: [int(v) for v in s.split(",")], default=list(BATCHES),
                        help="comma-separated batch sizes (default 2,32,256,1000)")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 7)

    torch.set_num_threads(torch.get_num_threads())  # the machine's default, stated, not changed
    load_before = os.getloadavg()[0]
    print(f"torch {torch.__version__}, numpy {np.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs, load average {load_before:.2f}")
    print(f"preset {PRESET.relative_to(ROOT)} on all 5000 samples; best of {repeats} repeats, "
          f"epochs per measurement {', '.join(f'b={b}: {EPOCHS.get(b, 2)}' for b in args.batches)}")
    if load_before > 0.5:
        print(f"warning: load average {load_before:.2f} — other processes compete for the cores; "
              "timings are noisier (the best repeat is kept)")
    start = time.perf_counter()
    times = measure(args.batches, repeats, lambda text: print(text, flush=True))
    summary = summarise(times)
    elapsed, load_after = time.perf_counter() - start, os.getloadavg()[0]

    print(f"\nseconds per epoch (training only, best repeat) and speed-up vs the notebook loop; "
          f"{elapsed:.0f} s in all, load average at the end {load_after:.2f}\n")
    print(table(summary))
    print("\ntargets (manual = its faster backend at each batch size):")
    for t in summary["targets"]:
        print(f"  {'PASS' if t['pass'] else 'FAIL'}  {t['name']}: {t['value']:.2f} (target {t['target']})")
    passed = all(t["pass"] for t in summary["targets"])
    print(f"overall: {'PASS' if passed else 'FAIL'}")
    if args.json:
        print(json.dumps({"torch": torch.__version__, "numpy": np.__version__, "threads": torch.get_num_threads(),
                          "cpus": os.cpu_count(), "repeats": repeats,
                          "epochs": {b: EPOCHS.get(b, 2) for b in args.batches},
                          "load_average": [load_before, load_after], "seconds": elapsed,
                          "results": summary["rows"], "targets": summary["targets"], "pass": passed}))
    return 1 if args.strict and not passed else 0


if __name__ == "__main__":
    sys.exit(main())
