"""The layering of DESIGN.md §8, enforced: `lint-imports` (import-linter) with .importlinter.

The first test checks this checkout; the second proves the contracts bite, on a copy of the
package with one upward import added (verdict/ importing report/).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` on the package under `root/src` (first on the path, so not an installed copy)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "src"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-c", LINT, "--no-cache", "--config", str(root / ".importlinter")],
        capture_output=True, text=True, cwd=root, env=env, timeout=120,
    )  # fmt: skip


def test_layer_contracts_hold() -> None:
    done = _lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    kept = re.search(r"Contracts: (\d+) kept, 0 broken", done.stdout)
    assert kept and int(kept.group(1)) >= 4, done.stdout


def test_an_upward_import_breaks_a_contract(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "src" / "chaosctl", tmp_path / "src" / "chaosctl",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    victim = tmp_path / "src" / "chaosctl" / "verdict" / "__init__.py"
    victim.write_text(victim.read_text() + "\nfrom chaosctl.report import json as _upward  # noqa\n")
    done = _lint_imports(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r"verdict/ never imports the run engine, report/ or the CLI BROKEN", done.stdout), done.stdout
    assert "chaosctl.verdict -> chaosctl.report.json" in done.stdout, done.stdout
