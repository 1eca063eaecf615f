"""Every CHAOSCTL_* environment name is a constant defined in settings.py: no module of the
package spells one as a string literal of its own, and the compose file asks for no name that
the docker backend does not set."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from chaosctl.settings import COMPOSE_ENV, SECRET_ENV

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "chaosctl"
NAME = re.compile(r"CHAOSCTL_[A-Z0-9_]+")
SHELL_REF = re.compile(r"\$\{?CHAOSCTL_[A-Z0-9_]+")
# Still to move (left alone while fault types are being added there): file -> names it spells.
NOT_YET = {
    "services/modelserver/app.py": {"CHAOSCTL_GPU"},
}


def _literal_names(path: Path) -> set[str]:
    """Names used as a whole string literal (an environment key) or referenced by a shell script
    in a literal; prose in docstrings and help texts that mentions a name does not count."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if NAME.fullmatch(node.value):
                found.add(node.value)
            found.update(ref.lstrip("${") for ref in SHELL_REF.findall(node.value))
    return found


def test_no_module_but_settings_spells_an_environment_name():
    spelled = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        names = _literal_names(path) - NOT_YET.get(rel, set())
        if rel != "settings.py" and names:
            spelled[rel] = sorted(names)
    assert spelled == {}, f"define these in settings.py and import the constant: {spelled}"


def test_the_check_sees_a_literal_key_and_a_shell_reference(tmp_path: Path):
    """The test above can fail: both forms are caught, a mention in prose is not."""
    sample = tmp_path / "sample.py"
    sample.write_text('"""Reads CHAOSCTL_FOO."""\nenv = {"CHAOSCTL_BAR": "1"}\ncmd = \'echo "$CHAOSCTL_BAZ"\'\n')
    assert _literal_names(sample) == {"CHAOSCTL_BAR", "CHAOSCTL_BAZ"}


def test_the_compose_file_asks_only_for_names_the_docker_backend_sets():
    wanted = {ref.lstrip("${") for ref in SHELL_REF.findall((ROOT / "docker-compose.observability.yml").read_text())}
    assert wanted, "the compose file interpolates the host ports"
    assert wanted <= set(COMPOSE_ENV.values()) | set(SECRET_ENV.values())
