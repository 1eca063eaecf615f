"""The gateway's lean HTTP/1.1 client (gateway/http_lean.py) against a raw local HTTP server.

The server is a few lines of asyncio streams, so each test says exactly what goes over the
wire: keep-alive reuse, staleness, chunked answers, a server's last answer, a cancelled try.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from chaosctl.services.gateway.http_lean import HttpFailed, LeanHttp, _Connection

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n{}"
Reply = Callable[[int, bytes], Awaitable[bytes | None]]  # (request number, request) -> answer (None: hang up)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def _serve(reply: Reply) -> tuple[asyncio.Server, int, list[int], list[bytes]]:
    """A server answering each request by `reply`; the peer port of each request and the requests."""
    peers: list[int] = []
    requests: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(next(l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")).split(b":")[1])
                request = head + await reader.readexactly(length)
                peers.append(writer.get_extra_info("peername")[1])
                requests.append(request)
                answer = await reply(len(requests), request)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], peers, requests


async def _ok(_n: int, _request: bytes) -> bytes:
    return OK


def _run(reply: Reply, body: Callable[[LeanHttp, str], Awaitable[object]], clock: Clock | None = None,
         limit: int = 8) -> tuple[object, list[int], list[bytes]]:  # fmt: skip
    async def main() -> tuple[object, list[int], list[bytes]]:
        server, port, peers, requests = await _serve(reply)
        client = LeanHttp(limit, 3.0, clock or Clock())
        try:
            return await body(client, f"http://127.0.0.1:{port}/v1/models/m/predict"), peers, requests
        finally:
            await client.aclose()
            server.close()

    return asyncio.run(main())


def test_one_connection_is_kept_alive_and_the_request_is_one_plain_post() -> None:
    async def three(client: LeanHttp, url: str) -> object:
        return [await client.post(url, b'{"a":1}', {"traceparent": "00-x", "content-type": "application/json"})
                for _ in range(3)]  # fmt: skip

    answers, peers, requests = _run(_ok, three)
    assert answers == [(200, b"{}")] * 3
    assert len(set(peers)) == 1
    head, _, body = requests[0].partition(b"\r\n\r\n")
    assert body == b'{"a":1}'
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /v1/models/m/predict HTTP/1.1"
    assert b"traceparent: 00-x" in lines and b"content-type: application/json" in lines and b"content-length: 7" in [
        l.lower() for l in lines]  # fmt: skip
    assert not any(l.lower().startswith((b"user-agent", b"accept-encoding")) for l in lines)


def test_an_idle_connection_past_the_keepalive_is_not_reused() -> None:
    clock = Clock()

    async def spaced(client: LeanHttp, url: str) -> object:
        await client.post(url, b"{}", {})
        clock.now += 2.9
        await client.post(url, b"{}", {})
        clock.now += 3.1
        return await client.post(url, b"{}", {})

    _, peers, _ = _run(_ok, spaced, clock)
    assert peers[0] == peers[1] != peers[2]


def test_a_chunked_answer_is_joined() -> None:
    async def chunked(_n: int, _request: bytes) -> bytes:
        return b"HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"

    async def one(client: LeanHttp, url: str) -> object:
        return await client.post(url, b"{}", {})

    assert _run(chunked, one)[0] == (201, b"abcde")


def test_the_servers_last_answer_closes_the_connection_and_the_next_try_opens_one() -> None:
    async def closing(n: int, _request: bytes) -> bytes | None:
        return b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}" if n == 1 else OK

    async def two(client: LeanHttp, url: str) -> object:
        return [await client.post(url, b"{}", {}) for _ in range(2)]

    answers, peers, _ = _run(closing, two)
    assert answers == [(200, b"{}")] * 2 and peers[0] != peers[1]


def test_a_hang_up_mid_answer_fails_and_a_refused_port_is_a_connect_error() -> None:
    async def lost(client: LeanHttp, url: str) -> object:
        with pytest.raises(HttpFailed, match="ServerDisconnected"):
            async with asyncio.timeout(2):
                await client.post(url, b"{}", {})
        return True

    async def hang_up(_n: int, _request: bytes) -> bytes | None:
        return None  # closes the connection without an answer

    assert _run(hang_up, lost)[0] is True

    async def refused(client: LeanHttp, url: str) -> object:
        with pytest.raises(HttpFailed, match=r"^ConnectError: connect 127\.0\.0\.1:1: "):
            await client.post("http://127.0.0.1:1/x", b"{}", {})
        return True

    assert _run(_ok, refused)[0] is True


def test_a_try_cancelled_mid_answer_drops_its_connection() -> None:
    async def slow_first(n: int, _request: bytes) -> bytes:
        if n == 1:
            await asyncio.sleep(0.3)  # answers late: the answer must not be taken as the next try's
            return b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\n\"late\""
        return OK

    async def cancel_then_retry(client: LeanHttp, url: str) -> object:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await client.post(url, b"{}", {})
        return await client.post(url, b"{}", {})

    answer, peers, _ = _run(slow_first, cancel_then_retry)
    assert answer == (200, b"{}") and peers[0] != peers[1]


def test_callers_beyond_the_limit_wait_for_a_connection() -> None:
    async def many(client: LeanHttp, url: str) -> object:
        return await asyncio.gather(*(client.post(url, b"{}", {}) for _ in range(5)))

    answers, peers, _ = _run(_ok, many, limit=2)
    assert answers == [(200, b"{}")] * 5 and len(set(peers)) <= 2


def test_a_line_break_in_a_header_is_refused_and_a_garbled_answer_is_a_protocol_error() -> None:
    async def garbled(_n: int, _request: bytes) -> bytes:
        return b"SPDY/9 nonsense\r\n\r\n"

    async def both(client: LeanHttp, url: str) -> object:
        with pytest.raises(ValueError, match="line breaks"):
            await client.post(url, b"{}", {"x-a": "1\r\nx-b: 2"})
        with pytest.raises(HttpFailed, match="^ProtocolError"):
            await client.post(url, b"{}", {})
        return True

    assert _run(garbled, both)[0] is True


def test_a_request_on_a_connection_already_lost_fails_at_once() -> None:
    """(HR8's test) Not a silent wait for the try's timeout (asyncio drops the write) nor uvloop's RuntimeError."""

    async def main() -> None:
        async def hang_up(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            w.close()

        server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _, conn = await asyncio.get_running_loop().create_connection(_Connection, "127.0.0.1", port)
        async with asyncio.timeout(2):
            while not conn.closed:
                await asyncio.sleep(0.005)
        with pytest.raises(HttpFailed, match="^ServerDisconnected"):
            async with asyncio.timeout(2):
                await conn.request(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        server.close()

    asyncio.run(main())


async def _answer_once_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One answer framed for keep-alive, then a FIN (a server closing its idle connections)."""
    await reader.readuntil(b"\r\n\r\n")
    await reader.readexactly(2)
    writer.write(OK)
    await writer.drain()
    writer.close()


def test_a_connection_the_server_is_closing_is_not_reused() -> None:
    """Between the FIN read (transport closing) and connection_lost (a loop pass later) the idle
    connection is not taken: the POST goes out on a new one instead of failing."""

    async def main() -> None:
        server = await asyncio.start_server(_answer_once_then_close, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}/p"
        client = LeanHttp(8, 3.0, Clock())
        try:
            assert await client.post(url, b"{}", {}) == (200, b"{}")
            (conn,) = client._idle[("127.0.0.1", port)]
            deadline = asyncio.get_running_loop().time() + 2
            while not conn.transport.is_closing():  # one loop pass at a time: stop inside the window
                assert asyncio.get_running_loop().time() < deadline, "the server's FIN never came"
                await asyncio.sleep(0)
            assert not conn.closed  # connection_lost not yet run: the window this test is about
            assert await client.post(url, b"{}", {}) == (200, b"{}")
        finally:
            await client.aclose()
            server.close()

    asyncio.run(main())


def test_idle_connections_of_a_target_no_longer_asked_are_closed_and_forgotten() -> None:
    clock = Clock()

    async def main() -> None:
        lost = asyncio.Event()

        async def a_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(2)
            writer.write(OK)
            await writer.drain()
            await reader.read()  # b"" once the client closes its end
            lost.set()
            writer.close()

        a = await asyncio.start_server(a_handler, "127.0.0.1", 0)
        b, b_port, _, _ = await _serve(_ok)
        a_port = a.sockets[0].getsockname()[1]
        client = LeanHttp(8, 3.0, clock)
        try:
            await client.post(f"http://127.0.0.1:{a_port}/p", b"{}", {})
            clock.now += 1.0
            await client.post(f"http://127.0.0.1:{b_port}/p", b"{}", {})
            assert not lost.is_set()  # still fresh: kept for reuse
            clock.now += 2.5  # A's connection is now past the keep-alive; only B is asked
            await client.post(f"http://127.0.0.1:{b_port}/p", b"{}", {})
            async with asyncio.timeout(2):
                await lost.wait()
            assert list(client._idle) == [("127.0.0.1", b_port)] and len(client._open) == 1
        finally:
            await client.aclose()
            a.close()
            b.close()

    asyncio.run(main())
