"""Settings, read once (argument > environment > default) and passed down.

Nothing else in chaosctl reads the environment for its own configuration.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from chaosctl.errors import UsageError

DEFAULT_PORT_BASE = 17000

# Components a test may find missing. CHAOSCTL_REQUIRE names those whose absence FAILS
# a test instead of skipping it (`make test` sets "all"), so that CI cannot pass by skipping.
# What a machine may legitimately lack (a Docker engine, a CUDA device) is not in here.
REQUIRABLE = ("etcd", "etcdctl", "prometheus", "toxiproxy", "jaeger", "locust", "chromium", "actionlint", "shellcheck",
              "caddy", "mlserver", "redis-server")  # the last two: the third-party example system (`chaosctl setup --dev`)
_REQUIRE_ALIASES = {"toxiproxy-server": "toxiproxy", "chromium-browser": "chromium"}


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "chaosctl"


def default_tools_dir() -> Path:
    """Per-user folder where `chaosctl setup` builds Toxiproxy and Jaeger (binaries in its bin/)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "chaosctl" / "tools"


def default_model_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "chaosctl" / "models"


def project_root() -> Path:
    """The source checkout (holds `.tools/bin`), when chaosctl runs from one."""
    return Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Settings:
    state_dir: Path = field(default_factory=default_state_dir)
    port_base: int = DEFAULT_PORT_BASE
    backend: str = "local"
    # Extra folders searched before PATH for etcd, prometheus, toxiproxy-server, jaeger.
    tool_dirs: tuple[Path, ...] = ()
    # CHAOSCTL_TOOLS_DIR / --tools-dir: where `chaosctl setup` builds the Go components (its bin/ is
    # the first of tool_dirs).
    tools_dir: Path = field(default_factory=default_tools_dir)
    grafana_url: str | None = None
    grafana_token: str | None = None
    # Least share of a phase window the scrape jobs behind an SLO must cover (CHAOSCTL_COVERAGE_THRESHOLD).
    coverage_threshold: float = 0.9
    # Per-install secrets (chaosctl.credentials): "" = not set. The gateway checks JWTs with
    # jwt_secret (`chaosctl token` signs with it); admin_token guards the model servers' admin
    # API; service_token is the service credential (registry writes, gateway -> model server).
    # repr=False: a Settings in a log line or a traceback never shows them.
    jwt_secret: str = field(default="", repr=False)
    admin_token: str = field(default="", repr=False)
    service_token: str = field(default="", repr=False)
    grafana_admin_password: str = field(default="", repr=False)
    cache_password: str = field(default="", repr=False)  # the prediction cache's Redis requirepass
    # CHAOSCTL_REQUIRE: components whose absence fails a test rather than skipping it.
    require: frozenset[str] = frozenset()
    # CHAOSCTL_HISTORY: the run-history file (None: STATE_DIR/history.sqlite3); CI can keep it in its cache.
    history_file: Path | None = None
    # CHAOSCTL_REQUIRE_BASELINE: a `last_pass` objective with no earlier passing run FAILs (default: it
    # passes with the reason "no earlier passing run: baseline recorded").
    require_baseline: bool = False
    # CHAOSCTL_PREDICTION_CACHE_TTL: seconds a cached prediction lives in the gateway's cache (Redis).
    prediction_cache_ttl_s: float = 60.0
    # CHAOSCTL_GATEWAY_REGION_FAILOVER: the gateway fails over to region b when region a has no server
    # to take a request (default on; 0 keeps it in region a: region-loss's broken variant).
    gateway_region_failover: bool = True
    # CHAOSCTL_EVENTS_PUBLISH: how the gateway publishes scored transactions to Kafka: "async" (never
    # waits; bounded buffer, drops counted) or "sync" (waits for the broker's ack: the broken variant
    # the event-lag scenario catches).
    events_publish: str = "async"
    # CHAOSCTL_MODEL_CACHE: where model servers keep their trained models (services/modelserver/modelcache.py);
    # per user and outside the state dir, so a fresh state dir still starts without training.
    model_cache_dir: Path = field(default_factory=lambda: default_model_cache_dir())

    def requires(self, component: str) -> bool:
        """Whether a missing `component` (a REQUIRABLE name or a binary name) must fail a test."""
        return _REQUIRE_ALIASES.get(component, component) in self.require

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def journal_path(self) -> Path:
        return self.state_dir / "journal.jsonl"

    @property
    def history_path(self) -> Path:
        """The run history (chaosctl.history): CHAOSCTL_HISTORY / --history, else in the state dir."""
        return self.history_file or self.state_dir / "history.sqlite3"


PORT_SPAN = 200  # ports the stack uses above its base (links from base+100; Topology has the list)
BACKENDS = ("local", "docker")


def parse_port_base(raw: object, name: str = "CHAOSCTL_PORT_BASE") -> int:
    """A port base that leaves the whole stack inside 1024..65535 (a bad one failed deep in bind())."""
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise UsageError(f"{name}={str(raw)[:40]!r}: expected a whole number, e.g. 17000") from None
    if not 1024 <= value <= 65535 - PORT_SPAN:
        raise UsageError(f"{name}={value}: out of range (1024..{65535 - PORT_SPAN}: the stack uses the {PORT_SPAN} ports above it)")
    return value


def parse_backend(raw: str, name: str = "CHAOSCTL_BACKEND") -> str:
    value = raw.strip().lower()
    if value not in BACKENDS:
        raise UsageError(f"{name}={raw[:40]!r}: unknown backend (expected {' or '.join(BACKENDS)})")
    return value


def parse_url(raw: str, name: str) -> str:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(raw.strip())
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 1) > 0
    except ValueError:  # a bad port or bracket
        ok = False
    if not ok:
        raise UsageError(f"{name}={raw[:80]!r}: expected an http(s) URL, e.g. http://127.0.0.1:3000")
    return raw.strip().rstrip("/")


def _checked(arg, env_name: str, flag: str, default, parse):
    """`_pick` with the value parsed and checked, the error naming the flag or the variable it came from."""
    if arg is not None:
        return parse(arg, flag)
    raw = os.environ.get(env_name)
    return parse(raw, env_name) if raw not in (None, "") else default


def _pick(arg, env_name: str, default, cast=str):
    if arg is not None:
        return arg
    raw = os.environ.get(env_name)
    if raw is not None and raw != "":
        return cast(raw)
    return default


def parse_require(raw: str) -> frozenset[str]:
    """CHAOSCTL_REQUIRE: "all", "" (nothing), or a comma list of REQUIRABLE names."""
    names = {_REQUIRE_ALIASES.get(n, n) for n in (part.strip().lower() for part in raw.split(",")) if n}
    if "all" in names:
        return frozenset(REQUIRABLE)
    unknown = sorted(names - set(REQUIRABLE))
    if unknown:
        raise UsageError(
            f"CHAOSCTL_REQUIRE={raw!r}: unknown component {', '.join(unknown)} "
            f"(expected 'all' or a comma list of: {', '.join(REQUIRABLE)})"
        )
    return frozenset(names)


def load_settings(
    *,
    state_dir: Path | None = None,
    port_base: int | None = None,
    backend: str | None = None,
    grafana_url: str | None = None,
    history: Path | None = None,
    require_baseline: bool | None = None,
    create_secrets: bool = True,
    tools_dir: Path | None = None,
) -> Settings:
    """Build the one Settings of a command: argument > environment > default.

    `create_secrets=False` (e.g. `run --dry-run`, which touches nothing) reads an existing
    secrets file but never makes one; the secrets it lacks stay "" (unset)."""
    tools_home = Path(_pick(tools_dir, "CHAOSCTL_TOOLS_DIR", default_tools_dir(), Path)).expanduser().absolute()
    checkout = project_root()  # a source checkout keeps its own tools in .tools/bin (make setup)
    tools = [tools_home / "bin", *([checkout / ".tools" / "bin"] if (checkout / "pyproject.toml").is_file() else [])]
    extra = os.environ.get("CHAOSCTL_TOOL_DIRS", "")
    tools += [Path(p) for p in extra.split(os.pathsep) if p]
    return Settings(
        state_dir=Path(_pick(state_dir, "CHAOSCTL_STATE_DIR", default_state_dir(), Path)),
        port_base=_checked(port_base, "CHAOSCTL_PORT_BASE", "--port-base", DEFAULT_PORT_BASE, parse_port_base),
        backend=_checked(backend, "CHAOSCTL_BACKEND", "--backend", "local", parse_backend),
        tool_dirs=tuple(tools),
        tools_dir=tools_home,
        grafana_url=_checked(grafana_url, "CHAOSCTL_GRAFANA_URL", "--grafana-url", None, parse_url),
        grafana_token=os.environ.get("CHAOSCTL_GRAFANA_TOKEN") or None,
        coverage_threshold=_pick(None, "CHAOSCTL_COVERAGE_THRESHOLD", Settings.coverage_threshold, parse_coverage),
        **_secrets(Path(_pick(state_dir, "CHAOSCTL_STATE_DIR", default_state_dir(), Path)), create_secrets),
        require=parse_require(os.environ.get("CHAOSCTL_REQUIRE", "")),
        history_file=_pick(history, "CHAOSCTL_HISTORY", None, Path),
        require_baseline=_pick(require_baseline, "CHAOSCTL_REQUIRE_BASELINE", False,
                                lambda raw: parse_flag(raw, "CHAOSCTL_REQUIRE_BASELINE")),
        prediction_cache_ttl_s=_pick(None, "CHAOSCTL_PREDICTION_CACHE_TTL", 60.0, parse_ttl),
        gateway_region_failover=_pick(None, "CHAOSCTL_GATEWAY_REGION_FAILOVER", True,
                                      lambda raw: parse_flag(raw, "CHAOSCTL_GATEWAY_REGION_FAILOVER")),
        model_cache_dir=Path(_pick(None, "CHAOSCTL_MODEL_CACHE", default_model_cache_dir(), Path)).expanduser(),
        events_publish=_pick(None, "CHAOSCTL_EVENTS_PUBLISH", "async", parse_events_publish),
    )


def parse_events_publish(raw: str, name: str = "CHAOSCTL_EVENTS_PUBLISH") -> str:
    text = raw.strip().lower()
    if text not in ("async", "sync"):
        raise UsageError(f"{name}={raw!r}: expected async (the default) or sync")
    return text


def parse_ttl(raw: str, name: str = "CHAOSCTL_PREDICTION_CACHE_TTL") -> float:
    """Seconds > 0 (a cache entry must expire)."""
    try:
        value = float(raw.strip())
    except ValueError:
        value = float("nan")
    if not 0.0 < value < float("inf"):  # NaN fails too
        raise UsageError(f"{name}={raw!r}: expected seconds > 0, e.g. 60 or 0.5")
    return value


def parse_flag(raw: str, name: str) -> bool:
    """A yes/no environment value: 1/true/yes/on or 0/false/no/off."""
    text = raw.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise UsageError(f"{name}={raw!r}: expected 1/true/yes/on or 0/false/no/off")


def parse_coverage(raw: str, source: str = "CHAOSCTL_COVERAGE_THRESHOLD") -> float:
    """CHAOSCTL_COVERAGE_THRESHOLD or `run --min-coverage`: a fraction in [0, 1] or a percentage such as 90%."""
    from chaosctl.errors import UsageError

    text = raw.strip()
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:  # NaN fails too
        raise UsageError(f"{source}={raw!r}: expected a fraction in [0, 1] or a percentage such as 90%")
    return value


# Environment variable of each secret; an unset one comes from the install's secrets file.
SECRET_ENV = {
    "jwt_secret": "CHAOSCTL_JWT_SECRET",
    "admin_token": "CHAOSCTL_ADMIN_TOKEN",
    "service_token": "CHAOSCTL_SERVICE_TOKEN",
    "grafana_admin_password": "CHAOSCTL_GRAFANA_ADMIN_PASSWORD",
    "cache_password": "CHAOSCTL_CACHE_PASSWORD",
}

# The locustfile's input, set by load/locust_run.py for the Locust processes it starts: the path
# of the run's LoadPlan JSON (the gateway's JWT secret goes along as SECRET_ENV["jwt_secret"]).
LOAD_PLAN_ENV = "CHAOSCTL_LOAD_PLAN"
# The state folder (`--state-dir`), also handed to processes chaosctl starts (the HTTP fault proxy).
STATE_DIR_ENV = "CHAOSCTL_STATE_DIR"
# What docker-compose.observability.yml interpolates, set by the docker backend: the Compose
# project name and the host ports of the observability containers.
COMPOSE_ENV = {
    "project": "CHAOSCTL_PROJECT",
    "prometheus_port": "CHAOSCTL_PROMETHEUS_PORT",
    "jaeger_query_port": "CHAOSCTL_JAEGER_QUERY_PORT",
    "jaeger_otlp_port": "CHAOSCTL_JAEGER_OTLP_PORT",
    "toxiproxy_port": "CHAOSCTL_TOXIPROXY_PORT",
    "grafana_port": "CHAOSCTL_GRAFANA_PORT",
}


def _secrets(state_dir: Path, create: bool = True) -> dict[str, str]:
    """Every secret: environment > `state_dir`'s secrets file (made on first need); refuses weak ones."""
    from dataclasses import asdict

    from chaosctl.credentials import resolve

    given = {name: os.environ.get(env) for name, env in SECRET_ENV.items()}
    return asdict(resolve(state_dir, given, {name: f"env {env}" for name, env in SECRET_ENV.items()}, create=create))
