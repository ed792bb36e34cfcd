"""THE data source table: each source's name, help line, reader and picture shape; the config's choices,
`load_data` and `redes datasets` derive from it. Standard library only: the config reads it before torch loads.

Adding a source is its reader module (a function `load(cfg, rng) -> RawData`) and its entry in `SOURCES`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Optional


@dataclass(frozen=True)
class Source:
    """One data source. `reader` and `locations` name functions as "module:function", imported on first call."""

    name: str  # the value of data.name
    help: str  # one line, printed by `redes datasets`
    reader: str  # reader(cfg: DataConfig, rng: np.random.Generator) -> RawData
    image_shape: Optional[tuple[int, ...]] = None  # how a row of pixels is drawn as a picture
    locations: Optional[str] = None  # locations(cfg: DataConfig) -> [Path]: where it is looked for, in order
    locations_note: str = ""  # how `redes datasets` introduces those paths
    keys: tuple[str, ...] = ()  # the data.* keys it reads beyond COMMON_KEYS: setting any other is an error

    def load(self, cfg: Any, rng: Any) -> Any:
        """The source's RawData, read by its reader with the data config and a seeded NumPy generator."""
        return _function(self.reader)(cfg, rng)

    def where(self, cfg: Any) -> list:
        """The paths this source is looked for in, in order (empty where it is not read from disk)."""
        return _function(self.locations)(cfg) if self.locations else []


def _function(target: str) -> Callable:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


COMMON_KEYS = ("name", "val_fraction", "test_fraction", "scale", "max_samples")  # read for every source
SOURCES: dict[str, Source] = {source.name: source for source in (
    Source("digits", "scikit-learn's handwritten digits (1,797 8x8 images, 10 classes), offline",
           "redes.data.digits:load_digits", image_shape=(8, 8)),
    Source("bernoulli", "notebook 000: random 0/1 features and labels (data.n_samples, data.n_features)",
           "redes.data.synthetic:load_bernoulli", keys=("n_samples", "n_features")),
    Source("linear", "notebook 003: y = a + b*x + noise (data.intercept, data.slope, data.noise, data.n_samples)",
           "redes.data.synthetic:load_linear", keys=("n_samples", "intercept", "slope", "noise")),
    Source("tokens", "notebook 004: token-id sequences, 4 topics told apart by their keywords (data.vocab, "
                     "data.seq_len, data.n_samples); for model.embedding",
           "redes.data.synthetic:load_tokens", keys=("n_samples", "vocab", "seq_len")),
    Source("cifar10", "CIFAR-10 (60,000 32x32 colour images, 10 classes) from the official archives",
           "redes.data.cifar10:load_cifar10", image_shape=(3, 32, 32),
           locations="redes.data.cifar10:cifar10_locations",
           locations_note="first found wins; set data.path or data.root, or $REDES_DATA",
           keys=("path", "root", "download")),
    Source("cifar100", "CIFAR-100 (60,000 32x32 colour images, 100 classes in 20 superclasses: data.labels) from the "
                       "official python archive",
           "redes.data.cifar100:load_cifar100", image_shape=(3, 32, 32),
           locations="redes.data.cifar100:cifar100_locations",
           locations_note="first found wins; set data.path or data.root, or $REDES_DATA",
           keys=("path", "root", "download", "labels")),
    Source("mnist", "MNIST (70,000 28x28 handwritten digits, 10 classes) from the official IDX files",
           "redes.data.mnist:load_mnist", image_shape=(28, 28), locations="redes.data.mnist:mnist_locations",
           locations_note="the folder with its four .gz files; set data.path or data.root, or $REDES_DATA",
           keys=("path", "root", "download")),
    Source("fashion_mnist", "Fashion-MNIST (70,000 28x28 images of clothes, 10 classes) from the official IDX files",
           "redes.data.mnist:load_fashion_mnist", image_shape=(28, 28),
           locations="redes.data.mnist:fashion_mnist_locations",
           locations_note="the folder with its four .gz files; set data.path or data.root, or $REDES_DATA",
           keys=("path", "root", "download")),
    Source("file", "your own .npz (x, y, optional x_test, y_test) or .csv (data.path, data.target)",
           "redes.data.files:load_file", keys=("path", "target", "task")),
)}
IMAGE_SHAPES = {name: source.image_shape for name, source in SOURCES.items() if source.image_shape}
