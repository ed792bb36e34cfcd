"""`redes bench`: how fast redes is on this machine, as ratios measured in one process.

Each comparison runs its candidates in turn, `repeats` times, interleaved so that a burst of load
elsewhere hits every candidate alike, and keeps each one's best (least disturbed) time. The
benchmarks in benchmarks/ call the same functions with their full sizes.
"""

from __future__ import annotations

import copy
import math
import statistics
import time
from dataclasses import dataclass
from typing import IO, Callable, Optional

import torch

from redes.bench import baselines
from redes.config import load_config
from redes.data import Split
from redes.devices import peak_memory
from redes.engines import build_engine
from redes.engines.module import build_optimizer
from redes.loop.fit import fit
from redes.nn.losses import loss_function
from redes.nn.models import build_model

NOTEBOOK001 = {"model": {"hidden": [512, 256], "activation": "relu"},
               "optimizer": {"name": "sgd", "lr": 0.001, "momentum": 0.9}, "train": {"batch_size": 128}}


@dataclass
class Sizes:
    """How much work each comparison does: `quick` is for a smoke test, not for figures."""

    images: int = 10_000  # notebook-001 epoch (50,000 in benchmarks/notebook001.py)
    tiny_steps: int = 1_000  # loop overhead steps at batch 2
    samples: int = 4_000  # engines and CPU/GPU workloads
    repeats: int = 3
    workers: int = 2
    gpu_batches: tuple = (2, 32, 256, 1024, 4096)

    @classmethod
    def quick(cls) -> "Sizes":
        return cls(images=512, tiny_steps=50, samples=256, repeats=1, workers=0, gpu_batches=(32, 256))


def timed_rounds(candidates: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """Each candidate's seconds in each of `repeats` rounds, a round running every candidate once, after one
    untimed round (first calls pay for lazy initialisation, allocations, worker start-up)."""
    for run in candidates.values():
        run()
    rounds: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, run in candidates.items():
            rounds[name].append(run())
    return rounds


def interleaved(candidates: dict[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    """Each candidate's best (least disturbed) seconds over `timed_rounds`."""
    return best_of(timed_rounds(candidates, repeats))


def best_of(rounds: dict[str, list[float]]) -> dict[str, float]:
    """Each candidate's least seconds over its rounds."""
    return {name: min(seconds) for name, seconds in rounds.items()}


def paired_ratio(rounds: dict[str, list[float]], numerator: str, denominator: str) -> float:
    """The median over rounds of `numerator`'s seconds over `denominator`'s in the same round: steadier than
    the ratio of the two bests where the machine's speed drifts between rounds (a shared VM)."""
    return statistics.median(a / b for a, b in zip(rounds[numerator], rounds[denominator]))


def bench_engine(settings: dict, n_in: int, n_out: int, device: torch.device, **train):
    """The engine and config of the network `settings` on `device`, weights from seed 0; `train` sets train.* keys."""
    cfg = load_config(base=settings, settings={f"train.{k}": v for k, v in train.items()})
    model = build_model(cfg.model, n_in, n_out, torch.Generator().manual_seed(0)).to(device)
    return build_engine(cfg.train, model, "cross_entropy", cfg.optimizer, cfg.regularization), cfg


def fit_epoch(engine, split: Split, batch_size: int, seed: int = 0) -> Callable[[], float]:
    """One timed epoch of redes' loop (the training part of `redes train`) over a device-resident split."""
    generator = torch.Generator().manual_seed(seed)

    def run() -> float:
        start = time.perf_counter()
        fit(engine, split, None, "cross_entropy", epochs=1, batch_size=batch_size, sampler="shuffle",
            generator=generator)
        return time.perf_counter() - start
    return run


def notebook001(sizes: Sizes, device: torch.device = torch.device("cpu")) -> dict[str, list[float]]:
    """Seconds per epoch, in each round (`timed_rounds`), of the notebook-001 MLP on CIFAR-shaped images: the
    notebook's DataLoader path (batches moved to `device` as the notebook moves them), redes with the images on
    `device` (the module engine, `redes train`'s default, in fp32 and bf16, and the manual engine; on CUDA also
    without its CUDA graphs, and in tf32), and the forward and backward matrix products alone."""
    images, labels = baselines.cifar_shaped(sizes.images)
    split = Split(baselines.flat_inputs(images).to(device), labels.to(device))
    engine, cfg = bench_engine(NOTEBOOK001, 3072, 10, device)
    bf16, _ = bench_engine(NOTEBOOK001, 3072, 10, device, precision="bf16")
    manual, _ = bench_engine(NOTEBOOK001, 3072, 10, device, engine="manual")
    model = copy.deepcopy(engine.model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)  # the notebook's
    loader = baselines.notebook_loader(images, labels, 128, sizes.workers)
    operands = baselines.matmul_operands([3072, 512, 256, 10], 128, device)
    steps = math.ceil(sizes.images / 128)
    candidates = {
        "dataloader": lambda: baselines.notebook_epoch(model, optimizer, loader, device),
        "redes": fit_epoch(engine, split, 128),
        "redes_bf16": fit_epoch(bf16, split, 128),
        "redes_manual": fit_epoch(manual, split, 128),
        "matmul": lambda: baselines.matmul_steps(operands, steps),
    }
    if device.type == "cuda":
        eager, _ = bench_engine(NOTEBOOK001, 3072, 10, device, cuda_graph=False)
        tf32, _ = bench_engine(NOTEBOOK001, 3072, 10, device, precision="tf32")
        candidates["redes_eager"] = fit_epoch(eager, split, 128)
        candidates["redes_tf32"] = fit_epoch(tf32, split, 128)
    return timed_rounds(candidates, sizes.repeats)


def loop_overhead(sizes: Sizes, batch_size: int = 2) -> dict[str, float]:
    """Seconds per step at batch 2 on a tiny network (16-32-4): redes' loop and a bare PyTorch loop with
    the same model, optimizer and batches (cut by index from one tensor, as a bare loop would)."""
    generator = torch.Generator().manual_seed(0)
    n = sizes.tiny_steps * batch_size
    x, y = torch.randn(n, 16, generator=generator), torch.randint(0, 4, (n,), generator=generator)
    settings = {"model": {"hidden": [32]}, "optimizer": {"name": "sgd", "lr": 0.01, "momentum": 0.9}}
    engine, cfg = bench_engine(settings, 16, 4, torch.device("cpu"))
    model = copy.deepcopy(engine.model)
    optimizer, loss_fn = build_optimizer(cfg.optimizer, model), loss_function("cross_entropy")

    def bare() -> float:  # the batches are cut inside bare_epoch's timed loop, as redes' loop cuts them
        order = torch.randperm(n, generator=generator)
        return baselines.bare_epoch(model, optimizer, loss_fn, ((x[i], y[i]) for i in order.split(batch_size)))
    times = interleaved({"bare": bare, "redes": fit_epoch(engine, Split(x, y), batch_size)}, sizes.repeats)
    return {name: seconds / sizes.tiny_steps for name, seconds in times.items()}


def _workload(samples: int, device: torch.device, seed: int = 0) -> Split:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(samples, 64, generator=generator)
    y = torch.randint(0, 10, (samples,), generator=generator)
    return Split(x.to(device), y.to(device))


WORKLOAD = {"model": {"hidden": [128, 64]}, "optimizer": {"name": "sgd", "lr": 0.01, "momentum": 0.9}}


def engines(sizes: Sizes, batch_size: int = 32) -> dict[str, float]:
    """Seconds per epoch of each engine on the same 64-128-64-10 network and batches, on the CPU."""
    split, cpu = _workload(sizes.samples, torch.device("cpu")), torch.device("cpu")
    runs = {}
    for name in ("module", "autograd", "manual/torch", "manual/numpy"):
        engine, _, backend = name.partition("/")
        built, _ = bench_engine(WORKLOAD, 64, 10, cpu, engine=engine, backend=backend or "torch")
        runs[name] = fit_epoch(built, split, batch_size)
    return interleaved(runs, sizes.repeats)


def cpu_vs_gpu(sizes: Sizes) -> Optional[dict[int, dict[str, float]]]:
    """Seconds per epoch on the CPU and on CUDA by batch size (None without CUDA): where the GPU starts to win."""
    if not torch.cuda.is_available():
        return None
    result = {}
    for batch in sizes.gpu_batches:
        runs = {}
        for device in (torch.device("cpu"), torch.device("cuda")):
            engine, _ = bench_engine(WORKLOAD, 64, 10, device)
            runs[device.type] = fit_epoch(engine, _workload(sizes.samples, device), batch)
        runs["cuda"]()  # warm-up: CUDA context, kernels, allocator
        result[batch] = interleaved(runs, sizes.repeats)
    return result


def run_bench(sizes: Optional[Sizes] = None, stream: Optional[IO[str]] = None) -> dict:
    """Every comparison `redes bench` prints, as plain numbers (seconds) with the peak memory; each comparison
    is announced on `stream` as it starts (it runs for a while, and says nothing until it ends)."""
    sizes = sizes or Sizes()
    device = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    parts = {"engines": engines, "notebook001": notebook001, "loop": loop_overhead, "cpu_vs_gpu": cpu_vs_gpu}
    result: dict = {"torch": torch.__version__, "threads": torch.get_num_threads(), "sizes": sizes.__dict__}
    for number, (name, measure) in enumerate(parts.items(), 1):
        if stream is not None:
            print(f"bench: {number}/{len(parts)} {name}", file=stream, flush=True)
        result[name] = measure(sizes)
    return result | {"peak_memory": peak_memory(device)}


def ratio_rows(result: dict) -> list[tuple[str, float, str]]:
    """(comparison, ratio, what the ratio means) for each line of the table: ratios of the best seconds, but for
    the notebook-001 epoch (its runs are long enough for the machine's speed to drift between them) the
    median of each round's own ratio."""
    e, nb, loop = result["engines"], result["notebook001"], result["loop"]
    rows = [(f"engine {name} / module", e[name] / e["module"], "seconds per epoch; < 1 is faster than module")
            for name in e if name != "module"]
    rows += [(name, paired_ratio(nb, numerator, denominator), meaning) for name, numerator, denominator, meaning in (
        ("notebook DataLoader / redes", "dataloader", "redes", "notebook-001 epoch (>= 1.8 at 50,000 images)"),
        ("redes / matmul alone", "redes", "matmul", "notebook-001 epoch (target <= 1.15)"),
        ("redes manual / matmul alone", "redes_manual", "matmul", "the same, engine manual"),
        ("redes bf16 / redes fp32", "redes_bf16", "redes", "notebook-001 epoch; < 1: bf16 helps"))]
    rows.append(("redes loop / bare loop", loop["redes"] / loop["bare"], "per step at batch 2 (target <= 1.1)"))
    for batch, times in (result["cpu_vs_gpu"] or {}).items():
        rows.append((f"cpu / gpu, batch {batch}", times["cpu"] / times["cuda"], "> 1: the GPU is faster"))
    return rows


def format_table(result: dict) -> str:
    """The table `redes bench` prints: one ratio per line, then the peak memory."""
    lines = [f"torch {result['torch']}, {result['threads']} threads; best of {result['sizes']['repeats']} "
             "interleaved repeats, ratios of seconds measured in this process (the notebook-001 rows: the median "
             "of each round's own ratio)", ""]
    lines += [f"{name:<30} {ratio:8.2f}x   {meaning}" for name, ratio, meaning in ratio_rows(result)]
    if result["cpu_vs_gpu"] is None:
        lines.append(f"{'cpu / gpu':<30} {'-':>8}    no GPU (CUDA) on this machine")
    memory = result["peak_memory"]
    device = "-" if memory["device_mb"] is None else f"{memory['device_mb']:.0f} MB"
    lines += ["", f"peak memory: host {memory['host_mb']} MB, device {device}"]
    return "\n".join(lines)
