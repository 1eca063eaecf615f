"""The install's secrets: the gateway's JWT signing key, the model servers' admin
token, the service credential (registry writes, gateway -> model server calls), the
Grafana admin password of the docker backend and the prediction cache's Redis password.

They are random per install, created at the first command that needs them
(normally `chaosctl up`) in `STATE_DIR/secrets.json`: mode 0600 in a 0700 state
dir, never printed (`chaosctl token --secret NAME` prints one on request). A
value given in the environment (settings.py names the variables) overrides the
file's. A file that others can read, a value that is too short, or one of the
constants that earlier versions shipped in their source is refused wherever it
comes from: anyone on the host could otherwise mint tokens or drive the admin API.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets as std_secrets
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from chaosctl.errors import UsageError

FILE_NAME = "secrets.json"
# 32 random bytes (43 URL-safe characters); RFC 7518 §3.2 wants an HS256 key of >= 256 bits.
MIN_LENGTH = 32
# Shipped in the source of chaosctl <= 0.1 (settings.py); public, hence worthless as secrets.
KNOWN_CONSTANTS = frozenset({"chaosctl-dev-secret-change-me-0123456789", "chaosctl-admin-dev-token"})


@dataclass(frozen=True)
class Secrets:
    jwt_secret: str = field(repr=False)
    admin_token: str = field(repr=False)
    service_token: str = field(repr=False)
    grafana_admin_password: str = field(repr=False)
    # Redis `requirepass` of the gateway's prediction cache (any local user could read or
    # poison cached predictions without it).
    cache_password: str = field(repr=False)


NAMES = tuple(f.name for f in fields(Secrets))


def secrets_path(state_dir: Path) -> Path:
    return state_dir / FILE_NAME


def generate() -> Secrets:
    return Secrets(**{name: std_secrets.token_urlsafe(32) for name in NAMES})


def check_value(name: str, value: str, origin: str) -> str:
    """`value` if it may serve as secret `name`; else UsageError naming `origin`."""
    if value in KNOWN_CONSTANTS:
        raise UsageError(f"{origin}: {name} is a constant published in chaosctl's source; refused "
                         f"(unset it to get a random one, or give your own of >= {MIN_LENGTH} characters)")
    if len(value) < MIN_LENGTH:
        raise UsageError(f"{origin}: {name} is {len(value)} characters long; at least {MIN_LENGTH} are needed")
    return value


def check_distinct(values: Secrets, origin: str) -> Secrets:
    """The roles must not share a value: the gateway holds the service credential, not the admin one."""
    seen: dict[str, str] = {}
    for name in NAMES:
        value = getattr(values, name)
        if value in seen:
            raise UsageError(f"{origin}: {name} equals {seen[value]}; every secret must be different")
        seen[value] = name
    return values


def resolve(state_dir: Path, overrides: Mapping[str, str | None], override_origin: Mapping[str, str],
            *, create: bool = True) -> Secrets:  # fmt: skip
    """The secrets of the install at `state_dir`: each from `overrides` (the environment) when
    given, else from the secrets file, which is created (or completed) on first need. With
    `create=False` an absent file is not made: what it would hold stays "" (unset)."""
    given = {n: check_value(n, v, override_origin.get(n, n)) for n, v in overrides.items() if v}
    if all(n in given for n in NAMES):  # e.g. a service started by the stack: never touches the file
        return check_distinct(Secrets(**given), "environment")
    if not create and not secrets_path(state_dir).exists():
        return Secrets(**{n: given.get(n, "") for n in NAMES})
    stored = load_or_create(state_dir)
    return check_distinct(Secrets(**{n: given.get(n, getattr(stored, n)) for n in NAMES}), "secrets")


def load_or_create(state_dir: Path) -> Secrets:
    """The secrets file of `state_dir`, created with fresh values when absent (under a lock,
    so two first commands at once agree on one set)."""
    ensure_private_dir(state_dir)
    path = secrets_path(state_dir)
    with _dir_lock(state_dir):
        stored = _read(path)
        if stored is not None and all(n in stored for n in NAMES):
            return Secrets(**{n: check_value(n, stored[n], str(path)) for n in NAMES})
        fresh = generate()
        # Keep what an older file holds; add what it lacks.
        merged = Secrets(**{n: (stored or {}).get(n) or getattr(fresh, n) for n in NAMES})
        for n in NAMES:
            check_value(n, getattr(merged, n), str(path))
        _write(path, merged)
        return merged


def ensure_private_dir(state_dir: Path) -> None:
    """Create `state_dir` 0700, or take group/other permissions away from an existing one of ours."""
    try:
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = state_dir.stat()
        if st.st_mode & 0o077:
            if st.st_uid != os.geteuid():
                raise UsageError(f"{state_dir}: state dir is open to others and owned by uid {st.st_uid}, "
                                 "not you; choose another (--state-dir / CHAOSCTL_STATE_DIR)")
            os.chmod(state_dir, stat.S_IMODE(st.st_mode) & 0o700)
    except OSError as exc:
        raise UsageError(f"{state_dir}: cannot prepare the state dir: {exc.strerror or exc}") from None


@contextlib.contextmanager
def _dir_lock(directory: Path) -> Iterator[None]:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _read(path: Path) -> dict[str, str] | None:
    """The file's values, None when there is none; UsageError when others may read it or it is malformed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UsageError(f"{path}: cannot open the secrets file: {exc.strerror or exc}") from None
    with os.fdopen(fd, encoding="utf-8") as fh:
        _check_private(path, os.fstat(fh.fileno()))
        text = fh.read(64 * 1024)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{path}: malformed secrets file ({exc}); remove it to get new secrets "
                         "(restart the stack afterwards)") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(n, ""), str) for n in NAMES):
        raise UsageError(f"{path}: malformed secrets file (expected an object of strings); remove it "
                         "to get new secrets (restart the stack afterwards)")
    return {n: data[n] for n in NAMES if data.get(n)}


def _check_private(path: Path, st: os.stat_result) -> None:
    if st.st_uid != os.geteuid():
        raise UsageError(f"{path}: secrets file owned by uid {st.st_uid}, not you; refused")
    if st.st_mode & 0o077:
        mode = stat.S_IMODE(st.st_mode)
        raise UsageError(f"{path}: secrets file is readable by group or others (mode {mode:04o}); refused. "
                         f"Its secrets may be known: remove it (new ones are made at the next command, restart "
                         f"the stack) or, if only you could read it, run: chmod 600 {path}")


def _write(path: Path, values: Secrets) -> None:
    """Atomic write of a new 0600 file (created 0600, never wider, then renamed into place)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"version": 1, **{n: getattr(values, n) for n in NAMES}}, fh, indent=2)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


# `chaosctl token --secret NAME`: the option's names for the Settings fields.
SECRET_OPTIONS = {
    "jwt-secret": "jwt_secret",
    "admin-token": "admin_token",
    "service-token": "service_token",
    "grafana-password": "grafana_admin_password",
    "cache-password": "cache_password",
}


def secret_by_option(settings: object, option: str) -> str:
    """The secret that `--secret option` names (the only way chaosctl prints one)."""
    if option not in SECRET_OPTIONS:
        raise UsageError(f"--secret: unknown secret {option!r} (expected one of: {', '.join(SECRET_OPTIONS)})")
    return str(getattr(settings, SECRET_OPTIONS[option]))
