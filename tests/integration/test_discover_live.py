"""`chaosctl discover` against the real reference stack: the draft names its processes, the reference
SLI preset and the Jaeger services, and validates (alone and under a scenario that targets it)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import httpx
import psutil
import yaml
from _run_live import chaosctl, toxics_left, wait_serving

from chaosctl.services.gateway.auth import mint_token
from chaosctl.system import load_system
from chaosctl.system.model import ProcessComponent

ROOT = Path(__file__).resolve().parents[2]
CHAOSCTL = ROOT / ".venv" / "bin" / "chaosctl"


def _wait_for(what: str, check, timeout: float = 60.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _ready(stack) -> None:  # noqa: ANN001
    """Prometheus scrapes the services and Jaeger knows the gateway (a predict request makes its trace)."""
    topo = stack.topology
    prom, jaeger = topo.url("prometheus"), topo.url("jaeger")

    wanted = {*topo.services, "registry-store-0"}

    def targets_up() -> bool:
        active = httpx.get(f"{prom}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
        up = {t["labels"]["job"] for t in active if t["health"] == "up"}
        down[:] = sorted(f"{t['labels']['job']} ({t.get('lastError')})" for t in active if t["health"] != "up")
        return wanted <= up

    down: list[str] = []

    token = mint_token(stack.settings.jwt_secret, subject="discover-test", ttl_s=600)
    body = {"inputs": [[0.1] * 20]}  # fraud-detector's 20 features

    def gateway_traced() -> bool:  # a predict request is traced end to end (health checks are not)
        httpx.post(f"{topo.url('gateway')}/v1/models/fraud-detector/predict", json=body,
                   headers={"Authorization": f"Bearer {token}"}, timeout=5)  # fmt: skip
        return "gateway" in (httpx.get(f"{jaeger}/api/v3/services", timeout=5).json().get("services") or [])

    try:
        _wait_for(f"the scrape targets of {sorted(wanted)} up", targets_up)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; down: {down}") from None
    _wait_for("the gateway's traces in Jaeger", gateway_traced)

    def toxiproxy_scraped() -> bool:  # how discover knows the Toxiproxy: its toxiproxy_* series (after traffic)
        names = httpx.get(f"{prom}/api/v1/label/__name__/values", timeout=5).json()["data"]
        return any(n.startswith("toxiproxy_") for n in names)

    _wait_for("Toxiproxy's toxiproxy_* series in Prometheus", toxiproxy_scraped)


def _short_smoke(folder: Path) -> Path:
    """The shipped smoke scenario with 12 s phases instead of 20 s: the rehearsal asks the same
    queries (every SLO, the abort, the traces) over the same three phases; 12 scrapes of the
    stack's 1 s interval still let coverage be judged as in a full run."""
    raw = yaml.safe_load((ROOT / "scenarios" / "smoke.yaml").read_text())
    for phase in raw["phases"]:
        phase["duration"] = "12s"
    path = folder / "smoke-12s.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_discover_drafts_a_valid_system_of_the_reference_stack(stack, tmp_path: Path) -> None:  # noqa: ANN001
    _ready(stack)
    topo = stack.topology
    started = time.monotonic()
    proc = subprocess.run([str(CHAOSCTL), "discover", "--prometheus", topo.url("prometheus"), "--jaeger", topo.url("jaeger")],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    seconds = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    draft = tmp_path / "discovered.system.yaml"
    draft.write_text(proc.stdout)
    checked = subprocess.run([str(CHAOSCTL), "validate", str(draft)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr + proc.stdout

    system = load_system(draft)
    assert system.slis.preset == "chaosctl-reference"
    assert {"gateway", "registry"} <= set(system.traces.services)
    names = {c.name for c in system.components}
    assert {"gateway", "registry", "model-gpu-1", "model-gpu-2", "model-cpu-1", "registry-store[0]"} <= names, names
    assert {link.name for link in system.links} == {link.name.removeprefix("link:") for link in topo.links}
    assert all(link.toxiproxy == topo.url("toxiproxy") for link in system.links)
    assert system.component("model-gpu-1").kind == "reference-modelserver"
    gateway = system.component("gateway")
    assert isinstance(gateway, ProcessComponent) and gateway.start and gateway.match
    pid = stack.backend.pid("gateway")  # now, not at session start: an earlier test may have restarted it
    found = [p.pid for p in psutil.process_iter(["cmdline"]) if re.search(gateway.match, " ".join(p.info["cmdline"] or []))]
    assert found == [pid], f"the match must find exactly the gateway's process: {found} vs {pid}"
    assert proc.stdout.count("# review:") >= len(system.components)
    print(f"discover on the reference stack: {seconds:.2f}s, {len(system.components)} components")

    scenario = tmp_path / "kill-gateway.yaml"
    scenario.write_text(
        "apiVersion: chaosctl/v1\nkind: Scenario\nmetadata: {name: kill-gateway}\nsystem: ./discovered.system.yaml\n"
        "load: {users: 1, spawn_rate: 1, requests: [{model: fraud-detector}]}\n"
        "phases:\n  - {name: baseline, duration: 5s}\n"
        "  - {name: fault, duration: 5s, faults: [{type: process-kill, target: gateway}]}\n"
        "steady_state:\n  - {name: gateway, probe: http, target: gateway}\n"
    )
    checked = subprocess.run([str(CHAOSCTL), "validate", str(scenario)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr

    # The shipped scenarios' targets resolve on the draft, and a rehearsal of smoke passes on it.
    for shipped in ("smoke", "registry-node-loss", "gpu-exhaustion"):
        checked = subprocess.run([str(CHAOSCTL), "validate", str(ROOT / "scenarios" / f"{shipped}.yaml"), "--system", str(draft)],
                                 capture_output=True, text=True, timeout=60)  # fmt: skip
        assert checked.returncode == 0, f"{shipped}: {checked.stdout}{checked.stderr}"
    wait_serving(stack.settings, topo)
    res = chaosctl(stack.settings, "run", str(_short_smoke(tmp_path)), "--system", str(draft), "--rehearse",
                   "--report-dir", str(tmp_path / "rehearse"), timeout=300)  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    report = json.loads((tmp_path / "rehearse" / "report.json").read_text())
    assert report["verdict"] == "pass" and [p["name"] for p in report["phases"]] == ["baseline", "fault", "recovery"]
    assert toxics_left(topo) == {}  # a rehearsal injects nothing
