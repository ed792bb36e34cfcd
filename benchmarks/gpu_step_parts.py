"""Where a graphed notebook-001 step's time goes on a GPU: microseconds per step of each part (the whole
loop, the graph's replay alone, the copies into it, the engine's step, one empty launch, the batch
gather, and the replay's GPU time by CUDA events). Needs CUDA; part of benchmarks/gpu.sh.

    .venv/bin/python benchmarks/gpu_step_parts.py
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # a fresh clone finds redes

import torch  # noqa: E402
from redes.bench import NOTEBOOK001, _engine, _fit_epoch  # noqa: E402
from redes.data import Split  # noqa: E402
from redes.data.batches import batches  # noqa: E402

if not torch.cuda.is_available():
    sys.exit("benchmarks/gpu_step_parts.py needs a CUDA GPU")
dev = torch.device("cuda")
N = 50_000
x = torch.randn(N, 3072, device=dev); y = torch.randint(0, 10, (N,), device=dev)
engine, _ = _engine(NOTEBOOK001, 3072, 10, dev)
fit_epoch = _fit_epoch(engine, Split(x, y), 128)
fit_epoch()
def per_step(f, steps=390, reps=3):
    best = 1e9
    for _ in range(reps):
        torch.cuda.synchronize(); t = time.perf_counter()
        for i in range(steps): f(i)
        torch.cuda.synchronize(); best = min(best, (time.perf_counter() - t) / steps)
    return best * 1e6
c = engine.captured
xb, yb = x[:128].clone(), y[:128].clone()
g = torch.Generator().manual_seed(0)
print("fit epoch per step       %.1f us" % (min(fit_epoch() for _ in range(3)) / 391 * 1e6))
print("replay alone             %.1f us" % per_step(lambda i: c.graph.replay()))
print("copy x,y + replay        %.1f us" % per_step(lambda i: (c.x.copy_(xb), c.y.copy_(yb), c.graph.replay())))
print("engine.step (+clone)     %.1f us" % per_step(lambda i: engine.step(xb, yb)))
print("one empty launch (add_)  %.1f us" % per_step(lambda i: xb[:1, :1].add_(0)))
def gather_only():
    for xb_, yb_ in batches(x, y, 128, "shuffle", g): pass
torch.cuda.synchronize(); t = time.perf_counter(); gather_only(); torch.cuda.synchronize()
print("batches() per step       %.1f us" % ((time.perf_counter() - t) / 391 * 1e6))
s = torch.cuda.Event(enable_timing=True); e = torch.cuda.Event(enable_timing=True)
s.record()
for _ in range(100): c.graph.replay()
e.record(); torch.cuda.synchronize()
print("GPU time per replay      %.1f us (events over 100 back-to-back replays)" % (s.elapsed_time(e) * 10))
