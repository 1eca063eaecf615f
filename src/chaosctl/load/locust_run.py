"""Locust headless as subprocesses: one process, or a master plus `workers`
worker processes when one core is not enough.

Each process starts in its own session (so a Ctrl-C on the terminal reaches
chaosctl, which stops load in order, not Locust directly) and is stopped by its
pid: SIGINT to its process group (Locust then writes its results), SIGKILL
after a grace period. `--run-time` is set a little past the run's length, so
a Locust orphaned by a SIGKILL of chaosctl still stops by itself.

Results come from Locust's machine-readable output (`--json-file`, `--csv`);
the load generator's own CPU is sampled with psutil so a saturated generator
shows in the report instead of masquerading as server latency.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from chaosctl.errors import ChaosctlError
from chaosctl.pids import same_start
from chaosctl.settings import LOAD_PLAN_ENV, SECRET_ENV

from .plan import GATE_FILE, LoadPlan

if TYPE_CHECKING:
    from .client import ClientHistory

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
SPAWNED_FILE = "spawned.json"  # written by the locustfile beside the plan (its SPAWNED_PATH)
STOP_GRACE_S = 10.0
SATURATED_CPU = 90.0  # percent of one core, per process


@dataclass(frozen=True)
class LoadResult:
    requests: int
    failures: int
    rps: float
    p50_ms: float | None
    p99_ms: float | None
    cpu_mean: float  # percent of one core, summed over Locust processes
    cpu_max_process: float  # the busiest single process (saturation shows here)
    processes: int

    @property
    def saturated(self) -> bool:
        return self.cpu_max_process >= SATURATED_CPU

    def describe(self) -> str:
        p99 = "n/a" if self.p99_ms is None else f"{self.p99_ms:.0f} ms"
        text = (f"load: {self.requests} requests, {self.failures} failures, {self.rps:.1f} req/s, client p99 {p99}; "
                f"Locust CPU mean {self.cpu_mean:.0f}% over {self.processes} process(es), busiest {self.cpu_max_process:.0f}%")
        if self.saturated:
            text += " -- load generator SATURATED: latency figures include client queueing; raise load.workers"
        return text


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_commands(plan: LoadPlan, host: str, run_time_s: float, out_dir: Path,
                   master_port: int | None = None, python: str = sys.executable) -> list[list[str]]:
    """The Locust command lines: [single] or [master, worker...]."""
    base = [python, "-m", "locust", "-f", str(LOCUSTFILE)]
    common = ["--headless", "--only-summary", "--skip-log-setup", "--loglevel", "WARNING"]
    main = base + common + [
        "--host", host, "-u", str(plan.users), "-r", f"{plan.spawn_rate:g}", "-t", f"{int(run_time_s) + 1}s",
        "--csv", str(out_dir / "locust"), "--json-file", str(out_dir / "locust"), "--stop-timeout", "2",
        "--exit-code-on-error", "0",
    ]
    if plan.workers <= 1:
        return [main]
    if master_port is None:
        raise ValueError("distributed load needs a master port")
    master = main + ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(master_port),
                     "--expect-workers", str(plan.workers), "--expect-workers-max-wait", "30"]
    worker = base + ["--worker", "--master-host", "127.0.0.1", "--master-port", str(master_port),
                     "--skip-log-setup", "--loglevel", "WARNING"]
    return [master] + [list(worker) for _ in range(plan.workers)]


@dataclass
class LocustRun:
    plan: LoadPlan
    host: str
    run_time_s: float
    out_dir: Path
    jwt_secret: str
    pidfile: Path | None = None  # where `chaosctl recover` finds a Locust orphaned by a SIGKILL of the run
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _cpu_samples: list[tuple[float, float]] = field(default_factory=list)  # (sum %, max single %)
    _stop_sampling: threading.Event = field(default_factory=threading.Event)
    _started_at: float = 0.0

    def start(self, gated: bool = False) -> None:
        """Start Locust. `gated`: its users spawn but send nothing until open_gate() (a plan with
        stages is not to be gated: its shape's clock starts with Locust's)."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / SPAWNED_FILE).unlink(missing_ok=True)  # a signal of an earlier load in this directory
        (self.out_dir / GATE_FILE).unlink(missing_ok=True)
        if not gated:
            self.open_gate()
        plan_path = self.plan.write(self.out_dir / "load-plan.json")
        env = {**os.environ, LOAD_PLAN_ENV: str(plan_path), SECRET_ENV["jwt_secret"]: self.jwt_secret}
        port = free_port() if self.plan.workers > 1 else None
        log = open(self.out_dir / "locust.log", "ab")
        try:
            for cmd in build_commands(self.plan, self.host, self.run_time_s, self.out_dir, port):
                self.procs.append(subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                                   start_new_session=True))
        finally:
            log.close()
            if self.pidfile is not None:
                write_pidfile(self.pidfile, [p.pid for p in self.procs])
        self._started_at = time.monotonic()
        threading.Thread(target=self._sample_cpu, name="locust-cpu", daemon=True).start()

    def open_gate(self) -> None:
        (self.out_dir / GATE_FILE).write_text("")  # whole at once: its presence is the signal

    def discard(self) -> None:
        """Stop a load that never opened its gate (the run stopped before it): nothing was sent,
        so nothing is kept (SIGKILL, no results)."""
        self._stop_sampling.set()
        for p in self.procs:
            _signal_group(p.pid, signal.SIGKILL)
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if self.pidfile is not None:
            self.pidfile.unlink(missing_ok=True)

    def check_alive(self) -> None:
        """Raise if the master exited early (bad locustfile, port clash, ...)."""
        if self.procs and self.procs[0].poll() is not None:
            tail = (self.out_dir / "locust.log").read_text(errors="replace")[-1500:]
            raise ChaosctlError(f"Locust exited early with code {self.procs[0].returncode}:\n{tail}")

    def spawned_users(self) -> tuple[int, int]:
        """(users, requests so far) from the last line of Locust's stats history CSV."""
        import csv

        try:
            with open(self.out_dir / "locust_stats_history.csv", newline="") as fh:
                rows = [r for r in csv.DictReader(fh) if r.get("Name") == "Aggregated"]
        except OSError:
            return 0, 0
        if not rows:
            return 0, 0
        return int(rows[-1].get("User Count") or 0), int(rows[-1].get("Total Request Count") or 0)

    def spawned_signal(self) -> int:
        """Users of the last completed ramp, once a request came back (the locustfile writes it on
        Locust's spawning_complete, one process only); -1 before that."""
        try:
            return int(json.loads((self.out_dir / SPAWNED_FILE).read_text())["users"])
        except (OSError, ValueError, KeyError, TypeError):
            return -1

    def wait_spawned(self, users: int, timeout_s: float, sleep: float = 0.05) -> bool:
        """Until every user runs and requests flow: Locust's own spawn-complete signal, or the
        stats history CSV (flushed every second; distributed workers take a while to connect);
        False after `timeout_s`. Raises if Locust dies meanwhile."""
        from chaosctl.waiting import wait_until

        def running() -> bool:
            self.check_alive()
            if self.spawned_signal() >= users:
                return True
            count, requests = self.spawned_users()
            return count >= users and requests > 0

        return wait_until(running, timeout_s, interval=sleep)

    def _sample_cpu(self) -> None:
        import psutil

        handles = []
        for p in self.procs:
            try:
                handles.append(psutil.Process(p.pid))
                handles[-1].cpu_percent(None)
            except psutil.NoSuchProcess:
                pass
        while not self._stop_sampling.wait(1.0):
            values = []
            for h in handles:
                try:
                    values.append(h.cpu_percent(None))
                except psutil.NoSuchProcess:
                    continue
            if values:
                self._cpu_samples.append((sum(values), max(values)))

    def stop(self) -> None:
        """SIGINT the master's process group (by our pid), then the workers; SIGKILL what is left.

        SIGINT, not SIGTERM: Locust 2.47 writes its --json-file reliably on SIGINT
        only (on SIGTERM the file was missing with a load shape; checked by hand).
        The master tells its workers to quit; stragglers get SIGINT, then SIGKILL."""
        self._stop_sampling.set()
        deadline = time.monotonic() + STOP_GRACE_S
        for p in self.procs:  # the master first: it tells its workers to quit
            if p.poll() is None:
                _signal_group(p.pid, signal.SIGINT)
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(p.pid, signal.SIGKILL)
                p.wait(timeout=5)
        for p in self.procs:  # children that Locust may have forked
            _signal_group(p.pid, signal.SIGKILL)
        if self.pidfile is not None:
            self.pidfile.unlink(missing_ok=True)

    def client_history(self) -> "ClientHistory":
        """What the clients saw over time (per-phase counts: `ClientHistory.counts(start, end)`)."""
        from .client import HISTORY_FILE, WORKER_REPORT_INTERVAL_S, read_history

        return read_history(self.out_dir / HISTORY_FILE, WORKER_REPORT_INTERVAL_S if self.plan.workers > 1 else 0.0)

    def result(self) -> LoadResult:
        stats = _read_json_stats(self.out_dir / "locust.json")
        cpu_sum = [s for s, _ in self._cpu_samples] or [0.0]
        cpu_max = [m for _, m in self._cpu_samples] or [0.0]
        return LoadResult(
            requests=stats.get("requests", 0), failures=stats.get("failures", 0),
            rps=stats.get("rps", 0.0), p50_ms=stats.get("p50_ms"), p99_ms=stats.get("p99_ms"),
            cpu_mean=sum(cpu_sum) / len(cpu_sum), cpu_max_process=max(cpu_max), processes=len(self.procs))


def write_pidfile(path: Path, pids: list[int]) -> None:
    """pid + start time of each Locust process (the start time guards against pid reuse)."""
    import psutil

    entries = []
    for pid in pids:
        try:
            entries.append({"pid": pid, "create_time": psutil.Process(pid).create_time()})
        except psutil.NoSuchProcess:
            continue
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entries))


def stop_orphans(path: Path) -> list[int]:
    """Stop (SIGKILL, by process group) the Locust processes a killed run left behind."""
    import psutil

    from chaosctl.errors import StateInvalid

    try:
        entries = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError, RecursionError) as exc:
        raise StateInvalid(f"{path}: unreadable Locust pid file ({str(exc)[:100]}); remove it once no Locust runs") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise StateInvalid(f"{path}: a Locust pid file is a JSON list of {{pid, create_time}}; remove it once no Locust runs")
    stopped = []
    for e in entries:
        try:
            if int(e["pid"]) <= 1:
                continue  # never a process group of 0 (our own) or 1
            proc = psutil.Process(int(e["pid"]))
            if not same_start(proc.create_time(), float(e["create_time"])):
                continue  # the pid now belongs to someone else
        except (psutil.Error, KeyError, ValueError, TypeError, OverflowError):
            continue
        _signal_group(proc.pid, signal.SIGKILL)
        stopped.append(proc.pid)
    path.unlink(missing_ok=True)
    return stopped


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # the group id is the pid we started (start_new_session)
    except (ProcessLookupError, PermissionError):
        pass


def _read_json_stats(path: Path) -> dict[str, float]:
    """Totals from Locust's --json-file output (a list of per-endpoint stats)."""
    try:
        entries = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    total = sum(int(e.get("num_requests", 0)) for e in entries)
    failures = sum(int(e.get("num_failures", 0)) for e in entries)
    start = min((float(e.get("start_time", 0)) for e in entries), default=0.0)
    end = max((float(e.get("last_request_timestamp") or 0) for e in entries), default=0.0)
    merged: dict[int, int] = {}
    for e in entries:
        for ms, n in (e.get("response_times") or {}).items():
            merged[int(float(ms))] = merged.get(int(float(ms)), 0) + int(n)
    out: dict[str, float] = {"requests": total, "failures": failures, "rps": total / (end - start) if end > start else 0.0}
    out.update({k: v for k, v in (("p50_ms", _pct(merged, 0.5)), ("p99_ms", _pct(merged, 0.99))) if v is not None})
    return out


def _pct(hist: dict[int, int], q: float) -> float | None:
    n = sum(hist.values())
    if not n:
        return None
    seen = 0
    for ms in sorted(hist):
        seen += hist[ms]
        if seen >= q * n:
            return float(ms)
    return float(max(hist))
