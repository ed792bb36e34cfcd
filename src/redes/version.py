"""The installed package's version, pyproject.toml's (the one place it is written), read from its metadata."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("redes")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "unknown"
