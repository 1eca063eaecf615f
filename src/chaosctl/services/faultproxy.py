"""The HTTP fault proxy chaosctl runs on a System link for request-scoped faults.

`python -m chaosctl.services.faultproxy --port P --upstream http://HOST:PORT --rules FILE`
serves on 127.0.0.1:P only (uvicorn + Starlette parse HTTP; httpx forwards), applies
the rules of FILE (a 0600 JSON list of `services.request_faults.Rule`) with the same
matching as the reference stack, and passes every other request through to the
upstream unchanged (method, path, query, headers but hop-by-hop ones, body; the answer's
raw bytes, so a compressed body stays compressed). The link's Toxiproxy proxy is
pointed at it while the fault is in (faults/httpproxy.py).

What a rule can match on a user's service: the path and headers always; the model from
`/v1/models/{model}/...` or `/v2/models/{model}/...`; the version from `X-Model-Version`,
a `/versions/{v}/` path segment (KServe v2), or a top-level `"version"` in a JSON body.

`GET /__chaosctl__/request-faults` (header `X-Admin-Token`: the install's admin token,
from CHAOSCTL_ADMIN_TOKEN; 401 without) answers the active rules and how many requests
each version and action had faulted: what `verify()` reads back.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from chaosctl.services.request_faults import RequestAborted, RequestFacts, RequestFaults, Rule

ADMIN_PATH = "/__chaosctl__/request-faults"
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "transfer-encoding", "upgrade", "proxy-connection"})  # fmt: skip
MAX_JSON_PEEK = 1 << 20  # a version in a body larger than this is not looked for
_MODEL = re.compile(r"^/v\d+/models/([^/]+)")
_VERSION = re.compile(r"/versions/([^/]+)")


def load_rules(path: Path) -> list[Rule]:
    raw = json.loads(path.read_text())
    if not isinstance(raw, list):
        raise ValueError(f"{path}: a JSON list of rules expected")
    return [Rule.model_validate(r) for r in raw]


def model_and_version(path: str, headers: Mapping[str, str], body: bytes) -> tuple[str | None, str | None]:
    model = _MODEL.match(path)
    version = headers.get("x-model-version") or (m.group(1) if (m := _VERSION.search(path)) else None)
    if version is None and body and len(body) <= MAX_JSON_PEEK and "json" in headers.get("content-type", ""):
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("version"), str):
            version = data["version"]
    return (model.group(1) if model else None), version


def _forwarded(headers: Any) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers.items() if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"]


def create_app(upstream: str, rules: list[Rule], admin_token: str, faults: RequestFaults | None = None,
               transport: httpx.AsyncBaseTransport | None = None) -> Any:
    """The proxy app; `faults` (seeded rng) and `transport` (a fake upstream) are for tests."""
    from prometheus_client import CollectorRegistry
    from starlette.applications import Starlette
    from starlette.routing import Route

    faults = faults or RequestFaults(CollectorRegistry())
    for rule in rules:
        faults.book.put(rule)
    client = httpx.AsyncClient(base_url=upstream.rstrip("/"), timeout=httpx.Timeout(60.0, connect=5.0), transport=transport)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await client.aclose()

    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    routes = [Route(ADMIN_PATH, _admin(faults, admin_token), methods=["GET"]),
              Route("/{path:path}", _forward(faults, client, upstream), methods=methods)]  # fmt: skip
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.faults = faults
    return app


def _admin(faults: RequestFaults, admin_token: str) -> Any:
    """The read-back `verify()` uses: the active rules and the faulted counts (admin token, else 401)."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    from chaosctl.services.credential import matches

    async def admin(request: Request) -> JSONResponse:
        if not matches(request.headers.get("x-admin-token"), admin_token):
            return JSONResponse({"detail": "admin token missing or wrong (header X-Admin-Token)"}, status_code=401)
        counts = [{**s.labels, "count": s.value} for m in faults.counter.collect() for s in m.samples
                  if s.name.endswith("_total")]  # fmt: skip
        return JSONResponse({"rules": [r.model_dump() for r in faults.book.rules()], "faulted": counts})

    return admin


def _forward(faults: RequestFaults, client: httpx.AsyncClient, upstream: str) -> Any:
    """Every other request: the rules first (abort or delay), then on to the upstream, raw bytes back."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse

    async def forward(request: Request) -> Response:
        body = await request.body()
        model, version = model_and_version(request.url.path, request.headers, body)
        try:
            await faults.apply(RequestFacts.of(request.url.path, request.headers, model, version))
        except RequestAborted as exc:
            return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=exc.headers)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        req = client.build_request(request.method, target, headers=_forwarded(request.headers), content=body)
        try:
            up = await client.send(req, stream=True)
        except httpx.HTTPError as exc:
            return JSONResponse({"detail": f"fault proxy: upstream {upstream} failed: {type(exc).__name__}"}, status_code=502)

        async def raw() -> AsyncIterator[bytes]:
            try:
                async for chunk in up.aiter_raw():
                    yield chunk
            finally:
                await up.aclose()

        answer = StreamingResponse(raw(), status_code=up.status_code)
        # Every header as sent, repeated ones (Set-Cookie) each on its own: a dict would join them.
        answer.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in up.headers.multi_items()
                              if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"]  # fmt: skip
        return answer

    return forward


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    from chaosctl.settings import load_settings

    parser = argparse.ArgumentParser(prog="python -m chaosctl.services.faultproxy")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="http://HOST:PORT the link's callee answers on")
    parser.add_argument("--rules", type=Path, required=True, help="a 0600 JSON file: a list of rules")
    args = parser.parse_args(argv)
    # The admin token arrives in the environment (never on a command line), as for every service.
    settings = load_settings(create_secrets=False)
    app = create_app(args.upstream, load_rules(args.rules), settings.admin_token)
    uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False,
                                  timeout_graceful_shutdown=2)).run()  # fmt: skip


if __name__ == "__main__":
    main()
