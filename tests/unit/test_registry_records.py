"""Discovery filtering and semver ranges (node-semver), pure functions."""

from __future__ import annotations

import pytest

from chaosctl.services.registry.records import (
    Query,
    Record,
    RecordIn,
    normalise_range,
    select,
    valid_range,
    version_matches,
)


@pytest.mark.parametrize(
    ("spec", "matching"),
    [
        ("2.x", {"2.3.1", "2.4.0"}),
        ("~2.3", {"2.3.1"}),
        (">=2.1,<3", {"2.3.1", "2.4.0"}),
        (">=2.1, <2.4", {"2.3.1"}),
        ("2.3.1", {"2.3.1"}),
        ("^1", {"1.2.0"}),
        ("*", {"1.2.0", "2.3.1", "2.4.0", "3.0.0"}),
    ],
)
def test_version_ranges(spec: str, matching: set[str]) -> None:
    versions = {"1.2.0", "2.3.1", "2.4.0", "3.0.0"}
    assert {v for v in versions if version_matches(v, spec)} == matching


def test_comma_form_is_normalised_and_garbage_is_invalid() -> None:
    assert normalise_range(" >=2.1 , <3 ") == ">=2.1 <3"
    assert valid_range(">=2.1,<3")
    assert not valid_range("garbage>>")
    assert not version_matches("2.3.1", "garbage>>")


def _rec(name: str, model: str, version: str, device: str, **kw: object) -> Record:
    base = dict(
        name=name, capability="fraud-detection" if model == "fraud" else "image-classification",
        model=model, version=version, device=device, region="eu-west-1", p99_ms=50,
        endpoint="http://127.0.0.1:1",
    )  # fmt: skip
    base.update(kw)
    return Record.from_in(RecordIn.model_validate(base))


RECORDS = [
    _rec("gpu-1", "fraud", "2.3.1", "gpu", tags=("pci-dss", "gdpr")),
    _rec("gpu-2", "fraud", "2.4.0", "gpu", health="warming", tags=("gdpr",)),
    _rec("cpu-1", "fraud", "2.3.1", "cpu", p99_ms=250),
    _rec("gpu-1", "image", "1.2.0", "gpu", region="us-east-1"),
]


def _ids(q: Query) -> list[str]:
    return [r.id for r in select(RECORDS, q)]


def test_filters_combine() -> None:
    q = Query(capability="fraud-detection", version="2.x", device="gpu")
    assert _ids(q) == ["gpu-1--fraud--2.3.1", "gpu-2--fraud--2.4.0"]
    assert _ids(Query(model="fraud", max_p99_ms=100)) == ["gpu-1--fraud--2.3.1", "gpu-2--fraud--2.4.0"]
    assert _ids(Query(region="us-east-1")) == ["gpu-1--image--1.2.0"]
    assert _ids(Query(tags=("gdpr", "pci-dss"))) == ["gpu-1--fraud--2.3.1"]
    assert _ids(Query(health=("warming",))) == ["gpu-2--fraud--2.4.0"]
    assert _ids(Query(version="~2.3", device="cpu")) == ["cpu-1--fraud--2.3.1"]
    assert len(_ids(Query())) == 4


def test_record_id_is_stable_and_ttl_not_stored() -> None:
    rec = RECORDS[0]
    assert rec.id == "gpu-1--fraud--2.3.1"
    assert "ttl" not in rec.model_dump()
