"""A pre-imported Python that forks the stack's services: `python -m chaosctl.services.forkserver`.

Why: every Python service spends about 1 s of CPU importing FastAPI, uvicorn, httpx,
pydantic and NumPy, and the model servers and the analyser another ~1.8 s importing
scikit-learn: with eleven services on a 2-core machine that was ~20 s of CPU of `up`'s
~50. Here they are imported once, and each service is a fork of this process.

Each service is still its own process: forked twice (the middle process exits at once, so
this one never holds it and it is reparented like any detached process), leader of its own
session and process group (stopped by pid and group, as `procs.spawn` starts them), stdout and
stderr appended to its log, its own environment and working directory, and its command line
(`ps`, psutil, `system discover`, process faults matching on it) set to exactly the one it
would have had if started as `python -m chaosctl.services NAME ...`.

Protocol (multiprocessing.connection framing over the socket given as stdin): first JSON
{"ready": true} once PRELOAD_FIRST is imported (the rest follows between requests), then per
request JSON {"argv", "env", "log", "cwd"} the answer
JSON {"pid": N} or {"error": "..."}. EOF on the socket (the `up` that started this ended, or
died) makes this process exit. Its own command line is kept short (no arguments) because a
title can only be set in place when longer than the original (else /proc pads it with NULs).
"""

from __future__ import annotations

import atexit
import gc
import importlib
import json
import os
import random
import runpy
import signal
import sys
import traceback
from multiprocessing.connection import Connection
from typing import Any

# What the services import at start that is worth sharing (each import is tried: a missing
# optional module is simply imported, or not, by the service itself). FIRST is what the model
# servers (the GPU ones' warm-up is the tail of `up`), the registry and the pipeline stages import:
# the fork server says it is ready once it has those. (Forking the GPU model servers as soon as
# scikit-learn is in, so that their warm-up overlaps the web stack's import, was measured slower:
# each then imports FastAPI/uvicorn/OpenTelemetry itself, ~0.6 s of CPU apiece, and `up` 1.12x,
# its CPU 1.24x, at load 4.5-7 on 2 cores); LATER (the gateway's, the autoscaler's and the
# analyser's own: ~20 % of the CPU) is imported between fork requests, before those start.
PRELOAD_FIRST: tuple[str, ...] = (
    "numpy", "pydantic", "httpx", "fastapi", "fastapi.responses", "starlette.middleware.base",
    "uvicorn", "uvicorn.config", "uvicorn.server", "uvicorn.main", "uvicorn.lifespan.on", "uvicorn.loops.auto",
    "uvicorn.loops.uvloop", "uvicorn.protocols.http.auto", "uvicorn.protocols.http.httptools_impl",
    "uvicorn.protocols.http.h11_impl", "uvicorn.protocols.websockets.auto", "uvicorn.logging", "uvloop", "httptools",
    "prometheus_client", "opentelemetry.trace", "opentelemetry.sdk.trace", "opentelemetry.sdk.trace.export",
    "opentelemetry.sdk.resources", "opentelemetry.exporter.otlp.proto.http.trace_exporter", "opentelemetry.propagate",
    "threadpoolctl", "sklearn.ensemble", "sklearn.linear_model", "sklearn.pipeline", "sklearn.preprocessing",
    "sklearn.datasets", "chaosctl.settings", "chaosctl.services.telemetry", "chaosctl.services.registry.app",
    "chaosctl.services.modelserver.app", "chaosctl.services.modelserver.modelcache", "chaosctl.services.modelserver.web",
    "chaosctl.services.pipeline.app",
)
PRELOAD_LATER: tuple[str, ...] = (
    "sklearn.model_selection", "requests", "jwt", "confluent_kafka", "confluent_kafka.admin",
    "chaosctl.services.analyser.app", "chaosctl.services.gateway.app", "chaosctl.services.autoscaler.app",
)
PRELOAD: tuple[str, ...] = PRELOAD_FIRST + PRELOAD_LATER
LATER_IDLE_S = 0.2


def preload(names: tuple[str, ...] = PRELOAD) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the service imports it itself (and reports a real failure)
            pass


def run_child(argv: list[str], env: dict[str, str], log: str, cwd: str, closing: tuple[int, ...], report: int) -> None:
    """In the forked service: become what `argv` would have started, tell the fork server its
    pid on `report` (only then: a pid handed out is already its own session, titled), run it,
    exit. Never returns."""
    code = 1
    try:
        _become(argv, env, log, cwd, closing)
        os.write(report, str(os.getpid()).encode())
        os.close(report)
        sys.argv = [argv[2], *argv[3:]]
        runpy.run_module(argv[2], run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, int | None):
            print(exc.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - the service's crash goes to its log, as it would have
        traceback.print_exc()
    finally:
        try:
            atexit._run_exitfuncs()  # what a plain exit runs (span exporters flush); the rest of the
            sys.stdout.flush()       # interpreter's teardown is skipped: it would unwind into the fork
            sys.stderr.flush()       # server's loop, and tear down every preloaded module
        finally:
            os._exit(code)


def _become(argv: list[str], env: dict[str, str], log: str, cwd: str, closing: tuple[int, ...]) -> None:
    os.setsid()  # its own session and group: stopped by pid/group, untouched by the terminal's ^C
    for sig in (signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    out = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    for fd in (out, null, *closing):
        os.close(fd)
    os.chdir(cwd)
    _retitle(argv)  # before the environment is replaced: setproctitle may move it
    os.environ.clear()
    os.environ.update(env)
    _reseed()


def _reseed() -> None:
    """A fork inherits the random state: without this every service would draw the same
    numbers (OpenTelemetry's trace and span ids come from `random`)."""
    random.seed()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()


def _retitle(argv: list[str]) -> None:
    from setproctitle import setproctitle

    setproctitle(" ".join(argv))


def handle(conn: Connection, request: dict[str, Any]) -> None:
    """Fork the service (twice: the middle process exits, the service is nobody's child here)."""
    argv, env, log, cwd = list(request["argv"]), dict(request["env"]), str(request["log"]), str(request["cwd"])
    read, write = os.pipe()
    middle = os.fork()
    if middle == 0:
        try:
            os.close(read)
            if os.fork() == 0:
                run_child(argv, env, log, cwd, (conn.fileno(),), write)
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        answer = fh.read()
    os.waitpid(middle, 0)
    conn.send_bytes(json.dumps({"pid": int(answer)} if answer else {"error": "fork failed"}).encode())


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    conn = Connection(os.dup(0))
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the `up` that owns this decides when it ends (EOF)
    from setproctitle import setproctitle  # here: without it no service is forked (the client falls back)

    setproctitle(" ".join(sys.orig_argv))  # the same title: claims the argv area now, in one process

    bare = "bare" in args  # tests, which fork no heavy service
    # The cyclic collector off while importing: it ran over the growing heap again and again, ~13 %
    # of the preload's CPU (2.10 against 2.41 s, medians of 6 each, interleaved); then what is
    # preloaded is frozen (kept for good, as module state is anyway: the services' collections
    # skip it and leave its pages shared) and the collector is on again, in here and every fork.
    gc.disable()
    preload(() if bare else PRELOAD_FIRST)
    gc.freeze()
    gc.enable()
    try:
        conn.send_bytes(b'{"ready": true}')
    except OSError:  # `up` gave up waiting (or ended) while this imported: nothing to fork
        os._exit(0)
    later = [] if bare else list(PRELOAD_LATER)
    while True:
        try:
            # The rest, one module at a time, once no fork was asked for a moment: `up` asks for a
            # burst of forks at once, and one that came mid-import would wait for the whole import.
            while later and not conn.poll(LATER_IDLE_S):
                preload((later.pop(0),))
            raw = conn.recv_bytes()
        except (EOFError, OSError):
            os._exit(0)  # at once: `up` waits for this exit, and tearing down the preloaded modules is slow
        try:
            handle(conn, json.loads(raw))
        except Exception as exc:  # noqa: BLE001 - the client falls back to a plain spawn
            conn.send_bytes(json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())


if __name__ == "__main__":
    sys.exit(main())
