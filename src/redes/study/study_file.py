"""Sweep and search files: YAML read into a pydantic model, with the base config they start from.

Both kinds name a base config (a mapping, a config file relative to the sweep or search file, or a config
preset's name) and may `set:`
dotted keys on top of it, so a preset can reuse a notebook's config and change only what it studies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from redes.config import first_error, load_config
from redes.config.presets import find
from redes.config.strict_yaml import read_yaml
from redes.errors import RedesError, did_you_mean

Kind = TypeVar("Kind", bound=BaseModel)


class StudyFile(BaseModel):
    """The keys every sweep and search file has: the base config and the keys it changes in it."""

    model_config = ConfigDict(extra="forbid")
    base: Union[str, dict] = Field(default_factory=dict, description="a config mapping, a config file's path "
                                   "(relative to this file) or a config preset's name")
    set: dict[str, Any] = Field(default_factory=dict, description="dotted config key -> value, applied to the "
                                "base (e.g. train.epochs: 10)")


def read_study_file(path: Union[str, Path], model: type[Kind], kind: str) -> Kind:
    """The file validated as `model`; an unknown key suggests the nearest, a bad value names its field."""
    path = find(path, kind)
    try:
        raw = read_yaml(path.read_text(encoding="utf-8"), f"{kind} file {path}") or {}
    except UnicodeDecodeError:
        raise RedesError(f"{kind} file {path}: not valid YAML (not UTF-8 text)") from None
    if not isinstance(raw, dict):
        raise RedesError(f"{kind} file {path}: expected a mapping with the keys {', '.join(model.model_fields)}")
    for key in raw:
        if key not in model.model_fields:
            keys = ", ".join(model.model_fields)
            hint = did_you_mean(str(key), model.model_fields) or f" (a {kind} has the keys {keys})"
            raise RedesError(f"{kind} file {path}: unknown key {key!r}{hint}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        where, message, _ = first_error(exc)
        raise RedesError(f"{kind} file {path}: {where or 'the file'}: {message}") from None


def base_config(base: Union[str, dict], settings: dict[str, Any], path: Union[str, Path], kind: str) -> dict:
    """The resolved config (a mapping) the sweep or search starts from: `base` with its `set:` keys applied."""
    path = Path(path)
    try:
        start = base if isinstance(base, dict) else load_config(find(base, "config", beside=path)).to_dict()
        return load_config(base=start, settings=settings).to_dict()
    except RedesError as exc:
        raise RedesError(f"{kind} file {path}: {exc}") from None
