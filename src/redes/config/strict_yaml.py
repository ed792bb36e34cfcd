"""YAML as redes reads it: plain data only, and every problem one line naming where it is.

PyYAML's safe loader keeps the last of two equal keys, builds bytes and sets from `!!binary` and `!!set`,
and fails deep inside on a very long number or a very deep nesting; here each of those is a `RedesError`.
"""

from __future__ import annotations

from typing import Any

import yaml

from redes.errors import RedesError

MAX_CHARS = 1_000_000  # a config, sweep or search file is a few hundred characters
MAX_DEPTH = 32  # config: section, key, a list of lists at most; sweeps and searches a little more
MAX_VALUES = 100_000  # counting what aliases repeat: a few lines of aliases can stand for billions of values
_REFUSED_TAGS = ("binary", "set", "omap", "pairs", "timestamp")  # they build more than str/number/list/dict


class _Refused(Exception):
    def __init__(self, problem: str, node: yaml.Node):
        super().__init__(problem)
        self.problem, self.line = problem, node.start_mark.line + 1


class _Loader(yaml.SafeLoader):
    """The safe loader, refusing duplicate keys and the tags of `_REFUSED_TAGS`."""


def _mapping(loader: _Loader, node: yaml.MappingNode) -> dict:
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if isinstance(key, str):
            if key in seen:
                raise _Refused(f"the key {key!r} is given twice", key_node)
            seen.add(key)
    return loader.construct_mapping(node)


def _refuse(loader: _Loader, node: yaml.Node) -> Any:
    raise _Refused(f"the tag {node.tag.rsplit(':', 1)[-1]!r} is not plain data (text, numbers, lists, mappings)", node)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
for _tag in _REFUSED_TAGS:
    _Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _refuse)


def read_yaml(text: str, where: str, invalid_as_text: bool = False) -> Any:
    """The plain data `text` holds; `where` names it in errors ("config file c.yaml", "--set train.epochs").
    With `invalid_as_text`, text that is not YAML at all is taken as the string it is (a --set value)."""
    where = where.replace("\n", "\\n")  # a key or file name with a line break stays one line
    if len(text) > MAX_CHARS:
        raise RedesError(f"{where}: {len(text):,} characters, more than the {MAX_CHARS:,} redes reads")
    try:
        return _load(text)
    except _Refused as refused:
        raise RedesError(f"{where}: {refused.problem} (line {refused.line})") from None
    except yaml.YAMLError as exc:
        if invalid_as_text:
            return text
        mark = getattr(exc, "problem_mark", None)
        raise RedesError(f"{where}: not valid YAML" + (f" at line {mark.line + 1}" if mark else "")) from None
    except RecursionError:
        raise RedesError(f"{where}: nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:  # a number past Python's digit limit for int()
        raise RedesError(f"{where}: a value redes cannot read ({str(exc).split(';')[0]})") from None


def _load(text: str) -> Any:
    loader = _Loader(text)  # reading starts here: a character YAML forbids fails at once
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_depth(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _check_depth(root: yaml.Node) -> None:
    """Refuse nesting deeper than MAX_DEPTH, or more than MAX_VALUES values once aliases are expanded, before
    anything is built from it (walked without recursion)."""
    stack, walked = [(root, 1)], 0
    while stack:
        node, depth = stack.pop()
        walked += 1
        if walked > MAX_VALUES:
            raise _Refused(f"more than {MAX_VALUES:,} values, counting what its aliases (*name) repeat", node)
        if depth > MAX_DEPTH:
            raise _Refused(f"nested more than {MAX_DEPTH} levels deep", node)
        if isinstance(node, yaml.SequenceNode):
            stack += [(child, depth + 1) for child in node.value]
        elif isinstance(node, yaml.MappingNode):
            stack += [(child, depth + 1) for pair in node.value for child in pair]
