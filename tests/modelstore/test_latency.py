"""Latency of two models timed in the same run, cached per pair, on real Azurite."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelstore import ModelStore
from modelstore.errors import IntegrityError
from modelstore.kinds import MODEL
from modelstore.latency import LATENCY_ROOT, compare_latency
from tests.modelstore.conftest import Digits, RequestCounter, make_softmax


@pytest.fixture
def pair(store: ModelStore, digits: Digits, tmp_path: Path) -> ModelStore:
    store.register("digits", make_softmax(tmp_path / "s.onnx", features=64, classes=10))
    store.register("digits", digits.model_dir)
    store.datasets.register("holdout", digits.holdout)
    return store


def test_both_models_are_timed_in_one_run_then_read_once(
    pair: ModelStore, counter: RequestCounter
) -> None:
    candidate, baseline = pair.resolve("digits", 2), pair.resolve("digits", 1)
    dataset = pair.datasets.resolve("holdout", 1)
    first, cached = compare_latency(pair, candidate, baseline, dataset)
    assert not cached
    assert set(first.candidate) == set(first.baseline) == {"1", "64"}
    assert all(0 < t.p50_ms <= t.p99_ms for t in [*first.candidate.values()])
    assert first.candidate["1"].runs == first.baseline["1"].runs == 200
    counter.reset()
    again, cached = compare_latency(pair, candidate, baseline, dataset)
    assert cached and again == first
    assert [method for method, _ in counter.requests] == ["GET"]  # nothing timed again
    assert len(list(pair.backend.list_blobs(LATENCY_ROOT))) == 1


def test_a_tampered_model_is_refused_and_nothing_is_cached(pair: ModelStore) -> None:
    blob = MODEL.layout.file_path("digits", 1, pair.resolve("digits", 1).primary)
    pair.backend.delete(blob)
    pair.backend.put(blob, b"not the registered model")
    with pytest.raises(IntegrityError):
        compare_latency(
            pair,
            pair.resolve("digits", 2),
            pair.resolve("digits", 1),
            pair.datasets.resolve("holdout", 1),
        )
    assert list(pair.backend.list_blobs(LATENCY_ROOT)) == []


def test_a_cached_timing_that_is_not_a_finite_number_is_refused(pair: ModelStore) -> None:
    """A cache blob written whole (its digest right) by anyone with write access to the store
    may say `Infinity` or `NaN`, which pydantic accepts in JSON by default; it is refused as
    invalid, like any other malformed cache entry (a ratio of it would reach the report)."""
    import re

    from modelstore.evaluation import RESULT_SHA_KEY
    from modelstore.latency import cached_comparison
    from modelstore.manifest import sha256_hex

    candidate, baseline = pair.resolve("digits", 2), pair.resolve("digits", 1)
    dataset = pair.datasets.resolve("holdout", 1)
    compare_latency(pair, candidate, baseline, dataset)
    (blob,) = pair.backend.list_blobs(LATENCY_ROOT)
    data = re.sub(rb'"p50_ms":[0-9.e-]+', b'"p50_ms":Infinity', pair.backend.get(blob.name).data)
    pair.backend.put(blob.name, data, metadata={RESULT_SHA_KEY: sha256_hex(data)})
    shas = (candidate.primary_sha256, baseline.primary_sha256, dataset.primary_sha256)
    with pytest.raises(IntegrityError, match="is invalid"):
        cached_comparison(pair, *shas)
