"""`chaosctl validate` parses with libyaml first (yamlsrc.read_yaml's `fast`) and says every problem
from the pure parser (system/validate.py): the same data for a good file, the same lines for a bad one."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaosctl.errors import ScenarioInvalid
from chaosctl.scenario.yamlsrc import has_libyaml, read_yaml
from chaosctl.system.validate import validate_files

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted([*ROOT.glob("scenarios/*.yaml"), *ROOT.glob("systems/*.yaml"), *ROOT.glob("tests/data/*.yaml"),
                  *ROOT.glob("src/chaosctl/data/systems/*.yaml")])  # fmt: skip
SMOKE = (ROOT / "scenarios" / "smoke.yaml").read_text()

pytestmark = pytest.mark.skipif(not has_libyaml(), reason="ruamel.yaml.clib (libyaml) is not installed")


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_libyaml_reads_the_same_data_and_positions_as_the_pure_parser(path: Path) -> None:
    fast_data, fast_pos = read_yaml(path, fast=True)
    data, pos = read_yaml(path)
    assert fast_pos.fast and not pos.fast
    assert fast_data == data
    assert (fast_pos.values, fast_pos.keys) == (pos.values, pos.keys)  # no empty values in shipped files


def test_a_problem_is_placed_by_the_pure_parser(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # An empty value: libyaml places it after its key, the pure parser at the next token (the line below).
    bad = tmp_path / "empty.yaml"
    bad.write_text(SMOKE.replace("  - name: baseline\n    duration: 20s\n", "  - name: baseline\n    duration:\n"))
    line = SMOKE.splitlines().index("    duration: 20s")  # 0-based: the key's line
    assert read_yaml(bad, fast=True)[1].values[("phases", 0, "duration")] == (line, 13)
    assert read_yaml(bad)[1].values[("phases", 0, "duration")] == (line + 1, 2)
    with pytest.raises(ScenarioInvalid):
        validate_files([bad])
    err = capsys.readouterr().err
    assert err == f"{bad}:{line + 2}:3: phases[0].duration: expected a duration like '30s' or '200ms', got None\n"


def test_a_yaml_error_is_the_pure_parsers_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "tab.yaml"
    bad.write_text(SMOKE.replace("  users: 8\n", "\tusers: 8\n"))
    with pytest.raises(ScenarioInvalid):
        validate_files([bad])
    err = capsys.readouterr().err.splitlines()
    with pytest.raises(ScenarioInvalid) as pure:
        read_yaml(bad)
    assert err == pure.value.messages
    assert "(YAML indentation must use spaces, not tabs)" in err[0]


def test_a_directive_is_read_by_the_pure_parser(tmp_path: Path) -> None:
    path = tmp_path / "v11.yaml"
    path.write_text("%YAML 1.1\n---\n" + SMOKE)
    data, positions = read_yaml(path, fast=True)
    assert not positions.fast and data == read_yaml(path)[0]
