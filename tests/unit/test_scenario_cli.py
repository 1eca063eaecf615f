"""`chaosctl validate` / `chaosctl schema` through the real CLI (a subprocess):
malformed files exit 2 with FILE:LINE: messages and no traceback."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHAOSCTL = ROOT / ".venv" / "bin" / "chaosctl"
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))

HEADER = "apiVersion: chaosctl/v1\nkind: Scenario\n"


def _billion_laughs() -> str:
    lines = ['lol0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        lines.append(f"lol{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return HEADER + "\n".join(lines) + "\n"


MALFORMED: dict[str, tuple[bytes, int, str]] = {
    # name: (content, expected line, a word the message must contain)
    "syntax": ((HEADER + "metadata: {name: x\nphases: []\n").encode(), 4, "expected"),
    "tabs": ((HEADER + "metadata:\n\tname: x\n").encode(), 4, "tab"),
    "duplicate-keys": ((HEADER + "kind: Scenario\n").encode(), 3, "duplicate key"),
    "python-tag": ((HEADER + 'metadata: !!python/object/apply:os.system ["touch {pwned}"]\n').encode(), 3, "not allowed"),
    "local-tag": ((HEADER + "metadata: !secret x\n").encode(), 3, "not allowed"),
    "billion-laughs": (_billion_laughs().encode(), 7, "alias"),
    "recursive-alias": ((HEADER + "metadata: &m [*m]\n").encode(), 3, "recursive"),
    "binary-garbage": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, 1, "UTF-8"),
    "nul-bytes": (b"apiVersion: chaosctl/v1\n\x00\x01\x02\n", 2, "unacceptable character #x0000"),
    "deep-nesting": ((HEADER + "metadata: " + "[" * 5000 + "]" * 5000 + "\n").encode(), 1, "nested too deeply"),
    "empty": (b"", 1, "empty"),
    "only-comments": (b"# nothing here\n\n", 1, "empty"),
    "not-a-mapping": (b"- a\n- b\n", 1, "mapping"),
    "unknown-apiVersion": (b"apiVersion: chaosctl/v2\nkind: Scenario\n", 1, "chaosctl/v2"),
    "missing-apiVersion": (b"kind: Scenario\n", 1, "apiVersion"),
}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CHAOSCTL), *args], capture_output=True, text=True, timeout=60, cwd=ROOT)


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_file_exits_2_with_file_and_line(tmp_path: Path, name: str) -> None:
    content, line, word = MALFORMED[name]
    pwned = tmp_path / "pwned"
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(content.replace(b"{pwned}", str(pwned).encode()))
    proc = run_cli("validate", str(path))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    first = proc.stderr.splitlines()[0]
    assert first.startswith(f"{path}:{line}:"), first
    assert re.match(rf"^{re.escape(str(path))}:\d+:\d+: ", first)
    message = first[len(str(path)) :].split(": ", 1)[1]  # the file name must not satisfy the check
    assert word.lower() in message.lower(), first
    assert "ok" not in proc.stdout
    assert not pwned.exists(), "a YAML tag was executed"


def test_every_shipped_scenario_validates() -> None:
    assert len(SCENARIOS) >= 4
    proc = run_cli("validate", *map(str, SCENARIOS))
    assert proc.returncode == 0, proc.stderr
    for path in SCENARIOS:
        assert f"{path}: ok" in proc.stdout
    names = {p.name for p in SCENARIOS}
    assert {"latency-injection.yaml", "registry-node-loss.yaml", "gpu-exhaustion.yaml"} <= names


def test_validate_reports_every_file_and_every_error(tmp_path: Path) -> None:
    good = SCENARIOS[0]
    bad = tmp_path / "bad.yaml"
    text = (ROOT / "scenarios" / "latency-injection.yaml").read_text()
    text = text.replace("toxicity: 100%", "toxcity: 100%").replace("latency: 250ms", "latency: 250 millis")
    bad.write_text(text)
    proc = run_cli("validate", str(bad), str(good))
    assert proc.returncode == 2
    assert f"{good}: ok" in proc.stdout
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith(f"{bad}:")]
    assert len(errors) == 2, proc.stderr
    assert any("did you mean 'toxicity'" in ln for ln in errors)
    assert any("bad duration '250 millis'" in ln for ln in errors)
    assert "Traceback" not in proc.stderr


def test_schema_command_prints_a_valid_draft_2020_12_schema() -> None:
    import jsonschema

    proc = run_cli("schema")
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_cli_import_stays_light() -> None:
    """`chaosctl validate` must not drag in the heavy stack (fastapi, locust, sklearn, OTel)."""
    code = (
        "import sys; import chaosctl.cli, chaosctl.scenario, chaosctl.scenario.schema, chaosctl.scenario.timeline;"
        "heavy = [m for m in ('fastapi', 'locust', 'sklearn', 'opentelemetry.sdk', 'docker', 'numpy', 'httpx') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


def test_bucket_check_uses_the_buckets_the_services_export() -> None:
    from chaosctl.scenario.checks import LATENCY_BUCKETS, bucket_problem
    from chaosctl.services.telemetry import HTTP_BUCKETS

    assert LATENCY_BUCKETS == HTTP_BUCKETS
    assert all(bucket_problem(b) is None for b in HTTP_BUCKETS)
    assert bucket_problem(0.28) is not None


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_dry_run_prints_the_timeline_and_touches_nothing(tmp_path: Path, path: Path) -> None:
    from chaosctl.scenario import load_scenario

    state = tmp_path / "state"
    proc = run_cli("run", str(path), "--dry-run", "--state-dir", str(state), "--port-base", "29500")
    assert proc.returncode == 0, proc.stderr
    scenario = load_scenario(path)
    assert f"{scenario.name}: dry run" in proc.stdout
    for phase in scenario.phases:
        assert phase.name in proc.stdout
    assert not state.exists() or not any(state.iterdir()), "a dry run must not touch the state folder"
