"""What a torch call costs right after an epoch of NumPy steps, against the same call again at once.

Trains redes' manual engine on NumPy (64-128-64-10, batch 32: what redes.MLPClassifier picks on digits) for
one epoch of `--steps` steps, then times each of a few small torch calls of the kind a training loop makes at
an epoch's end, and the same calls again straight after; the NumPy equivalents the same way; and, to tell time
from the work's footprint, the torch calls after a busy-wait as long as the epoch. Medians of `--rounds`.

    .venv/bin/python benchmarks/investigations/cold_calls.py          # about 10 s
    .venv/bin/python benchmarks/investigations/cold_calls.py --json
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # a fresh clone finds redes
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # and benchmarks/harness.py

import numpy as np  # noqa: E402
import torch  # noqa: E402
from harness import script_arguments  # noqa: E402
from redes.bench.suite import bench_engine  # noqa: E402
from redes.data.batches import batches  # noqa: E402

LOSSES = [torch.tensor(float(i)) for i in range(43)]
NUMPY_LOSSES = [np.asarray(np.float32(i)) for i in range(43)]  # what the NumPy engine's steps return
CALLS = {  # one epoch's end in miniature: torch's calls and NumPy's
    "torch.zeros": lambda: torch.zeros(3, 43, dtype=torch.float64),
    "torch.stack": lambda: torch.stack(LOSSES),
    "torch.tensor": lambda: torch.tensor([32] * 43, dtype=torch.float64),
    "tensor.sum": lambda: LOSSES[0].sum(),
    "np.zeros": lambda: np.zeros((3, 43)),
    "np.stack": lambda: np.stack(NUMPY_LOSSES),
}


def main(argv=None) -> int:
    args = script_arguments(__doc__, argv, steps=43, rounds=100)
    settings = {"model": {"hidden": [128, 64]}, "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9}}
    engine, _ = bench_engine(settings, 64, 10, torch.device("cpu"), engine="manual", backend="numpy")
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(args.steps * 32, 64, generator=generator), torch.randint(0, 10, (args.steps * 32,))
    cut = list(batches(x.numpy(), y.numpy(), 32, "shuffle", generator))

    def epoch():
        for xb, yb in cut:
            engine.step(xb, yb)
    with engine.running():
        start = time.perf_counter()
        epoch()
        epoch_seconds = time.perf_counter() - start

        def busy_wait():
            until = time.perf_counter() + epoch_seconds
            while time.perf_counter() < until:
                pass
        seconds = {(before, name, which): [] for before in ("epoch", "wait") for name in CALLS
                   for which in ("first", "again")}
        for _ in range(args.rounds):
            for before, work in (("epoch", epoch), ("wait", busy_wait)):
                for name, call in CALLS.items():
                    work()
                    for which in ("first", "again"):
                        start = time.perf_counter()
                        call()
                        seconds[before, name, which].append(time.perf_counter() - start)
    us = {key: statistics.median(values) * 1e6 for key, values in seconds.items()}
    if args.json:
        print(json.dumps({"epoch_ms": epoch_seconds * 1e3,
                          "microseconds": {"/".join(key): value for key, value in us.items()}}))
        return 0
    print(f"median µs of a call after {args.steps} NumPy steps ({epoch_seconds * 1e3:.1f} ms) or a busy-wait as long, "
          f"then again at once; {args.rounds} rounds")
    print(f"{'call':<14}{'after epoch':>12}{'again':>8}{'ratio':>7}{'after wait':>12}{'again':>8}{'ratio':>7}")
    for name in CALLS:
        row = [us["epoch", name, "first"], us["epoch", name, "again"], us["wait", name, "first"],
               us["wait", name, "again"]]
        print(f"{name:<14}{row[0]:12.1f}{row[1]:8.1f}{row[0] / row[1]:6.1f}x{row[2]:12.1f}{row[3]:8.1f}"
              f"{row[2] / row[3]:6.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
