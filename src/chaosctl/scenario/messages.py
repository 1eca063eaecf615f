"""pydantic validation errors -> `FILE:LINE:COL: where: message` lines.

pydantic locates an error by a path of keys and indices, with the tag of a
discriminated union inserted after the list index (`phases.1.faults.0.latency.
toxicity`). We drop such tags to find the value in the data, and look up the
model at that path to say "did you mean" for unknown fields.
"""

from __future__ import annotations

import re
import types
import typing
from typing import Any, Union

from pydantic import BaseModel

from .model import Scenario
from .types import closest
from .yamlsrc import Positions

_DISCRIMINATORS = ("type", "probe", "kind")  # the tag fields of our discriminated unions


def data_path(loc: tuple[Any, ...], data: Any, root: type[BaseModel] = Scenario) -> tuple[Any, ...]:
    """The part of a pydantic `loc` that exists in the data, union tags removed.

    The model types are walked alongside: where the type is a discriminated
    union, the segment is its tag (`latency` in `faults.0.latency.jitter`).
    """
    path: list[Any] = []
    node, tp = data, root
    for seg in loc:
        is_tag = tp is not None and len(_union_members(tp)) > 1
        tp = _step(tp, seg) if tp is not None else None
        if is_tag:
            continue
        if isinstance(node, dict) and seg in node:
            node = node[seg]
        elif isinstance(node, list) and isinstance(seg, int) and 0 <= seg < len(node):
            node = node[seg]
        elif isinstance(node, (dict, list)):
            path.append(seg)  # a missing or extra key: positions fall back to the parent
            break
        else:
            break
        path.append(seg)
    return tuple(path)


def show_path(path: tuple[Any, ...]) -> str:
    out = ""
    for seg in path:
        out += f"[{seg}]" if isinstance(seg, int) else (f".{seg}" if out else str(seg))
    return out or "(top level)"


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _union_members(tp: Any) -> tuple[Any, ...]:
    """The members of a (possibly nested, possibly Optional) union; (tp,) for anything else."""
    tp = _unwrap(tp)
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        out: list[Any] = []
        for arg in typing.get_args(tp):
            if arg is not type(None):
                out.extend(_union_members(arg))
        return tuple(out)
    return (tp,)


def _step(tp: Any, seg: Any) -> Any:
    """The type found one segment of `loc` below `tp` (None when unknown)."""
    tp = _unwrap(tp)
    members = _union_members(tp)
    if len(members) > 1:  # discriminated union: `seg` is the tag
        for member in members:
            if isinstance(member, type) and issubclass(member, BaseModel):
                for disc in _DISCRIMINATORS:
                    field = member.model_fields.get(disc)
                    if field is not None and seg in typing.get_args(field.annotation):
                        return member
        return None
    tp = members[0]
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        for name, field in tp.model_fields.items():
            if seg in (name, field.alias):
                return field.annotation
        return None
    if typing.get_origin(tp) in (tuple, list) and isinstance(seg, int):
        return typing.get_args(tp)[0]
    return None


def fields_at(loc: tuple[Any, ...], root: type[BaseModel] = Scenario) -> tuple[str, ...]:
    """The field names (aliases) that the model at `loc` accepts."""
    tp: Any = root
    for seg in loc:
        tp = _step(tp, seg)
        if tp is None:
            return ()
    members = _union_members(_unwrap(tp))
    if len(members) == 1 and isinstance(members[0], type) and issubclass(members[0], BaseModel):
        return tuple(f.alias or n for n, f in members[0].model_fields.items())
    return ()


# Fault types users ask for that the links cannot carry: Toxiproxy works on TCP streams, and
# v2.12.0, the newest release the Go module proxy serves here, has no packet-loss or corruption
# toxic (upstream merged a packet_loss toxic in 2026-06, in no release that setup can build).
_TOXIPROXY_LACKS = (
    " (Toxiproxy v2.12.0, the newest that `chaosctl setup` can build, has no packet loss or corruption"
    " toxic; on TCP a lost packet is a retransmit: model it with 'latency' plus 'jitter', or cut"
    " connections with 'reset-peer' or 'timeout')"
)
_NOT_OFFERED = {name: _TOXIPROXY_LACKS for name in ("packet-loss", "loss", "corrupt", "corruption", "packet-corruption")}


def _message(err: dict[str, Any], root: type[BaseModel] = Scenario) -> str:
    kind, loc, ctx = err["type"], tuple(err["loc"]), err.get("ctx") or {}
    if kind == "extra_forbidden":
        allowed = fields_at(loc[:-1], root)
        guess = closest(str(loc[-1]), allowed)
        hint = f" (did you mean {guess!r}?)" if guess else (f"; allowed: {', '.join(allowed)}" if allowed else "")
        return f"unknown field {loc[-1]!r}{hint}"
    if kind == "missing":
        return f"missing required field {loc[-1]!r}"
    if kind == "union_tag_invalid":
        tags = [t.strip().strip("'") for t in str(ctx.get("expected_tags", "")).split(",")]
        guess = closest(str(ctx.get("tag")), tags)
        hint = _NOT_OFFERED.get(str(ctx.get("tag"))) or (f" (did you mean {guess!r}?)" if guess else "")
        return f"unknown {ctx.get('discriminator', 'type').strip(chr(39))} {ctx.get('tag')!r}{hint}; known: {', '.join(tags)}"
    if kind == "union_tag_not_found":
        return f"missing {ctx.get('discriminator', 'type')!r} field"
    if kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        guess = closest(str(err["input"]), allowed)
        hint = f" (did you mean {guess!r}?)" if guess else ""
        return f"{err['input']!r} is not allowed here{hint}; expected {ctx.get('expected')}"
    msg = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    return msg


Located = tuple[tuple[int, int], str]  # ((line, col) 0-based, "FILE:LINE:COL: path: message")


def located(path: tuple[Any, ...], message: str, positions: Positions, source: str, key: bool = False) -> Located:
    line, col = positions.of(path, key=key)
    return (line, col), f"{source}:{line + 1}:{col + 1}: {show_path(path)}: {message}"


def in_file_order(items: list[Located]) -> list[str]:
    return [text for _, text in sorted(dict.fromkeys(items), key=lambda item: item[0])]


def error_lines(
    errors: list[dict[str, Any]], data: Any, positions: Positions, source: str, root: type[BaseModel] = Scenario
) -> list[Located]:
    """One located `FILE:LINE:COL: path: message` line per pydantic error (of `root`: Scenario or System)."""
    out: list[Located] = []
    failed_inside = {tuple(e["loc"][:n]) for e in errors for n in range(1, len(e["loc"]))}
    for err in errors:
        loc = tuple(err["loc"])
        if err["type"] == "too_short" and loc in failed_inside:
            continue  # "at least 1 item" only because every item failed: the item errors say why
        path = data_path(loc, data, root)
        out.append(located(path, _message(err, root), positions, source, key=err["type"] == "extra_forbidden"))
    return out
