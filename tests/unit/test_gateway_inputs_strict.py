"""The gateway takes only JSON numbers as features: `true` or `"0.5"` is a 422 before any
upstream is called (schemathesis found `{"inputs": [[false]]}` answered 200)."""

from __future__ import annotations

import pytest

from _gateway_fakes import FakeStack, make_harness, ok, record


def _stack() -> FakeStack:
    return FakeStack(records=[record("model-gpu-1")], servers={"model-gpu-1": ok})


@pytest.mark.parametrize("cell", [True, False, "0.5", None])
def test_a_non_number_feature_is_refused_before_any_upstream_call(cell: object) -> None:
    h = make_harness(_stack())
    resp = h.predict(body={"inputs": [[0.1, cell, 0.3]]})
    assert resp.status_code == 422, resp.text
    assert h.stack.upstream_calls() == []


def test_numbers_still_pass_ints_included() -> None:
    h = make_harness(_stack())
    resp = h.predict(body={"inputs": [[0.1, 2, -3]]})
    assert resp.status_code == 200, resp.text
    assert h.stack.upstream_calls() == ["model-gpu-1"]
