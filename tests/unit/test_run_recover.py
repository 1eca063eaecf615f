"""`chaosctl recover` over the journal, with Toxiproxy as an in-memory transport;
`run --dry-run` prints the timeline and touches nothing."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from chaosctl.cli import app, exit_code_for
from chaosctl.errors import RunFailed
from chaosctl.faults.base import FaultContext, FaultRecord
from chaosctl.faults.journal import Journal
from chaosctl.faults.link import ToxiproxyClient
from chaosctl.runner.recover import recover_faults
from chaosctl.settings import Settings
from chaosctl.stack.topology import Topology

DATA = Path(__file__).resolve().parents[1] / "data"


class FakeToxiproxy:
    """Holds toxics per proxy; answers the three calls the link fault makes."""

    def __init__(self, toxics: dict[str, list[str]]) -> None:
        self.toxics = toxics
        self.deletes: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.strip("/").split("/")
        if request.method == "DELETE" and len(parts) == 4:
            proxy, name = parts[1], parts[3]
            self.deletes.append(name)
            if name not in self.toxics.get(proxy, []):
                return httpx.Response(404, json={"error": "toxic not found"})
            self.toxics[proxy].remove(name)
            return httpx.Response(204)
        return httpx.Response(400)


def _ctx(settings: Settings, fake: FakeToxiproxy) -> FaultContext:
    topo = Topology(settings.port_base)
    ctx = FaultContext(settings, topo, backend_factory=lambda: None)
    ctx._toxiproxy = ToxiproxyClient(topo.url("toxiproxy"), transport=httpx.MockTransport(fake))
    return ctx


def test_recover_reverts_pending_faults_newest_first_and_is_idempotent(tmp_path):
    settings = Settings(state_dir=tmp_path, port_base=24500)
    journal = Journal(settings.journal_path)
    for fid, link in (("a", "link:gateway->model-gpu-1"), ("b", "link:gateway->registry"), ("c", "link:gateway->model-gpu-2")):
        journal.record_inject(FaultRecord(fid, "latency", link, {"latency": 0.1}))
    journal.record_reverted("b")
    fake = FakeToxiproxy({"gateway__model-gpu-1": ["chaosctl-a"], "gateway__model-gpu-2": ["chaosctl-c"]})
    lines: list[str] = []
    assert recover_faults(settings, echo=lines.append, ctx=_ctx(settings, fake)) == 2  # a and c; b was reverted
    assert fake.deletes == ["chaosctl-c", "chaosctl-a"]
    assert fake.toxics == {"gateway__model-gpu-1": [], "gateway__model-gpu-2": []}
    assert any("reverted latency link:gateway->model-gpu-2" in x for x in lines)
    assert journal.pending() == [] and journal.path.read_text() == ""
    lines.clear()
    assert recover_faults(settings, echo=lines.append, ctx=_ctx(settings, fake)) == 0
    assert fake.deletes == ["chaosctl-c", "chaosctl-a"] and "nothing to recover" in lines[0]


def test_recover_of_a_fault_that_never_landed_is_harmless(tmp_path):
    settings = Settings(state_dir=tmp_path, port_base=24500)
    Journal(settings.journal_path).record_inject(FaultRecord("z", "latency", "link:gateway->registry", {}))
    fake = FakeToxiproxy({})
    assert recover_faults(settings, echo=lambda s: None, ctx=_ctx(settings, fake)) == 1
    assert fake.deletes == ["chaosctl-z"]


def test_recover_keeps_what_it_could_not_revert_and_exits_4_not_1(tmp_path):
    settings = Settings(state_dir=tmp_path, port_base=24500)
    journal = Journal(settings.journal_path)
    journal.record_inject(FaultRecord("a", "latency", "link:gateway->registry", {}))

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    ctx = FaultContext(settings, Topology(24500), backend_factory=lambda: None)
    ctx._toxiproxy = ToxiproxyClient("http://127.0.0.1:24570", transport=httpx.MockTransport(down))
    lines: list[str] = []
    with pytest.raises(RunFailed, match="1 fault.s. could not be reverted") as err:
        recover_faults(settings, echo=lines.append, ctx=ctx)
    assert exit_code_for(err.value) == 4  # README: 4 = a revert failed; 1 = SLO failed
    assert [r.id for r in journal.pending()] == ["a"]
    assert any("FAILED to revert latency link:gateway->registry" in x for x in lines)


def test_dry_run_prints_the_timeline_and_touches_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAOSCTL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CHAOSCTL_PORT_BASE", "24900")  # nothing listens there
    result = CliRunner().invoke(app, ["run", str(DATA / "run-latency-fail.yaml"), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "baseline" in result.output and "link:gateway->model-gpu-2" in result.output
    assert not (tmp_path / "state").exists()
