"""PID 1 of every docker-backend stack container: TCP relays around the real component.

`python -m chaosctl.stack.relay --component NAME -- COMMAND...` starts COMMAND
as a child and relays (see docker_specs.RelayPlan):
  * inbound: the container's network address, own ports -> 127.0.0.1 (where the
    component listens, per the contract);
  * outbound: 127.0.0.1:PORT of every other component -> HOSTNAME:PORT.
It exits with the child's status, and forwards SIGTERM/SIGINT to it. A
SIGKILL of the container kills it and so the child: a node loss.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import sys

CHUNK = 65536
CONNECT_TIMEOUT_S = 5.0  # a partitioned peer drops SYNs: fail the client in seconds, not minutes


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


def _handler(dest_host: str, dest_port: int):
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(dest_host, dest_port), CONNECT_TIMEOUT_S
            )
        except (OSError, asyncio.TimeoutError):  # destination down or partitioned: the client sees the close
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    return handle


async def start_relays(listen: list[tuple[str, int, str, int]]) -> list[asyncio.Server]:
    """One server per (listen host, listen port, destination host, destination port)."""
    servers = []
    for host, port, dest_host, dest_port in listen:
        servers.append(await asyncio.start_server(_handler(dest_host, dest_port), host, port, reuse_address=True))
    return servers


def own_address() -> str:
    """The container's address on its network (what other containers reach it by)."""
    return socket.gethostbyname(socket.gethostname())


async def _main(component: str, command: list[str]) -> int:
    from chaosctl.stack.docker_specs import relay_plan

    plan = relay_plan(component)
    address = own_address()
    listen = [(address, p, "127.0.0.1", p) for p in plan.inbound]
    listen += [("127.0.0.1", p, host, p) for p, host in plan.outbound]
    servers = await start_relays(listen)
    child = await asyncio.create_subprocess_exec(*command)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, child.send_signal, sig)
    code = await child.wait()
    for server in servers:
        server.close()
    return code


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="chaosctl.stack.relay")
    parser.add_argument("--component", required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("a command to run is required after --")
    sys.exit(asyncio.run(_main(args.component, command)))


if __name__ == "__main__":
    main()
