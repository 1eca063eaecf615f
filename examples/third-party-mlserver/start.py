#!/usr/bin/env python3
"""Start / stop the example system: two MLServer replicas behind Caddy, with Prometheus and Jaeger.

    python3 start.py up        # train a tiny model, write configs into ./run, start everything, wait until ready
    python3 start.py down      # stop every process by its pidfile in ./run (if still the one started)
    python3 start.py replica N # start replica N alone (the System's `start` command: reverts a kill)

Plain standard library, so any python3 runs it. Nothing here knows chaosctl: it is "your service".
MLServer comes from its own venv ($MLSERVER_VENV, else $CHAOSCTL_TOOLS_DIR/mlserver, else a
checkout's .tools/mlserver, else ~/.local/share/chaosctl/tools/mlserver: `chaosctl setup --dev`);
caddy, prometheus and jaeger from PATH or $CHAOSCTL_TOOLS_DIR/bin (jaeger: `chaosctl setup`).

Caddy calls replica N at 127.0.0.1:2210N, the System's link `lb->replica-N`: `chaosctl run` starts a
Toxiproxy there that forwards to the replica's real port 2200N, so the faults hit real TCP. Outside
a run nothing listens on 2210N, and the load balancer has no healthy upstream.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUN = HERE / "run"
HOST = "127.0.0.1"
LB, LB_METRICS, PROMETHEUS = 22000, 22009, 22090
JAEGER = {"query": 22686, "query_grpc": 22687, "otlp_grpc": 22317, "otlp_http": 22318, "health": 22133, "metrics": 22888}
REPLICAS = (1, 2)


def replica_ports(n: int) -> dict[str, int]:
    return {"http": 22000 + n, "grpc": 22010 + n, "metrics": 22020 + n, "link": 22100 + n, "hop": 22200 + n}


# ---- finding the programs -------------------------------------------------------------------

def _tools_dirs() -> list[Path]:
    dirs = [Path(os.environ["CHAOSCTL_TOOLS_DIR"])] if os.environ.get("CHAOSCTL_TOOLS_DIR") else []
    dirs += [p / ".tools" for p in HERE.parents if (p / ".tools").is_dir()][:1]
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return dirs + [Path(base) / "chaosctl" / "tools"]


def program(name: str) -> str:
    for d in _tools_dirs():
        if (d / "bin" / name).is_file():
            return str(d / "bin" / name)
    found = shutil.which(name)
    if found is None:
        sys.exit(f"start.py: {name} not found on PATH nor in a tools folder (run `chaosctl setup --dev`)")
    return found


def mlserver_venv() -> Path:
    cands = [Path(os.environ["MLSERVER_VENV"])] if os.environ.get("MLSERVER_VENV") else []
    cands += [d / "mlserver" for d in _tools_dirs()]
    for venv in cands:
        if (venv / "bin" / "mlserver").is_file():
            return venv
    sys.exit("start.py: MLServer's venv not found (run `chaosctl setup --dev`, or set MLSERVER_VENV)")


# ---- processes ------------------------------------------------------------------------------

def start_stamp(pid: int) -> str | None:
    """When process `pid` started (None: no such process, or a zombie), to tell it from a later
    process that reuses the pid: Linux's start time in clock ticks since boot, else ps's."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return None if fields[0] in ("Z", "X") else f"proc:{fields[19]}"  # state, starttime (stat fields 3, 22)
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None  # Linux, and the pid is gone
    except (OSError, IndexError):
        return None
    ps = subprocess.run(["ps", "-o", "lstart=", "-p", str(pid)], capture_output=True, text=True)
    return f"ps:{ps.stdout.strip()}" if ps.returncode == 0 and ps.stdout.strip() else None


def spawn(name: str, argv: list[str], env: dict[str, str] | None = None) -> int:
    """Start `argv` detached (own session), output to run/NAME.log, pid to run/NAME.pid (the pid
    alone: chaosctl reads it) and its start stamp to run/NAME.started (`stop` checks it)."""
    log = open(RUN / f"{name}.log", "ab")
    proc = subprocess.Popen(argv, cwd=RUN, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})}, start_new_session=True)
    (RUN / f"{name}.started").write_text(f"{proc.pid} {start_stamp(proc.pid)}\n")
    (RUN / f"{name}.pid").write_text(f"{proc.pid}\n")
    return proc.pid


def wait_http(url: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if 200 <= resp.status < 300:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            sys.exit(f"start.py: {url} not ready within {timeout:.0f}s (logs in {RUN})")
        time.sleep(0.2)


def stop(name: str) -> None:
    """SIGTERM (after 5 s SIGKILL) the process in run/NAME.pid, only while it is still the one
    spawn() started: a pid whose start stamp differs was reused by another process after ours
    ended, so ours is already gone and the other is left alone."""
    pidfile, started = RUN / f"{name}.pid", RUN / f"{name}.started"
    try:
        pid = int(pidfile.read_text().strip())
        stamp_pid, stamp = started.read_text().split(maxsplit=1)
    except (OSError, ValueError):
        if pidfile.exists():
            print(f"start.py: {name}: no start stamp for the pid in {pidfile.name} (an older start.py?): not signalled")
        return
    stamp = stamp.strip()
    try:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if int(stamp_pid) != pid or start_stamp(pid) != stamp:
                break  # gone (or the pid is another process's now)
            os.kill(pid, sig)
            for _ in range(100):
                if start_stamp(pid) != stamp:
                    break
                time.sleep(0.05)
    except (ProcessLookupError, PermissionError):
        pass
    pidfile.unlink(missing_ok=True)
    started.unlink(missing_ok=True)


# ---- configs --------------------------------------------------------------------------------

def train_model() -> None:
    """A tiny scikit-learn classifier (4 features, 3 classes), trained on generated data."""
    code = ("import joblib, numpy as np; from sklearn.linear_model import LogisticRegression\n"
            "rng = np.random.default_rng(7); x = rng.normal(size=(300, 4)); y = (x[:, 0] > 0) + (x[:, 1] > 0.5)\n"
            f"joblib.dump(LogisticRegression(max_iter=200).fit(x, y), {str(RUN / 'model.joblib')!r})\n")
    subprocess.run([str(mlserver_venv() / "bin" / "python"), "-c", code], check=True)


def replica_config(n: int) -> Path:
    ports, root = replica_ports(n), RUN / f"replica-{n}"
    (root / "classifier").mkdir(parents=True, exist_ok=True)
    (root / "metrics").mkdir(exist_ok=True)
    settings = {"host": HOST, "http_port": ports["http"], "grpc_port": ports["grpc"], "metrics_port": ports["metrics"],
                "metrics_dir": str(root / "metrics"), "parallel_workers": 0, "server_name": f"mlserver-{n}",
                "tracing_server": f"{HOST}:{JAEGER['otlp_grpc']}", "debug": False}
    (root / "settings.json").write_text(json.dumps(settings, indent=1))
    model = {"name": "classifier", "implementation": "mlserver_sklearn.SKLearnModel",
             "parameters": {"uri": str(RUN / "model.joblib")}}
    (root / "classifier" / "model-settings.json").write_text(json.dumps(model, indent=1))
    return root


def _front_proxy(upstreams: list[str]) -> dict:
    # A failed hop is out of the rotation at its first failure (passive check) until its active
    # check passes again. No retries: Caddy 2.10 does not replay a POST body on a retry (without
    # request_buffers the retry fails with "invalid Read on closed Body", with them it sends an
    # empty body), so a request in flight on a replica that dies fails fast instead.
    return {"handler": "reverse_proxy", "upstreams": [{"dial": u} for u in upstreams],
            "load_balancing": {"selection_policy": {"policy": "round_robin"}},
            "health_checks": {"passive": {"fail_duration": "3s", "max_fails": 1},
                              "active": {"uri": "/v2/health/ready", "interval": "500ms", "timeout": "1s"}}}


def caddy_config() -> dict:
    """One Caddy: the front server `lb` balances over two hop servers, one per replica, each
    calling its replica through the link; each server has its own span name, so the trace of a
    request shows the hop it took (`lb->replica-N`) and the time spent on it. A hop that cannot
    reach its replica drops the connection (no 502 page): a proxy error that takes the hop out."""
    # MLServer cannot turn off its anonymous model-repository API (load/unload; README "Security"):
    # the front refuses it, so clients of the load balancer cannot unload the model.
    refuse_repository = {"match": [{"path": ["/v2/repository", "/v2/repository/*"]}], "terminal": True,
                         "handle": [{"handler": "static_response", "status_code": 403,
                                     "body": "model repository API not exposed\n"}]}
    servers = {"lb": {"listen": [f"{HOST}:{LB}"], "routes": [refuse_repository, {"handle": [
        {"handler": "tracing", "span": "lb"}, _front_proxy([f"{HOST}:{replica_ports(n)['hop']}" for n in REPLICAS])]}]}}
    for n in REPLICAS:
        p = replica_ports(n)
        servers[f"hop-{n}"] = {
            "listen": [f"{HOST}:{p['hop']}"],
            "routes": [{"handle": [{"handler": "tracing", "span": f"lb->replica-{n}"},
                                   {"handler": "reverse_proxy", "upstreams": [{"dial": f"{HOST}:{p['link']}"}]}]}],
            "errors": {"routes": [{"handle": [{"handler": "static_response", "abort": True}]}]}}
    # Prometheus scrapes a metrics-only server, not the admin API: the admin API takes anonymous
    # config changes from anyone on the host, and nothing here changes Caddy's config at runtime.
    servers["metrics"] = {"listen": [f"{HOST}:{LB_METRICS}"], "routes": [{"handle": [{"handler": "metrics"}]}]}
    return {"admin": {"disabled": True}, "logging": {"logs": {"default": {"level": "WARN"}}},
            "apps": {"http": {"metrics": {}, "servers": servers}}}  # metrics: Caddy's per-server histograms


def prometheus_config() -> dict:
    jobs = {"lb": f"{HOST}:{LB_METRICS}", **{f"replica-{n}": f"{HOST}:{replica_ports(n)['metrics']}" for n in REPLICAS}}
    return {"global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": j, "static_configs": [{"targets": [t]}]} for j, t in jobs.items()]}


def jaeger_config() -> dict:
    a = {k: f"{HOST}:{v}" for k, v in JAEGER.items()}
    return {
        "service": {"extensions": ["jaeger_storage", "jaeger_query", "healthcheckv2"],
                    "pipelines": {"traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["jaeger_storage_exporter"]}},
                    "telemetry": {"resource": {"service.name": "jaeger"}, "logs": {"level": "warn"},
                                  "metrics": {"level": "none"}}},
        "extensions": {"jaeger_query": {"storage": {"traces": "memstore"}, "enable_tracing": False,
                                        "http": {"endpoint": a["query"]}, "grpc": {"endpoint": a["query_grpc"]}},
                       "jaeger_storage": {"backends": {"memstore": {"memory": {"max_traces": 100000}}}},
                       "healthcheckv2": {"use_v2": True, "http": {"endpoint": a["health"]}}},
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": a["otlp_grpc"]}, "http": {"endpoint": a["otlp_http"]}}}},
        "processors": {"batch": {"timeout": "200ms"}},
        "exporters": {"jaeger_storage_exporter": {"trace_storage": "memstore"}},
    }


# ---- commands -------------------------------------------------------------------------------

def start_replica(n: int) -> None:
    root = replica_config(n)
    for stale in (root / "metrics").glob("*.db"):  # prometheus_client's multiprocess files of a dead process
        stale.unlink()
    spawn(f"replica-{n}", [str(mlserver_venv() / "bin" / "mlserver"), "start", str(root)])


def up() -> None:
    RUN.mkdir(exist_ok=True)
    train_model()
    for name, cfg in (("jaeger", jaeger_config()), ("prometheus", prometheus_config()), ("caddy", caddy_config())):
        (RUN / f"{name}.json").write_text(json.dumps(cfg, indent=1))  # JSON is YAML for jaeger and prometheus
    spawn("jaeger", [program("jaeger"), "--config", str(RUN / "jaeger.json")])
    spawn("prometheus", [program("prometheus"), f"--config.file={RUN / 'prometheus.json'}",
                         f"--storage.tsdb.path={RUN / 'prometheus-data'}", f"--web.listen-address={HOST}:{PROMETHEUS}"])
    for n in REPLICAS:
        start_replica(n)
    spawn("caddy", [program("caddy"), "run", "--config", str(RUN / "caddy.json")],
          env={"OTEL_SERVICE_NAME": "lb", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://{HOST}:{JAEGER['otlp_grpc']}",
               "OTEL_EXPORTER_OTLP_TRACES_INSECURE": "true", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    wait_http(f"http://{HOST}:{JAEGER['health']}/status")
    wait_http(f"http://{HOST}:{PROMETHEUS}/-/ready")
    wait_http(f"http://{HOST}:{LB_METRICS}/metrics")
    for n in REPLICAS:
        wait_http(f"http://{HOST}:{replica_ports(n)['http']}/v2/health/ready", timeout=180)
    print(f"up: load balancer http://{HOST}:{LB}, Prometheus http://{HOST}:{PROMETHEUS}, "
          f"Jaeger http://{HOST}:{JAEGER['query']}; logs and pids in {RUN}")


def down() -> None:
    for name in ("caddy", *(f"replica-{n}" for n in REPLICAS), "prometheus", "jaeger"):
        stop(name)
    print("down")


def main(argv: list[str]) -> None:
    if argv[:1] == ["up"]:
        up()
    elif argv[:1] == ["down"]:
        down()
    elif len(argv) == 2 and argv[0] == "replica" and argv[1] in {str(n) for n in REPLICAS}:
        RUN.mkdir(exist_ok=True)
        start_replica(int(argv[1]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
