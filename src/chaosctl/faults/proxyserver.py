"""The Toxiproxy chaosctl runs for a System's managed links (`listen` + `upstream`).

One `toxiproxy-server` process on loopback per run, API on a free port, one proxy
per managed link listening where the user's caller is configured to call and
forwarding to the callee's real address. Started before the steady-state check
(the caller's traffic flows through it the whole run), stopped by its pid once
every fault is reverted. Its pid and API URL are kept in a state file, so that a
link revert from `chaosctl recover` finds it and a proxy orphaned by a SIGKILLed
run is stopped by `recover` (`stop_orphans`); a gone proxy took its toxics with it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from chaosctl.errors import FaultError, StackUnavailable
from chaosctl.faults.pidcheck import alive
from chaosctl.waiting import wait_until

if TYPE_CHECKING:
    from chaosctl.settings import Settings
    from chaosctl.system.model import LinkSpec, System

HOST = "127.0.0.1"
START_TIMEOUT_S = 10.0
STOP_GRACE_S = 5.0


def state_file(settings: "Settings", system: "System") -> Path:
    return settings.state_dir / f"toxiproxy-{system.name}.json"


def proxy_name(link: "LinkSpec") -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{link.source}_to_{link.dest}")


def _port_taken(hostport: str) -> bool:
    host, port = hostport.rsplit(":", 1)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host.strip("[]"), int(port)))
        except OSError:
            return True
    return False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class ManagedToxiproxy:
    pid: int
    url: str
    started: float  # the process's create_time: a reused pid is never signalled
    path: Path

    def proxy_name(self, link: "LinkSpec") -> str:
        return proxy_name(link)

    @classmethod
    def start(cls, settings: "Settings", system: "System") -> "ManagedToxiproxy":
        """Start the server and its proxies; StackUnavailable (exit 3) naming a taken listen port."""
        from chaosctl.stack.tools import require_tool

        links = [link for link in system.links if link.managed]
        taken = [f"{link.name} listen {link.listen}" for link in links if _port_taken(str(link.listen))]
        if taken:
            raise StackUnavailable(f"System {system.name!r}: listen address already in use: {'; '.join(taken)} "
                                   "(another process, or a proxy left by a killed run: `chaosctl recover`)")
        exe = require_tool("toxiproxy-server", settings)
        port = _free_port()
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        log = open(settings.state_dir / f"toxiproxy-{system.name}.log", "ab")
        with log:
            proc = subprocess.Popen([str(exe), "-host", HOST, "-port", str(port)], stdout=log, stderr=log,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        import psutil

        me = cls(proc.pid, f"http://{HOST}:{port}", psutil.Process(proc.pid).create_time(), state_file(settings, system))
        me.path.write_text(json.dumps({"pid": me.pid, "url": me.url, "started": me.started}))
        try:
            me._wait_ready(proc)
            for link in links:
                me._create(link)
        except BaseException:
            me.stop()
            raise
        return me

    def _wait_ready(self, proc: "subprocess.Popen[bytes]") -> None:
        def answers() -> bool:
            if proc.poll() is not None:
                raise StackUnavailable(f"toxiproxy-server exited with {proc.returncode} at start (see {self.path.with_suffix('.log')})")
            try:
                return httpx.get(self.url + "/version", timeout=1.0).status_code == 200
            except httpx.HTTPError:
                return False

        if wait_until(answers, START_TIMEOUT_S, interval=0.05):
            return
        raise StackUnavailable(f"toxiproxy-server at {self.url} did not answer within {START_TIMEOUT_S:.0f}s")

    def _create(self, link: "LinkSpec") -> None:
        body = {"name": proxy_name(link), "listen": link.listen, "upstream": link.upstream, "enabled": True}
        resp = httpx.post(self.url + "/proxies", json=body, timeout=5.0)
        if resp.status_code >= 400:
            raise StackUnavailable(f"link {link.name}: toxiproxy could not listen on {link.listen}: "
                                   f"{resp.status_code} {resp.text.strip()[:200]}")

    def stop(self) -> None:
        """SIGTERM by pid, SIGKILL after a grace period; the state file goes."""
        if alive(self.pid, self.started):
            _signal(self.pid, signal.SIGTERM)
            wait_until(lambda: not alive(self.pid, self.started), STOP_GRACE_S, interval=0.05)
            if alive(self.pid, self.started):
                _signal(self.pid, signal.SIGKILL)
        try:
            os.waitpid(self.pid, os.WNOHANG)  # reap it when it is our child
        except ChildProcessError:
            pass
        self.path.unlink(missing_ok=True)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _read(path: Path) -> ManagedToxiproxy | None:
    try:
        raw: Any = json.loads(path.read_text())
        return ManagedToxiproxy(int(raw["pid"]), str(raw["url"]), float(raw["started"]), path)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def running_managed(settings: "Settings", system: "System") -> ManagedToxiproxy | None:
    found = _read(state_file(settings, system))
    return found if found is not None and alive(found.pid, found.started) else None


def managed_for(settings: "Settings", system: "System") -> ManagedToxiproxy:
    found = running_managed(settings, system)
    if found is None:
        raise FaultError(f"the Toxiproxy chaosctl runs for System {system.name!r} is not running "
                         "(it is started at the beginning of `chaosctl run`)")
    return found


def stop_orphans(settings: "Settings") -> list[int]:
    """Stop every chaosctl-run Toxiproxy a killed run left (recover); their pids."""
    stopped = []
    for path in sorted(settings.state_dir.glob("toxiproxy-*.json")):
        found = _read(path)
        if found is not None and alive(found.pid, found.started):
            found.stop()
            stopped.append(found.pid)
        path.unlink(missing_ok=True)
    return stopped
