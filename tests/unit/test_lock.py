"""requirements/lock.txt and requirements/bootstrap.txt agree with what they were compiled from.

scripts/install-venv.sh installs ONLY from these files (--require-hashes), so a pin changed in
pyproject.toml without `make lock` would silently not be installed: this test catches that drift.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503


def _pins(requirements: list[str]) -> dict[str, str]:
    """name -> version of `name==version` requirements; anything unpinned is a failure here."""
    pins: dict[str, str] = {}
    for req in requirements:
        match = PIN.match(req.strip())
        assert match, f"pyproject.toml: {req!r} is not pinned with == (the lock cannot follow a range)"
        pins[_norm(match.group(1))] = match.group(2)
    return pins


def _blocks(path: Path) -> dict[str, tuple[str, str]]:
    """name -> (version, the entry's text: hashes and `# via` lines) of a pip-compile/uv output file."""
    out: dict[str, tuple[str, str]] = {}
    current = None
    for line in path.read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = _norm(match.group(1))
            out[current] = (match.group(2), line)
        elif current and line.startswith(" "):
            version, text = out[current]
            out[current] = (version, text + "\n" + line)
    return out


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_pyproject_pin_is_in_the_lock_at_the_same_version() -> None:
    project = _pyproject()["project"]
    wanted = _pins(project["dependencies"]) | _pins(project["optional-dependencies"]["test"])
    lock = _blocks(ROOT / "requirements" / "lock.txt")
    drift = [f"{name}: pyproject {ver}, lock {lock[name][0] if name in lock else 'absent'}"
             for name, ver in sorted(wanted.items()) if name not in lock or lock[name][0] != ver]  # fmt: skip
    assert not drift, "pyproject.toml and requirements/lock.txt disagree (run `make lock`):\n" + "\n".join(drift)
    # and nothing is in the lock *because of* pyproject that pyproject no longer asks for
    direct = {name for name, (_, text) in lock.items() if "chaosctl (pyproject.toml)" in text}
    assert direct == set(wanted), f"stale direct entries in the lock (run `make lock`): {sorted(direct - set(wanted))}"


def test_every_locked_file_has_a_hash() -> None:
    for name in ("lock.txt", "bootstrap.txt"):
        blocks = _blocks(ROOT / "requirements" / name)
        assert blocks, name
        unhashed = [pkg for pkg, (_, text) in blocks.items() if "--hash=sha256:" not in text]
        assert not unhashed, f"requirements/{name}: no hash for {unhashed}"


def test_pip_and_setuptools_are_pinned_and_the_build_uses_the_locked_setuptools() -> None:
    bootstrap_in = _pins([ln for ln in (ROOT / "requirements" / "bootstrap.in").read_text().splitlines()
                          if ln.strip() and not ln.startswith("#")])  # fmt: skip
    bootstrap = {name: ver for name, (ver, _) in _blocks(ROOT / "requirements" / "bootstrap.txt").items()}
    assert set(bootstrap_in) == {"pip", "setuptools"} and bootstrap == bootstrap_in, (bootstrap_in, bootstrap)
    build = _pins(_pyproject()["build-system"]["requires"])
    assert build == {"setuptools": bootstrap["setuptools"]}, f"[build-system] requires {build}, bootstrap {bootstrap}"


def test_the_lock_targets_the_python_the_venv_is_built_with() -> None:
    makefile = (ROOT / "Makefile").read_text()
    py = re.search(r"^LOCK_PY := (\S+)", makefile, re.M).group(1)
    for name in ("lock.txt", "bootstrap.txt"):
        header = (ROOT / "requirements" / name).read_text().splitlines()[1]
        assert f"--python-version {py}" in header and "--generate-hashes" in header, header
    assert re.search(rf'requires-python = ">={re.escape(py)}"', (ROOT / "pyproject.toml").read_text())
