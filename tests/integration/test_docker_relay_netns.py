"""The docker backend's networking, without Docker: two network namespaces stand in for two
containers on a user-defined network (a veth pair, hostnames from /etc/netns/NS/hosts).

Each runs `chaosctl.stack.relay` as PID 1 would run in its container, around a real
server bound to 127.0.0.1 as the contract says. A client in the "gateway" namespace
dials 127.0.0.1:<registry port> and must reach the registry namespace's server;
taking the link down (what `docker network disconnect` does) must cut it, and
bringing it back must restore it. Needs root and iproute2 (present where CI runs).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chaosctl.stack.docker_specs import INTERNAL

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None,
                       reason="network namespaces need root and iproute2 (`ip`)"),
]
# Link-local addresses on a veth pair that exists only between the two namespaces below.
ADDRESSES = {"gateway": "169.254.213.1", "registry": "169.254.213.2"}
TAG = f"h7{os.getpid() % 100000}"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def _in(ns: str, *argv: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, **kw)


@pytest.fixture
def namespaces():
    names = {c: f"{TAG}-{c[:3]}" for c in ADDRESSES}
    veth = {c: f"{TAG}{c[:1]}" for c in ADDRESSES}
    made: list[str] = []
    try:
        for comp, ns in names.items():
            _ip("netns", "add", ns)
            made.append(ns)
            hosts = Path("/etc/netns") / ns / "hosts"
            hosts.parent.mkdir(parents=True, exist_ok=True)
            lines = ["127.0.0.1 localhost", f"{ADDRESSES[comp]} {socket.gethostname()}"]
            lines += [f"{addr} {other}" for other, addr in ADDRESSES.items()]
            hosts.write_text("\n".join(lines) + "\n")
        _ip("link", "add", veth["gateway"], "type", "veth", "peer", "name", veth["registry"])
        for comp, ns in names.items():
            _ip("link", "set", veth[comp], "netns", ns)
            _ip("-n", ns, "addr", "add", f"{ADDRESSES[comp]}/24", "dev", veth[comp])
            _ip("-n", ns, "link", "set", veth[comp], "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        yield names, veth
    finally:
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
            shutil.rmtree(Path("/etc/netns") / ns, ignore_errors=True)


def _start(ns: str, component: str, port: int) -> subprocess.Popen:
    server = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    relay = [sys.executable, "-m", "chaosctl.stack.relay", "--component", component, "--", *server]
    return subprocess.Popen(["ip", "netns", "exec", ns, *relay], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _get(ns: str, port: int, timeout: float = 8.0) -> str:
    code = (f"import urllib.request as u\ntry:\n print(u.urlopen('http://127.0.0.1:{port}/', timeout={timeout}).status)\n"
            "except Exception as e:\n print(type(e).__name__)")
    return _in(ns, sys.executable, "-c", code, timeout=timeout + 10).stdout.strip()


def _until(ns: str, port: int, want: str, limit_s: float = 20.0) -> str:
    deadline, got = time.monotonic() + limit_s, ""
    while time.monotonic() < deadline:
        got = _get(ns, port, timeout=3.0)
        if got == want:
            break
        time.sleep(0.3)
    return got


def test_relays_carry_the_loopback_contract_across_containers_and_a_disconnect_cuts_it(namespaces):
    names, veth = namespaces
    registry_port, gateway_port = INTERNAL.registry_port, INTERNAL.gateway_port
    procs = [_start(names["registry"], "registry", registry_port), _start(names["gateway"], "gateway", gateway_port)]
    try:
        # gateway -> 127.0.0.1:registry_port -> relay -> registry:port -> registry's inbound relay -> server
        assert _until(names["gateway"], registry_port, "200") == "200"
        assert _until(names["registry"], gateway_port, "200") == "200"  # and the other way round
        _ip("-n", names["registry"], "link", "set", veth["registry"], "down")  # the disconnect
        cut = _get(names["gateway"], registry_port, timeout=8.0)
        assert cut not in ("200", "")
        _ip("-n", names["registry"], "link", "set", veth["registry"], "up")  # the reconnect
        assert _until(names["gateway"], registry_port, "200") == "200"
    finally:
        for proc in procs:
            proc.terminate()  # the relay forwards SIGTERM to its child and exits with it
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
