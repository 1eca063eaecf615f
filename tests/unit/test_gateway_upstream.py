"""The predict try's own HTTP client (gateway/http_lean.py through gateway/upstream.py) against a real local server.

The other gateway unit tests hand in an httpx transport (their fake model servers); these
drive the production path: outcomes for an answer, an error status, a refused port, a server
too slow and one that hangs up mid-answer.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

from aiohttp import web

from chaosctl.services.gateway.retry import Outcome
from chaosctl.services.gateway.upstream import HttpPool, TryResult, predict_try

ANSWER = b'{"model": "m", "version": "1", "device": "gpu", "server": "s", "outputs": [1], "confidence": 0.9}'
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _try(handler: Handler | None, timeout: float = 1.0, tries: int = 1) -> tuple[list[TryResult], list[dict[str, str]]]:
    """`tries` predict tries through one pool against a server answering with `handler`
    (None: nothing listens); the results and the headers the server saw."""
    seen: list[dict[str, str]] = []

    async def run() -> list[TryResult]:
        port = _free_port()
        runner = None
        if handler is not None:

            async def record(request: web.Request) -> web.StreamResponse:
                seen.append({**request.headers, "body": (await request.read()).decode()})
                return await handler(request)

            app = web.Application()
            app.router.add_post("/v1/models/m/predict", record)
            runner = web.AppRunner(app)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
        pool = HttpPool(None, timeout)
        try:
            url = f"http://127.0.0.1:{port}/v1/models/m/predict"
            return [await predict_try(pool, "s", url, {"inputs": [[0.5]]}, {"traceparent": "00-x"}, timeout)
                    for _ in range(tries)]  # fmt: skip
        finally:
            await pool.aclose()
            if runner is not None:
                await runner.cleanup()

    return asyncio.run(run()), seen


async def _ok(_request: web.Request) -> web.Response:
    return web.Response(body=ANSWER, content_type="application/json")


def test_an_answer_is_parsed_and_the_connection_kept_for_the_next_try() -> None:
    results, seen = _try(_ok, tries=3)
    assert [r.outcome for r in results] == [Outcome.OK] * 3
    assert results[0].body is not None and results[0].body.server == "s" and results[0].status == 200
    assert seen[0]["body"] == '{"inputs":[[0.5]]}'
    assert seen[0]["Content-Type"] == "application/json" and seen[0]["traceparent"] == "00-x"
    assert "User-Agent" not in seen[0]


def test_an_error_status_keeps_the_servers_detail() -> None:
    async def refuse(_request: web.Request) -> web.Response:
        return web.json_response({"detail": "no such version"}, status=404)

    (result,), _ = _try(refuse)
    assert (result.outcome, result.status, result.detail) == (Outcome.CLIENT_ERROR, 404, "s: HTTP 404: no such version")


def test_a_malformed_answer_is_a_server_error() -> None:
    async def garbled(_request: web.Request) -> web.Response:
        return web.Response(body=b"<html>", content_type="text/html")

    (result,), _ = _try(garbled)
    assert (result.outcome, result.detail) == (Outcome.SERVER_ERROR, "s: malformed prediction")


def test_a_refused_port_is_a_connect_error() -> None:
    (result,), _ = _try(None)
    assert result.outcome is Outcome.CONNECT_ERROR and result.detail.startswith("s: ConnectError")


def test_a_slow_server_times_out_within_the_try() -> None:
    async def slow(_request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return await _ok(_request)

    (result,), _ = _try(slow, timeout=0.2)
    assert (result.outcome, result.detail) == (Outcome.TIMEOUT, "s: no answer within 0.2s")


def test_a_server_hanging_up_mid_answer_is_a_connect_error() -> None:
    async def hang_up(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Length": "1000", "Content-Type": "application/json"})
        await resp.prepare(request)
        await resp.write(b'{"model": ')
        assert request.transport is not None
        request.transport.close()
        return resp

    (result,), _ = _try(hang_up)
    assert result.outcome is Outcome.CONNECT_ERROR, result
