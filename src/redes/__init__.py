"""redes: build, train, study and compare feed-forward neural networks with PyTorch.

Importing redes is cheap: torch and the rest load when a function needs them.
"""

from redes.errors import RedesError
from redes.lazy import lazy_names

__all__ = ["Config", "MLPClassifier", "MLPRegressor", "RedesError", "Run", "build_model", "evaluate", "fit",
           "load_config", "load_data", "load_run", "preflight", "resume", "train", "__version__"]

_LAZY = {
    "Config": "redes.config", "load_config": "redes.config", "load_data": "redes.data",
    "build_model": "redes.nn.models", "fit": "redes.loop.fit", "evaluate": "redes.loop.evaluate",
    "Run": "redes.runs.run", "load_run": "redes.runs.run", "train": "redes.runs.train", "resume": "redes.runs.train",
    "preflight": "redes.nn.preflight", "MLPClassifier": "redes.estimators.mlp", "MLPRegressor": "redes.estimators.mlp",
    "__version__": "redes.version",
}


__getattr__, __dir__ = lazy_names(__name__, _LAZY)
