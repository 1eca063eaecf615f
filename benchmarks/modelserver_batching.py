"""Model-server throughput with and without dynamic batching, side by side.

Two levels, each run with batching on (window 10 ms, max 32 rows) and off:
  engine  - N concurrent asyncio callers of Engine.predict (no HTTP): the batching effect itself;
  http    - a real model-server process (uvicorn, simulated GPU) driven over loopback HTTP by
            N concurrent httpx clients: what a caller of the service sees.
Single-row requests (the common online-inference case). Everything on 127.0.0.1; every
process started here is stopped by pid.

    .venv/bin/python benchmarks/modelserver_batching.py [--seconds 5] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import warnings
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx
import numpy as np

from chaosctl.services.modelserver.engine import Engine, ModelServerConfig
from chaosctl.services.modelserver.models import LoadedModel, sample_inputs, train
from chaosctl.stack.topology import model_server
from chaosctl.waiting import wait_until

MODELS = (("fraud-detector", "2.4.0"), ("fraud-detector", "2.3.1"), ("image-classifier", "1.2.0"))
PORT = int(os.environ.get("CHAOSCTL_BENCH_PORT", "22480"))
# Throwaway credentials of the benchmark's own server, made by the parent and inherited by
# the child through the environment (setdefault), never a constant.
SERVICE_TOKEN = os.environ.setdefault("BENCH_SERVICE_TOKEN", secrets.token_urlsafe(32))
ADMIN_TOKEN = os.environ.setdefault("BENCH_ADMIN_TOKEN", secrets.token_urlsafe(32))


@dataclass(frozen=True)
class Result:
    requests: int
    seconds: float
    latencies: tuple[float, ...]
    mean_batch: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def pct(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) * 1000 if self.latencies else float("nan")


def config(batching: bool) -> ModelServerConfig:
    return ModelServerConfig(batching=batching, warmup_s=0.0, max_batch_rows=32, batch_window_s=0.010)


async def _engine_run(models: dict, name: str, version: str, batching: bool, seconds: float, conc: int) -> Result:
    engine = Engine(model_server("model-gpu-2"), config(batching))
    await engine.load(lambda n, v, _c: models[(n, v)])
    rows = sample_inputs(name, 256)
    lat: list[float] = []
    sizes: list[int] = []
    stop = time.perf_counter() + seconds

    async def caller(i: int) -> None:
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            pred = await engine.predict(name, version, [rows[i % len(rows)]])
            lat.append(time.perf_counter() - t0)
            sizes.append(pred.batch_size)

    t0 = time.perf_counter()
    await asyncio.gather(*(caller(i) for i in range(conc)))
    elapsed = time.perf_counter() - t0
    await engine.close()
    return Result(len(lat), elapsed, tuple(lat), float(np.mean(sizes)) if sizes else 0.0)


async def _http_run(name: str, version: str, seconds: float, conc: int) -> Result:
    rows = sample_inputs(name, 256)
    lat: list[float] = []
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
    auth = {"Authorization": f"Bearer {SERVICE_TOKEN}"}  # model servers refuse anonymous predicts
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{PORT}", limits=limits, timeout=30, headers=auth) as client:

        async def caller(i: int) -> None:
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                resp = await client.post(f"/v1/models/{name}/predict",
                                         json={"inputs": [rows[i % len(rows)]], "version": version})  # fmt: skip
                resp.raise_for_status()
                lat.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await asyncio.gather(*(caller(i) for i in range(conc)))
        elapsed = time.perf_counter() - t0
        text = (await client.get("/metrics")).text
    return Result(len(lat), elapsed, tuple(lat), _mean_batch(text, name, version))


def _merge(results: list[Result]) -> Result:
    """Several runs of one cell as one (requests and time summed, latencies pooled)."""
    n = sum(r.requests for r in results)
    mean_batch = sum(r.mean_batch * r.requests for r in results) / n if n else 0.0
    lat = tuple(x for r in results for x in r.latencies)
    return Result(n, sum(r.seconds for r in results), lat, mean_batch)


def _mean_batch(metrics: str, name: str, version: str) -> float:
    total = count = 0.0
    label = f'model="{name}",version="{version}"'
    for line in metrics.splitlines():
        if line.startswith("chaosctl_model_batch_size_sum{") and label in line:
            total = float(line.split()[-1])
        if line.startswith("chaosctl_model_batch_size_count{") and label in line:
            count = float(line.split()[-1])
    return total / count if count else 0.0


def _serve(batching: bool) -> None:
    """Child process: one model server (model-gpu-2's models) with the given batching mode."""
    from chaosctl.services.modelserver.app import create_app
    from chaosctl.services.telemetry import Telemetry, serve

    tel = Telemetry("model-gpu-2", None)
    engine = Engine(model_server("model-gpu-2"), config(batching), tracer=tel.tracer)
    serve(create_app(engine, tel, ADMIN_TOKEN, service_token=SERVICE_TOKEN), PORT)


def _start_server(batching: bool) -> subprocess.Popen:
    args = [sys.executable, __file__, "--serve", "on" if batching else "off"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def healthy() -> bool:
        try:
            if httpx.get(f"http://127.0.0.1:{PORT}/healthz", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError("benchmark model server exited")
        return False

    if wait_until(healthy, 120.0, interval=0.2):
        return proc
    proc.kill()
    raise RuntimeError("benchmark model server not ready")


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _row(level: str, model: str, off: Result, on: Result) -> str:
    return (f"{level:<6} {model:<24} {off.rps:>9.0f} {on.rps:>9.0f} {on.rps / off.rps:>7.2f}x "
            f"{off.pct(50):>7.1f} {on.pct(50):>7.1f} {off.pct(99):>7.1f} {on.pct(99):>7.1f} "
            f"{off.mean_batch:>5.1f} {on.mean_batch:>5.1f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--serve", choices=["on", "off"], help=argparse.SUPPRESS)
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-engine", action="store_true")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", module="sklearn")  # joblib delayed() notice of RandomForest in threads
    if args.serve:
        _serve(args.serve == "on")
        return
    print(f"training models ... (concurrency {args.concurrency}, {args.seconds:.0f}s per cell, 1 row/request, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start)")
    models: dict[tuple[str, str], LoadedModel] = {}
    for m in model_server("model-gpu-2").models:
        models[(m.name, m.version)] = train(m.name, m.version, m.capability)
    header = (f"{'level':<6} {'model':<24} {'rps off':>9} {'rps on':>9} {'speedup':>8} "
              f"{'p50 off':>7} {'p50 on':>7} {'p99 off':>7} {'p99 on':>7} {'b off':>5} {'b on':>5}")  # fmt: skip
    lines = []
    for name, version in () if args.skip_engine else MODELS:
        off = asyncio.run(_engine_run(models, name, version, False, args.seconds, args.concurrency))
        on = asyncio.run(_engine_run(models, name, version, True, args.seconds, args.concurrency))
        lines.append(_row("engine", f"{name} {version}", off, on))
    if not args.skip_http:
        # ABBA order (off, on, on, off): drift in the shared machine's load hits both modes alike.
        runs: dict[bool, list[dict[tuple[str, str], Result]]] = {False: [], True: []}
        for batching in (False, True, True, False):
            proc = _start_server(batching)
            try:
                runs[batching].append({k: asyncio.run(_http_run(*k, args.seconds, args.concurrency)) for k in MODELS})
            finally:
                _stop(proc)
        for k in MODELS:
            lines.append(_row("http", f"{k[0]} {k[1]}", _merge([r[k] for r in runs[False]]),
                              _merge([r[k] for r in runs[True]])))  # fmt: skip
    print(header)
    print("\n".join(lines))
    print("latencies in ms; b = mean rows per executed batch; rps = completed requests per second")
    print(f"load average at end {os.getloadavg()[0]:.1f} (figures are only comparable within one run)")


if __name__ == "__main__":
    main()
