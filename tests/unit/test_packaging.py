"""The wheel is the whole tool: every shipped data file, byte for byte the repository's, and
the package finds them from any working directory (importlib.resources)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from chaosctl.setup import shipped
from wheel_build import ROOT, build_wheel, expected_data


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def test_the_wheel_holds_every_shipped_file_as_in_the_repository(wheel: Path) -> None:
    want = expected_data()
    assert {"chaosctl/data/systems/reference.system.yaml", "chaosctl/data/jaeger/go.mod",
            "chaosctl/data/scenarios/smoke.yaml", "chaosctl/data/schemas/scenario-v1.json"} <= set(want)
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        data = {n for n in names if n.startswith("chaosctl/data/")}
        assert data == set(want), f"in the wheel only: {sorted(data - set(want))}; missing: {sorted(set(want) - data)}"
        for name, content in want.items():
            assert zf.read(name) == content, f"{name} differs from the repository's file"
        assert "chaosctl/load/locustfile.py" in names
        entry = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "chaosctl = chaosctl.__main__:main" in zf.read(entry).decode()  # validate's short path, else cli.main


def test_the_version_comes_from_pyproject(wheel: Path) -> None:
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert wheel.name.startswith(f"chaosctl-{version}-")
    import chaosctl

    assert chaosctl.__version__ == version


def test_the_checkout_has_one_source_of_truth() -> None:
    """src/chaosctl/data/* are symlinks to the top-level folders that make demo and the tests use."""
    for kind, top in [("scenarios", "scenarios"), ("systems", "systems"), ("schemas", "schemas"),
                      ("dashboards", "dashboards"), ("jaeger", "tools/jaeger")]:
        link = ROOT / "src" / "chaosctl" / "data" / kind
        assert link.is_symlink() and link.resolve() == (ROOT / top).resolve(), link
        assert shipped.data_dir(kind).resolve() == (ROOT / top).resolve()


def test_shipped_scenario_names_are_their_metadata_names() -> None:
    found = shipped.shipped_scenarios()
    assert [s.name for s in found] == sorted(p.stem for p in (ROOT / "scenarios").glob("*.yaml"))
    from chaosctl.scenario import load_scenario

    for s in found:
        assert load_scenario(s.path).metadata.name == s.name
        assert s.description and s.package_path == f"chaosctl/data/scenarios/{s.name}.yaml"


def test_a_shipped_name_resolves_only_when_no_such_file_exists(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert shipped.resolve_scenario(Path("smoke")) == shipped.data_dir("scenarios") / "smoke.yaml"
    assert shipped.resolve_scenario(Path("smoke.yaml")) == shipped.data_dir("scenarios") / "smoke.yaml"
    (tmp_path / "smoke").write_text("mine")
    assert shipped.resolve_scenario(Path("smoke")) == Path("smoke")  # a local file wins
    assert shipped.resolve_scenario(Path("nope")) == Path("nope")  # left for the loader to report
    assert shipped.resolve_scenario(Path("sub/smoke")) == Path("sub/smoke")  # a path is never a name


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-m", "chaosctl.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_scenarios_lists_the_shipped_ones_from_any_folder(tmp_path: Path) -> None:
    result = _cli("scenarios", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for s in shipped.shipped_scenarios():
        assert s.name in result.stdout and s.package_path in result.stdout and s.description in result.stdout


def test_init_writes_a_starter_that_validates_and_refuses_to_overwrite(tmp_path: Path) -> None:
    result = _cli("init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    scenario, system = tmp_path / "scenario.yaml", tmp_path / "system.yaml"
    assert "system: ./system.yaml" in scenario.read_text() and "kind: System" in system.read_text()
    assert "$schema=../" not in scenario.read_text() + system.read_text()  # no link into the package's tree
    checked = _cli("validate", "scenario.yaml", "system.yaml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    system.write_text("# mine\n" + system.read_text())
    again = _cli("init", cwd=tmp_path)
    assert again.returncode == 2 and "already there" in again.stderr and "--force" in again.stderr
    assert system.read_text().startswith("# mine")  # untouched
    assert "Traceback" not in again.stderr
    forced = _cli("init", "--force", cwd=tmp_path)
    assert forced.returncode == 0 and not system.read_text().startswith("# mine")


def test_validate_and_dry_run_take_a_shipped_name(tmp_path: Path) -> None:
    checked = _cli("validate", "smoke", "latency-injection", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "smoke.yaml: ok" in checked.stdout and "latency-injection.yaml: ok" in checked.stdout
    dry = _cli("run", "smoke", "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0 and "smoke: dry run" in dry.stdout, dry.stderr
    unknown = _cli("run", "no-such-scenario", "--dry-run", cwd=tmp_path)
    assert unknown.returncode == 2 and "no-such-scenario" in unknown.stderr and "Traceback" not in unknown.stderr
