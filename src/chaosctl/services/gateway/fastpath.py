"""The predict route's fast path: a plain ASGI handler in front of FastAPI.

Why: FastAPI's dependency solving, body validation, response-model validation and its
middleware stack were about a third of the gateway's CPU per predict request. A request
whose body and headers are plainly valid (a JSON object whose `inputs` are rows of JSON
floats, all finite, one width, within the limits; a `Bearer` token; one X-Model-Version of
at most 64 characters) is served here, through the same `Gateway` calls, the same telemetry
(server span, RED metrics under the route template) and the same error bodies. Anything
else (ints, a malformed body, a missing or non-Bearer Authorization, an oversized body) is
replayed to the FastAPI route untouched, which answers it as it always did: the fast path
never decides an error that FastAPI would word differently.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PATH = re.compile(r"/v1/models/([A-Za-z0-9][A-Za-z0-9._-]{0,63})/predict")  # app.MODEL_NAME_PATTERN's names
MAX_BODY = 1 << 20  # larger bodies are left to FastAPI (read in full here, they would cost memory first)
MAX_VERSION = 64  # the X-Model-Version header's max_length on the FastAPI route


@dataclass(frozen=True)
class FastRequest:
    model: str
    inputs: list[list[float]]
    authorization: str
    requested: str  # blank: no X-Model-Version


def parse_inputs(body: bytes, max_rows: int, max_features: int) -> list[list[float]] | None:
    """The rows of a plainly valid body, else None (FastAPI then decides, and words the error)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    rows = doc.get("inputs") if type(doc) is dict else None
    if type(rows) is not list or not 1 <= len(rows) <= max_rows:
        return None
    width = len(rows[0]) if type(rows[0]) is list else 0
    if not 1 <= width <= max_features:
        return None
    for row in rows:  # floats only: ints and bools are FastAPI's (strict) call
        if type(row) is not list or len(row) != width or not all(type(x) is float and math.isfinite(x) for x in row):
            return None
    return rows


def plain_headers(scope: Scope) -> tuple[str, str] | None:
    """(Authorization, X-Model-Version) when both are plain (one Bearer token, one short version), else None."""
    auth: list[str] = []
    version: list[str] = []
    json_body = False
    for name, value in scope["headers"]:
        if name == b"authorization":
            auth.append(value.decode("latin-1"))
        elif name == b"x-model-version":
            version.append(value.decode("latin-1"))
        elif name == b"content-type":
            json_body = value.split(b";")[0].strip().lower() == b"application/json"
    if not json_body or len(auth) != 1 or len(version) > 1 or (version and len(version[0]) > MAX_VERSION):
        return None
    scheme, _, token = auth[0].partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return auth[0], version[0].strip() if version else ""


def header_map(scope: Scope) -> dict[str, str]:
    """The request's headers as `RequestFacts.of(path, starlette Headers(scope=scope))` keeps them
    (names lower-cased, the last of a repeated name), made in one pass over the raw ones."""
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}


async def read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The request body (up to `limit` bytes) and whether it was all read."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True
        if size > limit:
            return b"".join(chunks), False


def replay(body: bytes, complete: bool, receive: Receive) -> Receive:
    """A receive that hands out what was read, then (if more was coming) the rest from `receive`."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": not complete}
        return await receive()

    return again


class PredictFastPath:
    """ASGI: POST /v1/models/{model}/predict with a plain body -> `handler` (wrapped in telemetry);
    everything else -> `app` (FastAPI)."""

    def __init__(self, app: ASGIApp, handler: ASGIApp, route: Any, max_rows: int, max_features: int) -> None:
        self.app, self.handler, self.route = app, handler, route
        self.max_rows, self.max_features = max_rows, max_features

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = PATH.fullmatch(scope.get("path", "")) if scope["type"] == "http" and scope["method"] == "POST" else None
        headers = plain_headers(scope) if match is not None else None
        if match is None or headers is None:
            await self.app(scope, receive, send)
            return
        body, complete = await read_body(receive, MAX_BODY)
        inputs = parse_inputs(body, self.max_rows, self.max_features) if complete else None
        if inputs is None:
            await self.app(scope, replay(body, complete, receive), send)
            return
        scope["route"] = self.route  # the route template labels the RED metrics and names the server span
        scope["chaosctl.predict"] = FastRequest(match.group(1), inputs, *headers)
        await self.handler(scope, receive, send)


async def send_json(send: Send, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
