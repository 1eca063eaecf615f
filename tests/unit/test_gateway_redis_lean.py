"""The prediction cache's lean Redis client against a small in-process RESP server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import hiredis
import pytest

from chaosctl.services.errors import ServiceConfigInvalid
from chaosctl.services.gateway.prediction_cache import PredictionCache, PredictionCacheConfig
from chaosctl.services.gateway.redis_lean import LeanRedis, RedisError, command
from chaosctl.services.telemetry import Telemetry


class FakeRedis:
    """GET / SET [PX] / AUTH / ECHO; `delay` holds replies to keys listed in it; `lost`: GETs of these
    keys get no reply, nor does the command before them (as if a link dropped them); `seen` logs
    commands other than ECHO."""

    def __init__(self, password: str | None = None) -> None:
        self.password, self.data, self.seen = password, {}, []  # type: ignore[var-annotated]
        self.delay: dict[bytes, asyncio.Event] = {}
        self.lost: set[bytes] = set()
        self.connections = self.reads = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        parser, authed = hiredis.Reader(), self.password is None
        while data := await reader.read(65536):
            self.reads += 1
            parser.feed(data)
            echo = b""
            while (cmd := parser.gets()) is not False:
                name = cmd[0].upper()
                if name == b"ECHO" and authed:  # sent with the next command's reply (or lost with it)
                    echo = b"$%d\r\n%s\r\n" % (len(cmd[1]), cmd[1])
                    continue
                self.seen.append(cmd)
                if name == b"GET" and cmd[1] in self.lost:
                    echo = b""
                    continue
                writer.write(echo)
                echo = b""
                if name == b"ECHO":  # as Redis: not even ECHO before AUTH
                    writer.write(b"-NOAUTH Authentication required.\r\n")
                elif name == b"AUTH":
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


def test_set_get_and_missing_key_with_auth_on_one_connection() -> None:
    async def t() -> None:
        async with fake("s3cret") as (redis, url):
            client = LeanRedis(url, "s3cret")
            assert await client.set("k", b"v\r\n1", px=60000) == b"OK"
            assert await client.get("k") == b"v\r\n1" and await client.get("nope") is None
            assert redis.seen[1] == [b"SET", b"k", b"v\r\n1", b"PX", b"60000"] and redis.connections == 1
            await client.aclose()

    run(t)


def test_commands_of_one_loop_turn_go_out_in_one_write_and_are_answered_in_order() -> None:
    async def t() -> None:
        async with fake() as (redis, url):
            redis.data.update({b"k%d" % i: b"v%d" % i for i in range(20)})
            client = LeanRedis(url, None)
            await client.get("k0")  # connected
            reads = redis.reads
            answers = await asyncio.gather(*(client.get(f"k{i}") for i in range(20)), client.get("none"))
            assert answers == [b"v%d" % i for i in range(20)] + [None]
            assert redis.reads == reads + 1 and redis.connections == 1

    run(t)


def test_callers_waiting_for_the_connection_share_one_opening() -> None:
    async def t() -> None:
        async with fake("pw") as (redis, url):
            redis.data[b"k"] = b"v"
            client = LeanRedis(url, "pw")
            assert await asyncio.gather(*(client.get("k") for _ in range(5))) == [b"v"] * 5
            assert redis.connections == 1 and redis.seen[0] == [b"AUTH", b"pw"]

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


def test_a_timed_out_command_costs_only_itself_and_its_late_reply_reaches_nobody() -> None:
    async def t() -> None:
        async with fake() as (redis, url):
            redis.data[b"slow"], redis.data[b"fast"] = b"SLOW", b"FAST"
            redis.delay[b"slow"] = asyncio.Event()
            client = LeanRedis(url, None)
            await client.get("fast")
            other = asyncio.create_task(client.get("fast"))  # behind the slow one on the same connection
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.05):
                    await client.get("slow")
            redis.delay[b"slow"].set()  # the late reply: read and dropped
            assert await other == b"FAST"
            assert await client.get("fast") == b"FAST" and redis.connections == 1

    run(t)


def test_replies_out_of_step_drop_the_connection() -> None:
    """A link that dropped a command and carried on: the next tag is not the one in line, so
    nothing on that stream is trusted (no answer of one key is ever read as another's)."""

    async def t() -> None:
        async with fake() as (redis, url):
            redis.data[b"a"], redis.data[b"b"] = b"A", b"B"
            redis.lost.add(b"gone")
            client = LeanRedis(url, None)
            await client.get("a")
            lost = asyncio.create_task(client.get("gone"))
            behind = asyncio.create_task(client.get("b"))
            with pytest.raises(RedisError, match="out of step"):
                await behind
            with pytest.raises(RedisError, match="out of step"):
                await lost
            assert await client.get("b") == b"B" and redis.connections == 2

    run(t)


def test_the_prediction_cache_counts_a_dead_redis_as_errors() -> None:
    async def t() -> None:
        config = PredictionCacheConfig(url="redis://127.0.0.1:1")
        cache = PredictionCache(config, LeanRedis(config.url or "", None), Telemetry("gw", None))
        assert await cache.lookup("k") == ("error", None)

    run(t)


def test_bad_url_is_refused() -> None:
    with pytest.raises(ServiceConfigInvalid, match="redis://host:port"):
        LeanRedis("http://127.0.0.1:6379", None)


def test_an_unanswered_auth_fails_the_opening_and_the_next_caller_opens_anew() -> None:
    """The opening is shared and no caller's timeout cancels it: a link that swallowed the AUTH
    reply must not hold every later caller on it forever."""

    async def t() -> None:
        async with fake("pw") as (redis, url):
            redis.data[b"k"] = b"v"
            swallowed: list[asyncio.StreamWriter] = []

            async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                swallowed.append(writer)  # held open, never answered

            mute = await asyncio.start_server(silent, "127.0.0.1", 0)
            client = LeanRedis(f"redis://127.0.0.1:{mute.sockets[0].getsockname()[1]}", "pw", connect_timeout_s=0.1)
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.05):  # the caller gives up; the opening goes on
                    await client.get("k")
            with pytest.raises(RedisError, match="no answer"):
                await client.get("k")  # waits on the same opening, which gives up on its own
            client.port = int(url.rsplit(":", 1)[1])  # the link carries again
            assert await client.get("k") == b"v" and redis.connections == 1
            mute.close()

    run(t)
