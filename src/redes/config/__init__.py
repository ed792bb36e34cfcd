"""The typed run config: one YAML file plus `--set key=value` overrides, validated at the edge.

The sections' schema lives in `redes.config.schema`; its classes are imported from here as well.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Literal, Optional, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from redes.config.presets import find
from redes.config.schema import (  # noqa: F401 (the schema, re-exported: redes.config is where callers find it)
    ACTIVATIONS,
    Config,
    DataConfig,
    EmbeddingConfig,
    LogConfig,
    LossConfig,
    ModelConfig,
    OptimizerConfig,
    RegularizationConfig,
    TrainConfig,
)
from redes.config.strict_yaml import read_yaml
from redes.errors import RedesError, did_you_mean


def config_keys() -> list[tuple[str, str, Any, str]]:
    """Every dotted key with its type, default and description, in declaration order."""
    return [row for section, field in Config.model_fields.items() for row in _keys(field.annotation, f"{section}.")]


def _keys(section: type[BaseModel], prefix: str) -> list[tuple[str, str, Any, str]]:
    rows = []
    for key, info in section.model_fields.items():
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        nested = _section_type(info.annotation)
        type_name = "mapping or null" if nested else _type_name(info.annotation) + (", required" if
                                                                                   info.is_required() else "")
        rows.append((f"{prefix}{key}", type_name, default, info.description or ""))
        rows += _keys(nested, f"{prefix}{key}.") if nested else []
    return rows


def _type_name(annotation: Any) -> str:
    """A reader's name for a field type: `int`, `float or null`, `one of a, b`, `list of int`."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return "one of " + ", ".join(map(str, args))
    if origin is Union:
        return " or ".join("null" if arg is type(None) else _type_name(arg) for arg in args)
    if origin in (list, tuple):
        return f"{origin.__name__} of {_type_name(args[0])}"
    return getattr(annotation, "__name__", str(annotation))


def describe_keys() -> str:
    """The config reference printed by `redes config --show` and `redes train --help`."""
    lines = []
    for key, type_name, default, description in config_keys():
        lines.append(f"  {key} = {json.dumps(_plain(default))}")
        lines.append(f"      {description}  [{type_name}]")
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def load_config(path: Union[str, Path, None] = None, overrides: tuple[str, ...] | list[str] = (),
                base: Optional[dict] = None, settings: Optional[dict[str, Any]] = None) -> Config:
    """Read a YAML config, a file or a preset's name (or start from `base`/defaults), apply `KEY=VALUE`
    overrides, then `settings` (dotted key -> value, as sweeps and searches set them), and validate."""
    raw = copy.deepcopy(base or {}) if path is None else _read_yaml(find(path, "config"))
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise RedesError(f"--set {item!r}: expected KEY=VALUE, for example train.epochs=10")
        _set_dotted(raw, key.strip(), _parse_value(text, key.strip()))
    for key, value in (settings or {}).items():
        _set_dotted(raw, key, value)
    _check_keys(raw, Config, "")
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise RedesError(explain_validation(exc)) from None


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise RedesError(f"config file {path} not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RedesError(f"config file {path}: not valid YAML (not UTF-8 text)") from None
    data = read_yaml(text, f"config file {path}")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RedesError(f"config file {path}: expected a mapping of sections (data, model, ...), "
                         f"got {type(data).__name__}")
    return data


def _parse_value(text: str, key: str) -> Any:
    return read_yaml(text, f"--set {key}", invalid_as_text=True)


def _set_dotted(raw: dict, key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    node = raw
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[leaf] = value


def _check_keys(raw: dict, model: type[BaseModel], prefix: str) -> None:
    """Unknown keys fail with the nearest valid one; pydantic would only say 'extra inputs not permitted'."""
    if not isinstance(raw, dict):
        return
    fields = model.model_fields
    for key, value in raw.items():
        dotted = f"{prefix}{key}"
        if key not in fields:
            valid = [f"{prefix}{name}" for name in fields]
            if not prefix:
                valid += [k for k, *_ in config_keys()]
            raise RedesError(f"unknown config key {dotted!r}{did_you_mean(dotted, valid)}")
        annotation = _section_type(fields[key].annotation)
        if annotation is not None:
            _check_keys(value, annotation, f"{dotted}.")


def _section_type(annotation: Any) -> Optional[type[BaseModel]]:
    """The model class of a section field, also inside Optional[...] (model.embedding); None otherwise."""
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def first_error(exc: ValidationError) -> tuple[str, str, Any]:
    """pydantic's first complaint as (dotted key, "" for the whole; its message; the value it got)."""
    error = exc.errors()[0]
    return ".".join(str(part) for part in error["loc"]), error["msg"].removeprefix("Value error, "), error.get("input")


def explain_validation(exc: ValidationError) -> str:
    """The first validation error in one line, naming the key and the type it expects."""
    key, message, got = first_error(exc)
    if not key:
        return f"config: {message}"
    if message.startswith(key):
        return f"config: {message}"
    expected = _expected_type(exc.errors()[0]["loc"])
    return f"config key {key}: {message}" + (f" (expected {expected}, got {got!r})" if expected else "")


def _expected_type(loc: tuple) -> Optional[str]:
    """The declared type of the field at `loc`, or None when `loc` is not a leaf field."""
    model: Any = Config
    for part in loc:
        info = getattr(model, "model_fields", {}).get(part)
        if info is None:
            return None
        model = info.annotation
    is_section = isinstance(model, type) and issubclass(model, BaseModel)
    return None if is_section else _type_name(model)
