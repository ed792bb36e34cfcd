"""The data stage: `load_data(cfg) -> Splits` (splits.py), THE source table (sources.py), one reader per source.

Names resolve on first use, so the config can read the source table without importing torch.
"""

from redes.lazy import lazy_names

_LAZY = {
    "load_data": "redes.data.splits", "Splits": "redes.data.splits", "Split": "redes.data.splits",
    "Scaler": "redes.data.splits", "SPLIT_NAMES": "redes.data.splits",
    "SOURCES": "redes.data.sources", "IMAGE_SHAPES": "redes.data.sources",
    "RawData": "redes.data.raw",
}
__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_names(__name__, _LAZY)
