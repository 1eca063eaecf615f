"""Effect rules on hand-built spans and samples (verdict.effect)."""

from __future__ import annotations

from chaosctl.verdict.effect import FaultFacts, Hop, Observed, judge, service_of
from chaosctl.observe.spans import Span

HOP = Hop("gateway", "model-gpu-1", "127.0.0.1:17104")
LAT = FaultFacts("latency", "link:gateway->model-gpu-1", {"latency": 0.2, "toxicity": 1.0})


def _calls(n: int, hop_ms: float, server_ms: float = 5.0, dest: str = "model-gpu-1", t0: int = 0,
           error: bool = False, child: bool = True) -> list[Span]:
    """n traces: gateway root -> `upstream <dest>` (hop_ms on the wire) -> dest's server span."""
    out = []
    for i in range(n):
        start = t0 + i * 100_000
        tid = f"t{t0}-{dest}-{i}"
        total = int((hop_ms + server_ms) * 1000)
        out.append(Span(tid, f"{tid}r", None, "gateway", "POST /v1/models/m/predict", start, start + total + 200))
        out.append(Span(tid, f"{tid}u", f"{tid}r", "gateway", f"upstream {dest}", start + 100, start + 100 + total,
                        error=error, kind="client"))
        if child:
            s = start + 100 + int(hop_ms * 500)
            out.append(Span(tid, f"{tid}s", f"{tid}u", dest, "POST /v1/models/{model}/predict", s, s + int(server_ms * 1000)))
    return out


def _w(spans=(), **series) -> Observed:
    return Observed(0.0, 10.0, tuple(spans), {k: tuple(v) for k, v in series.items()})


def test_latency_confirmed_with_the_measured_added_latency():
    e = judge(LAT, _w(_calls(40, 2.0)), _w(_calls(40, 203.0)), HOP)
    assert e.verdict == "confirmed" and abs(e.added_s - 0.201) < 0.002
    assert "upstream model-gpu-1" in e.evidence and "+201.0 ms" in e.evidence and "injected +200.0 ms" in e.evidence


def test_latency_hop_time_excludes_the_server_time():
    # the server got slower, the wire did not: no latency toxic effect
    e = judge(LAT, _w(_calls(40, 2.0, server_ms=5)), _w(_calls(40, 2.0, server_ms=400)), HOP)
    assert e.verdict == "not observed" and "less than half" in e.evidence


def test_latency_found_by_operation_name_when_the_server_is_not_traced():
    e = judge(LAT, _w(_calls(30, 2.0, child=False)), _w(_calls(30, 207.0, child=False)), HOP)
    assert e.verdict == "confirmed"


def test_latency_far_above_the_injected_amount_is_inconclusive():
    e = judge(LAT, _w(_calls(40, 2.0)), _w(_calls(40, 900.0)), HOP)
    assert e.verdict == "inconclusive" and "far more" in e.evidence


def test_latency_with_timeouts_is_confirmed_by_the_failures():
    f = FaultFacts("latency", LAT.target, {"latency": 3.0, "toxicity": 1.0})
    e = judge(f, _w(_calls(40, 2.0)), _w(_calls(40, 1000.0, error=True, child=False)), HOP)
    assert e.verdict == "confirmed" and "timed out" in e.evidence


def test_too_few_calls_is_inconclusive_never_confirmed():
    e = judge(LAT, _w(_calls(40, 2.0)), _w(_calls(5, 202.0)), HOP)
    assert e.verdict == "inconclusive" and "too few" in e.evidence
    assert judge(LAT, None, _w(_calls(40, 202.0)), HOP).verdict == "inconclusive"  # no baseline


def test_link_without_traffic_is_not_observed():
    cpu = Hop("gateway", "model-cpu-1", "127.0.0.1:17106")
    f = FaultFacts("latency", "link:gateway->model-cpu-1", {"latency": 0.2})
    e = judge(f, _w(_calls(40, 2.0)), _w(_calls(40, 2.0)), cpu)
    assert e.verdict == "not observed" and "carried no traffic" in e.evidence


def test_no_traces_at_all_is_inconclusive():
    assert judge(LAT, _w(_calls(40, 2.0)), _w(()), HOP).verdict == "inconclusive"


def test_calls_that_moved_away_are_inconclusive():
    e = judge(LAT, _w(_calls(40, 2.0)), _w(_calls(40, 2.0, dest="model-gpu-2")), HOP)
    assert e.verdict == "inconclusive" and "moved away" in e.evidence


def test_reset_peer_confirmed_by_failures():
    f = FaultFacts("reset-peer", LAT.target, {"timeout": 0.0})
    assert judge(f, _w(_calls(30, 2.0)), _w(_calls(30, 2.0, error=True))).verdict == "inconclusive"  # no hop given
    assert judge(f, _w(_calls(30, 2.0)), _w(_calls(30, 2.0, error=True)), HOP).verdict == "confirmed"
    assert judge(f, _w(_calls(30, 2.0)), _w(_calls(30, 2.0)), HOP).verdict == "not observed"


def test_killed_component_confirmed_and_its_traffic_moved():
    kill = FaultFacts("process-kill", "model-gpu-1")
    base = _w(_calls(30, 2.0) + _calls(30, 2.0, dest="model-gpu-2", t0=5))
    during = _w(_calls(60, 2.0, dest="model-gpu-2"), up=[(1, 0.0), (2, 0.0), (3, 0.0)])
    e = judge(kill, base, during)
    assert e.verdict == "confirmed" and "stopped answering" in e.evidence and "traffic moved" in e.evidence


def test_paused_component_confirmed_by_its_spans_stopping_without_up_samples():
    pause = FaultFacts("process-pause", "model-gpu-1")
    e = judge(pause, _w(_calls(30, 2.0)), _w(_calls(30, 2.0, dest="model-gpu-2")))
    assert e.verdict == "confirmed"


def test_component_that_kept_answering_is_not_observed():
    kill = FaultFacts("process-kill", "model-gpu-1")
    e = judge(kill, _w(_calls(30, 2.0)), _w(_calls(30, 2.0), up=[(1, 1.0), (2, 1.0), (3, 1.0)]))
    assert e.verdict == "not observed" and "did not move" in e.evidence


def test_component_with_little_data_is_inconclusive():
    kill = FaultFacts("process-kill", "registry-store[0]")
    assert judge(kill, _w(), _w(up=[(1, 1.0)])).verdict == "inconclusive"
    assert service_of("registry-store[0]") == "registry-store-0"


def test_restart_confirmed_by_a_new_start_time():
    f = FaultFacts("process-restart", "registry")
    e = judge(f, _w(), _w(up=[(1, 1.0), (2, 1.0)], start_time=[(1, 100.0), (2, 160.0)]))
    assert e.verdict == "confirmed" and "restarted" in e.evidence


GIB = 2**30


def test_gpu_memory_confirmed_not_observed_inconclusive():
    f = FaultFacts("gpu-exhaustion", "model-gpu-2", {"memory": 0.95})
    base = _w(gpu_memory_used=[(1, 4 * GIB), (2, 4 * GIB)])
    full = _w(gpu_memory_used=[(1, 15 * GIB), (2, 15.2 * GIB)], gpu_memory_total=[(1, 16 * GIB)])
    flat = _w(gpu_memory_used=[(1, 4 * GIB), (2, 4 * GIB)], gpu_memory_total=[(1, 16 * GIB)])
    assert judge(f, base, full).verdict == "confirmed"
    assert judge(f, base, flat).verdict == "not observed"
    assert judge(f, base, _w(gpu_memory_used=[(1, 15 * GIB)], gpu_memory_total=[(1, 16 * GIB)])).verdict == "inconclusive"
    assert judge(f, None, full).verdict == "inconclusive"


def test_gpu_compute_rule():
    f = FaultFacts("gpu-exhaustion", "model-gpu-2", {"compute": 1.0})
    assert judge(f, _w(), _w(gpu_utilization=[(1, 0.2), (2, 1.0)])).verdict == "confirmed"
    assert judge(f, _w(), _w(gpu_utilization=[(1, 0.2), (2, 0.3)])).verdict == "not observed"
    assert judge(f, _w(), _w(gpu_utilization=[(1, 1.0)])).verdict == "inconclusive"


def test_a_root_tagged_with_the_server_is_not_a_hop_call():
    def tagged(n, hop_ms):
        return [Span(s.trace_id, s.span_id, s.parent_id, s.service, s.operation, s.start_us, s.end_us,
                     attributes=(("server", "model-gpu-1"),)) if s.parent_id is None else s for s in _calls(n, hop_ms)]
    e = judge(LAT, _w(tagged(40, 2.0)), _w(tagged(40, 202.0)), HOP)
    assert e.verdict == "confirmed" and "hop gateway: upstream model-gpu-1 median" in e.evidence


def test_spans_stopping_in_an_empty_fault_window_is_missing_data_not_a_stopped_component():
    """No trace at all in the fault window (Jaeger late, load stalled) and no `up` sample: the
    component's spans 'stopped' only because nothing was seen; inconclusive, never confirmed."""
    pause = FaultFacts("process-pause", "model-gpu-1")
    e = judge(pause, _w(_calls(30, 2.0)), _w())
    assert e.verdict == "inconclusive", e
