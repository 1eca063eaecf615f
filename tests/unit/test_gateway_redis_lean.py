"""The prediction cache's lean Redis client against a small in-process RESP server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import hiredis
import pytest

from chaosctl.services.gateway.prediction_cache import PredictionCache, PredictionCacheConfig
from chaosctl.services.gateway.redis_lean import LeanRedis, RedisError, command
from chaosctl.services.telemetry import Telemetry


class FakeRedis:
    """GET / SET [PX] / AUTH; `delay` holds replies to keys listed in it; `seen` logs commands."""

    def __init__(self, password: str | None = None) -> None:
        self.password, self.data, self.seen = password, {}, []  # type: ignore[var-annotated]
        self.delay: dict[bytes, asyncio.Event] = {}
        self.connections = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        parser, authed = hiredis.Reader(), self.password is None
        while data := await reader.read(65536):
            parser.feed(data)
            while (cmd := parser.gets()) is not False:
                self.seen.append(cmd)
                name = cmd[0].upper()
                if name == b"AUTH":
                    authed = cmd[1].decode() == self.password
                    writer.write(b"+OK\r\n" if authed else b"-WRONGPASS bad password\r\n")
                elif not authed:
                    writer.write(b"-NOAUTH Authentication required.\r\n")
                elif name == b"GET":
                    if cmd[1] in self.delay:
                        await self.delay[cmd[1]].wait()
                    value = self.data.get(cmd[1])
                    writer.write(b"$-1\r\n" if value is None else b"$%d\r\n%s\r\n" % (len(value), value))
                else:
                    self.data[cmd[1]] = cmd[2]
                    writer.write(b"+OK\r\n")
        writer.close()


@asynccontextmanager
async def fake(password: str | None = None) -> AsyncIterator[tuple[FakeRedis, str]]:
    redis = FakeRedis(password)
    server = await asyncio.start_server(redis.serve, "127.0.0.1", 0)
    try:
        yield redis, f"redis://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()


def run(test: Callable[[], object]) -> None:
    asyncio.run(test())  # type: ignore[arg-type]


def test_resp_command_is_an_array_of_bulk_strings() -> None:
    assert command(b"SET", "k", b"a\r\nb", "PX") == b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n$2\r\nPX\r\n"


def test_set_get_and_missing_key_with_auth_and_connection_reuse() -> None:
    async def t() -> None:
        async with fake("s3cret") as (redis, url):
            client = LeanRedis(url, "s3cret")
            assert await client.set("k", b"v\r\n1", px=60000) == b"OK"
            assert await client.get("k") == b"v\r\n1" and await client.get("nope") is None
            assert redis.seen[1] == [b"SET", b"k", b"v\r\n1", b"PX", b"60000"] and redis.connections == 1
            assert await asyncio.gather(*(client.get("k") for _ in range(20))) == [b"v\r\n1"] * 20
            await client.aclose()

    run(t)


def test_wrong_password_and_refused_connection_raise() -> None:
    async def t() -> None:
        async with fake("s3cret") as (_redis, url):
            with pytest.raises(RedisError, match="WRONGPASS"):
                await LeanRedis(url, "nope").get("k")
            with pytest.raises(RedisError, match="NOAUTH"):
                await LeanRedis(url, None).get("k")
        with pytest.raises(RedisError, match="connect"):
            await LeanRedis("redis://127.0.0.1:1", None).get("k")

    run(t)


def test_a_timed_out_call_drops_its_connection_so_a_late_reply_reaches_nobody() -> None:
    async def t() -> None:
        async with fake() as (redis, url):
            redis.data[b"slow"], redis.data[b"fast"] = b"SLOW", b"FAST"
            redis.delay[b"slow"] = asyncio.Event()
            client = LeanRedis(url, None, max_connections=1)
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.05):
                    await client.get("slow")
            redis.delay[b"slow"].set()  # the late reply: its connection is gone
            assert await client.get("fast") == b"FAST" and redis.connections == 2

    run(t)


def test_full_pool_is_an_error_not_a_wait() -> None:
    async def t() -> None:
        async with fake() as (redis, url):
            redis.delay[b"slow"] = asyncio.Event()
            client = LeanRedis(url, None, max_connections=1)
            slow = asyncio.create_task(client.get("slow"))
            await asyncio.sleep(0.01)
            with pytest.raises(RedisError, match="busy"):
                await client.get("other")
            redis.delay[b"slow"].set()
            assert await slow is None

    run(t)


def test_the_prediction_cache_counts_a_dead_redis_as_errors() -> None:
    async def t() -> None:
        config = PredictionCacheConfig(url="redis://127.0.0.1:1")
        cache = PredictionCache(config, LeanRedis(config.url or "", None), Telemetry("gw", None))
        assert await cache.lookup("k") == ("error", None)

    run(t)


def test_bad_url_is_refused() -> None:
    with pytest.raises(ValueError, match="redis://host:port"):
        LeanRedis("http://127.0.0.1:6379", None)
