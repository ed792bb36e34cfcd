"""Where the notebook-001 step's time goes on the CPU beyond its matrix products.

Notebook 001's MLP (3072-512-256-10, batch 128, SGD momentum), the same batches each round, timed in place
per step: the module engine's parts (`optimizer.zero_grad`, forward + loss, `backward`, `optimizer.step`),
the manual engine's whole step, and the forward and backward products alone. Then the fused SGD kernel
inside `optimizer.step` (torch.profiler over one round) against the same step repeated at once on warm
caches, and the bytes it streams (each parameter, gradient and momentum read; parameter and momentum
written). Medians over `--repeats` interleaved rounds of microseconds per step.

    .venv/bin/python benchmarks/investigations/notebook001_parts.py            # about 30 s on 2 idle cores
    .venv/bin/python benchmarks/investigations/notebook001_parts.py --json
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # a fresh clone finds redes
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # and benchmarks/harness.py

import torch  # noqa: E402
from torch.profiler import profile  # noqa: E402
from redes.bench import baselines  # noqa: E402
from harness import script_arguments  # noqa: E402
from redes.bench.suite import NOTEBOOK001, bench_engine  # noqa: E402
from redes.devices import keep_freed_host_memory  # noqa: E402

BATCH = 128
PARTS = ("zero_grad", "forward + loss", "backward", "optimizer.step")


def main(argv=None) -> int:
    args = script_arguments(__doc__, argv, images=10_000, repeats=5)
    keep_freed_host_memory()  # as redes' fit does
    images, labels = baselines.cifar_shaped(args.images)
    x = baselines.flat_inputs(images)
    cut = [(x[i:i + BATCH].clone(), labels[i:i + BATCH].clone()) for i in range(0, len(x) - BATCH + 1, BATCH)]
    cpu = torch.device("cpu")
    module, _ = bench_engine(NOTEBOOK001, 3072, 10, cpu)
    manual, _ = bench_engine(NOTEBOOK001, 3072, 10, cpu, engine="manual")
    model, optimizer, loss_fn = module.model, module.optimizer, module.loss_fn
    operands = baselines.matmul_operands([3072, 512, 256, 10], BATCH, cpu)

    def module_round() -> list[float]:
        seconds = [0.0] * len(PARTS)
        for xb, yb in cut:
            t0 = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            t1 = time.perf_counter()
            loss = loss_fn(model(xb), yb)
            t2 = time.perf_counter()
            loss.backward()
            t3 = time.perf_counter()
            optimizer.step()
            t4 = time.perf_counter()
            for i, (a, b) in enumerate(((t0, t1), (t1, t2), (t2, t3), (t3, t4))):
                seconds[i] += b - a
        return seconds

    def manual_round() -> float:
        start = time.perf_counter()
        with manual.running():
            for xb, yb in cut:
                manual.step(xb, yb)
        return time.perf_counter() - start

    def products_round() -> float:
        return baselines.matmul_steps(operands, len(cut))

    module_round(), manual_round(), products_round()  # first calls out of the way
    rounds = []
    for _ in range(args.repeats):
        rounds.append((*module_round(), manual_round(), products_round()))
    names = (*(f"module: {part}" for part in PARTS), "manual: whole step", "products alone")
    us = {name: statistics.median(r[i] for r in rounds) * 1e6 / len(cut) for i, name in enumerate(names)}
    us["module: whole step"] = statistics.median(sum(r[:len(PARTS)]) for r in rounds) * 1e6 / len(cut)

    with profile() as trace:
        module_round()
    events = {e.key: e for e in trace.key_averages()}
    kernel = events["aten::_fused_sgd_"].self_cpu_time_total / len(cut)
    profiled_step = next(e.cpu_time_total for key, e in events.items() if key.startswith("Optimizer.step#")) / len(cut)
    start = time.perf_counter()
    for _ in range(20):  # the same step again at once: parameters, gradients and momentum in the caches
        optimizer.step()
    warm = (time.perf_counter() - start) / 20 * 1e6
    streamed = sum(5 * p.numel() * p.element_size() for p in model.parameters())  # read p, g, buf; write p, buf
    result = {"microseconds_per_step": us, "fused_sgd_kernel_in_place_us": kernel, "profiled_step_us": profiled_step,
              "optimizer_step_warm_us": warm, "optimizer_bytes_per_step": streamed}
    if args.json:
        print(json.dumps(result))
        return 0
    products = us["products alone"]
    print(f"notebook-001 step, {len(cut)} steps of batch {BATCH}, median of {args.repeats} interleaved rounds, "
          f"{torch.get_num_threads()} torch threads (µs a step)")
    for name in ("products alone", *names[:len(PARTS)], "module: whole step", "manual: whole step"):
        share = f"{us[name] / products:6.2f}x the products" if name.endswith("whole step") else ""
        print(f"  {name:<24}{us[name]:9.0f}   {share}")
    print(f"  optimizer.step, profiled in place: {profiled_step:.0f} µs, of which its fused SGD kernel {kernel:.0f} "
          f"(the rest is torch.optim's Python); the same step again at once {warm:.0f} µs (warm caches)")
    print(f"  the fused SGD step streams {streamed / 1e6:.1f} MB: {streamed / kernel / 1e3:.0f} GB/s in place, "
          f"{streamed / warm / 1e3:.0f} GB/s warm")
    return 0


if __name__ == "__main__":
    sys.exit(main())
