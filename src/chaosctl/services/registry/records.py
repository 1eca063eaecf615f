"""Registry records, discovery queries and semver range matching (pure, no I/O)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Health = Literal["ready", "warming", "saturated", "unhealthy"]
Device = Literal["gpu", "cpu"]
_COMMA = re.compile(r"\s*,\s*")


class Load(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    queue_depth: int = 0
    memory_used_bytes: int = 0
    memory_total_bytes: int = 0
    utilization: float = 0.0


class RecordIn(BaseModel):
    """What a server registers: a record without `id` (one per server, model and version)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")
    capability: str = Field(min_length=1, max_length=100)
    model: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")
    version: str = Field(min_length=1, max_length=50)
    device: Device
    region: str = ""
    p99_ms: float = Field(ge=0)
    accuracy: float = Field(default=0.0, ge=0, le=1)
    tags: tuple[str, ...] = ()
    health: Health = "ready"
    endpoint: str = Field(pattern=r"^https?://")
    load: Load = Load()
    ttl: int = Field(default=10, ge=1, le=300, description="lease TTL in seconds")

    def record_id(self) -> str:
        """Stable id, so that a server re-registering replaces its old record."""
        return f"{self.name}--{self.model}--{self.version}"


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    capability: str
    model: str
    version: str
    device: Device
    region: str
    p99_ms: float
    accuracy: float
    tags: tuple[str, ...]
    health: Health
    endpoint: str
    load: Load

    @classmethod
    def from_in(cls, rec: RecordIn) -> Record:
        return cls(id=rec.record_id(), **rec.model_dump(exclude={"ttl"}))


class Heartbeat(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    health: Health | None = None
    load: Load | None = None


class Query(BaseModel):
    """A discovery query; every set field must match (tags: all of them; health: any of them)."""

    model_config = ConfigDict(frozen=True)

    capability: str | None = None
    model: str | None = None
    version: str | None = None
    device: Device | None = None
    region: str | None = None
    max_p99_ms: float | None = None
    tags: tuple[str, ...] = ()
    health: tuple[Health, ...] = ()


def normalise_range(spec: str) -> str:
    """`>=2.1,<3` (comma form) -> `>=2.1 <3` (node-semver's space-separated AND)."""
    return _COMMA.sub(" ", spec.strip())


def valid_range(spec: str) -> bool:
    import nodesemver

    return nodesemver.valid_range(normalise_range(spec), loose=False) is not None


def version_matches(version: str, spec: str) -> bool:
    """True when `version` satisfies `spec`: exact (`2.3.1`), `2.x`, `~2.3`, `^2`, `>=2.1,<3`."""
    import nodesemver

    try:
        return bool(nodesemver.satisfies(version, normalise_range(spec), loose=False))
    except ValueError:
        return False


def matches(record: Record, q: Query) -> bool:
    checks = (
        q.capability is None or record.capability == q.capability,
        q.model is None or record.model == q.model,
        q.device is None or record.device == q.device,
        q.region is None or record.region == q.region,
        q.max_p99_ms is None or record.p99_ms <= q.max_p99_ms,
        all(tag in record.tags for tag in q.tags),
        not q.health or record.health in q.health,
        q.version is None or version_matches(record.version, q.version),
    )
    return all(checks)


def select(records: list[Record], q: Query) -> list[Record]:
    """Matching records, in a stable order (by model, version, server name)."""
    out = [r for r in records if matches(r, q)]
    return sorted(out, key=lambda r: (r.model, r.version, r.name))
