"""request-abort / request-delay on a System link: chaosctl's HTTP fault proxy in the link's path.

inject: read where the link's Toxiproxy proxy forwards (the callee, host:port), start
`python -m chaosctl.services.faultproxy` on a free 127.0.0.1 port forwarding there with
the rule in a 0600 file, wait until it answers, then point the Toxiproxy proxy at it.
The caller's traffic keeps its path (caller -> Toxiproxy listen -> fault proxy -> callee),
and link toxics still apply. revert (reverse order): point the proxy back, then stop the
fault proxy by its pid (create time checked: a reused pid is never signalled).

Its port, the original upstream and its rules file are written to
`STATE_DIR/httpproxy-<fault id>.json` before the start, its pid and start time right after, so
`chaosctl recover` after a SIGKILLed run finds and undoes exactly this fault's proxy (by pid, or,
killed before the pid was written, by its rules file on the process's command line). The file
goes only once the link points back at the callee (a failed restore leaves it for the next
`recover`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from chaosctl.errors import FaultError
from chaosctl.waiting import wait_until

from .base import FaultContext, FaultRecord
from .pidcheck import alive, terminate
from .proxyserver import HOST, _free_port
from .request import describe_rule, rule_body

START_TIMEOUT_S = 15.0
STOP_GRACE_S = 5.0
ADMIN_PATH = "/__chaosctl__/request-faults"


@dataclass
class HttpProxyFault:
    record: FaultRecord
    ctx: FaultContext

    @property
    def _state_path(self) -> Path:
        return self.ctx.settings.state_dir / f"httpproxy-{self.record.id}.json"

    def _toxiproxy(self) -> tuple[Any, str]:
        return self.ctx.toxiproxy_for(self.ctx.link(self.record.target))

    def _state(self) -> dict[str, Any] | None:
        try:
            raw = json.loads(self._state_path.read_text())
        except (OSError, ValueError):
            return None
        return raw if isinstance(raw, dict) else None

    def inject(self) -> None:
        client, proxy = self._toxiproxy()
        original = client.upstream(proxy)
        rules, port = self._prepare(original)
        proc = self._spawn(port, original, rules)
        try:
            import psutil

            started = psutil.Process(proc.pid).create_time()
            _write_private(self._state_path, json.dumps({**(self._state() or {}), "pid": proc.pid, "started": started}))
        except BaseException:  # its pid not recorded: stop it now rather than leave it to the rules-file search
            proc.kill()
            proc.wait()
            raise
        self._wait_ready(proc, port)
        client.set_upstream(proxy, f"{HOST}:{port}")

    def _prepare(self, original: str) -> tuple[Path, int]:
        """The 0600 rules file and a first state file, both before the start: a run killed between
        the start and recording the pid leaves a state file whose rules path finds the process."""
        state_dir = self.ctx.settings.state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        rules = state_dir / f"httpproxy-{self.record.id}.rules.json"
        _write_private(rules, json.dumps([{"id": self.record.id, **rule_body(self.record)}]))
        port = _free_port()
        state = {"port": port, "proxy": self._toxiproxy()[1], "original": original, "rules": str(rules)}
        _write_private(self._state_path, json.dumps(state))
        return rules, port

    def _spawn(self, port: int, original: str, rules: Path) -> "subprocess.Popen[bytes]":
        # The admin token by environment, never on the command line (as for every service).
        from chaosctl.settings import SECRET_ENV, STATE_DIR_ENV

        env = {**os.environ, SECRET_ENV["admin_token"]: self.ctx.settings.admin_token,
               STATE_DIR_ENV: str(self.ctx.settings.state_dir)}  # fmt: skip
        argv = [sys.executable, "-m", "chaosctl.services.faultproxy", "--port", str(port),
                "--upstream", f"http://{original}", "--rules", str(rules)]  # fmt: skip
        with open(self.ctx.settings.state_dir / f"httpproxy-{self.record.id}.log", "ab") as log:
            return subprocess.Popen(argv, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)

    def _wait_ready(self, proc: "subprocess.Popen[bytes]", port: int) -> None:
        def answered() -> bool:
            if proc.poll() is not None:
                raise FaultError(f"{self.record.label}: the HTTP fault proxy exited with {proc.returncode} at start "
                                 f"(see {self._state_path.with_suffix('.log')})")
            try:
                return self._admin(port).status_code == 200
            except httpx.HTTPError:
                return False

        if not wait_until(answered, START_TIMEOUT_S, interval=0.1):
            raise FaultError(f"{self.record.label}: the HTTP fault proxy did not answer on port {port} within {START_TIMEOUT_S:.0f}s")

    def _admin(self, port: int) -> httpx.Response:
        return httpx.get(f"http://{HOST}:{port}{ADMIN_PATH}", headers={"X-Admin-Token": self.ctx.settings.admin_token},
                         timeout=2.0)  # fmt: skip

    def verify(self) -> str:
        state = self._state()
        if state is None or "pid" not in state or not alive(int(state["pid"]), float(state["started"])):
            raise FaultError(f"{self.record.label}: the HTTP fault proxy is not running")
        client, proxy = self._toxiproxy()
        via = client.upstream(proxy)
        if via != f"{HOST}:{state['port']}":
            raise FaultError(f"{self.record.label}: toxiproxy {proxy} forwards to {via}, not to the fault proxy")
        try:
            answer = self._admin(int(state["port"])).json()
        except (httpx.HTTPError, ValueError) as exc:
            raise FaultError(f"{self.record.label}: the HTTP fault proxy did not answer: {exc}") from exc
        rule = next((r for r in answer.get("rules", []) if r.get("id") == self.record.id), None)
        if rule is None:
            raise FaultError(f"{self.record.label}: the HTTP fault proxy holds no rule {self.record.id}")
        faulted = sum(int(c.get("count", 0)) for c in answer.get("faulted", []))
        return (f"HTTP fault proxy (pid {state['pid']}) in {proxy} -> {state['original']}: "
                f"{describe_rule(rule)}; {faulted} requests faulted so far")

    def revert(self) -> None:
        state = self._state()
        if state is None:
            return  # never started (or already reverted): nothing in the link's path
        try:
            self._restore(state)
        finally:
            self._stop(state)
            Path(str(state.get("rules", ""))).unlink(missing_ok=True)
        self._state_path.unlink(missing_ok=True)

    @staticmethod
    def _stop(state: dict[str, Any]) -> None:
        if "pid" in state:
            terminate(int(state["pid"]), float(state["started"]), STOP_GRACE_S)
            return
        for pid, started in _started_with(str(state.get("rules", ""))):  # the run died before recording it
            terminate(pid, started, STOP_GRACE_S)

    def _restore(self, state: dict[str, Any]) -> None:
        link = self.ctx.link(self.record.target)
        if link.managed:
            from .proxyserver import running_managed

            if running_managed(self.ctx.settings, self.ctx.resolved_system) is None:
                return  # chaosctl's own Toxiproxy is gone: nothing points at the fault proxy any more
        client, proxy = self._toxiproxy()
        if client.upstream(proxy) == f"{HOST}:{state['port']}":
            client.set_upstream(proxy, str(state["original"]))


def _started_with(rules: str) -> list[tuple[int, float]]:
    """(pid, create time) of every fault proxy running with this rules file (unique to a fault id)."""
    import psutil

    found = []
    for proc in psutil.process_iter(["cmdline", "create_time"]):
        argv = proc.info["cmdline"] or []
        if rules and "chaosctl.services.faultproxy" in argv and rules in argv:
            found.append((proc.pid, float(proc.info["create_time"])))
    return found


def _write_private(path: Path, text: str) -> None:
    """Write `path` readable by this user only (0600, also when it was there before)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(text)
