"""Mutated scenario files never escape as anything but ScenarioInvalid with FILE:LINE:COL lines."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from chaosctl.errors import ScenarioInvalid
from chaosctl.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
TOKENS = [":", "- ", "{", "}", "[", "]", "&a ", "*a", "!!str ", "!!python/name:os.system ", "\t", "'", '"', "#", "\n",
          "  ", "<<: *a", "0x1", "1e400", ".nan", "~", "yes", "%", "ms", "\x00", "é", "---\n", "? "]  # fmt: skip


def _mutate(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    for _ in range(rng.randint(1, 4)):
        j = rng.randrange(len(lines))
        k = rng.randrange(len(lines[j]) + 1)
        op = rng.random()
        if op < 0.3:
            del lines[j]
        elif op < 0.6:
            lines[j] = lines[j][:k] + rng.choice(TOKENS) + lines[j][k:]
        elif op < 0.8:
            lines.insert(j, rng.choice(lines))
        else:
            lines[j] = lines[j][:k] + lines[j][k + 1 :]
    return "\n".join(lines)


def test_mutated_scenarios_fail_cleanly(tmp_path: Path) -> None:
    rng = random.Random(20261125)
    texts = [p.read_text() for p in sorted((ROOT / "scenarios").glob("*.yaml"))]
    invalid = 0
    for i in range(300):
        path = tmp_path / f"m{i}.yaml"
        path.write_text(_mutate(rng.choice(texts), rng))
        try:
            load_scenario(path)
        except ScenarioInvalid as exc:
            invalid += 1
            assert exc.messages and all(m.startswith(f"{path}:") and m.split(":")[1].isdigit() for m in exc.messages)
        except Exception as exc:  # noqa: BLE001
            pytest.fail(f"{path}: {type(exc).__name__}: {exc}\n{path.read_text()}")
    assert invalid > 100  # the mutations do break files: the check above is exercised
