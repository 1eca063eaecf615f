"""Read a YAML file safely into plain data plus the position of every value.

Safety, in order: a size cap; strict UTF-8 (binary garbage is reported at its
byte); ruamel.yaml's safe loader (core schema only, duplicate keys refused),
whose composed node graph keeps the line/column of every node; a walk over
that graph, before anything is constructed, that refuses any tag outside
YAML's core schema (`!!python/object...` is never constructed, it
is an error) and caps the size of the document *after* alias expansion (a
billion-laughs document is a few hundred bytes that expand to 10^9 nodes;
ruamel shares aliased nodes, but anything walking the data would expand them).

Scalars are constructed by `_Constructor`: a timestamp-looking scalar stays the
text it was written as (`description: 2026-11-25 99:00` is a description, not
an invalid date), and an integer too long to convert is a located error, not
a ValueError from deep inside the constructor.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from chaosctl.errors import ScenarioInvalid

MAX_FILE_BYTES = 1_000_000
MAX_EXPANDED_NODES = 20_000
MAX_INT_DIGITS = 100  # far beyond any count, size or port; Python refuses > 4300 with a bare ValueError
_CORE_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq", "merge", "timestamp")}

Path_ = tuple[Any, ...]  # a path into the data: keys (str) and list indices (int)


@dataclass
class Positions:
    """0-based (line, col) of each value and each mapping key, by path."""

    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    fast: bool = False  # read by libyaml (read_yaml): an empty value's position is not the pure parser's

    def of(self, path: Path_, key: bool = False) -> tuple[int, int]:
        """The position of `path` (its key when `key`), else of its closest ancestor."""
        table = self.keys if key else self.values
        if path in table:
            return table[path]
        for cut in range(len(path) - 1, -1, -1):
            if path[:cut] in self.values:
                return self.values[path[:cut]]
        return (0, 0)


def _fail(source: str, line: int, col: int, message: str) -> ScenarioInvalid:
    return ScenarioInvalid([f"{source}:{line + 1}:{col + 1}: {message}"])


def _decode(raw: bytes, source: str) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n")
        col = exc.start - (before.rfind(b"\n") + 1)
        raise _fail(source, line, col, f"not a UTF-8 text file (byte 0x{raw[exc.start]:02x}): is this a YAML scenario?") from None


def _yaml_error(exc: Exception, text: str, source: str) -> ScenarioInvalid:
    """ruamel's errors -> one `FILE:LINE:COL: message` line."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or str(exc).splitlines()[0]
    if mark is not None:
        line, col = mark.line, mark.column
    else:  # ReaderError: a character position
        pos = min(int(getattr(exc, "position", 0) or 0), len(text))
        line = text.count("\n", 0, pos)
        col = pos - (text.rfind("\n", 0, pos) + 1)
        char = getattr(exc, "character", None)
        code = ord(char) if isinstance(char, str) and len(char) == 1 else char
        shown = f" #x{code:04x}" if isinstance(code, int) else ""
        problem = f"unacceptable character{shown}: is this a YAML scenario?"
    if "\t" in problem or "'\\t'" in problem:
        problem += " (YAML indentation must use spaces, not tabs)"
    if "duplicate key" in problem:
        problem = problem.split(" with value")[0]
    return _fail(source, line, col, problem)


@functools.cache
def _constructor_class() -> type:
    """A SafeConstructor subclass (the shared class is left untouched)."""
    from ruamel.yaml.constructor import ConstructorError, SafeConstructor

    class _Constructor(SafeConstructor):  # type: ignore[misc]
        def construct_yaml_int(self, node: Any) -> int:
            digits = sum(ch.isalnum() for ch in str(node.value))
            if digits > MAX_INT_DIGITS:
                raise ConstructorError(None, None, f"number with {digits} digits is too large", node.start_mark)
            return super().construct_yaml_int(node)

        def construct_yaml_timestamp(self, node: Any, values: Any = None) -> str:
            # Scenarios hold no dates: keep what was written (never an "invalid date" crash).
            return str(self.construct_scalar(node))

    _Constructor.add_constructor("tag:yaml.org,2002:int", _Constructor.construct_yaml_int)
    _Constructor.add_constructor("tag:yaml.org,2002:timestamp", _Constructor.construct_yaml_timestamp)
    return _Constructor


def _construct(yaml: Any, node: Any, source: str) -> Any:
    """Build the data; a scalar that no constructor accepts is reported at its own position."""
    from ruamel.yaml.error import YAMLError

    try:
        return yaml.constructor.construct_document(node)
    except YAMLError:
        raise  # located by ruamel itself
    except Exception as exc:  # noqa: BLE001 - ruamel's scalar constructors raise ValueError, IndexError...
        from ruamel.yaml.nodes import ScalarNode

        bad = next((n for n in _walk(node) if isinstance(n, ScalarNode) and not _constructs(yaml, n)), node)
        m = bad.start_mark
        raise _fail(source, m.line, m.column, f"cannot read this value: {exc}") from None


def _walk(root: Any) -> list[Any]:
    seen: set[int] = set()
    out: list[Any] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen.add(id(node))
            out.append(node)
            stack.extend(reversed(_children(node)))
    return out


def _constructs(yaml: Any, node: Any) -> bool:
    constructor = yaml.constructor
    # A failed construct_document leaves its nodes marked "in progress"; a probe must start clean.
    constructor.constructed_objects.clear()
    constructor.recursive_objects.clear()
    try:
        yaml.constructor.construct_object(node, deep=True)
        return True
    except Exception:  # noqa: BLE001 - this is the probe for the failing scalar
        return False


def _check_nodes(root: Any, source: str) -> None:
    """Refuse non-core tags and alias bombs, on the composed graph (aliases are shared nodes)."""
    sizes: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(root, False)]
    visiting: set[int] = set()
    while stack:
        node, done = stack.pop()
        nid = id(node)
        if done:
            visiting.discard(nid)
            sizes[nid] = 1 + sum(sizes[id(c)] for c in _children(node))
            if sizes[nid] > MAX_EXPANDED_NODES:
                m = node.start_mark
                raise _fail(source, m.line, m.column, f"document expands to more than {MAX_EXPANDED_NODES} nodes through aliases (refused: alias bomb?)")
            continue
        if nid in sizes:
            continue
        if nid in visiting:
            m = node.start_mark
            raise _fail(source, m.line, m.column, "recursive alias (refused)")
        tag = str(getattr(node.tag, "value", node.tag))
        if tag not in _CORE_TAGS:
            m = node.start_mark
            raise _fail(source, m.line, m.column, f"tag {tag!r} is not allowed: scenarios use plain YAML (no tags)")
        visiting.add(nid)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in sizes)


def _children(node: Any) -> list[Any]:
    value = node.value
    if not isinstance(value, list):
        return []
    out: list[Any] = []
    for item in value:
        out.extend(item if isinstance(item, tuple) else (item,))
    return out


def _positions(node: Any, path: Path_, pos: Positions, merged: bool = False) -> None:
    """Record where each value (and each mapping key) of the composed graph starts.

    Keys brought in by a merge (`<<: *defaults`) point at their definition,
    unless the mapping sets them itself. Bounded: `_check_nodes` capped the
    size of the graph after alias expansion.
    """
    from ruamel.yaml.nodes import MappingNode, SequenceNode

    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            if str(getattr(key_node.tag, "value", key_node.tag)).endswith(":merge"):
                sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                for source in sources:
                    _positions(source, path, pos, merged=True)
                continue
            sub = (*path, str(key_node.value))
            if merged and sub in pos.keys:
                continue
            pos.keys[sub] = (key_node.start_mark.line, key_node.start_mark.column)
            pos.values[sub] = (value_node.start_mark.line, value_node.start_mark.column)
            _positions(value_node, sub, pos)
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            pos.values[(*path, i)] = (item.start_mark.line, item.start_mark.column)
            _positions(item, (*path, i), pos)


@functools.cache
def has_libyaml() -> bool:
    """ruamel.yaml's C parser (ruamel.yaml.clib) is installed: `fast` reads use it."""
    from ruamel.yaml.main import CParser  # None when the C extension is not installed

    return CParser is not None


def _has_directive(text: str) -> bool:
    return text.startswith("%") or "\n%" in text


def _is_c(yaml: Any) -> bool:
    from ruamel.yaml.parser import Parser

    return yaml.Parser is not Parser


def _plain(value: Any) -> Any:
    """Constructed data -> JSON-like plain data (dates become ISO strings, keys strings)."""
    if isinstance(value, dict):
        return {str(k) if isinstance(k, (int, float, bool)) else k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def read_yaml(path: Path, fast: bool = False) -> tuple[Any, Positions]:
    """Plain data and positions of one YAML document; ScenarioInvalid with FILE:LINE:COL otherwise.

    `fast`: parse with libyaml (`parse_yaml`) when it is installed: the same data, but the
    positions of empty values differ and its error messages are libyaml's, so a caller that
    asks for it must read the file again without it before it reports any problem
    (system/validate.py does). True in the result's `Positions.fast` when libyaml parsed it."""
    source = str(path)
    try:
        # Non-blocking open: a named pipe nobody writes to reads as empty instead of hanging the open.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)  # at most one byte past the cap: /dev/zero cannot hang us
    except OSError as exc:
        raise ScenarioInvalid([f"{source}:1:1: cannot read: {exc.strerror or exc}"]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise _fail(source, 0, 0, f"file is larger than {MAX_FILE_BYTES} bytes, the cap for a scenario or System file")
    return parse_yaml(raw, source, fast)


def parse_yaml(raw: bytes, source: str, fast: bool = False) -> tuple[Any, Positions]:
    """`read_yaml` on bytes already read (`source` names them in messages)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    text = _decode(raw, source)
    if not text.strip() or all(not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()):
        raise _fail(source, 0, 0, "empty file: a scenario needs apiVersion, kind, metadata, load and phases")
    # The pure-Python "safe" parser: core-schema constructors only, every node
    # keeps its start mark, and it is faster than the round-trip parser that
    # also gathers comments. One parse: compose, check the graph, construct.
    # `fast`: libyaml's parser (ruamel.yaml.clib) composes the same nodes with the same
    # resolver and constructors, in a third of the instructions; not for a file with a
    # %-directive (a `%YAML 1.1` reaches the pure parser's resolver only).
    yaml = YAML(typ="safe", pure=not fast or _has_directive(text))
    yaml.Constructor = _constructor_class()
    yaml.allow_duplicate_keys = False
    try:
        node = yaml.compose(text)
        if node is None:
            return None, Positions(values={(): (0, 0)})
        _check_nodes(node, source)
        data = _construct(yaml, node, source)
        positions = Positions(values={(): (node.start_mark.line, node.start_mark.column)}, fast=_is_c(yaml))
        _positions(node, (), positions)
        return _plain(data), positions
    except ScenarioInvalid:
        raise
    except (MarkedYAMLError, YAMLError) as exc:
        raise _yaml_error(exc, text, source) from None
    except RecursionError:  # the parser and the walks recurse; a scenario is a few levels deep
        raise _fail(source, 0, 0, "the document is nested too deeply to be a scenario (refused)") from None
