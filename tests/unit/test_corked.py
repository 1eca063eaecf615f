"""The corked transport: writes of one loop turn leave in one write, in order; close flushes first."""

from __future__ import annotations

import asyncio

from chaosctl.services.corked import CORK_BYTES, CorkedHttpToolsProtocol, CorkedTransport


class FakeTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "write after close"
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str) -> object:
        return ("127.0.0.1", 1234) if name == "peername" else None


def test_writes_of_one_turn_leave_together_and_in_order() -> None:
    async def t() -> None:
        fake = FakeTransport()
        corked = CorkedTransport(fake, asyncio.get_running_loop())  # type: ignore[arg-type]
        corked.write(b"HTTP/1.1 200 OK\r\n\r\n")
        corked.write(b"body")
        assert fake.writes == []  # not yet: the turn is not over
        await asyncio.sleep(0)
        assert fake.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
        corked.write(b"next")
        await asyncio.sleep(0)
        assert fake.writes[1:] == [b"next"]

    asyncio.run(t())


def test_a_large_write_leaves_at_once_so_the_real_transport_can_push_back() -> None:
    async def t() -> None:
        fake = FakeTransport()
        corked = CorkedTransport(fake, asyncio.get_running_loop())  # type: ignore[arg-type]
        corked.write(b"head")
        corked.write(b"x" * CORK_BYTES)
        assert fake.writes == [b"head" + b"x" * CORK_BYTES]  # in this turn: its pause_writing can reach uvicorn
        corked.write(b"tail")
        await asyncio.sleep(0)
        assert fake.writes[1:] == [b"tail"]

    asyncio.run(t())


def test_close_flushes_first_and_the_rest_is_the_real_transport() -> None:
    async def t() -> None:
        fake = FakeTransport()
        corked = CorkedTransport(fake, asyncio.get_running_loop())  # type: ignore[arg-type]
        corked.write(b"last words")
        corked.close()
        await asyncio.sleep(0)  # the scheduled flush finds nothing left
        assert fake.writes == [b"last words"] and fake.closed and corked.is_closing()
        assert corked.get_extra_info("peername") == ("127.0.0.1", 1234)

    asyncio.run(t())


def test_the_protocol_writes_a_whole_response_in_one_write() -> None:
    """uvicorn's own protocol, corked: the status line, headers and body of a response in one write."""
    from uvicorn.config import Config
    from uvicorn.server import ServerState

    async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b"ok"})  # type: ignore[operator]

    async def t() -> None:
        config = Config(app, http=CorkedHttpToolsProtocol, lifespan="off")
        config.load()
        protocol = CorkedHttpToolsProtocol(config=config, server_state=ServerState(), app_state={})
        fake = FakeTransport()
        protocol.connection_made(fake)  # type: ignore[arg-type]
        protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        for _ in range(5):
            await asyncio.sleep(0)
        assert len(fake.writes) == 1 and fake.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
        assert fake.writes[0].endswith(b"\r\n\r\nok")

    asyncio.run(t())
