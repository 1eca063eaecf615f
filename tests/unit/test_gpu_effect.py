"""Effect rules of gpu-device-lost, gpu-ecc-error, gpu-thermal-throttle on hand-built inference
spans and counter samples (verdict.gpu_effect through verdict.effect.judge), and the PromQL the
run's gatherer asks for them (runner.effects)."""

from __future__ import annotations

from chaosctl.observe.spans import Span
from chaosctl.runner.effects import _Gather
from chaosctl.verdict.effect import FaultFacts, Observed, judge

LOST = FaultFacts("gpu-device-lost", "model-gpu-1", {})


def _inference(n: int, ms: float, server: str = "model-gpu-1", error: bool = False, fault: str = "",
               t0: int = 0) -> list[Span]:  # fmt: skip
    """n traces: gateway `upstream <server>` -> the server's inference span of `ms`."""
    out = []
    for i in range(n):
        tid, start = f"{server}-{t0}-{i}", t0 + i * 50_000
        attrs = (("server", server),) + ((("gpu.fault", fault),) if fault else ())
        out.append(Span(tid, f"{tid}u", None, "gateway", f"upstream {server}", start, start + int(ms * 1000) + 2000))
        out.append(Span(tid, f"{tid}i", f"{tid}u", server, "inference", start + 1000, start + 1000 + int(ms * 1000),
                        error=error, attributes=attrs))
    return out


def _w(spans=(), **series) -> Observed:
    return Observed(0.0, 10.0, tuple(spans), {k: tuple((float(t), float(v)) for t, v in enumerate(vs)) for k, vs in series.items()})


def test_device_lost_confirmed_when_nothing_succeeds_and_batches_were_refused():
    base = _w(_inference(30, 3.0))
    during = _w(_inference(5, 0.1, error=True, fault="device-lost") + _inference(30, 3.0, server="model-gpu-2"),
                failed_lost=[0, 2, 5])
    e = judge(LOST, base, during)
    assert e.verdict == "confirmed", e
    assert "0 inference spans succeeded" in e.evidence and "refused batches +5" in e.evidence
    assert "5 inference spans carry gpu.device_lost" in e.evidence and "model-gpu-2" in e.evidence  # where it went


def test_device_lost_confirmed_by_traffic_stopping_and_not_observed_when_it_answered():
    elsewhere = _inference(30, 3.0, server="model-gpu-2")  # traffic went on, none of it reached model-gpu-1
    stopped = judge(LOST, _w(_inference(30, 3.0)), _w(elsewhere, failed_lost=[0, 0, 0]))
    assert stopped.verdict == "confirmed"
    answered = judge(LOST, _w(_inference(30, 3.0)), _w(_inference(3, 3.0), failed_lost=[0, 0]))
    assert answered.verdict == "not observed" and "kept answering" in answered.evidence
    nothing = judge(LOST, _w(_inference(3, 3.0)), _w(failed_lost=[0, 0]))
    assert nothing.verdict == "inconclusive" and "nothing reached it" in nothing.evidence


def test_device_lost_a_batch_begun_before_the_loss_was_confirmed_does_not_count_against_it():
    """The admin call and a batch race on the server's loop: a batch that began between inject()
    and verify() returning may still succeed. It is named, not counted; one begun after is."""
    raced = _inference(1, 3.0, t0=100_000)  # its inference span starts at 0.101 s
    refused = _inference(5, 0.1, error=True, fault="device-lost", t0=400_000)
    during = _w(raced + refused + _inference(30, 3.0, server="model-gpu-2"), failed_lost=[0, 2, 5])
    confirmed_after = FaultFacts("gpu-device-lost", "model-gpu-1", {}, in_effect_at=0.2)
    e = judge(confirmed_after, _w(_inference(30, 3.0)), during)
    assert e.verdict == "confirmed", e
    assert "1 succeeded before the loss was confirmed (not counted)" in e.evidence
    confirmed_before = FaultFacts("gpu-device-lost", "model-gpu-1", {}, in_effect_at=0.05)
    late = judge(confirmed_before, _w(_inference(30, 3.0)), during)
    assert late.verdict == "not observed" and "kept answering" in late.evidence, late
    assert judge(LOST, _w(_inference(30, 3.0)), during).verdict == "not observed"  # time unknown: counted


def test_device_lost_with_no_trace_of_the_fault_window_is_inconclusive_not_confirmed():
    """No span at all in the fault window (Jaeger late or empty) and no refused batch counted:
    the missing traffic is missing data, not a stopped device."""
    blind = judge(LOST, _w(_inference(30, 3.0)), _w(failed_lost=[0, 0, 0]))
    assert blind.verdict == "inconclusive" and "no traffic seen" in blind.evidence, blind
    unscraped = judge(LOST, _w(_inference(30, 3.0)), _w())
    assert unscraped.verdict == "inconclusive", unscraped


def test_ecc_confirmed_by_the_failed_batch_counter_against_the_rate():
    fault = FaultFacts("gpu-ecc-error", "model-gpu-2", {"rate": 0.5})
    spans = _inference(4, 3.0, server="model-gpu-2", error=True, fault="ecc-error")
    e = judge(fault, _w(), _w(spans, failed_ecc=[10, 14, 19], batches=[100, 105, 111]))
    assert e.verdict == "confirmed" and "+9 of 20 run (expected about 10.0)" in e.evidence
    assert "4 inference spans carry gpu.ecc_error" in e.evidence
    few = judge(fault, _w(), _w(failed_ecc=[0, 1], batches=[0, 40]))
    assert few.verdict == "inconclusive" and "half the expected" in few.evidence
    none = judge(fault, _w(), _w(failed_ecc=[3, 3], batches=[0, 40]))
    assert none.verdict == "not observed"
    idle = judge(fault, _w(), _w(failed_ecc=[3, 3], batches=[40, 40]))
    assert idle.verdict == "inconclusive" and "no batch ran" in idle.evidence
    assert judge(fault, _w(), _w(failed_ecc=[3])).verdict == "inconclusive"  # one sample


def test_ecc_count_expects_at_most_the_batches_that_ran():
    fault = FaultFacts("gpu-ecc-error", "model-gpu-2", {"count": 50})
    assert judge(fault, _w(), _w(failed_ecc=[0, 3], batches=[0, 0])).verdict == "confirmed"  # 3 of 3 ran


def test_throttle_confirmed_near_the_factor_not_observed_below_inconclusive_far_above():
    fault = FaultFacts("gpu-thermal-throttle", "model-gpu-1", {"factor": 4.0})
    base = _w(_inference(30, 5.0))
    ok = judge(fault, base, _w(_inference(30, 19.0, fault="thermal-throttle")))
    assert ok.verdict == "confirmed" and "5.0 ms -> 19.0 ms (x3.80, throttle x4" in ok.evidence
    assert "30 spans carry gpu.thermal_throttle" in ok.evidence
    assert judge(fault, base, _w(_inference(30, 11.0))).verdict == "confirmed"  # x2.2 >= 1 + 3 / 3
    assert judge(fault, base, _w(_inference(30, 9.0))).verdict == "not observed"  # x1.8 < 1 + 3 / 3
    assert judge(fault, base, _w(_inference(30, 59.0))).verdict == "confirmed"  # x11.8 <= 3 x 4
    assert judge(fault, base, _w(_inference(30, 61.0))).verdict == "inconclusive"  # x12.2 > 3 x 4
    few = judge(fault, base, _w(_inference(5, 19.0)))
    assert few.verdict == "inconclusive" and "too few" in few.evidence


class _Prom:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[tuple[float, float]]:
        self.asked.append(expr)
        return [(start, 0.0), (end, 1.0)]


class _Jaeger:
    def fetch(self, service, start, end):
        class R:
            spans = ()

        return R()


class _Spec:
    def __init__(self, type_: str) -> None:
        self.type, self.target = type_, "model-gpu-1"


def test_the_gatherer_sums_the_fault_counters_of_the_target_job():
    prom = _Prom()
    got = _Gather(prom, _Jaeger(), "gateway").observed(_Spec("gpu-ecc-error"), None, 0.0, 10.0)
    assert 'sum(chaosctl_gpu_failed_batches_total{job="model-gpu-1",reason="ecc-error"})' in prom.asked
    assert 'sum(chaosctl_model_batch_size_count{job="model-gpu-1"})' in prom.asked
    assert {"failed_lost", "failed_ecc", "batches", "throttle_factor"} <= set(got.series)
    prom.asked.clear()
    _Gather(prom, _Jaeger(), "gateway").observed(_Spec("gpu-exhaustion"), None, 0.0, 10.0)
    assert 'max(chaosctl_gpu_memory_used_bytes{job="model-gpu-1"})' in prom.asked  # unchanged for the others
