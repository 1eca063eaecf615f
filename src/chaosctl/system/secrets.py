"""Refuse credentials written into a System file.

A System file is committed, reviewed and pasted into tickets; a credential in
it leaks. chaosctl only accepts the *name* of an environment variable
(`token_env: PROM_TOKEN`, `auth.value_env`, `admin_token_env`). This walk runs
on the plain data before the models, so the message is about the secret (not
"unknown field") and points at its FILE:LINE:COL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

Problem = tuple[tuple[Any, ...], str]

# Field names that hold credentials; `*_env` fields name a variable instead.
# Patterns, compiled on first use by re (and cached there): validating a scenario never needs them.
_SECRET_KEY = r"(?i)(token|passw(or)?d|secret|api[_-]?key|credential|private[_-]?key|bearer|session[_-]?id)"
# Headers whose value is a credential (load requests get them from load.auth).
_SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key", "x-auth-token"}
_JWT = r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"
_AUTH_SCHEME = r"(?i)^\s*(Bearer|Basic|Token|Digest)\s+\S{8,}"
_URL_PASSWORD = r"(?i)^[a-z][a-z0-9+.-]*://[^/\s:@]*:[^/\s@]+@"
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"

_HOW = "put it in an environment variable and name that variable here"


def secret_problems(data: Any, path: tuple[Any, ...] = ()) -> list[Problem]:
    """Every literal credential in the data, with the path of its value."""
    return list(_walk(data, path))


def _walk(node: Any, path: tuple[Any, ...]) -> Iterator[Problem]:
    if isinstance(node, dict):
        in_headers = bool(path) and path[-1] == "headers"
        # Label maps name things (`{tier: secret-store}`): their keys are not credential fields.
        is_labels = bool(path) and path[-1] in ("labels", "selector")
        for key, value in node.items():
            sub = (*path, key)
            problem = None if is_labels else _key_problem(str(key), value, in_headers)
            if problem:
                yield sub, problem
            else:
                yield from _walk(value, sub)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _walk(item, (*path, i))
    elif isinstance(node, str):
        problem = _value_problem(node)
        if problem:
            yield path, problem


def _key_problem(key: str, value: Any, in_headers: bool) -> str | None:
    if key.endswith("_env"):
        if isinstance(value, str) and not re.match(_ENV_NAME, value):
            return f"{key} must be the NAME of an environment variable (letters, digits, _), not the secret itself"
        return None
    if isinstance(value, (dict, list)) or value is None or value == "":
        return None
    if in_headers and key.lower() in _SECRET_HEADERS:
        return f"literal {key} header refused: credentials never go in a System file; use load.auth {{header: {key}, value_env: VAR}}"
    if not in_headers and re.search(_SECRET_KEY, key) and isinstance(value, (str, int)) and not isinstance(value, bool):
        return f"literal secret in {key!r} refused: {_HOW} ({key}_env: VAR)"
    return None


def _value_problem(text: str) -> str | None:
    if re.search(_JWT, text):
        return f"this looks like a token (a JWT) written into the file: refused; {_HOW}"
    if re.match(_AUTH_SCHEME, text):
        return f"this looks like a credential (an Authorization value) written into the file: refused; {_HOW}"
    if re.match(_URL_PASSWORD, text):
        return "a password in a URL is refused: drop the user:password@ part and use token_env"
    return None
