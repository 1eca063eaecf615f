"""The prediction cache's Redis client: GET and SET pipelined on one connection, replies parsed by hiredis.

Why not redis-py's asyncio client: per command it takes the pool's lock twice, goes through its
retry wrapper, its timeout context and its generic reply parsing, and writes each command with
its own system call on its own connection. On this machine a socket write is the dearest thing
the gateway does (py-spy: one write to Redis's link ~7 % of the gateway's samples at 32
connections). Here every command issued in one turn of the event loop goes out in one write on
one connection, and Redis answers them in order (RESP pipelining).

Safety of the shared stream: replies are matched to commands by order only, so the connection is
dropped (every command still waiting on it fails, and is retried by nobody: the cache is then a
miss or a bypass, as for a dead Redis) whenever that order could be broken: a command cancelled
(the cache's timeout: its reply may never come if a link dropped it), a reply nobody asked for,
an error of the connection.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any
from urllib.parse import urlsplit

import hiredis


class RedisError(Exception):
    """An error reply, a refused or lost connection."""


def command(*args: bytes | str) -> bytes:
    """One RESP command: an array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        raw = arg.encode() if isinstance(arg, str) else arg
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


class _Pipeline(asyncio.Protocol):
    """One connection; commands buffered within a loop turn, written together, answered in order."""

    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.buffer: list[bytes] = []
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            if not self.waiting:  # a reply nobody asked for: the stream cannot be trusted
                self.abort(RedisError("unexpected reply"))
                return
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.abort(RedisError(f"connection lost: {exc or 'closed by the server'}"))

    def abort(self, error: Exception) -> None:
        self.closed = True
        waiting, self.waiting, self.buffer = self.waiting, deque(), []
        for waiter in waiting:
            if not waiter.done():
                waiter.set_exception(error)
                waiter.exception()  # retrieved: a waiter cancelled meanwhile must not log "never retrieved"
        if self.transport is not None:
            self.transport.abort()

    def _flush(self) -> None:
        buffer, self.buffer = self.buffer, []
        if buffer and not self.closed and self.transport is not None:
            self.transport.write(b"".join(buffer))

    async def call(self, payload: bytes) -> Any:
        if self.closed:
            raise RedisError("connection closed")
        waiter = asyncio.get_running_loop().create_future()
        if not self.buffer:
            asyncio.get_running_loop().call_soon(self._flush)
        self.buffer.append(payload)
        self.waiting.append(waiter)
        try:
            reply = await waiter
        except asyncio.CancelledError:  # timed out: its reply may never come, and order is all we match by
            self.abort(RedisError("a command on this connection was cancelled"))
            raise
        if isinstance(reply, hiredis.ReplyError):
            raise RedisError(str(reply))
        return reply


class LeanRedis:
    """`get`/`set`/`aclose` of the cache's `CacheClient`, for redis://host:port with a password."""

    def __init__(self, url: str, password: str | None) -> None:
        parts = urlsplit(url)
        if parts.scheme != "redis" or not parts.hostname or not parts.port:
            raise ValueError(f"prediction cache url {url!r}: expected redis://host:port")
        self.host, self.port, self.password = parts.hostname, parts.port, password
        self._conn: _Pipeline | None = None
        self._connecting: asyncio.Future[_Pipeline] | None = None

    async def get(self, name: str) -> bytes | None:
        return await self._call(command(b"GET", name))  # type: ignore[no-any-return]

    async def set(self, name: str, value: bytes, px: int | None = None) -> Any:
        return await self._call(command(b"SET", name, value, *((b"PX", str(px)) if px is not None else ())))

    async def _call(self, payload: bytes) -> Any:
        conn = self._conn
        if conn is None or conn.closed:
            conn = await self._connection()
        return await conn.call(payload)

    async def _connection(self) -> _Pipeline:
        """The live connection, opened once for every caller that needs it meanwhile (a caller's
        timeout does not cancel the opening others wait for)."""
        if self._connecting is None:
            connecting = self._connecting = asyncio.ensure_future(self._connect())

            def opened(task: asyncio.Future[_Pipeline]) -> None:
                if self._connecting is task:
                    self._connecting = None
                if not task.cancelled() and task.exception() is None:  # retrieved: no "never retrieved" log
                    self._conn = task.result()

            connecting.add_done_callback(opened)
        return await asyncio.shield(self._connecting)

    async def _connect(self) -> _Pipeline:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(_Pipeline, self.host, self.port)
        except OSError as exc:
            raise RedisError(f"connect {self.host}:{self.port}: {exc}") from None
        if self.password:  # before anyone else's command: the connection is handed out after it
            try:
                await conn.call(command(b"AUTH", self.password))
            except BaseException:
                conn.abort(RedisError("not authenticated"))
                raise
        return conn

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.abort(RedisError("client closed"))
