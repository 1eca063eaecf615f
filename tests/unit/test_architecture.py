"""The layering of docs/architecture.md, enforced: `lint-imports` (import-linter) with .importlinter.

The first test checks this checkout; the others prove the contracts bite, on a copy of the
package with one upward import (or cycle) added at a time: lint-imports must fail on it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` on the package under `root/src` (first on the path, so not an installed copy)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "src"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-c", LINT, "--no-cache", str(root / ".importlinter")],
        capture_output=True, text=True, cwd=root, env=env, timeout=120,
    )  # fmt: skip


def test_layer_contracts_hold() -> None:
    done = _lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Contracts: {_declared(ROOT)} kept, 0 broken" in done.stdout, done.stdout


# (module file, the import added to it, the contract it breaks, the chain lint-imports reports)
UPWARD = [
    ("verdict/__init__.py", "from chaosctl.report import json", "verdict/ never imports the run engine, report/ or the CLI",
     "chaosctl.verdict -> chaosctl.report.json"),
    ("observe/__init__.py", "from chaosctl.verdict import model", "the run's data flows one way",
     "chaosctl.observe -> chaosctl.verdict.model"),
    ("scenario/__init__.py", "from chaosctl.observe import spans", "the run's data flows one way",
     "chaosctl.scenario -> chaosctl.observe.spans"),
    ("stack/backend.py", "from chaosctl.stack import local", "the backend factory above the backends",
     "chaosctl.stack.backend -> chaosctl.stack.local"),
    ("dashboards/__init__.py", "from chaosctl.dashboards import preview", "the dashboards package never imports its preview",
     "chaosctl.dashboards -> chaosctl.dashboards.preview"),
    ("faults/base.py", "from chaosctl.faults import link", "the catalogue above the fault modules",
     "chaosctl.faults.base -> chaosctl.faults.link"),
]  # fmt: skip


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("layers")
    shutil.copytree(ROOT / "src" / "chaosctl", root / "src" / "chaosctl",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    shutil.copy(ROOT / ".importlinter", root / ".importlinter")
    return root


@pytest.mark.parametrize(("victim", "line", "contract", "chain"), UPWARD, ids=[u[0] for u in UPWARD])
def test_an_upward_import_breaks_a_contract(package_copy: Path, victim: str, line: str, contract: str,
                                            chain: str) -> None:
    """One offending import added to a copy of the package: lint-imports fails, naming the contract
    and the import; the copy is restored after, so each case adds exactly one."""
    path = package_copy / "src" / "chaosctl" / victim
    original = path.read_text()
    path.write_text(original + f"\n{line} as _upward  # noqa\n")
    try:
        done = _lint_imports(package_copy)
    finally:
        path.write_text(original)
    assert done.returncode == 1, done.stdout + done.stderr
    flat = " ".join(done.stdout.split())  # lint-imports wraps long contract names
    assert re.search(re.escape(contract) + r".* BROKEN", flat), done.stdout
    assert chain in done.stdout, done.stdout
    counts = re.search(r"Contracts: (\d+) kept, (\d+) broken", done.stdout)
    assert counts and int(counts[2]) >= 1 and int(counts[1]) + int(counts[2]) == _declared(ROOT), done.stdout


def test_the_unchanged_copy_keeps_every_contract(package_copy: Path) -> None:
    """The cases above fail because of their one import, not because the copy differs."""
    done = _lint_imports(package_copy)
    assert done.returncode == 0, done.stdout + done.stderr


def _declared(root: Path) -> int:
    return len(re.findall(r"^\[importlinter:contract:", (root / ".importlinter").read_text(), flags=re.M))
