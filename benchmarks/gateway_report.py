"""The gateway benchmark's results and their report (benchmarks/gateway_overhead.py): a leg's
figures, the rounds of a leg merged into one, the tables, the ratios and issue 14's targets."""

from __future__ import annotations

import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    leg: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non2xx: int
    socket_errors: int
    hop_cpu_ms: float = 0.0  # CPU of the hop's processes (nginx / gateway) per request
    server_cpu_ms: float = 0.0  # CPU of the model server per request
    cache_hit_pct: float | None = None  # prediction cache hits among a gateway's lookups (None: no gateway)
    cache_skipped_pct: float | None = None  # lookups answered without Redis (bypass, timeout, error)
    added_p50_ms: float = 0.0  # over the direct leg: the mean of the rounds' differences

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def merged(name: str, results: list[Result], added_p50_ms: float) -> Result:
    n = max(1, sum(res.requests for res in results))
    def per_request(field: str) -> float:
        return sum(getattr(res, field) * res.requests for res in results) / n
    def pct(field: str) -> float | None:
        known = [getattr(res, field) for res in results if getattr(res, field) is not None]
        return statistics.fmean(known) if known else None
    return Result(name, sum(res.requests for res in results), sum(res.seconds for res in results),
                  statistics.median(res.p50_ms for res in results), statistics.median(res.p99_ms for res in results),
                  sum(res.non2xx for res in results), sum(res.socket_errors for res in results),
                  per_request("hop_cpu_ms"), per_request("server_cpu_ms"), pct("cache_hit_pct"),
                  pct("cache_skipped_pct"), added_p50_ms)  # fmt: skip


def table(title: str, results: list[Result]) -> str:
    base = results[0]
    rows = [f"{title}", f"  {'leg':<9} {'p50 ms':>8} {'p99 ms':>8} {'+p50 ms':>8} {'+p99 ms':>8} {'req/s':>9} "
                        f"{'non-2xx':>8} {'sock err':>8} {'hop cpu ms/req':>15} {'server cpu ms/req':>18} {'cache hits':>10} {'no redis':>9}"]  # fmt: skip
    for r in results:
        rows.append(f"  {r.leg:<9} {r.p50_ms:8.2f} {r.p99_ms:8.2f} {r.added_p50_ms:8.2f} "
                    f"{r.p99_ms - base.p99_ms:8.2f} {r.rps:9.0f} {r.non2xx:8d} {r.socket_errors:8d} "
                    f"{r.hop_cpu_ms:15.2f} {r.server_cpu_ms:18.2f} "
                    f"{'-' if r.cache_hit_pct is None else f'{r.cache_hit_pct:.0f}%':>10} "
                    f"{'-' if r.cache_skipped_pct is None else f'{r.cache_skipped_pct:.0f}%':>9}")  # fmt: skip
    return "\n".join(rows)


def ratios(lat: dict[str, Result], thr: dict[str, Result]) -> str:
    lines = ["ratios (latency: higher is slower; throughput: higher is better)"]
    pairs = [("gateway", "direct"), ("nginx", "direct"), ("gateway", "nginx")]
    if "before" in lat:
        pairs += [("before", "direct"), ("before", "nginx"), ("gateway", "before")]
    for a, b in pairs:
        lines.append(
            f"  {a}/{b}: p50 x{lat[a].p50_ms / lat[b].p50_ms:.2f}  p99 x{lat[a].p99_ms / lat[b].p99_ms:.2f}  "
            f"max throughput x{thr[a].rps / thr[b].rps:.2f}"
        )
    lines.append("  added p50 (1 connection, mean of the rounds' differences): " + ", ".join(
        f"{leg} {lat[leg].added_p50_ms:.3f} ms" for leg in lat if leg != "direct"))
    return "\n".join(lines + targets(lat, thr))


def targets(lat: dict[str, Result], thr: dict[str, Result]) -> list[str]:
    """Each gateway leg against issue 14's bounds: <= 1 ms CPU per request, added p50 <= 3x an
    nginx hop's, >= 0.5x the direct throughput at the throughput mode's connections."""
    nginx_added = lat["nginx"].added_p50_ms
    lines = [f"targets: cpu <= 1 ms/req, added p50 <= 3x nginx's ({nginx_added:.3f} ms), throughput >= 0.5x direct"]
    for leg in (name for name in lat if name not in ("direct", "nginx")):
        added = lat[leg].added_p50_ms
        lines.append(
            f"  {leg:<8} cpu {lat[leg].hop_cpu_ms:.2f} ms/req (1 conn), {thr[leg].hop_cpu_ms:.2f} (max thr)  "
            + (f"added p50 x{added / nginx_added:.1f} nginx's  " if nginx_added > 0 else
               "added p50 vs nginx's: n/a (nginx's added p50 <= 0: a machine too busy to tell)  ")
            + f"throughput x{thr[leg].rps / thr['direct'].rps:.2f} direct"
        )
    lines.append(f"  nginx    cpu {lat['nginx'].hop_cpu_ms:.3f} ms/req (1 conn), {thr['nginx'].hop_cpu_ms:.3f} (max thr)")
    return lines
