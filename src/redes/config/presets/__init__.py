"""The presets that ship inside the package: configs (`redes train notebook001`), sweeps (`redes sweep
batch_size`) and searches (`redes search digits`), one YAML file each under presets/KIND/, whose first
comment line says what it is (`redes presets` lists them).

A preset is addressed by its name; a file, by its path, as always (a file wins where both exist). A sweep's
or a search's `base:` is a config file beside it or a config preset's name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

from redes.errors import RedesError, did_you_mean

FOLDER = Path(__file__).parent
KINDS = {"config": "redes train NAME, and config, check, explain, graph", "sweep": "redes sweep NAME",
         "search": "redes search NAME"}  # each kind of preset, and the commands that take one


def names(kind: str) -> list[str]:
    """The presets of `kind`, by name."""
    return sorted(path.stem for path in (FOLDER / kind).glob("*.yaml"))


def find(value: Union[str, Path], kind: str, beside: Optional[Path] = None) -> Path:
    """The file `value` names: a file (relative to `beside`'s folder, if given), else the preset of `kind`
    called `value`; neither is one error naming both."""
    path = (beside.parent / value) if beside is not None else Path(value)
    if path.is_file():
        return path
    name = str(value)
    if name in names(kind):
        return FOLDER / kind / f"{name}.yaml"
    hint = did_you_mean(name, names(kind)) or f"; the {kind} presets are {', '.join(names(kind))}"
    raise RedesError(f"{kind} file {path} not found, and no {kind} preset is called {name!r}{hint}")


def summary(kind: str, name: str) -> str:
    """The preset's first comment line, without its '# '."""
    for line in (FOLDER / kind / f"{name}.yaml").read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""
