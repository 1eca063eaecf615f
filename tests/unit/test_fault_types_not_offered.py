"""A fault type the links cannot carry gets a message that says why and what to use instead
(issue 12 part 6: packet loss and corruption are not in the Toxiproxy release setup builds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaosctl.errors import ScenarioInvalid
from chaosctl.scenario import load_scenario
from chaosctl.setup.pins import TOXIPROXY_VERSION

SCENARIO = """\
apiVersion: chaosctl/v1
kind: Scenario
metadata: {{name: pl}}
load: {{users: 1, duration: 10s}}
phases:
  - name: fault
    duration: 10s
    faults:
      - type: {kind}
        target: link:gateway->model-gpu-1
"""


@pytest.mark.parametrize("kind", ["packet-loss", "corruption"])
def test_packet_loss_and_corruption_are_refused_with_the_reason(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.format(kind=kind))
    with pytest.raises(ScenarioInvalid) as info:
        load_scenario(path)
    text = str(info.value)
    assert f"{path}:9:" in text and f"unknown type {kind!r}" in text
    # Names the pinned release, so this fails when setup moves to one that may have the toxic.
    assert f"Toxiproxy {TOXIPROXY_VERSION}," in text and "'latency' plus 'jitter'" in text


def test_a_near_miss_still_gets_did_you_mean(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.format(kind="latncy"))
    with pytest.raises(ScenarioInvalid) as info:
        load_scenario(path)
    assert "did you mean 'latency'?" in str(info.value) and "Toxiproxy" not in str(info.value)
