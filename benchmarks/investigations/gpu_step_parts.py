"""Where a graphed notebook-001 step's time goes on a GPU: microseconds per step of each part: the whole
loop (also with 64 steps a graph instead of 16); of a chunk of `steps_per_call` steps in one graph, its
replay alone, with the copy of its indices, through `engine.steps`, and its GPU time by CUDA events (also
with train.precision=tf32); one empty launch; cutting the epoch's index chunks. Then the GPU kernels a step
runs, by GPU time (torch.profiler over one eager chunk, fp32 and tf32): whether the matrix products or the
small kernels between them fill a step. Needs CUDA; part of benchmarks/gpu.sh.

    .venv/bin/python benchmarks/investigations/gpu_step_parts.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # a fresh clone finds redes

import torch  # noqa: E402
from redes.bench.suite import NOTEBOOK001, bench_engine, fit_epoch  # noqa: E402
from redes.data import Split  # noqa: E402
from redes.data.batches import index_chunks  # noqa: E402

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


def kernel_table(run: Callable[[], object], steps: int, rows: int = 14) -> list[str]:
    """The CUDA kernels that `run` (`steps` training steps) launches, by their GPU time per step, heaviest first,
    under a line with their number and total GPU time per step."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as profiled:
        run()
        torch.cuda.synchronize()
    kernels = sorted((e for e in profiled.key_averages() if e.device_type == DeviceType.CUDA),
                     key=lambda e: e.self_device_time_total, reverse=True)
    lines = [f"{sum(e.count for e in kernels) / steps:.1f} kernels a step, "
             f"{sum(e.self_device_time_total for e in kernels) / steps:.1f} us a step in all"]
    lines += [f"  {e.self_device_time_total / steps:8.1f} us  {e.count / steps:4.1f} a step  {e.key[:100]}"
              for e in kernels[:rows]]
    return lines


def graphed(split: Split, device: torch.device, steps_per_call: int = 0, **train):
    """The notebook-001 engine (`train` settings on top; `steps_per_call` steps a graph where given, else the
    engine's own), its timed epoch, and its captured full chunk."""
    engine, _ = bench_engine(NOTEBOOK001, 3072, 10, device, **train)
    engine.steps_per_call = steps_per_call or engine.steps_per_call
    epoch = fit_epoch(engine, split, BATCH)
    for _ in range(2):
        epoch()  # warm-up: both chunk shapes (a full chunk, the epoch's last) are captured here
    full = engine.steps_per_call * BATCH
    return engine, epoch, next(c for c in engine.graphs.values() if len(c.index) == full)


def main() -> int:
    if not torch.cuda.is_available():
        sys.exit("benchmarks/investigations/gpu_step_parts.py needs a CUDA GPU")
    device = torch.device("cuda")
    x, y = torch.randn(IMAGES, 3072, device=device), torch.randint(0, 10, (IMAGES,), device=device)
    engine, fit_fp32, captured = graphed(Split(x, y), device)
    engine_tf32, fit_tf32, captured_tf32 = graphed(Split(x, y), device, precision="tf32")
    _, fit_64, _ = graphed(Split(x, y), device, steps_per_call=64)
    _, fit_64_tf32, _ = graphed(Split(x, y), device, steps_per_call=64, precision="tf32")
    chunk = engine.steps_per_call
    index = torch.randperm(IMAGES, device=device)[:chunk * BATCH]
    generator = torch.Generator().manual_seed(0)

    def copy_and_replay():
        captured.index.copy_(index)
        captured.graph.replay()

    per_chunk = {
        "replay alone": per_step(captured.graph.replay, STEPS // chunk),
        "copy index + replay": per_step(copy_and_replay, STEPS // chunk),
        "engine.steps (+ clone)": per_step(lambda: engine.steps(x, y, index, BATCH), STEPS // chunk),
        "GPU time per replay": replay_gpu_time(captured.graph),
        "GPU time per replay, tf32": replay_gpu_time(captured_tf32.graph),
    }
    rows = {
        "fit epoch": min(fit_fp32() for _ in range(3)) / STEPS * 1e6,
        "fit epoch, tf32": min(fit_tf32() for _ in range(3)) / STEPS * 1e6,
        "fit epoch, 64 steps a graph": min(fit_64() for _ in range(3)) / STEPS * 1e6,
        "  the same, tf32": min(fit_64_tf32() for _ in range(3)) / STEPS * 1e6,
        **{name: micros / chunk for name, micros in per_chunk.items()},
        "one empty launch": per_step(lambda: x[:1, :1].add_(0)),
        "index_chunks()": per_step(lambda: index_chunks(IMAGES, BATCH, "shuffle", generator, device, chunk),
                                   steps=1) / STEPS,
    }
    print(f"notebook-001 step at batch {BATCH}, {chunk} steps a graph, {torch.cuda.get_device_name(device)}, "
          f"torch {torch.__version__}; microseconds per step")
    for name, micros in rows.items():
        print(f"{name:<28} {micros:8.1f} us")
    for name, eager in (("fp32", engine), ("tf32", engine_tf32)):
        print(f"\nthe kernels of a step ({name}, one chunk run eagerly; a replay runs the same kernels):")
        print("\n".join(kernel_table(lambda: eager._eager_steps(x, y, index, BATCH), chunk)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
