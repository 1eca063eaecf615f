"""The prediction cache's Redis client: GET and SET over pooled connections, replies parsed by hiredis.

Why not redis-py's asyncio client: per command it takes the pool's lock twice, goes through its
retry wrapper, its timeout context and its generic reply parsing; at 32 connections the two
commands of a cache miss cost ~13 % of the gateway's CPU (py-spy). This client does the same
protocol work (RESP out, hiredis in) with one command per connection at a time, as redis-py
does: a connection whose command was cancelled (the cache's timeout) is aborted, never reused,
so a late reply can never be read as the answer to another command.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import hiredis


class RedisError(Exception):
    """An error reply, a refused or lost connection, or a full pool."""


def command(*args: bytes | str) -> bytes:
    """One RESP command: an array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        raw = arg.encode() if isinstance(arg, str) else arg
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


class _Connection(asyncio.Protocol):
    """One connection, one command in flight."""

    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[Any] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            waiter, self.waiter = self.waiter, None
            if waiter is None or waiter.done():  # a reply nobody asked for: the stream cannot be trusted
                self.abort()
                return
            waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(RedisError(f"connection lost: {exc or 'closed by the server'}"))

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    async def call(self, payload: bytes) -> Any:
        if self.closed or self.transport is None:
            raise RedisError("connection closed")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        try:
            reply = await self.waiter
        except asyncio.CancelledError:  # timed out: the reply may still come, on no one's behalf
            self.abort()
            raise
        if isinstance(reply, hiredis.ReplyError):
            raise RedisError(str(reply))
        return reply


class LeanRedis:
    """`get`/`set`/`aclose` of the cache's `CacheClient`, for redis://host:port with a password."""

    def __init__(self, url: str, password: str | None, max_connections: int = 64) -> None:
        parts = urlsplit(url)
        if parts.scheme != "redis" or not parts.hostname or not parts.port:
            raise ValueError(f"prediction cache url {url!r}: expected redis://host:port")
        self.host, self.port, self.password = parts.hostname, parts.port, password
        self.max_connections = max_connections
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()  # idle or busy

    async def get(self, name: str) -> bytes | None:
        return await self._call(command(b"GET", name))  # type: ignore[no-any-return]

    async def set(self, name: str, value: bytes, px: int | None = None) -> Any:
        return await self._call(command(b"SET", name, value, *((b"PX", str(px)) if px is not None else ())))

    async def _call(self, payload: bytes) -> Any:
        conn = await self._acquire()
        try:
            reply = await conn.call(payload)
        except BaseException:
            conn.abort()
            self._open.discard(conn)
            raise
        self._idle.append(conn)
        return reply

    async def _acquire(self) -> _Connection:
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn
            self._open.discard(conn)
        if len(self._open) >= self.max_connections:
            raise RedisError(f"all {self.max_connections} connections busy")
        conn = await self._connect()
        self._open.add(conn)
        return conn

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(_Connection, self.host, self.port)
        except OSError as exc:
            raise RedisError(f"connect {self.host}:{self.port}: {exc}") from None
        if self.password:
            try:
                await conn.call(command(b"AUTH", self.password))
            except BaseException:
                conn.abort()
                raise
        return conn

    async def aclose(self) -> None:
        conns, self._idle, self._open = self._open, [], set()
        for conn in conns:
            conn.abort()
