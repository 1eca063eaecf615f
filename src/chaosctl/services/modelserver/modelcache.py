"""Trained models cached on disk, so a model server's start loads instead of training.

Never stale: the key is a SHA-256 over everything the fitted model depends on: the
training data itself (X and y, bytes and shape), the unfitted estimator's parameters,
the model's name and version, the code that builds and trains it (`models.py`, this
file), and the versions of Python, NumPy and scikit-learn. Change any of them and the
key changes, so an old entry is simply never looked up again.

Never trusted blindly: an entry is `MAGIC + sha256(payload) + payload`, written to a
temporary file and renamed into place (a reader sees a whole file or none). A file that
is short, fails its digest, or does not unpickle is discarded and the model retrained.
The folder is created 0700 and not used at all when others can write to it (a pickle
from someone else would run their code): training is then the fallback.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import platform
import stat
import sys
import tempfile
from pathlib import Path

import numpy as np

from chaosctl.services.modelserver import models
from chaosctl.services.modelserver.models import LoadedModel

MAGIC = b"chaosctl-model-cache/1\n"
_DIGEST = 32


def _code_digest() -> bytes:
    h = hashlib.sha256()
    for path in (Path(models.__file__), Path(__file__)):
        h.update(path.read_bytes())
    return h.digest()


def cache_key(name: str, version: str) -> str:
    """The entry's name: changes whenever the data, parameters, code or libraries change."""
    import sklearn

    est, x, y = models.RECIPES[(name, version)].build()
    h = hashlib.sha256()
    for part in (name, version, sys.version, platform.machine(), np.__version__, sklearn.__version__,
                 repr(sorted(est.get_params(deep=True).items())), repr((x.shape, x.dtype.str, y.shape, y.dtype.str))):
        h.update(part.encode() + b"\0")
    h.update(_code_digest())
    h.update(np.ascontiguousarray(x).tobytes())
    h.update(np.ascontiguousarray(y).tobytes())
    return h.hexdigest()


def _usable_dir(folder: Path) -> bool:
    """Ours and writable by nobody else (else a planted pickle would run as us)."""
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        st = folder.stat()
    except OSError:
        return False
    return st.st_uid == os.getuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _read(path: Path) -> LoadedModel | None:
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    head, digest, payload = blob[: len(MAGIC)], blob[len(MAGIC) : len(MAGIC) + _DIGEST], blob[len(MAGIC) + _DIGEST :]
    if head != MAGIC or hashlib.sha256(payload).digest() != digest:
        return None
    try:
        model = pickle.loads(payload)  # noqa: S301 - our own file, digest-checked, in a 0700 folder
    except Exception:  # noqa: BLE001 - any unreadable entry is a miss, retrained below
        return None
    return model if isinstance(model, LoadedModel) else None


def _write(path: Path, model: LoadedModel) -> None:
    payload = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".model")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(MAGIC + hashlib.sha256(payload).digest() + payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)  # atomic: concurrent servers training the same model both write whole files
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cached_train(name: str, version: str, capability: str, *, folder: Path) -> LoadedModel:
    """`models.train`, through the cache in `folder` (a miss, a corrupt entry or an unusable
    folder trains; a failed write only costs the next start a training)."""
    if not _usable_dir(folder):
        return models.train(name, version, capability)
    path = folder / f"{name}-{version}-{cache_key(name, version)}.model"
    model = _read(path)
    if model is not None:
        return LoadedModel(name, version, capability, model.n_features, model.weight_bytes, model.accuracy, model.estimator)
    model = models.train(name, version, capability)
    try:
        _write(path, model)
    except OSError:
        pass
    return model
