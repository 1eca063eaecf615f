"""`chaosctl discover`: a draft System from what the observability already knows.

* Prometheus scrape targets (`/api/v1/targets`) -> components. A loopback
  target whose listening process is found (psutil) becomes a `process`
  component matched by its exact command line and restarted with the same
  command; any other target is written as commented-out suggestions
  (container, pod, pidfile), never as a live guess that could hit an
  unrelated process.
* Metric names (`/api/v1/label/__name__/values`) -> an SLI preset when a
  known convention is there, else the HTTP histogram and counter found, with
  the status label that says what an error is.
* Jaeger services (`/api/v3/services`) -> traces.services.
* A scrape target that exports `toxiproxy_*` series is a Toxiproxy: each of
  its proxies (`GET /proxies`) becomes a link through that existing Toxiproxy,
  named FROM->TO from the proxy name `FROM__TO` (the reference stack's
  convention: `[N]` is written `_N`, so `registry__registry-store_0` is
  `registry->registry-store[0]`).
* Names: jobs `X-0, X-1, ...` (a zero-based indexed family) become `X[0],
  X[1], ...`, the indexed names scenarios use (the reference stack scrapes
  member `registry-store[0]` as job `registry-store-0`); `model-gpu-1` with
  no `model-gpu-0` keeps its name.
* A job exporting `chaosctl_gpu_memory_total_bytes` is a chaosctl model
  server: a `reference-modelserver` (GPU faults through its admin API).
* A job exporting `chaosctl_gateway_*` series is chaosctl's reference gateway:
  the load goes there, with a token chaosctl mints (`auth.mint`).

Every guess carries a `# review:` comment. An unreachable URL raises
StackUnavailable naming it (exit 3).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from chaosctl.errors import StackUnavailable
from chaosctl.settings import SECRET_ENV

from .model import LINK_PATTERN
from .presets import PRESETS

# Status-code label names, most specific first (OpenTelemetry, then common client libraries).
_STATUS_LABELS = ("http_response_status_code", "http_status_code", "status_code", "code", "status")
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
# Jobs of observability backends: their HTTP metrics are not the system's (a heuristic on the job name).
_INFRA = re.compile(r"prometheus|jaeger|otel|collector|grafana|tempo|loki|alertmanager|chaosctl-run", re.I)


@dataclass(frozen=True)
class Target:
    job: str
    instance: str  # host:port
    scrape_url: str
    health: str


@dataclass
class Draft:
    prometheus: str
    jaeger: str | None
    targets: list[Target] = field(default_factory=list)
    slis: dict[str, str] = field(default_factory=dict)
    slis_note: str = ""
    services: list[str] = field(default_factory=list)
    links: list[tuple[str, str, str]] = field(default_factory=list)  # (FROM->TO, toxiproxy URL, proxy name)
    link_notes: list[str] = field(default_factory=list)
    gpu_jobs: set[str] = field(default_factory=set)
    gateway: str | None = None  # base URL of a chaosctl reference gateway (the load goes there)


class _Api:
    """GET JSON from one backend; any failure -> StackUnavailable naming the backend and URL."""

    def __init__(self, what: str, url: str, client: httpx.Client) -> None:
        self.what, self.url, self.client = what, url.rstrip("/"), client

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        try:
            resp = self.client.get(f"{self.url}{path}", params=params)
        except httpx.HTTPError as exc:
            raise StackUnavailable(f"cannot reach {self.what} at {self.url}: {exc}") from None
        if resp.status_code != 200:
            raise StackUnavailable(f"{self.what} at {self.url}{path} answered HTTP {resp.status_code}")
        try:
            return resp.json()
        except ValueError:
            raise StackUnavailable(f"{self.what} at {self.url}{path} did not answer JSON: is this {self.what}?") from None


# ---------------------------------------------------------------- reading


def _targets(prom: _Api) -> list[Target]:
    body = prom.get("/api/v1/targets", {"state": "active"})
    out = []
    for t in (body.get("data") or {}).get("activeTargets") or []:
        labels = t.get("labels") or {}
        job, instance = labels.get("job"), labels.get("instance")
        if job and instance:
            out.append(Target(str(job), str(instance), str(t.get("scrapeUrl") or ""), str(t.get("health") or "unknown")))
    return sorted(out, key=lambda t: (t.job, t.instance))


def _status_label(prom: _Api, metric: str) -> str | None:
    labels = prom.get("/api/v1/labels", {"match[]": metric}).get("data") or []
    return next((name for name in _STATUS_LABELS if name in labels), None)


def _app_jobs(prom: _Api, metric: str) -> list[str]:
    """Jobs exporting `metric`, observability backends left out (Jaeger exports OTel HTTP metrics of its own)."""
    body = prom.get("/api/v1/query", {"query": f"count by (job) ({metric})"})
    jobs = {str(r.get("metric", {}).get("job")) for r in (body.get("data") or {}).get("result") or []}
    return sorted(j for j in jobs if not _INFRA.search(j))


def _slis(prom: _Api) -> tuple[dict[str, str], str]:
    """The SLI preset whose series the system's own jobs export (most specific first), else explicit selectors."""
    names = set(prom.get("/api/v1/label/__name__/values").get("data") or [])
    for preset in ("chaosctl-reference", "otel-http", "prometheus-client"):
        spec = PRESETS[preset]
        if f"{spec.histogram}_bucket" in names and spec.requests in names:
            jobs = _app_jobs(prom, f"{spec.histogram}_bucket")
            if jobs:
                narrow = "" if spec.matchers else '; narrow it to the service clients call with selector: job="..."'
                return {"preset": preset}, f"{spec.about} ({spec.histogram}) exported by job(s) {', '.join(jobs)}{narrow}"
    hists = sorted(n[: -len("_bucket")] for n in names if n.endswith("_seconds_bucket") and ("http" in n or "request" in n))
    hist = next((h for h in hists[:10] if _app_jobs(prom, f"{h}_bucket")), None)
    if hist is None:
        return {"preset": "otel-http"}, "no HTTP latency histogram of your services found: a placeholder; point the SLIs at your metrics"
    counters = sorted(n for n in names if n.endswith("requests_total") and _app_jobs(prom, n))
    requests = counters[0] if counters else f"{hist}_count"
    status = _status_label(prom, requests)
    errors = f'{status}=~"5.."' if status else 'code=~"5.."'
    note = f"guessed from metric names (histograms: {', '.join(hists)}); errors = 5xx on label {status or '? (none found)'}"
    return {"latency_histogram": hist, "requests": requests, "errors": errors}, note


# chaosctl's own run spans (runner/telemetry.py SERVICE) land in the same Jaeger; they are not the system's,
# and as the first trace service of a draft they would make every trace query of a rehearse come back empty.
OWN_TRACE_SERVICES = frozenset({"chaosctl-run"})


def _services(jaeger: _Api) -> list[str]:
    found = (str(s) for s in jaeger.get("/api/v3/services").get("services") or [])
    return sorted(s for s in found if s not in OWN_TRACE_SERVICES)


_TOXIPROXY_SERIES = '{__name__=~"toxiproxy_.+"}'
_GATEWAY_SERIES = '{__name__=~"chaosctl_gateway_.+"}'
GPU_METRIC = "chaosctl_gpu_memory_total_bytes"
ADMIN_TOKEN_ENV = SECRET_ENV["admin_token"]  # the reference model servers' admin token variable


def _base_url(t: Target) -> str:
    parts = urlsplit(t.scrape_url or f"http://{t.instance}")
    return f"{parts.scheme or 'http'}://{parts.netloc or t.instance}"


def _jobs_exporting(prom: _Api, selector: str) -> set[str]:
    body = prom.get("/api/v1/query", {"query": f"count by (job) ({selector})"})
    return {str(r.get("metric", {}).get("job")) for r in (body.get("data") or {}).get("result") or []}


def link_name(proxy: str) -> str | None:
    """`FROM__TO` -> `FROM->TO` (`_N` at an end -> `[N]`), None when the name has no `__`."""
    if proxy.count("__") != 1:
        return None
    ends = [re.sub(r"_(\d+)$", r"[\1]", end) for end in proxy.split("__")]
    name = "->".join(ends)
    return name if re.match(LINK_PATTERN, name) else None


def _toxiproxy_links(prom: _Api, client: httpx.Client, targets: list[Target], draft: Draft, explicit: list[str]) -> None:
    """Links through every Toxiproxy: the `--toxiproxy` URLs and the scrape targets exporting toxiproxy_* series."""
    names = set(prom.get("/api/v1/label/__name__/values").get("data") or [])
    jobs = _jobs_exporting(prom, _TOXIPROXY_SERIES) if any(n.startswith("toxiproxy_") for n in names) else set()
    urls = [u.rstrip("/") for u in explicit]
    urls += [_base_url(t) for t in targets if t.job in jobs]
    for url in dict.fromkeys(urls):
        proxies = _Api("Toxiproxy", url, client).get("/proxies")
        for proxy in sorted(proxies if isinstance(proxies, dict) else {}):
            name = link_name(proxy)
            if name is None:
                draft.link_notes.append(f"proxy {proxy!r} of {url}: its name is not FROM__TO; add it by hand")
            else:
                draft.links.append((name, url, proxy))


def gather(prometheus: str, jaeger: str | None = None, *, timeout: float = 5.0, transport: httpx.BaseTransport | None = None,
           toxiproxy: list[str] | None = None) -> Draft:
    """Read what the backends know (no change anywhere)."""
    with httpx.Client(timeout=timeout, transport=transport) as client:
        prom = _Api("Prometheus", prometheus, client)
        draft = Draft(prom.url, jaeger.rstrip("/") if jaeger else None, targets=_targets(prom))
        draft.slis, draft.slis_note = _slis(prom)
        _toxiproxy_links(prom, client, draft.targets, draft, toxiproxy or [])
        names = set(prom.get("/api/v1/label/__name__/values").get("data") or [])
        if GPU_METRIC in names:
            draft.gpu_jobs = _jobs_exporting(prom, GPU_METRIC)
        if any(n.startswith("chaosctl_gateway_") for n in names):
            gateways = _jobs_exporting(prom, _GATEWAY_SERIES)
            draft.gateway = next((_base_url(t) for t in draft.targets if t.job in gateways), None)
        if jaeger:
            draft.services = _services(_Api("Jaeger", jaeger, client))
    return draft


# ---------------------------------------------------------------- writing


def _q(value: Any) -> str:
    """A YAML scalar: JSON's string and list syntax is valid YAML."""
    return json.dumps(value)


def component_name(job: str, taken: set[str]) -> str:
    base, index = re.fullmatch(r"(.*?)(\[\d+\])?", job).groups()  # type: ignore[union-attr]
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", base) + (index or "")
    name = name if name[:1].isalpha() else f"c-{name}"
    base, n = name, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    taken.add(name)
    return name


def indexed_name(job: str, jobs: set[str]) -> str:
    """`X-N` -> `X[N]` when the jobs hold `X-0` too: a zero-based family of members (the reference
    stack's `registry-store[0]` is scraped as job `registry-store-0`), so scenario targets resolve."""
    m = re.fullmatch(r"(.+)-(\d+)", job)
    return f"{m.group(1)}[{int(m.group(2))}]" if m and f"{m.group(1)}-0" in jobs else job


def _listeners() -> dict[int, list[str]]:
    """Local port -> command line of the process listening on it (best effort: own processes)."""
    import psutil

    out: dict[int, list[str]] = {}
    try:
        conns = psutil.net_connections(kind="inet")
    except (psutil.Error, OSError):
        return out
    for c in conns:
        if c.status == psutil.CONN_LISTEN and c.pid and c.laddr:
            try:
                out.setdefault(c.laddr.port, psutil.Process(c.pid).cmdline())
            except psutil.Error:
                continue
    return out


def command_match(cmd: list[str]) -> str:
    """A regex for exactly this command line (anchored: a wrapper that contains it does not match)."""
    return "^" + re.sub(r"([.^$*+?{}\[\]\\|()])", r"\\\1", " ".join(cmd)) + "$"


def _component_lines(t: Target, name: str, listeners: dict[int, list[str]], gpu: bool = False) -> tuple[bool, list[str]]:
    """(live, lines): a component when its process was found here, else a commented-out suggestion.

    A guessed handle (a match on the job name) could hit an unrelated process, so a target
    whose process is not found never becomes a live fault target: the user writes how to reach it.
    """
    parts = urlsplit(t.scrape_url or f"http://{t.instance}")
    host, netloc = parts.hostname or "", parts.netloc or t.instance
    cmd = listeners.get(parts.port or -1) if host in _LOOPBACK else None
    url = f"{parts.scheme or 'http'}://{netloc}"
    head = f"  # review: job {t.job!r}, scraped at {t.scrape_url or t.instance} ({t.health})"
    if gpu:
        return True, [f"{head}; it exports {GPU_METRIC}: a chaosctl model server, reached through the reference",
                      f"  #   stack's backend (process faults) and its admin API (GPU faults, token in ${ADMIN_TOKEN_ENV}).",
                      f"  - name: {_q(name)}", "    kind: reference-modelserver", f"    url: {_q(url)}",
                      f"    admin_url: {_q(url)}", f"    admin_token_env: {ADMIN_TOKEN_ENV}"]  # fmt: skip
    if not cmd:
        app = name.split("[")[0]
        name = _q(name) if "[" in name else name  # `[` would open a list in a YAML flow mapping
        why = "a remote target" if host not in _LOOPBACK else "no process of yours listens there"
        return False, [f"{head}: {why}; say how faults reach it, e.g. one of",
                       f"  # - {{name: {name}, kind: container, container: NAME, url: {url}}}",
                       f"  # - {{name: {name}, kind: pod, namespace: NS, selector: {{app: {app}}}, url: {url}}}",
                       f"  # - {{name: {name}, kind: process, pidfile: PATH, start: COMMAND, url: {url}}}"]  # fmt: skip
    return True, [f"{head}; found the process listening there: the match must find exactly one live process,",
                  "  #   and `start` restarts it with the same command line (add cwd/ready if it needs them).",
                  f"  - name: {_q(name)}", "    kind: process", f"    match: {_q(command_match(cmd))}",
                  f"    start: {_q(cmd)}", f"    url: {_q(url)}", "    ready:", f"      tcp: {_q(netloc)}"]  # fmt: skip


def _link_lines(draft: Draft) -> list[str]:
    notes = [f"  # review: {note}" for note in draft.link_notes]
    if not draft.links:
        return ["links: []  # review: no Toxiproxy found (--toxiproxy URL); add {name: A->B, listen: HOST:PORT, upstream: HOST:PORT}",
                *notes]  # fmt: skip
    lines = ["links:", *notes]
    for name, url, proxy in draft.links:
        lines += [f"  # review: proxy {proxy!r} of the Toxiproxy at {url}; check FROM really calls TO through it",
                  f"  - name: {_q(name)}", f"    toxiproxy: {_q(url)}", f"    proxy: {_q(proxy)}"]  # fmt: skip
    return lines


def render(draft: Draft, listeners: dict[int, list[str]] | None = None) -> str:
    """The draft as System YAML with `# review:` comments."""
    listeners = _listeners() if listeners is None else listeners
    lines = [f"# Draft System written by `chaosctl discover --prometheus {draft.prometheus}"
             f"{f' --jaeger {draft.jaeger}' if draft.jaeger else ''}`.",
             "# Every guess carries a `# review:` comment. Check each, then `chaosctl validate` this file.",
             "apiVersion: chaosctl/v1", "kind: System", "metadata:", "  name: discovered",
             "  description: drafted from the scrape targets, metric names and trace services", "observability:",
             "  prometheus:", f"    url: {_q(draft.prometheus)}"]  # fmt: skip
    if draft.jaeger:
        lines += ["  jaeger:", f"    url: {_q(draft.jaeger)}"]
    lines += [f"slis:  # review: {draft.slis_note}", *(f"  {k}: {_q(v)}" for k, v in draft.slis.items())]
    lines += ["traces:"]
    note = "from Jaeger; put the service where requests enter first" if draft.services else "no Jaeger given (--jaeger URL)"
    lines += [f"  services: {_q(draft.services)}  # review: {note}",
              "  root_operations: []  # review: empty = every trace of those services"]  # fmt: skip
    taken: set[str] = set()
    jobs = {t.job for t in draft.targets}
    drafted = [_component_lines(t, component_name(indexed_name(t.job, jobs), taken), listeners, t.job in draft.gpu_jobs)
               for t in draft.targets]  # fmt: skip
    if any(live for live, _ in drafted):
        lines += ["components:"]
    else:
        lines += [f"components: []  # review: {'no process found for any scrape target' if drafted else 'Prometheus has no active scrape target'}"]
    lines += [line for _, block in drafted for line in block]
    lines += _link_lines(draft)
    if draft.gateway:
        return "\n".join([*lines, f"load:  # review: {draft.gateway} exports chaosctl_gateway_* series: chaosctl's reference",
                           "  #   gateway; its requests carry a token chaosctl mints with this install's JWT secret",
                           f"  base_url: {_q(draft.gateway)}", "  auth: {header: Authorization, prefix: 'Bearer ', mint: chaosctl-token}"]) + "\n"
    lines += ["# load:  # review: where the load goes, e.g.",
              "#   base_url: http://127.0.0.1:8080",
              "#   auth: {header: Authorization, prefix: 'Bearer ', value_env: MY_API_TOKEN}",
              "#   requests: [{name: home, method: GET, path: /}]"]  # fmt: skip
    return "\n".join(lines) + "\n"


def discover(prometheus: str, jaeger: str | None = None, *, timeout: float = 5.0,
             transport: httpx.BaseTransport | None = None, toxiproxy: list[str] | None = None) -> str:
    return render(gather(prometheus, jaeger, timeout=timeout, transport=transport, toxiproxy=toxiproxy))
