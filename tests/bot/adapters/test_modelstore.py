"""Model discovery reads the real model store on Azurite, in O(pins) requests."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from bot.adapters.modelstore import discover_models
from localworld.services import Azurite
from modelstore import ModelStore
from modelstore.backend import AzureBlobBackend
from tests.modelstore.conftest import RequestCounter, make_onnx


def _store(azurite: Azurite, counter: RequestCounter) -> ModelStore:
    backend = AzureBlobBackend.from_connection_string(
        azurite.connection_string, f"b{uuid.uuid4().hex[:20]}", on_request=counter
    )
    return ModelStore(backend, author="tester")


def test_discovery_returns_latest_alias_and_pinned_versions(azurite: Azurite, tmp_path: Path):
    counter = RequestCounter()
    store = _store(azurite, counter)
    for seed in range(6):
        model = make_onnx(tmp_path / f"m{seed}" / "model.onnx", seed=float(seed))
        store.register("digits", model, metrics={"accuracy": 0.9 + seed / 100})
    store.set_alias("digits", "champion", 2)
    store.archive("digits", 6)

    counter.reset()
    found = discover_models(store, "digits", pinned_versions=[1, 3], alias="champion")
    assert [m.version for m in found] == [1, 2, 3, 5]
    by_version = {m.version: m for m in found}
    assert by_version[2].aliases == frozenset({"champion"})
    assert by_version[5].metrics == {"accuracy": pytest.approx(0.94)}
    assert by_version[5].signature_key == "input:float32[?,64]"
    assert len(by_version[5].primary_sha256) == 64
    # index + alias listing + one manifest per wanted version; never a listing of versions
    assert counter.count <= 2 + len(found) + 2


def test_discovery_of_unknown_model_finds_nothing(azurite: Azurite):
    assert discover_models(_store(azurite, RequestCounter()), "nosuch", pinned_versions=[]) == ()


def test_discovery_skips_a_pinned_version_that_does_not_exist(azurite: Azurite, tmp_path: Path):
    store = _store(azurite, RequestCounter())
    store.register("digits", make_onnx(tmp_path / "model.onnx"))
    found = discover_models(store, "digits", pinned_versions=[42])
    assert [m.version for m in found] == [1]
