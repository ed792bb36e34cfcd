"""The data stage: `load_data(cfg) -> Splits` (splits.py), THE source table (sources.py), one reader per source.

Names resolve on first use, so the config can read the source table without importing torch.
"""

_LAZY = {
    "load_data": "redes.data.splits", "Splits": "redes.data.splits", "Split": "redes.data.splits",
    "Scaler": "redes.data.splits", "SPLIT_NAMES": "redes.data.splits",
    "SOURCES": "redes.data.sources", "IMAGE_SHAPES": "redes.data.sources",
    "RawData": "redes.data.raw",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'redes.data' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
