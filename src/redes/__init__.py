"""redes: build, train, study and compare feed-forward neural networks with PyTorch.

Importing redes is cheap: torch and the rest load when a function needs them.
"""

from redes.errors import RedesError

__version__ = "0.1.0"
__all__ = ["Config", "MLPClassifier", "MLPRegressor", "RedesError", "Run", "build_model", "evaluate", "fit",
           "load_config", "load_data", "load_run", "preflight", "resume", "train", "__version__"]

_LAZY = {
    "Config": "redes.config", "load_config": "redes.config", "load_data": "redes.data",
    "build_model": "redes.nn.models", "fit": "redes.loop.fit", "evaluate": "redes.loop.evaluate",
    "Run": "redes.runs.run", "load_run": "redes.runs.run", "train": "redes.runs.train", "resume": "redes.runs.train",
    "preflight": "redes.nn.preflight", "MLPClassifier": "redes.estimators.mlp", "MLPRegressor": "redes.estimators.mlp",
}


def __getattr__(name: str):
    """Resolve the public names on first use, so `import redes` does not import torch."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'redes' has no attribute {name!r}")
