"""torch.compile against eager, in redes' training loop (`train.compile: true` against the default), one process:
  - notebook001: the notebook-001 MLP (3072-512-256-10, ReLU, SGD momentum, batch 128), `--images` inputs;
  - small: the 64-128-64-10 network of `redes bench` (batch 32), `--samples` inputs.
Each prints the best epoch of each, interleaved over `--repeats` rounds after one untimed round, compiled / eager
(< 1: compiling helps) from the bests and as the median of each round's own ratio, and the compiled engine's first
epoch, in which torch.compile traces and compiles (once per batch shape; inductor's cache makes a repeat quick).
On CUDA both run redes' CUDA graphs, so the ratio is what compiling adds to them. train.compile is off by default
where this finds it slower.

    .venv/bin/python benchmarks/torch_compile.py                  # about 2 minutes on 2 idle cores
    .venv/bin/python benchmarks/torch_compile.py --device cuda    # on a GPU, with the data on it
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # a fresh clone finds redes

import torch  # noqa: E402
from harness import script_arguments  # noqa: E402
from redes.bench.suite import NOTEBOOK001, WORKLOAD, Sizes, bench_engine, fit_epoch  # noqa: E402
from redes.bench.suite import best_of, paired_ratio, timed_rounds  # noqa: E402
from redes.data import Split  # noqa: E402
from redes.devices import resolve_device  # noqa: E402
from redes.errors import RedesError  # noqa: E402


def inputs(samples: int, features: int, device: torch.device) -> Split:
    """`samples` random inputs of `features` values and labels of 10 classes, on `device`, from seed 0."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(samples, features, generator=generator)
    y = torch.randint(0, 10, (samples,), generator=generator)
    return Split(x.to(device), y.to(device))


def compiled_against_eager(sizes: Sizes, device: torch.device) -> dict[str, dict]:
    """Per network (the notebook-001 MLP at batch 128 on `sizes.images` inputs, the 64-128-64-10 one at batch 32
    on `sizes.samples`): seconds per epoch of redes' loop without and with train.compile, in each round
    (`timed_rounds`), and the compiled engine's first epoch alone, compilation included."""
    networks = {"notebook001": (NOTEBOOK001, 3072, sizes.images, 128), "small": (WORKLOAD, 64, sizes.samples, 32)}
    result = {}
    for name, (settings, n_in, samples, batch) in networks.items():
        split = inputs(samples, n_in, device)
        eager, _ = bench_engine(settings, n_in, 10, device)
        compiled, _ = bench_engine(settings, n_in, 10, device, compile=True)
        first = fit_epoch(compiled, split, batch)()
        rounds = timed_rounds({"eager": fit_epoch(eager, split, batch),
                               "compiled": fit_epoch(compiled, split, batch)}, sizes.repeats)
        result[name] = {"rounds": rounds, "first_compiled_epoch": first,
                        "graph_failed": getattr(compiled, "failed", False)}
    return result


def main(argv=None) -> int:
    args = script_arguments(__doc__, argv, device=True, images=10_000, samples=4_000, repeats=3)
    try:
        device = resolve_device(args.device)
    except RedesError as error:
        sys.exit(f"--device {args.device}: {error}")
    result = compiled_against_eager(Sizes(images=args.images, samples=args.samples, repeats=args.repeats), device)
    if args.json:
        print(json.dumps({"device": str(device), **result}))
        return 0
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} torch threads"
    print(f"torch.compile against eager in redes' loop, best of {args.repeats} interleaved repeats, {where}")
    for name, measured in result.items():
        best, paired = best_of(measured["rounds"]), paired_ratio(measured["rounds"], "compiled", "eager")
        ratio = best["compiled"] / best["eager"]
        print(f"  {name:<12} eager {best['eager'] * 1000:8.1f} ms  compiled {best['compiled'] * 1000:8.1f} ms an epoch"
              f"   compiled / eager {ratio:5.2f}x (median of the rounds' own {paired:.2f}x): "
              f"{'helps' if max(ratio, paired) < 1 else 'does not help'}"
              f"   first compiled epoch {measured['first_compiled_epoch']:.1f} s")
        if measured["graph_failed"]:
            print(f"  {'':<12} (the compiled step could not be captured as a CUDA graph: it ran eagerly)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
