"""Evaluate a stored model on a stored evaluation set, each pair once.

`evaluate` resolves both manifests, then reads the cached result for (model sha256, dataset
sha256, `EVALUATOR_VERSION`): one GET, nothing computed. Without one it checks what the
manifests tell (framework, feature count), downloads both (sha256-verified), streams the set
through the model in batches (`modelstore.datasets`, `modelstore.runner`,
`modelstore.metrics`), times `session.run` at batch 1 and 64, and only when all of that worked
stores the result with `If-None-Match: *`, so a bad input caches nothing and concurrent
evaluations of one pair keep the first result. The cache blob lives at

    <container>/_evaluations/<model sha256>/<dataset sha256>/<evaluator version>.json
                                       (... /<evaluator version>-labels-<labels.json sha256>.json)

with its own sha256 in the blob's metadata, checked on every read (as manifests are). The
figures are the same for every name or version that holds the same bytes, so the cache keeps
only digests; `Evaluation` adds the names and versions that were asked for.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from modelstore import datasets
from modelstore.api import ModelStore
from modelstore.backend import MAX_SMALL_BLOB
from modelstore.errors import (
    BlobConflictError,
    BlobNotFoundError,
    EvaluationError,
    IntegrityError,
    InvalidDatasetError,
)
from modelstore.manifest import Manifest, canonical_json, sha256_hex, utc_now

if TYPE_CHECKING:  # numpy, metrics and the runner are imported where a model is evaluated:
    # reading a cached result needs none of them
    from modelstore.metrics import Tally
    from modelstore.runner import Classifier

EVALUATOR_VERSION = "2"  # bump when a figure could change for the same model and data
MISCLASSIFIED_KEPT = 200  # the first wrong rows kept (index, true, predicted): the bot's
# "newly wrong" compares two models' lists over the rows both cover
RESULTS_ROOT = "_evaluations/"
RESULT_SHA_KEY = "result_sha256"
LABELS_FILE = "labels.json"
LATENCY_RUNS = {1: 200, 64: 100}  # batch size -> timed runs (p99 needs about 100)
LATENCY_SAMPLE = 64


class Frozen(BaseModel):
    # a cache blob is read back: NaN / Infinity (which pydantic takes from JSON) are refused
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, defer_build=True)


class Metrics(Frozen):
    """See `modelstore.metrics` for each definition; per-class keys are labels."""

    accuracy: float
    macro_f1: float
    per_class_recall: dict[str, float]
    log_loss: float
    ece: float
    top_k_accuracy: dict[str, float]
    confusion_matrix: list[list[int]]


class Misclassified(Frozen):
    """The first `MISCLASSIFIED_KEPT` wrong rows, complete over the first `scanned` rows."""

    rows: list[tuple[int, int, int]]  # (row index, true label, predicted label)
    scanned: int


_Cached = TypeVar("_Cached", bound=Frozen)


class Latency(Frozen):
    p50_ms: float
    p99_ms: float
    runs: int


class Result(Frozen):
    """What is cached: the figures of one model file on one dataset file."""

    schema_version: Literal[1] = 1
    evaluator_version: str
    model_sha256: str
    dataset_sha256: str
    labels_sha256: str | None  # the model version's labels.json, when it has one
    rows: int
    features: int
    labels: list[int]
    metrics: Metrics
    misclassified: Misclassified
    latency: dict[str, Latency]  # batch size -> p50/p99 of session.run, when first computed
    evaluated_at: datetime
    onnxruntime: str


class Subject(Frozen):
    name: str
    version: int
    sha256: str


class Evaluation(Frozen):
    """`evaluate`'s answer (and `modelstore evaluate --json`)."""

    model: Subject
    dataset: Subject
    cached: bool  # True when read from the store, False when computed by this call
    result: Result


def result_path(model_sha256: str, dataset_sha256: str, labels_sha256: str | None = None) -> str:
    """The cache blob of a pair; a model version's `labels.json` names its columns, so its
    digest is part of the key (same ONNX bytes, other labels: other figures)."""
    labels = f"-labels-{labels_sha256}" if labels_sha256 else ""
    return f"{RESULTS_ROOT}{model_sha256}/{dataset_sha256}/{EVALUATOR_VERSION}{labels}.json"


def labels_sha256(model: Manifest) -> str | None:
    """The sha256 of the model version's `labels.json`, None when it has none."""
    return next((f.sha256 for f in model.files if f.path == LABELS_FILE), None)


def evaluate(
    store: ModelStore,
    model: str,
    model_ref: str | int,
    dataset: str,
    dataset_ref: str | int,
    *,
    batch_rows: int = datasets.DEFAULT_BATCH_ROWS,
) -> Evaluation:
    """The figures of `model` at `model_ref` on evaluation set `dataset` at `dataset_ref`."""
    model_manifest = store.resolve(model, model_ref)
    data_manifest = store.datasets.resolve(dataset, dataset_ref)
    subject = f"{model} v{model_manifest.version} on dataset {dataset} v{data_manifest.version}"
    model_sha, data_sha = model_manifest.primary_sha256, data_manifest.primary_sha256
    labels_sha = labels_sha256(model_manifest)

    def answer(result: Result, cached: bool) -> Evaluation:
        return Evaluation(
            model=Subject(name=model, version=model_manifest.version, sha256=model_sha),
            dataset=Subject(name=dataset, version=data_manifest.version, sha256=data_sha),
            cached=cached,
            result=result,
        )

    if (cached := cached_result(store, model_sha, data_sha, labels_sha)) is not None:
        return answer(cached, cached=True)
    try:
        _check_manifests(model_manifest, data_manifest)
        result = _compute(store, model_manifest, data_manifest, batch_rows)
    except EvaluationError as exc:
        raise EvaluationError(exc.reason, subject) from None
    data = canonical_json(result.model_dump(mode="json"))
    if len(data) > MAX_SMALL_BLOB:
        raise EvaluationError(f"the result is {len(data)} bytes, over the cache's limit", subject)
    try:
        store.backend.put(
            result_path(model_sha, data_sha, labels_sha),
            data,
            metadata={RESULT_SHA_KEY: sha256_hex(data)},
            create_only=True,
        )
    except BlobConflictError:  # evaluated meanwhile by someone else: theirs is the record
        if (first := cached_result(store, model_sha, data_sha, labels_sha)) is not None:
            return answer(first, cached=True)
        raise
    return answer(result, cached=False)


def read_cache(store: ModelStore, path: str, model: type[_Cached], what: str) -> _Cached | None:
    """A cache blob as `model` (one GET), None when absent; IntegrityError when its bytes are
    not those its digest says, or not a valid `model`."""
    try:
        blob = store.backend.get(path)
    except BlobNotFoundError:
        return None
    if blob.metadata.get(RESULT_SHA_KEY) != sha256_hex(blob.data):
        raise IntegrityError(f"cached {what} {path} is not trustworthy: its digest differs")
    try:
        return model.model_validate_json(blob.data)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"]
        raise IntegrityError(f"cached {what} {path} is invalid ({reason})") from None


def cached_result(
    store: ModelStore, model_sha256: str, dataset_sha256: str, labels: str | None = None
) -> Result | None:
    """The stored result of the pair at this evaluator version (one GET), None when absent;
    `labels` is the model version's `labels_sha256`, when it has a `labels.json`."""
    path = result_path(model_sha256, dataset_sha256, labels)
    result = read_cache(store, path, Result, "evaluation")
    if result is None:
        return None
    key = (result.model_sha256, result.dataset_sha256, result.labels_sha256)
    if key != (model_sha256, dataset_sha256, labels) or result.evaluator_version != (
        EVALUATOR_VERSION
    ):
        raise IntegrityError(f"cached evaluation {path} describes another model or dataset")
    return result


def measure(
    classifier: Classifier, dataset: Path, batch_rows: int = datasets.DEFAULT_BATCH_ROWS
) -> tuple[datasets.DatasetInfo, Metrics, datasets.Features, Misclassified]:
    """Stream `dataset` through `classifier`: (what the set is, its metrics, the first rows,
    the first wrong rows)."""
    try:
        with datasets.Reader(dataset) as reader:
            info = reader.info
            features = classifier.outputs.features
            if features is not None and features != info.features:
                raise EvaluationError(
                    f"the dataset has {info.features} features per row, the model takes {features}"
                )
            tally, sample, wrong = _tally(classifier, reader.batches(batch_rows, reuse=True))
    except InvalidDatasetError as exc:
        raise EvaluationError(f"the dataset is unusable: {exc.reason}") from None
    return info, Metrics(**tally.summary()), sample, wrong


def _tally(
    classifier: Classifier, batches: Iterator[tuple[datasets.Features, datasets.Labels]]
) -> tuple[Tally, datasets.Features, Misclassified]:
    import numpy as np

    from modelstore.metrics import Tally

    tally = Tally(classifier.labels)
    sample: datasets.Features | None = None
    wrong: list[tuple[int, int, int]] = []
    done = scanned = 0
    labels = np.asarray(classifier.labels, dtype=np.int64)
    for x, y in batches:
        true = classifier.indices(y)
        if true is None:
            outside = sorted(set(y.tolist()) - set(classifier.labels))
            raise EvaluationError(
                f"the dataset has labels {outside[:10]} that are not among the model's "
                f"classes {classifier.labels[:20]}"
            )
        predicted, probabilities = classifier.predict(x)
        tally.add(true, predicted, probabilities)
        if sample is None:
            sample = x[:LATENCY_SAMPLE].copy()
        if len(wrong) < MISCLASSIFIED_KEPT:
            rows = np.flatnonzero(true != predicted)[: MISCLASSIFIED_KEPT - len(wrong)]
            wrong += zip(
                (rows + done).tolist(),
                y[rows].tolist(),
                labels[predicted[rows]].tolist(),
                strict=True,
            )
            scanned = done + (int(rows[-1]) + 1 if len(wrong) == MISCLASSIFIED_KEPT else len(y))
        done += len(y)
    if sample is None:  # Reader refuses an empty set; kept for the type checker
        raise EvaluationError("the dataset has no rows")
    return tally, sample, Misclassified(rows=wrong, scanned=scanned)


def _check_manifests(model: Manifest, dataset: Manifest) -> None:
    """What the manifests alone refuse, before anything is downloaded."""
    if model.framework != "onnx":
        raise EvaluationError(f"the model is {model.framework!r}, not an ONNX model")
    if dataset.framework != datasets.DATASET_FRAMEWORK or dataset.signature is None:
        raise EvaluationError("the dataset is not an evaluation set (.npz)")
    data_shape = dataset.signature.inputs[0].shape or [None, None]
    model_inputs = model.signature.inputs if model.signature else []
    if len(model_inputs) == 1 and model_inputs[0].shape and len(model_inputs[0].shape) == 2:
        wanted = model_inputs[0].shape[1]
        if wanted is not None and data_shape[-1] is not None and wanted != data_shape[-1]:
            raise EvaluationError(
                f"the dataset has {data_shape[-1]} features per row, the model takes {wanted}"
            )


def _compute(store: ModelStore, model: Manifest, dataset: Manifest, batch_rows: int) -> Result:
    import onnxruntime

    from modelstore.metrics import percentiles_ms
    from modelstore.runner import Classifier

    with tempfile.TemporaryDirectory(prefix="modelstore-evaluate-") as work:
        model_dir, data_dir = Path(work) / "model", Path(work) / "dataset"
        store.download(model.name, model.version, model_dir)
        store.datasets.download(dataset.name, dataset.version, data_dir)
        classifier = Classifier(model_dir / model.primary, _labels(model_dir / LABELS_FILE))
        info, metrics, sample, wrong = measure(classifier, data_dir / dataset.primary, batch_rows)
        latency = {}
        for batch, runs in LATENCY_RUNS.items():
            p50, p99 = percentiles_ms(classifier.timings(sample, batch, runs))
            latency[str(batch)] = Latency(p50_ms=p50, p99_ms=p99, runs=runs)
    return Result(
        evaluator_version=EVALUATOR_VERSION,
        model_sha256=model.primary_sha256,
        dataset_sha256=dataset.primary_sha256,
        labels_sha256=labels_sha256(model),
        rows=info.rows,
        features=info.features,
        labels=classifier.labels,
        metrics=metrics,
        misclassified=wrong,
        latency=latency,
        evaluated_at=utc_now(),
        onnxruntime=onnxruntime.__version__,
    )


def _labels(path: Path) -> list[int] | None:
    """The model version's `labels.json` (one label per probability column), if it has one."""
    if not path.is_file():
        return None
    try:
        labels = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise EvaluationError(f"{LABELS_FILE} of the model is not JSON ({exc})") from None
    if not isinstance(labels, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in labels
    ):
        raise EvaluationError(f"{LABELS_FILE} of the model is not a list of integer labels")
    return labels
