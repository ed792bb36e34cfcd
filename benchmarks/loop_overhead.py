"""Loop overhead: a tiny network (16-32-4, SGD momentum) at batch 2, redes' training loop against a
minimal hand-written PyTorch loop with the same model, optimizer (redes' fused SGD) and batches (cut by
index from one tensor), timed in one process (redes.bench.suite.loop_overhead). Target: redes <= 1.1x per step.

    .venv/bin/python benchmarks/loop_overhead.py          # about 20 s on 2 idle cores
    .venv/bin/python benchmarks/loop_overhead.py --json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # a fresh clone finds redes

import torch  # noqa: E402
from harness import script_arguments, verdict  # noqa: E402
from redes.bench.suite import Sizes, loop_overhead  # noqa: E402


def main(argv=None) -> int:
    args = script_arguments(__doc__, argv, steps=5_000, repeats=7)
    t = loop_overhead(Sizes(tiny_steps=args.steps, repeats=args.repeats))
    ratio = t["redes"] / t["bare"]
    if args.json:
        print(json.dumps({"seconds_per_step": t, "ratio": ratio}))
        return 0
    print(f"batch 2, {args.steps} steps, best of {args.repeats} interleaved repeats, {torch.get_num_threads()} "
          "torch threads: "
          f"bare {t['bare'] * 1e6:.0f} us/step, redes {t['redes'] * 1e6:.0f} us/step")
    print(verdict("redes loop / bare PyTorch loop", ratio, 1.1, at_least=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
