"""The prediction cache's Redis client: GET and SET pipelined on one connection, replies parsed by hiredis.

Why not redis-py's asyncio client: per command it takes the pool's lock twice, goes through its
retry wrapper, its timeout context and its generic reply parsing, and writes each command with
its own system call on its own connection. Socket writes are among the dearest things the
gateway does here; the cache's two commands per miss were its largest item (py-spy, 32
connections). Here every command issued in one turn of the event loop goes out in one write on
one connection, and Redis answers them in order (RESP pipelining).

Why each command is tagged: replies are matched to commands by order, and a link may drop bytes
(Toxiproxy's timeout toxic does) and then carry on. Each command goes out behind `ECHO <tag>`, and
its reply is taken only after its own tag came back. A command that timed out stays in line (its
late reply is read and dropped: the others on the connection go on, as with redis-py, where a
timeout costs only its own command); a tag that is not the one expected means the stream lost
something, and the connection is dropped (what waits on it fails: the cache then answers without
Redis, counted).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from typing import Any
from urllib.parse import urlsplit

import hiredis

from chaosctl.services.errors import ServiceConfigInvalid, ServiceError


class RedisError(ServiceError):
    """An error reply, a refused or lost connection."""


def command(*args: bytes | str) -> bytes:
    """One RESP command: an array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        raw = arg.encode() if isinstance(arg, str) else arg
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


MAX_WAITING = 4096  # commands in line on the connection; more means Redis stopped answering: reconnect
# The opening (connect + AUTH) is shared and no caller's timeout cancels it, so it needs its own
# bound: a link that swallows the AUTH reply would otherwise hold every later caller forever.
CONNECT_TIMEOUT_S = 2.0


class _Pipeline(asyncio.Protocol):
    """One connection; commands buffered within a loop turn, written together, answered in order."""

    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[tuple[bytes | None, asyncio.Future[Any]]] = deque()  # (tag, waiter), in sending order
        self.current: asyncio.Future[Any] | None = None  # whose tag came back: the next reply is its
        self.buffer: list[bytes] = []
        self.tags = itertools.count()
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            if self.current is None and self.waiting and self.waiting[0][0] is None:  # untagged (AUTH)
                self.current = self.waiting.popleft()[1]
            if self.current is not None:
                waiter, self.current = self.current, None
                if not waiter.done():  # done: timed out meanwhile, its reply goes nowhere
                    waiter.set_result(reply)
            elif self.waiting and reply == self.waiting[0][0]:
                self.current = self.waiting.popleft()[1]
            else:  # not the tag in line: refused (NOAUTH...) or something lost on the way: trust nothing here
                refused = isinstance(reply, hiredis.ReplyError)
                self.abort(RedisError(str(reply) if refused else "replies out of step with the commands"))
                return

    def connection_lost(self, exc: Exception | None) -> None:
        self.abort(RedisError(f"connection lost: {exc or 'closed by the server'}"))

    def abort(self, error: Exception) -> None:
        self.closed = True
        waiters = [w for _, w in self.waiting] + ([self.current] if self.current is not None else [])
        self.waiting, self.current, self.buffer = deque(), None, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(error)
        if self.transport is not None:
            self.transport.abort()

    def _flush(self) -> None:
        buffer, self.buffer = self.buffer, []
        if buffer and not self.closed and self.transport is not None:
            self.transport.write(b"".join(buffer))

    async def call(self, payload: bytes, tagged: bool = True) -> Any:
        """`payload`'s reply. `tagged=False` only for AUTH, the connection's first command (Redis
        refuses even ECHO before it), answered before anyone else's command is sent."""
        if self.closed:
            raise RedisError("connection closed")
        if len(self.waiting) >= MAX_WAITING:
            self.abort(RedisError(f"{MAX_WAITING} commands unanswered"))
            raise RedisError(f"{MAX_WAITING} commands unanswered")
        loop = asyncio.get_running_loop()
        waiter, tag = loop.create_future(), b"%d" % next(self.tags) if tagged else None
        if not self.buffer:
            loop.call_soon(self._flush)
        self.buffer += (command(b"ECHO", tag), payload) if tag is not None else (payload,)
        self.waiting.append((tag, waiter))
        reply = await waiter  # cancelled (timed out): it stays in line, its reply is dropped on arrival
        if isinstance(reply, hiredis.ReplyError):
            raise RedisError(str(reply))
        return reply


class LeanRedis:
    """`get`/`set`/`aclose` of the cache's `CacheClient`, for redis://host:port with a password."""

    def __init__(self, url: str, password: str | None, connect_timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        parts = urlsplit(url)
        if parts.scheme != "redis" or not parts.hostname or not parts.port:
            raise ServiceConfigInvalid(f"prediction cache url {url!r}: expected redis://host:port")
        self.host, self.port, self.password = parts.hostname, parts.port, password
        self.connect_timeout_s = connect_timeout_s
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
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                return await self._open()
        except TimeoutError:
            raise RedisError(f"connect {self.host}:{self.port}: no answer in {self.connect_timeout_s} s") from None

    async def _open(self) -> _Pipeline:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(_Pipeline, self.host, self.port)
        except OSError as exc:
            raise RedisError(f"connect {self.host}:{self.port}: {exc}") from None
        if self.password:  # before anyone else's command: the connection is handed out after it
            try:
                await conn.call(command(b"AUTH", self.password), tagged=False)
            except BaseException:
                conn.abort(RedisError("not authenticated"))
                raise
        return conn

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.abort(RedisError("client closed"))
