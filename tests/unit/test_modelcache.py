"""The on-disk cache of trained models: hit, never stale, never trusts a bad file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from chaosctl.services.modelserver import modelcache, models

KEY = ("image-classifier", "1.2.0")  # the fastest recipe to train


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    calls: list[tuple[str, str]] = []
    real = models.train

    def train(name: str, version: str, capability: str) -> models.LoadedModel:
        calls.append((name, version))
        return real(name, version, capability)

    monkeypatch.setattr(models, "train", train)
    return calls


def _entry(folder: Path) -> Path:
    (path,) = folder.glob("*.model")
    return path


def test_second_load_is_a_hit_with_the_same_predictions(tmp_path: Path, counted: list) -> None:
    first = modelcache.cached_train(*KEY, "vision", folder=tmp_path)
    second = modelcache.cached_train(*KEY, "vision-b", folder=tmp_path)
    assert counted == [KEY]
    rows = np.asarray(models.sample_inputs("image-classifier", 5))
    assert (first.predict(rows)[0] == second.predict(rows)[0]).all()
    assert second.capability == "vision-b" and second.accuracy == first.accuracy


@pytest.mark.parametrize("damage", [b"", b"garbage", None])
def test_a_corrupt_entry_is_retrained_and_replaced(tmp_path: Path, counted: list, damage: bytes | None) -> None:
    modelcache.cached_train(*KEY, "vision", folder=tmp_path)
    path = _entry(tmp_path)
    blob = path.read_bytes()
    # None: one payload byte flipped (the digest no longer matches); else truncated/garbage.
    path.write_bytes(blob[:-1] + bytes([blob[-1] ^ 1]) if damage is None else damage)
    modelcache.cached_train(*KEY, "vision", folder=tmp_path)
    assert counted == [KEY, KEY]
    assert _entry(tmp_path).read_bytes()[: len(modelcache.MAGIC)] == modelcache.MAGIC


def test_the_key_changes_with_the_training_data_and_the_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    base = modelcache.cache_key(*KEY)
    recipe = models.RECIPES[KEY]

    def other_data():  # same estimator, one label changed
        est, x, y = recipe.build()
        y = y.copy()
        y[0] = (y[0] + 1) % 10
        return est, x, y

    def other_params():
        est, x, y = recipe.build()
        est.set_params(logisticregression__C=0.5)
        return est, x, y

    for build in (other_data, other_params):
        monkeypatch.setitem(models.RECIPES, KEY, models.Recipe(recipe.n_features, recipe.weight_bytes, build))
        assert modelcache.cache_key(*KEY) != base
    monkeypatch.setitem(models.RECIPES, KEY, recipe)
    assert modelcache.cache_key(*KEY) == base


def test_the_key_changes_with_the_code(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    base = modelcache.cache_key(*KEY)
    copy = tmp_path / "models.py"
    copy.write_bytes(Path(models.__file__).read_bytes() + b"\n# changed\n")
    monkeypatch.setattr(models, "__file__", str(copy))
    assert modelcache.cache_key(*KEY) != base


def test_a_folder_others_can_write_is_not_used(tmp_path: Path, counted: list) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    modelcache.cached_train(*KEY, "vision", folder=shared)
    modelcache.cached_train(*KEY, "vision", folder=shared)
    assert counted == [KEY, KEY] and not list(shared.iterdir())
