"""uvicorn's HTTP protocol with its writes corked: what it writes within one turn of the event loop
goes out in one system call.

Why: uvicorn writes a response's status line and headers, then its body, each with its own write
(two system calls and, on loopback, two packets for the client to wake up to). On this machine a
socket write is among the dearest things a Python service does; a response sent in one piece
costs one. Order is kept (one buffer, flushed at the end of the turn, and before a close).
Backpressure is kept too: past `CORK_BYTES` the buffer goes out at once, so the real transport
sees the bytes and its pause_writing reaches uvicorn's flow control (a streaming body written
without yielding to the loop would otherwise pile up here, unseen by it).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

CORK_BYTES = 65536  # a response larger than this gains nothing from one write


class CorkedTransport:
    """A transport whose writes within one loop turn are joined; everything else is the real one's."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport, self._loop = transport, loop
        self._buffer: list[bytes] = []
        self._size = 0

    def write(self, data: bytes) -> None:
        if not self._buffer:
            self._loop.call_soon(self.flush)
        self._buffer.append(data)
        self._size += len(data)
        if self._size >= CORK_BYTES:
            self.flush()  # the scheduled flush then finds nothing

    def flush(self) -> None:
        buffer, self._buffer, self._size = self._buffer, [], 0
        if buffer and not self._transport.is_closing():
            self._transport.write(b"".join(buffer))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:  # get_extra_info, pause_reading, is_closing, ...
        return getattr(self._transport, name)


class CorkedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through a `CorkedTransport` (uvicorn.Config(http=...))."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CorkedTransport(transport, self.loop))  # type: ignore[arg-type]
