"""Did a GPU fault beyond memory exhaustion do anything the system showed? (docs/verdicts.md,
"Fault effects"). Pure functions over the target's `inference` spans (one per request of a
batch; a batch a fault failed has its span in error, with `gpu.fault` set) and its counters:

* gpu-device-lost on N: no batch succeeded on N during the fault, and either N refused batches
  (`chaosctl_gpu_failed_batches_total{reason="device-lost"}` rose) or its traffic stopped (it
  ran at least MIN_SPANS inference spans in the baseline, and MIN_SPANS traces of the fault
  window went elsewhere). A batch that succeeded on it: not observed (one that began before
  verify() confirmed the loss is named, not counted). Neither failures nor
  traffic in both windows: inconclusive (nothing reached it, or no data).
* gpu-ecc-error on N: the failed-batch counter (`reason="ecc-error"`) rose by at least half of
  what the fault should have failed (rate x the batches N ran, or count, at most the batches
  ran) and by at least 1. Rose by none: not observed; by less than half: inconclusive.
* gpu-thermal-throttle on N, factor f: the median of N's successful inference spans during the
  fault / in the baseline is within [1 + (f - 1) / 3, 3 f]. Below: not observed; above:
  inconclusive (something else slowed it too). Fewer than MIN_SPANS in either window: inconclusive.
  The low bound is loose because only the batch's compute is multiplied: the event loop's share
  of a span and the compute itself vary with the load between the windows (measured on the
  reference stack, factor 4: x2.79, x6.40, x3.83, x4.66). The high bound is loose too: a throttled
  device stays busy longer, so batch-while-busy forms bigger batches whose compute is longer.
"""

from __future__ import annotations

import statistics
from typing import Sequence

from chaosctl.observe.spans import Span

from .effect import CONFIRMED, INCONCLUSIVE, MIN_SAMPLES, MIN_SPANS, NOT_OBSERVED, Effect, FaultFacts, Observed, _moved, service_of

GPU_DEVICE_TYPES = ("gpu-device-lost", "gpu-ecc-error", "gpu-thermal-throttle")
THROTTLE_LOW, THROTTLE_HIGH = 1 / 3, 3.0  # of the added factor (f - 1), and of f


def judge_gpu_device(fault: FaultFacts, base: Observed | None, during: Observed) -> Effect:
    svc = service_of(fault.target)
    if fault.type == "gpu-device-lost":
        effect = _lost(svc, base, during, fault.in_effect_at)
    elif fault.type == "gpu-ecc-error":
        effect = _ecc(fault, svc, during)
    else:
        effect = _throttle(fault, svc, base, during)
    return Effect(effect.verdict, f"{fault.target}: {effect.evidence}{_moved(svc, base, during)}")


def inference(spans: Sequence[Span], service: str) -> list[Span]:
    return [s for s in spans if s.service == service and s.operation == "inference"]


def _faulted(spans: Sequence[Span], kind: str) -> int:
    return sum(1 for s in spans if dict(s.attributes).get("gpu.fault") == kind)


def increase(window: Observed, role: str) -> float | None:
    """What a counter gained over the window (None: fewer than MIN_SAMPLES samples)."""
    values = window.values(role)
    if len(values) < MIN_SAMPLES:
        return None
    return max(0.0, values[-1] - values[0])


def _lost(svc: str, base: Observed | None, during: Observed, in_effect_at: float | None = None) -> Effect:
    now = inference(during.spans, svc)
    # A batch that began before verify() confirmed the device lost may have been on the device
    # already (the admin call and the batch race on the server's loop): not evidence either way.
    settled = int(in_effect_at * 1e6) if in_effect_at is not None else None
    ok = [s for s in now if not s.error and (settled is None or s.start_us >= settled)]
    early = sum(1 for s in now if not s.error) - len(ok)
    n_base = len(inference(base.spans, svc)) if base is not None else 0
    refused = increase(during, "failed_lost")
    counted = f"+{refused:g}" if refused is not None else f"not measured (need {MIN_SAMPLES} samples)"
    said = (f"{len(ok)} inference spans succeeded on it during the fault, {n_base} inference spans in the baseline; "
            f"refused batches {counted}; {_faulted(now, 'device-lost')} inference spans carry gpu.device_lost")
    if early:
        said += f"; {early} succeeded before the loss was confirmed (not counted)"
    if ok:
        return Effect(NOT_OBSERVED, f"the device kept answering: {said}")
    if (refused or 0) >= 1:
        return Effect(CONFIRMED, f"device lost: {said}")
    # "Its traffic stopped" only while traffic went on elsewhere: an empty fault window
    # (Jaeger late, the load stalled) is missing data, not a stopped device.
    traces = len({s.trace_id for s in during.spans})
    if n_base >= MIN_SPANS and traces >= MIN_SPANS:
        return Effect(CONFIRMED, f"device lost: {said}; {traces} traces went elsewhere")
    if n_base >= MIN_SPANS:
        return Effect(INCONCLUSIVE, f"no traffic seen in the fault window ({traces} traces, need {MIN_SPANS}): {said}")
    return Effect(INCONCLUSIVE, f"nothing reached it: {said}")


def _ecc(fault: FaultFacts, svc: str, during: Observed) -> Effect:
    failed, ran = increase(during, "failed_ecc"), increase(during, "batches")
    spans = _faulted(inference(during.spans, svc), "ecc-error")
    if failed is None or ran is None:
        return Effect(INCONCLUSIVE, f"failed-batch counter: {len(during.values('failed_ecc'))} samples (need {MIN_SAMPLES})")
    total = failed + ran
    rate, count = fault.params.get("rate"), fault.params.get("count")
    expected = float(rate) * total if rate is not None else min(float(count or 0), total)
    said = (f"ECC-failed batches +{failed:g} of {total:g} run (expected about {expected:.1f}); "
            f"{spans} inference spans carry gpu.ecc_error")
    if total == 0:
        return Effect(INCONCLUSIVE, f"no batch ran on it: {said}")
    if failed < 1:
        return Effect(NOT_OBSERVED, f"no batch failed: {said}")
    if failed >= 0.5 * expected:
        return Effect(CONFIRMED, said)
    return Effect(INCONCLUSIVE, f"fewer failed than half the expected: {said}")


def _throttle(fault: FaultFacts, svc: str, base: Observed | None, during: Observed) -> Effect:
    factor = float(fault.params.get("factor") or 1.0)
    now = [s for s in inference(during.spans, svc) if not s.error]
    before = [s for s in inference(base.spans, svc) if not s.error] if base is not None else []
    if len(now) < MIN_SPANS or len(before) < MIN_SPANS:
        return Effect(INCONCLUSIVE, f"too few inference spans to judge: {len(now)} during the fault, "
                                    f"{len(before)} in the baseline (need {MIN_SPANS} each)")
    b = statistics.median(s.duration_us for s in before) / 1000
    d = statistics.median(s.duration_us for s in now) / 1000
    ratio = d / b if b > 0 else float("inf")
    said = (f"inference median {b:.1f} ms -> {d:.1f} ms (x{ratio:.2f}, throttle x{factor:g}; n={len(now)} vs {len(before)}); "
            f"{_faulted(now, 'thermal-throttle')} spans carry gpu.thermal_throttle")
    if ratio < 1 + THROTTLE_LOW * (factor - 1):
        return Effect(NOT_OBSERVED, f"{said}: slowed by less than a third of the added factor")
    if ratio > THROTTLE_HIGH * factor:
        return Effect(INCONCLUSIVE, f"{said}: far slower than throttled, something else slowed it too")
    return Effect(CONFIRMED, said)
