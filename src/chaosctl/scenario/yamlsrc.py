"""Read a YAML file safely into plain data plus the position of every value.

Safety, in order: a size cap; strict UTF-8 (binary garbage is reported at its
byte); ruamel.yaml's round-trip loader, which keeps line/column positions and
refuses duplicate keys; a walk over the composed node graph that refuses any
tag outside YAML's core schema (`!!python/object...` is never constructed, it
is an error) and caps the size of the document *after* alias expansion (a
billion-laughs document is a few hundred bytes that expand to 10^9 nodes;
ruamel shares aliased nodes, but anything walking the data would expand them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from chaosctl.errors import ScenarioInvalid

MAX_FILE_BYTES = 1_000_000
MAX_EXPANDED_NODES = 20_000
_CORE_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq", "merge", "timestamp")}

Path_ = tuple[Any, ...]  # a path into the data: keys (str) and list indices (int)


@dataclass
class Positions:
    """0-based (line, col) of each value and each mapping key, by path."""

    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)

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
        reason = getattr(exc, "reason", "") or "unreadable character"
        problem = f"{reason}: is this a YAML scenario?"
    if "\t" in problem or "'\\t'" in problem:
        problem += " (YAML indentation must use spaces, not tabs)"
    if "duplicate key" in problem:
        problem = problem.split(" with value")[0]
    return _fail(source, line, col, problem)


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


def _plain(value: Any, path: Path_, pos: Positions) -> Any:
    """ruamel's commented containers and scalar subclasses -> plain Python, recording positions."""
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        lc = getattr(value, "lc", None)
        for key, item in value.items():
            sub = (*path, str(key))
            if lc is not None and key in (lc.data or {}):
                pos.keys[sub] = lc.key(key)
                pos.values[sub] = lc.value(key)
            out[str(key) if isinstance(key, (str, int, float)) else key] = _plain(item, sub, pos)
        return out
    if isinstance(value, list):
        lc = getattr(value, "lc", None)
        items = []
        for i, item in enumerate(value):
            if lc is not None and i in (lc.data or {}):
                pos.values[(*path, i)] = lc.item(i)
            items.append(_plain(item, (*path, i), pos))
        return items
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return None if value is None else str(value)


def read_yaml(path: Path) -> tuple[Any, Positions]:
    """Plain data and positions of one YAML document; ScenarioInvalid with FILE:LINE:COL otherwise."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    source = str(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ScenarioInvalid([f"{source}:1:1: cannot read: {exc.strerror or exc}"]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise _fail(source, 0, 0, f"file is larger than {MAX_FILE_BYTES} bytes: not a scenario")
    text = _decode(raw, source)
    if not text.strip() or all(not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()):
        raise _fail(source, 0, 0, "empty file: a scenario needs apiVersion, kind, metadata, load and phases")
    try:
        node = YAML(typ="rt").compose(text)
        if node is not None:
            _check_nodes(node, source)
        loader = YAML(typ="rt")
        loader.allow_duplicate_keys = False
        data = loader.load(text)
    except ScenarioInvalid:
        raise
    except (MarkedYAMLError, YAMLError) as exc:
        raise _yaml_error(exc, text, source) from None
    positions = Positions()
    lc = getattr(data, "lc", None)
    positions.values[()] = (lc.line, lc.col) if lc is not None else (0, 0)
    return _plain(data, (), positions), positions
