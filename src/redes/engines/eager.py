"""torch.optim's optimizers without their import of torch._dynamo while nothing in the process compiles.

torch.optim decorates `step` and four other methods of every optimizer so that torch.compile leaves them alone;
the decorators import torch._dynamo (and SymPy with it) on their first call, which costs a training process
about as much as importing torch. Where torch._dynamo is not loaded nothing can be compiling, and those
decorators only turn gradients off for the step: `eager(cls)` is `cls` with each decorated method calling
torch's own undecorated function in that case, and torch's decorated one otherwise. The update, the state
and the hooks are torch's (tests/test_eager.py compares both step for step and checks what is imported).
"""

from __future__ import annotations

import functools
import inspect
import sys

import torch

DYNAMO = "torch._dynamo"
UNCOMPILED = ("add_param_group", "zero_grad", "state_dict", "load_state_dict")  # @torch._disable_dynamo


def _undecorated(decorated, run):
    """`decorated` (torch's method) while torch._dynamo is loaded, `run(function, self, ...)` before."""
    function = inspect.unwrap(decorated)

    @functools.wraps(function)
    def method(self, *args, **kwargs):
        if DYNAMO in sys.modules:
            return decorated(self, *args, **kwargs)
        return run(function, self, *args, **kwargs)
    return method


def _call(function, self, *args, **kwargs):
    return function(self, *args, **kwargs)


def _step(function, self, *args, **kwargs):
    """What torch.optim's `_use_grad_for_differentiable` does around a step, less its graph breaks."""
    with torch.set_grad_enabled(self.defaults["differentiable"]):
        return function(self, *args, **kwargs)


@functools.cache
def eager(cls: type) -> type:
    """A subclass of the torch.optim class `cls`, of the same name, that imports nothing on its calls."""
    step = cls.step.__wrapped__ if getattr(cls.step, "hooked", False) else cls.step  # below torch's step hooks
    methods = {name: _undecorated(getattr(cls, name), _call) for name in UNCOMPILED}
    methods["step"] = _undecorated(step, _step)
    return type(cls.__name__, (cls,), methods)
