"""Registry records as the gateway sees them (a typed, frozen view of the registry's JSON)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Load(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    queue_depth: float = 0.0
    memory_used_bytes: float = 0.0
    memory_total_bytes: float = 0.0
    utilization: float = 0.0

    @property
    def memory_fraction(self) -> float:
        if self.memory_total_bytes <= 0:
            return 0.0
        return self.memory_used_bytes / self.memory_total_bytes


class ServiceRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str = ""
    name: str
    model: str
    version: str
    device: str = "cpu"
    health: str = "ready"
    endpoint: str = ""
    capability: str = ""
    region: str = ""
    load: Load = Field(default_factory=Load)

    @property
    def is_gpu(self) -> bool:
        return self.device == "gpu"


class RegistryAnswer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    services: tuple[ServiceRecord, ...] = ()


def parse_answer(payload: object) -> tuple[ServiceRecord, ...]:
    """Records of a `GET /v1/services` answer; ValueError when the shape is wrong."""
    try:
        return RegistryAnswer.model_validate(payload).services
    except ValidationError as exc:
        raise ValueError(f"malformed registry answer: {exc.error_count()} error(s)") from None
