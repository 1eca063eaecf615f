"""Building chaosctl's wheel for the packaging tests, from a copy of the checkout's files.

The copy keeps symlinks (src/chaosctl/data/* point at the top-level folders) and leaves the
work tree untouched (no build/, no egg-info). Built with the venv's pinned setuptools and no
build isolation, as `make wheel` does. (tests/ is on sys.path: see tests/conftest.py.)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What the build reads: the package, its metadata, and the top-level folders data/ points at.
BUILD_INPUTS = ("pyproject.toml", "README.md", "src", "scenarios", "systems", "schemas", "dashboards", "tools/jaeger")
# Top-level file -> where the wheel holds it.
SHIPPED = {
    "scenarios/*.yaml": "chaosctl/data/scenarios",
    "systems/*.yaml": "chaosctl/data/systems",
    "schemas/*.json": "chaosctl/data/schemas",
    "dashboards/*.json": "chaosctl/data/dashboards",
    "tools/jaeger/go.*": "chaosctl/data/jaeger",
}


def _ignore(_dir: str, names: list[str]) -> list[str]:
    return [n for n in names if n == "__pycache__" or n.endswith(".egg-info")]


def build_wheel(work: Path) -> Path:
    """Copy the build inputs into `work`/src-tree, build, return the .whl path."""
    tree = work / "tree"
    for rel in BUILD_INPUTS:
        src, dst = ROOT / rel, tree / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, symlinks=True, ignore=_ignore)
        else:
            shutil.copy2(src, dst)
    out = work / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "-w", str(out), str(tree)], check=True, timeout=600)
    (wheel,) = out.glob("chaosctl-*.whl")
    return wheel


def expected_data() -> dict[str, bytes]:
    """Path inside the wheel -> the repository file's bytes, for every shipped data file."""
    out = {}
    for pattern, inside in SHIPPED.items():
        folder, glob = pattern.rsplit("/", 1)
        for path in sorted((ROOT / folder).glob(glob)):
            out[f"{inside}/{path.name}"] = path.read_bytes()
    return out
