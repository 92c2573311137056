"""Evaluation against real Azurite: figures, the cache (one read, nothing computed), bad input."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from sklearn.metrics import f1_score, log_loss

from modelstore import ModelStore
from modelstore.errors import ChecksumMismatchError, EvaluationError, IntegrityError
from modelstore.evaluation import RESULTS_ROOT, cached_result, evaluate, result_path
from modelstore.kinds import DATASET, ArtifactKind
from modelstore.manifest import Signature, TensorSpec
from tests.modelstore.conftest import Digits, RequestCounter, make_npz, make_softmax


@pytest.fixture
def registered(store: ModelStore, digits: Digits) -> ModelStore:
    store.register("digits", digits.model_dir)
    store.datasets.register("holdout", digits.holdout)
    return store


def _cached(store: ModelStore) -> list[str]:
    return [b.name for b in store.backend.list_blobs(RESULTS_ROOT)]


def test_figures_are_those_of_the_model_on_the_set(registered: ModelStore, digits: Digits) -> None:
    report = evaluate(registered, "digits", "latest", "holdout", "1")
    result, figures = report.result, report.result.metrics
    assert (report.cached, report.model.version, report.dataset.version) == (False, 1, 1)
    assert (result.rows, result.features, result.labels) == (450, 64, list(range(10)))
    with np.load(digits.holdout, allow_pickle=False) as data:
        x, y = data["X"], data["y"]
    session = ort.InferenceSession(str(digits.model_dir / "model.onnx"))
    labels, proba = session.run(None, {"input": x})
    assert figures.accuracy == pytest.approx(digits.accuracy, abs=1e-6)
    assert figures.macro_f1 == pytest.approx(f1_score(y, labels, average="macro"))
    exact = proba.astype(np.float64)
    exact /= exact.sum(axis=1, keepdims=True)
    assert figures.log_loss == pytest.approx(log_loss(y, exact), rel=1e-4)
    assert sum(map(sum, figures.confusion_matrix)) == 450
    assert set(figures.top_k_accuracy) == {"1", "3", "5"}
    assert 0 <= figures.ece < 0.2
    assert set(result.latency) == {"1", "64"}
    assert all(0 < t.p50_ms <= t.p99_ms for t in result.latency.values())
    assert result.labels_sha256 is not None  # examples/train.py writes labels.json
    wrong = np.flatnonzero(labels != y)
    assert result.misclassified.rows == [(int(i), int(y[i]), int(labels[i])) for i in wrong]
    assert result.misclassified.scanned == 450
    key = (report.model.sha256, report.dataset.sha256, result.labels_sha256)
    assert _cached(registered) == [result_path(*key)]


def test_a_second_evaluation_reads_one_blob_and_computes_nothing(
    registered: ModelStore, counter: RequestCounter, digits: Digits
) -> None:
    first = evaluate(registered, "digits", "1", "holdout", "latest")
    counter.reset()
    again = evaluate(registered, "digits", "1", "holdout", "1")
    assert again.cached and again.result == first.result
    cache = result_path(first.model.sha256, first.dataset.sha256, first.result.labels_sha256)
    # Pinned versions: the two manifests, then the result; no file is read, nothing written.
    assert [method for method, _ in counter.requests] == ["GET", "GET", "GET"]
    assert counter.requests[2][1].endswith(cache)
    # The same bytes under another name and version are the same pair.
    counter.reset()
    registered.register("digits-copy", digits.model_dir)
    assert evaluate(registered, "digits-copy", "1", "holdout", "1").cached
    assert len(_cached(registered)) == 1


def test_concurrent_evaluations_of_one_pair_store_one_result(registered: ModelStore) -> None:
    reports = []

    def run() -> None:
        reports.append(evaluate(registered, "digits", "1", "holdout", "1"))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(reports) == 2
    assert reports[0].result == reports[1].result  # the loser answers with the stored result
    assert len(_cached(registered)) == 1


def test_a_feature_count_mismatch_is_refused_before_any_download(
    registered: ModelStore, tmp_path: Path, counter: RequestCounter
) -> None:
    registered.datasets.register("narrow", make_npz(tmp_path / "n.npz", features=8))
    counter.reset()
    with pytest.raises(
        EvaluationError,
        match="cannot evaluate digits v1 on dataset narrow v1: the dataset has 8 features per "
        "row, the model takes 64",
    ):
        evaluate(registered, "digits", "1", "narrow", "1")
    assert not any(url.endswith((".onnx", ".npz")) for _, url in counter.requests)
    assert _cached(registered) == []


def test_labels_outside_the_models_classes_are_refused(
    registered: ModelStore, tmp_path: Path
) -> None:
    registered.datasets.register("twelve", make_npz(tmp_path / "t.npz", classes=12))
    with pytest.raises(EvaluationError, match=r"labels \[10, 11\] that are not among"):
        evaluate(registered, "digits", "1", "twelve", "1")
    assert _cached(registered) == []


def _unchecked_datasets(store: ModelStore, rows: int) -> ModelStore:
    """The dataset registry without the format check: stands for a set stored by another
    client (the store's own register refuses NaN and empty sets)."""
    shape = Signature(
        inputs=[TensorSpec(name="X", dtype="float32", shape=[rows, 64])],
        outputs=[TensorSpec(name="y", dtype="int64", shape=[rows])],
    )
    kind = ArtifactKind("dataset", DATASET.layout, DATASET.primary_name, lambda _a: ("npz", shape))
    return ModelStore(store.backend, author="other-client", kind=kind)


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (np.full((5, 64), np.nan, dtype=np.float32), r"NaN or infinite value \(row 0\)"),
        (np.zeros((0, 64), dtype=np.float32), "the set is empty"),
    ],
    ids=["nan", "empty"],
)
def test_nan_or_empty_sets_are_refused_and_nothing_is_cached(
    registered: ModelStore, tmp_path: Path, x: np.ndarray, message: str
) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, X=x, y=np.zeros(len(x), np.int64))
    _unchecked_datasets(registered, len(x)).register("bad", path)
    with pytest.raises(EvaluationError, match=f"the dataset is unusable: .*{message}"):
        evaluate(registered, "digits", "1", "bad", "1")
    assert _cached(registered) == []


def test_a_tampered_dataset_is_refused_and_nothing_is_cached(
    registered: ModelStore, tmp_path: Path
) -> None:
    blob = DATASET.layout.file_path("holdout", 1, "data.npz")
    registered.backend.delete(blob)
    registered.backend.put(blob, make_npz(tmp_path / "other.npz").read_bytes())
    with pytest.raises(ChecksumMismatchError, match=r"holdout v1: data\.npz is corrupted"):
        evaluate(registered, "digits", "1", "holdout", "1")
    assert _cached(registered) == []


def test_a_model_without_probabilities_is_refused(
    registered: ModelStore, tmp_path: Path, onnx_file: Path
) -> None:
    registered.register("scores", onnx_file)  # MatMul scores, no softmax
    with pytest.raises(EvaluationError, match="does not hold probabilities"):
        evaluate(registered, "scores", "1", "holdout", "1")
    registered.register("other", make_softmax(tmp_path / "s.onnx", features=64, classes=10))
    (tmp_path / "notonnx.bin").write_bytes(b"weights")
    registered.register("weights", tmp_path / "notonnx.bin")
    with pytest.raises(EvaluationError, match="the model is 'other', not an ONNX model"):
        evaluate(registered, "weights", "1", "holdout", "1")
    assert len(_cached(registered)) == 0
    assert not evaluate(registered, "other", "1", "holdout", "1").cached


def test_a_tampered_cached_result_is_not_trusted(registered: ModelStore) -> None:
    report = evaluate(registered, "digits", "1", "holdout", "1")
    key = (report.model.sha256, report.dataset.sha256, report.result.labels_sha256)
    path = result_path(*key)
    stored = registered.backend.get(path)
    registered.backend.put(
        path, stored.data.replace(b'"accuracy":0.9', b'"accuracy":0.1'), metadata=stored.metadata
    )
    with pytest.raises(IntegrityError, match="not trustworthy: its digest differs"):
        cached_result(registered, *key)


def test_labels_json_names_the_probability_columns(store: ModelStore, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    make_softmax(model_dir / "model.onnx", features=4, classes=3)
    (model_dir / "labels.json").write_text("[7, 3, 5]\n")
    store.register("colors", model_dir)
    x = np.eye(4, dtype=np.float32)[[0, 1, 2, 3, 0, 1]] * 5  # columns 0,1,2,0,0,1 win
    np.savez(tmp_path / "s.npz", X=x, y=np.array([7, 3, 5, 7, 3, 3]))
    store.datasets.register("colors-set", tmp_path / "s.npz")
    result = evaluate(store, "colors", "1", "colors-set", "1").result
    assert result.labels == [7, 3, 5]
    assert result.metrics.per_class_recall == {"7": 1.0, "3": pytest.approx(2 / 3), "5": 1.0}
    assert result.metrics.confusion_matrix == [[2, 0, 0], [1, 2, 0], [0, 0, 1]]
    # The same ONNX bytes with other labels are another evaluation, not a cache hit.
    (model_dir / "labels.json").write_text('["red", "green", "blue"]\n')
    store.register("colors", model_dir)
    with pytest.raises(EvaluationError, match=r"labels\.json of the model is not a list of int"):
        evaluate(store, "colors", "2", "colors-set", "1")
    (model_dir / "labels.json").write_text("[0, 1, 2]\n")
    store.register("colors", model_dir)
    with pytest.raises(EvaluationError, match=r"labels \[3, 5, 7\] that are not among"):
        evaluate(store, "colors", "3", "colors-set", "1")


def test_the_first_wrong_rows_are_kept_across_batches(
    registered: ModelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = evaluate(registered, "digits", "1", "holdout", "1").result.misclassified
    registered.backend.delete(result_path(*_key(registered)))
    monkeypatch.setattr("modelstore.evaluation.MISCLASSIFIED_KEPT", 3)
    few = evaluate(registered, "digits", "1", "holdout", "1", batch_rows=7)
    assert few.result.misclassified.rows == full.rows[:3]
    assert few.result.misclassified.scanned == full.rows[2][0] + 1


def _key(store: ModelStore) -> tuple[str, str, str | None]:
    from modelstore.evaluation import labels_sha256

    model = store.resolve("digits", 1)
    return (
        model.primary_sha256,
        store.datasets.resolve("holdout", 1).primary_sha256,
        (labels_sha256(model)),
    )
