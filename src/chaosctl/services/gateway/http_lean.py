"""The predict try's HTTP/1.1 client: keep-alive connections on asyncio protocols, answers parsed by httptools.

Why not aiohttp (used here before): per POST its session, connector, request/response objects,
payload writer and stream reader cost ~0.3 ms of the gateway's CPU (py-spy, 1 connection); the
predict try needs none of their generality: one POST with a small JSON body, a small answer with
a Content-Length (or chunked), keep-alive. Here a request is one write of preformatted bytes and
the answer is collected by httptools' C parser (the one uvicorn serves with) straight into a future.

Kept from the aiohttp client: a bound on open connections (`limit`, callers beyond it wait), idle
connections not reused past `keepalive_s` (below uvicorn's 5 s keep-alive, so no POST is sent on a
connection the server is closing), nor once the server closed its end (its FIN read), every target's
stale idle connections swept (as aiohttp's cleanup timer), no User-Agent/Accept-Encoding. The caller bounds the whole try
(asyncio.timeout); a try cancelled mid-answer drops its connection (its late answer would otherwise
be read as the next request's). Every failure to get a whole answer is `HttpFailed`, named:
ConnectError (refused, unreachable), ServerDisconnected (closed before the whole answer),
ProtocolError (not HTTP/1.1 as expected). An answer without Content-Length or chunked framing
(its body ended by the server closing) is not taken: uvicorn, the model servers' server, always frames.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

import httptools


class HttpFailed(Exception):
    """No whole answer: the connection was refused, lost, or spoke something else."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request at a time, its answer parsed as it arrives."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.body: list[bytes] = []
        self.closed = False
        self.idle_since = 0.0

    # -- asyncio.Protocol -------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.fail(HttpFailed(f"ProtocolError: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(HttpFailed(f"ServerDisconnected: {exc or 'closed by the server'}"))

    # -- httptools callbacks ----------------------------------------------------

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        waiter, self.waiter = self.waiter, None
        answer = (self.parser.get_status_code(), b"".join(self.body))
        self.body = []
        if waiter is None or not self.parser.should_keep_alive():
            self.close()  # an answer nobody asked for, or the server's last one on this connection
        if waiter is not None and not waiter.done():
            waiter.set_result(answer)

    # -- ours -----------------------------------------------------------------

    def request(self, payload: bytes) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None and self.waiter is None
        if self.closed or self.transport.is_closing():  # lost: the write would be dropped (uvloop: raise)
            raise HttpFailed("ServerDisconnected: closed before the request was sent")
        waiter = self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        return waiter

    def fail(self, error: HttpFailed) -> None:
        waiter, self.waiter = self.waiter, None
        self.close()
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.abort()


def _gone(conn: _Connection) -> bool:
    """Lost, or being lost: between the server's FIN (or a reset) and `connection_lost` (a loop pass
    later) the transport is already closing while `closed` is not yet set; a request written then is lost."""
    return conn.closed or conn.transport is None or conn.transport.is_closing()


class _Target:
    """Host, port and the request's first lines for one URL (parsed once, reused)."""

    __slots__ = ("host", "port", "head")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream url {url!r}: expected http://host[:port]/path")
        self.host, self.port = parts.hostname, parts.port or 80
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.head = f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n".encode("latin-1")


def _headers(headers: Mapping[str, str]) -> bytes:
    lines = []
    for name, value in headers.items():
        line = f"{name}: {value}\r\n"
        if line.count("\n") != 1 or "\r" in line[:-2]:  # a header must not smuggle another one in
            raise ValueError(f"header {name!r}: line breaks are not allowed")
        lines.append(line)
    return "".join(lines).encode("latin-1")


class LeanHttp:
    """POSTs over pooled keep-alive connections (made in the running loop, on first use)."""

    def __init__(self, limit: int, keepalive_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.keepalive_s, self.clock = limit, keepalive_s, clock
        self._idle: dict[tuple[str, int], list[_Connection]] = {}  # oldest first
        self._targets: dict[str, _Target] = {}
        self._slots: asyncio.Semaphore | None = None
        self._open: set[_Connection] = set()
        self._next_sweep = 0.0  # clock time of the next sweep of every target's idle connections

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        """(status, body) of a POST of `body` to `url`; HttpFailed when no whole answer came."""
        target = self._targets.get(url)
        if target is None:
            target = self._targets[url] = _Target(url)
        payload = b"%s%sContent-Length: %d\r\n\r\n%s" % (target.head, _headers(headers), len(body), body)
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limit)
        async with self._slots:
            conn = self._reuse(target) or await self._connect(target)
            try:
                answer = await conn.request(payload)
            except BaseException:  # failed, or cancelled mid-answer: the connection is not reused
                conn.close()
                self._open.discard(conn)
                raise
            if conn.closed:
                self._open.discard(conn)
            else:
                conn.idle_since = now = self.clock()
                self._idle.setdefault((target.host, target.port), []).append(conn)
                if now >= self._next_sweep:
                    self._sweep(now)
            return answer

    def _reuse(self, target: _Target) -> _Connection | None:
        """The most recently used idle connection still open and fresh; stale ones are closed."""
        idle = self._idle.get((target.host, target.port))
        if not idle:
            return None
        oldest = self.clock() - self.keepalive_s
        while idle and idle[0].idle_since < oldest:
            self._drop(idle.pop(0))
        while idle:
            conn = idle.pop()
            if not (conn.closed or conn.transport.is_closing()):  # _gone, inline: once per request
                return conn
            self._drop(conn)
        return None

    def _sweep(self, now: float) -> None:
        """Drop every target's lost and stale idle connections (and the lists left empty): `_reuse` prunes
        only the target asked, so a server no longer asked (scaled down, its region removed) would keep
        its connections' objects until `aclose`. At most once per `keepalive_s`, from `post` (no timer
        task to own): a connection idle that long is never reused anyway, so none is kept past twice that."""
        self._next_sweep = now + self.keepalive_s
        oldest = now - self.keepalive_s
        for key, idle in list(self._idle.items()):
            kept = []
            for conn in idle:
                if _gone(conn) or conn.idle_since < oldest:
                    self._drop(conn)
                else:
                    kept.append(conn)
            if kept:
                self._idle[key] = kept
            else:
                del self._idle[key]

    def _drop(self, conn: _Connection) -> None:
        conn.close()
        self._open.discard(conn)

    async def _connect(self, target: _Target) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(_Connection, target.host, target.port)
        except OSError as exc:
            raise HttpFailed(f"ConnectError: connect {target.host}:{target.port}: {exc}") from None
        self._open.add(conn)
        return conn

    async def aclose(self) -> None:
        for conn in list(self._open):
            conn.close()
        self._open.clear()
        self._idle.clear()
        self._slots = None  # a semaphore binds to the loop it first waits in: a new one for the next
