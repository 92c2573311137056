"""Latency of a candidate model against a baseline, timed in the same run, each pair once.

An evaluation's own latency (`modelstore.evaluation`) describes the machine and the moment
that first computed it, so two cached results are not comparable. `compare_latency` downloads
both models (sha256-verified) and the set, then times `session.run` on the set's first 64 rows
in interleaved rounds, candidate then baseline, at batch 1 and 64: both see the same machine
and the same noise. The figures are cached like evaluations, with `If-None-Match: *` and their
own sha256 in the blob's metadata, at

    <container>/_evaluations/latency/<candidate sha256>/<baseline sha256>/<dataset sha256>/
                                                               <evaluator version>.json

so an hourly run reads one blob per pair and writes nothing.
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from typing import Literal

from modelstore import datasets
from modelstore.api import ModelStore
from modelstore.errors import (
    BlobConflictError,
    EvaluationError,
    IntegrityError,
    InvalidDatasetError,
)
from modelstore.evaluation import (
    EVALUATOR_VERSION,
    LATENCY_RUNS,
    LATENCY_SAMPLE,
    RESULT_SHA_KEY,
    RESULTS_ROOT,
    Frozen,
    Latency,
    read_cache,
)
from modelstore.manifest import Manifest, canonical_json, sha256_hex, utc_now

LATENCY_ROOT = f"{RESULTS_ROOT}latency/"
ROUNDS = 10  # interleaved rounds per batch size; LATENCY_RUNS are spread over them


class Comparison(Frozen):
    """p50/p99 of both models by batch size, timed in one run."""

    schema_version: Literal[1] = 1
    evaluator_version: str
    candidate_sha256: str
    baseline_sha256: str
    dataset_sha256: str
    candidate: dict[str, Latency]
    baseline: dict[str, Latency]
    measured_at: datetime
    onnxruntime: str


def comparison_path(candidate: str, baseline: str, dataset: str) -> str:
    return f"{LATENCY_ROOT}{candidate}/{baseline}/{dataset}/{EVALUATOR_VERSION}.json"


def cached_comparison(
    store: ModelStore, candidate: str, baseline: str, dataset: str
) -> Comparison | None:
    """The stored comparison of the pair (one GET), None when absent."""
    path = comparison_path(candidate, baseline, dataset)
    found = read_cache(store, path, Comparison, "latency")
    if found is None:
        return None
    if (found.candidate_sha256, found.baseline_sha256, found.dataset_sha256) != (
        candidate,
        baseline,
        dataset,
    ):
        raise IntegrityError(f"cached latency {path} describes other models or another set")
    return found


def compare_latency(
    store: ModelStore, candidate: Manifest, baseline: Manifest, dataset: Manifest
) -> tuple[Comparison, bool]:
    """(the comparison, whether it was read from the store)."""
    key = (candidate.primary_sha256, baseline.primary_sha256, dataset.primary_sha256)
    if (found := cached_comparison(store, *key)) is not None:
        return found, True
    comparison = _measure(store, candidate, baseline, dataset)
    data = canonical_json(comparison.model_dump(mode="json"))
    try:
        store.backend.put(
            comparison_path(*key),
            data,
            metadata={RESULT_SHA_KEY: sha256_hex(data)},
            create_only=True,
        )
    except BlobConflictError:  # timed meanwhile by someone else: theirs is the record
        if (first := cached_comparison(store, *key)) is not None:
            return first, True
        raise
    return comparison, False


def _measure(
    store: ModelStore, candidate: Manifest, baseline: Manifest, dataset: Manifest
) -> Comparison:
    import onnxruntime

    # numpy with them: a cached comparison is read without either
    from modelstore.metrics import percentiles_ms
    from modelstore.runner import Classifier

    with tempfile.TemporaryDirectory(prefix="modelstore-latency-") as work:
        root = Path(work)
        store.download(candidate.name, candidate.version, root / "candidate")
        store.download(baseline.name, baseline.version, root / "baseline")
        store.datasets.download(dataset.name, dataset.version, root / "dataset")
        models = (
            Classifier(root / "candidate" / candidate.primary),
            Classifier(root / "baseline" / baseline.primary),
        )
        try:
            with datasets.Reader(root / "dataset" / dataset.primary) as reader:
                sample, _ = next(reader.batches(LATENCY_SAMPLE))
        except InvalidDatasetError as exc:
            raise EvaluationError(f"the dataset is unusable: {exc.reason}") from None
        timed: tuple[dict[str, Latency], dict[str, Latency]] = ({}, {})
        for batch, runs in LATENCY_RUNS.items():
            seconds: tuple[list[float], list[float]] = ([], [])
            for _ in range(ROUNDS):
                for model, durations in zip(models, seconds, strict=True):
                    durations.extend(model.timings(sample, batch, max(1, runs // ROUNDS)))
            for figures, durations in zip(timed, seconds, strict=True):
                p50, p99 = percentiles_ms(durations)
                figures[str(batch)] = Latency(p50_ms=p50, p99_ms=p99, runs=len(durations))
    return Comparison(
        evaluator_version=EVALUATOR_VERSION,
        candidate_sha256=candidate.primary_sha256,
        baseline_sha256=baseline.primary_sha256,
        dataset_sha256=dataset.primary_sha256,
        candidate=timed[0],
        baseline=timed[1],
        measured_at=utc_now(),
        onnxruntime=onnxruntime.__version__,
    )
