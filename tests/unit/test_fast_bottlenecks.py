"""`chaosctl bottlenecks --file` by __main__'s short path: the same output and exit codes as the
typer command in cli.py, without importing typer (issue 14 part 5: at least 2x the naive
implementation end to end, benchmarks/critical_path.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from otlp_build import MISSING_PARENT, PARALLEL, SEQUENTIAL, SKEWED, resource_spans
from test_fast_validate import _run  # python -m MODULE ARGS: (exit code, stdout, stderr)

from chaosctl.__main__ import bottlenecks_options
from chaosctl.report.bottlenecks import BottleneckOptions

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("fast-bottlenecks")
    doc = {"result": {"resourceSpans": resource_spans("seq", SEQUENTIAL) + resource_spans("par", PARALLEL)
                      + resource_spans("skew", SKEWED) + resource_spans("miss", MISSING_PARENT)}}
    (folder / "t.json").write_text(json.dumps(doc))
    (folder / "base.json").write_text(json.dumps({"resourceSpans": resource_spans("seq", SEQUENTIAL)}))
    (folder / "bad.json").write_text('{"resourceSpans": [\n  {"scopeSpans": [}\n]}')
    (folder / "big.json").write_text(json.dumps(doc) + " " * 2**20)
    return {name: str(folder / f"{name}.json") for name in ("t", "base", "bad", "big")} | {"missing": str(folder / "no.json")}


@pytest.mark.parametrize(("args", "code"), [
    (["--file", "{t}", "--json"], 0),
    (["--file={t}"], 0),  # the table
    (["--file", "{t}", "--baseline-file", "{base}", "--top", "2", "--per-trace"], 0),
    (["--root-operation", "GET*", "--file", "{t}", "--json", "--max-file-mb", "1"], 0),
    (["--file", "{bad}"], 2),  # FILE:LINE:COL
    (["--file", "{missing}"], 2),
    (["--file", "{big}", "--max-file-mb", "1"], 2),  # over the cap
    (["--file", "{t}", "--baseline-file", "{missing}", "--json"], 2),
])  # fmt: skip
def test_the_short_path_says_what_the_typer_command_says(files: dict[str, str], args: list[str], code: int) -> None:
    args = ["bottlenecks", *(a.format(**files) for a in args)]
    assert bottlenecks_options(args) is not None  # these do take the short path
    fast = _run("chaosctl", *args)
    assert (fast, fast[0]) == (_run("chaosctl.cli", *args), code)
    assert code == 0 or ("Traceback" not in fast[2] and "chaosctl: " in fast[2])


@pytest.mark.parametrize("args", [
    ["bottlenecks"], ["bottlenecks", "--help"], ["bottlenecks", "--jaeger", "http://x", "--service", "s"],
    ["bottlenecks", "--file", "a", "--jaeger", "http://x"], ["bottlenecks", "--file", "a", "--since", "5m"],
    ["bottlenecks", "--file"], ["bottlenecks", "--file", ""], ["bottlenecks", "--file", "-"], ["bottlenecks", "--file", "a", "--file", "b"],
    ["bottlenecks", "--file", "a", "--json", "--json"], ["bottlenecks", "--file", "a", "--json=1"], ["bottlenecks", "--file", "a", "x"],
    ["bottlenecks", "--file", "a", "--top", "-1"], ["bottlenecks", "--file", "a", "--top", "+3"], ["bottlenecks", "--file", "a", "--top", "03"],
    ["bottlenecks", "--file", "a", "--max-file-mb", "0"], ["bottlenecks", "--file", "a", "--max-file-mb", "65537"],
    ["bottlenecks", "--file", "a", "--max-file-mb", "1e3"], ["bottlenecks", "--file", "a", "--"], ["bottlenecks", "--file", "a", "--baseline", "1..2"],
    ["validate", "--file", "a"], ["--version", "bottlenecks", "--file", "a"],
])  # fmt: skip
def test_anything_but_a_plain_bottlenecks_file_goes_to_typer(args: list[str]) -> None:
    assert bottlenecks_options(args) is None


def test_the_parsed_options_are_the_typer_commands() -> None:
    got = bottlenecks_options(["bottlenecks", "--json", "--file=a.json", "--baseline-file", "b.json", "--root-operation", "POST *",
                               "--top", "0", "--max-file-mb", "65536", "--per-trace"])
    assert got == BottleneckOptions(file=Path("a.json"), baseline_file=Path("b.json"), root_operation="POST *", as_json=True,
                                    per_trace=True, top=0, max_file_bytes=65536 * 2**20)
    assert bottlenecks_options(["bottlenecks", "--file", "a.json"]) == BottleneckOptions(file=Path("a.json"))


def test_the_short_path_imports_no_typer(files: dict[str, str]) -> None:
    code = ("import sys; sys.argv = ['chaosctl', 'bottlenecks', '--file', sys.argv[1], '--json']\n"
            "from chaosctl.__main__ import main\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('typer', 'click', 'chaosctl.cli', 'pydantic') if m in sys.modules), file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code, files["t"]], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stderr.strip() == "[]"
    assert json.loads(out.stdout)["traces"] > 0
