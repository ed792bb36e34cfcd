"""Where a graphed notebook-001 step's time goes on a GPU: microseconds per step of each part (the whole
loop, the graph's replay alone, the copies into it, the engine's step, one empty launch, the batch
gather, and the replay's GPU time by CUDA events). Needs CUDA; part of benchmarks/gpu.sh.

    .venv/bin/python benchmarks/gpu_step_parts.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # a fresh clone finds redes

import torch  # noqa: E402
from redes.bench import NOTEBOOK001, _engine, _fit_epoch  # noqa: E402
from redes.data import Split  # noqa: E402
from redes.data.batches import batches  # noqa: E402

IMAGES, BATCH = 50_000, 128
STEPS = -(-IMAGES // BATCH)


def per_step(run: Callable[[], object], steps: int = STEPS, repeats: int = 3) -> float:
    """Microseconds per call of `run`, `steps` calls in a row between two synchronizations, best of `repeats`."""
    best = float("inf")
    for _ in range(repeats):
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            run()
        torch.cuda.synchronize()
        best = min(best, (time.perf_counter() - start) / steps)
    return best * 1e6


def replay_gpu_time(graph: torch.cuda.CUDAGraph, replays: int = 100) -> float:
    """Microseconds of GPU time per replay, by CUDA events around back-to-back replays."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(replays):
        graph.replay()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) * 1000 / replays


def main() -> int:
    if not torch.cuda.is_available():
        sys.exit("benchmarks/gpu_step_parts.py needs a CUDA GPU")
    device = torch.device("cuda")
    x, y = torch.randn(IMAGES, 3072, device=device), torch.randint(0, 10, (IMAGES,), device=device)
    engine, _ = _engine(NOTEBOOK001, 3072, 10, device)
    fit_epoch = _fit_epoch(engine, Split(x, y), BATCH)
    fit_epoch()  # warm-up: the graph is captured here
    captured, xb, yb = engine.captured, x[:BATCH].clone(), y[:BATCH].clone()
    generator = torch.Generator().manual_seed(0)

    def copy_and_replay():
        captured.x.copy_(xb)
        captured.y.copy_(yb)
        captured.graph.replay()

    rows = {
        "fit epoch, per step": min(fit_epoch() for _ in range(3)) / STEPS * 1e6,
        "replay alone": per_step(captured.graph.replay),
        "copy x, y + replay": per_step(copy_and_replay),
        "engine.step (+ clone)": per_step(lambda: engine.step(xb, yb)),
        "one empty launch": per_step(lambda: xb[:1, :1].add_(0)),
        "batches(), per step": per_step(lambda: sum(1 for _ in batches(x, y, BATCH, "shuffle", generator)),
                                        steps=1) / STEPS,
        "GPU time per replay": replay_gpu_time(captured.graph),
    }
    print(f"notebook-001 step at batch {BATCH}, {torch.cuda.get_device_name(device)}, torch {torch.__version__}")
    for name, micros in rows.items():
        print(f"{name:<24} {micros:8.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
