"""The training loop, written out in one function: batches → `engine` steps → totals → end of epoch."""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from typing import Iterator, Optional, Sequence

import torch

from redes.data import Split
from redes.data.batches import steps_per_epoch
from redes.devices import intra_op_threads, keep_freed_host_memory, wait_for
from redes.engines.base import Engine
from redes.loop.callbacks import Callback
from redes.loop.evaluate import evaluate
from redes.loop.state import FitState, set_global_rng_states
from redes.nn.losses import LOSSES, classifies


def fit(engine: Engine, train: Split, val: Optional[Split], loss: str, *, epochs: int, batch_size: int,
        sampler: str, generator: torch.Generator, eval_batch_size: int = 4096,
        callbacks: Sequence[Callback] = (), resume: Optional[dict] = None,
        divergence_factor: float = 0.0, threads: int = 0) -> FitState:
    """Train for `epochs` (or continue from a `FitState.snapshot()`); the returned state holds the history.

    Each epoch: the engine's steps over the batches, their losses summed without a host sync, then the
    epoch's row (train sums, validation metrics) for the history and the callbacks. Ctrl-C stops after the
    step in progress; a callback stops training by setting `state.stop`. Training stops as diverged at a
    non-finite loss, and at an epoch whose mean loss is above `divergence_factor` (0: never) times the loss
    of a constant prediction. `threads` sets torch's CPU threads while it trains (0: `step_threads` chooses).
    """
    state = FitState(epochs, steps_per_epoch(len(train), batch_size, sampler), engine, generator,
                     divergence_factor=divergence_factor,
                     constant_loss=LOSSES[loss].constant_loss(train.y) if divergence_factor else 0.0)
    x, y, device, classify = *engine.arrays(train), train.x.device, classifies(loss)
    if engine.fast:
        keep_freed_host_memory()  # the host memory a step frees is kept for the next
    threads = threads or step_threads(engine.model, batch_size, device)
    with global_rng_seeded_from(generator, device, resume), _ctrl_c_sets(state), engine.running(), \
            intra_op_threads(threads):
        if resume is not None:
            state.restore(resume)
        for callback in callbacks:
            callback.on_train_begin(state)
        while state.epoch <= epochs and not (state.interrupted or state.stop or state.diverged):
            if not engine.model.training:  # Module.train() walks every module: done only when needed
                engine.model.train()
            state.begin_epoch(device, loss, resume)
            resume = None
            for callback in callbacks:
                callback.on_epoch_begin(state)
            start = time.perf_counter() - state.totals.seconds
            for taken in engine.epoch(x, y, batch_size, sampler, generator, skip=state.step):
                for result, targets in taken:
                    state.step += 1
                    state.totals.add(result, targets, classify)
                    for callback in callbacks:
                        callback.on_batch_end(state, result.loss)
                if state.interrupted:
                    break
            wait_for(device)  # on a GPU the epoch's last steps may still be queued: its seconds include them
            state.totals.seconds = time.perf_counter() - start
            logs = None if state.interrupted else state.end_epoch(classify)
            if logs is None:
                break
            if val is not None:
                metrics = evaluate(engine.model, val, loss, eval_batch_size).metrics()
                logs.update({f"val_{key}": value for key, value in metrics.items() if key != "r2"})
            state.history.append(logs)
            state.epoch, state.step, state.totals = state.epoch + 1, 0, None  # a snapshot now starts the next epoch
            for callback in callbacks:
                callback.on_epoch_end(state, logs)
        for callback in callbacks:
            callback.on_train_end(state)
    return state


SMALL_STEP = 2**24  # samples x parameters of a step below which one CPU thread is faster than several


def step_threads(model: torch.nn.Module, batch_size: int, device: torch.device) -> int:
    """1 for a CPU step of little work (its threads would spend longer waiting for each other at every
    operation than computing, and much longer on a busy machine), else 0: torch's default."""
    small = device.type == "cpu" and batch_size * sum(p.numel() for p in model.parameters()) < SMALL_STEP
    return 1 if small else 0


@contextmanager
def global_rng_seeded_from(generator: torch.Generator, device: torch.device,
                           resume: Optional[dict] = None) -> Iterator[None]:
    """Dropout draws from torch's global RNG: seed it from `generator` (or restore a snapshot's state),
    and give the caller's state back afterwards."""
    devices = [] if device.type == "cpu" else [device.index or 0]
    with torch.random.fork_rng(devices=devices, device_type=device.type if devices else "cuda"):
        if resume is None:
            seed = int(torch.randint(2**62, (1,), generator=generator))
            # on the CPU, only the CPU's generator: torch.manual_seed also queues a seed for every other
            # device type (each with a stack trace, a cost every small fit pays) and leaves them reseeded
            if devices:
                torch.manual_seed(seed)
            else:
                torch.default_generator.manual_seed(seed)
        else:
            set_global_rng_states(resume["global_rng"])
        yield


@contextmanager
def _ctrl_c_sets(state: FitState) -> Iterator[None]:
    """While training, Ctrl-C (SIGINT) only sets `state.interrupted`; the loop stops after the current step."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        state.interrupted = True

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
