"""The text form of definitions: canonical YAML or JSON, read with guards against hostile files.

Reading refuses what could exhaust the server: text over `MAX_SIZE` bytes, nesting deeper
than `MAX_DEPTH`, and YAML aliases (`*name`), which let a few lines expand into gigabytes.
Duplicate keys are refused too, since the last one would silently win.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from yaml.error import MarkedYAMLError
from yaml.nodes import MappingNode, Node

from server.domain.errors import InvalidDefinition, Problem

FORMATS = ("yaml", "json")
MAX_SIZE = 1_000_000  # bytes of UTF-8
MAX_DEPTH = 64  # nested mappings and lists; a process file needs about 25

_TOO_DEEP = f"nested more than {MAX_DEPTH} levels deep"
_SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}


def format_of(filename: str) -> str:
    """The format a file name's suffix announces."""
    dot = filename.rfind(".")
    fmt = _SUFFIXES.get(filename[dot:].lower()) if dot >= 0 else None
    if fmt is None:
        raise InvalidDefinition([Problem("", "name the file .yaml, .yml or .json")])
    return fmt


def dump_text(data: dict[str, Any], fmt: str) -> str:
    """`data` as canonical text: keys in their given order, one newline at the end."""
    _check_format(fmt)
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=_NO_FOLDING,
    )


def load_text(text: str, fmt: str) -> Any:
    """Parse YAML or JSON text; raise InvalidDefinition saying where it is broken."""
    _check_format(fmt)
    if len(text) > MAX_SIZE or len(text.encode("utf-8", "replace")) > MAX_SIZE:
        raise InvalidDefinition([Problem("", "the file is larger than 1 MB")])
    try:
        data = _load_json(text) if fmt == "json" else yaml.load(text, Loader=_Loader)
    except _Refused as refused:
        raise InvalidDefinition([Problem("", f"{_at(refused.mark)}{refused.reason}")]) from None
    except MarkedYAMLError as error:
        reason = error.problem or error.context or "unreadable"
        raise InvalidDefinition(
            [Problem("", f"not valid YAML: {_at(error.problem_mark)}{reason}")]
        ) from None
    except yaml.YAMLError as error:
        reason = str(error).splitlines()[0]
        raise InvalidDefinition([Problem("", f"not valid YAML: {reason}")]) from None
    except json.JSONDecodeError as error:
        msg = f"not valid JSON: line {error.lineno}, column {error.colno}: {error.msg}"
        raise InvalidDefinition([Problem("", msg)]) from None
    except RecursionError:  # JSON nested past Python's own limit
        raise InvalidDefinition([Problem("", _TOO_DEEP)]) from None
    except ValueError as error:  # an integer too long to read
        raise InvalidDefinition(
            [Problem("", f"not valid {fmt.upper()}: {_short(error)}")]
        ) from None
    return data


# Far past any line, so long text stays on one line and the output never depends on it.
_NO_FOLDING = 1 << 30


class _Dumper(yaml.SafeDumper):
    """Block style, lists indented under their key, text with line breaks as `|` blocks."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # A kept final blank line (`|+`) would end the file with two newlines; quote that text.
    style = "|" if "\n" in value and not value.endswith("\n\n") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


class _Refused(Exception):
    """Text that parses but is not accepted."""

    def __init__(self, mark: Any, reason: str) -> None:
        super().__init__(reason)
        self.mark = mark
        self.reason = reason


class _Loader(yaml.SafeLoader):
    """The safe loader, refusing aliases, deep nesting, duplicate keys and impossible values."""

    _depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(event.start_mark, "aliases (*name) are not allowed")
        if isinstance(event, yaml.ScalarEvent):
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(event.start_mark, _TOO_DEEP)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except ValueError as error:  # a date like 2024-02-30, an integer too long to read
            raise _Refused(node.start_mark, _short(error)) from None

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        mapping = super().construct_mapping(node, deep)
        if len(mapping) < len(node.value):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep)
                if key in seen:
                    raise _Refused(key_node.start_mark, f"duplicate key {key!r}")
                seen.add(key)
        return mapping


def _load_json(text: str) -> Any:
    data = json.loads(text.removeprefix("\ufeff"), object_pairs_hook=_json_object)
    todo, depth = ([data] if isinstance(data, dict | list) else []), 0
    while todo:
        depth += 1
        if depth > MAX_DEPTH:
            raise _Refused(None, _TOO_DEEP)
        todo = [
            child
            for item in todo
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, dict | list)
        ]
    return data


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused(None, f"duplicate key {key!r}")
        out[key] = value
    return out


def _at(mark: Any) -> str:
    """Where a YAML mark points, counted from 1 as editors do."""
    return f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""


def _short(error: Exception) -> str:
    return str(error).splitlines()[0][:200]


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise InvalidDefinition([Problem("", f"unknown format {fmt!r}; use yaml or json")])
