"""The metric functions against scikit-learn's, batch by batch, and by hand where it has none."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    recall_score,
    top_k_accuracy_score,
)

from modelstore.metrics import ECE_BINS, Tally, percentiles_ms, top_ks


def _case(seed: int, rows: int, classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(rows, classes)) * 3
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    true = rng.integers(0, classes, size=rows)
    # A decent classifier: mostly the true class gets a boost.
    proba[np.arange(rows), true] += rng.uniform(0, 2, size=rows)
    proba = (proba / proba.sum(axis=1, keepdims=True)).astype(np.float32)
    return true.astype(np.int64), proba.argmax(axis=1).astype(np.int64), proba


@pytest.mark.parametrize(("seed", "rows", "classes", "batch"), [(0, 500, 10, 64), (1, 97, 4, 7)])
def test_streamed_figures_equal_scikit_learn_on_the_whole_set(
    seed: int, rows: int, classes: int, batch: int
) -> None:
    true, predicted, proba = _case(seed, rows, classes)
    labels = list(range(10, 10 + classes))  # labels are not the column indices
    tally = Tally(labels)
    for start in range(0, rows, batch):
        part = slice(start, start + batch)
        tally.add(true[part], predicted[part], proba[part])
    got = tally.summary()
    assert tally.rows == rows
    assert got["accuracy"] == pytest.approx(accuracy_score(true, predicted))
    assert got["macro_f1"] == pytest.approx(f1_score(true, predicted, average="macro"))
    recall = recall_score(true, predicted, average=None, labels=range(classes))
    assert got["per_class_recall"] == {
        str(label): pytest.approx(r) for label, r in zip(labels, recall, strict=True)
    }
    exact = proba.astype(np.float64)
    exact /= exact.sum(axis=1, keepdims=True)  # float32 rows miss 1 by more than sklearn allows
    assert got["log_loss"] == pytest.approx(log_loss(true, exact, labels=range(classes)), rel=1e-5)
    for k in top_ks(classes):
        assert got["top_k_accuracy"][str(k)] == pytest.approx(
            top_k_accuracy_score(true, proba, k=k, labels=range(classes))
        )
    assert got["confusion_matrix"] == confusion_matrix(true, predicted).tolist()


def test_expected_calibration_error_by_hand() -> None:
    # Two rows at confidence 0.9 (one right), two at 0.55 (both right): bins differ.
    proba = np.array([[0.9, 0.1], [0.9, 0.1], [0.45, 0.55], [0.45, 0.55]], dtype=np.float32)
    true = np.array([0, 1, 1, 1])
    tally = Tally([0, 1])
    tally.add(true, proba.argmax(axis=1), proba)
    expected = 0.5 * abs(0.5 - 0.9) + 0.5 * abs(1.0 - 0.55)
    assert tally.summary()["ece"] == pytest.approx(expected, rel=1e-6)
    assert ECE_BINS == 15


def test_classes_without_rows_have_no_recall_and_count_in_f1_only_when_predicted() -> None:
    proba = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.8, 0.1]], dtype=np.float32)
    true = np.array([0, 1, 0])
    tally = Tally([0, 1, 2])
    tally.add(true, proba.argmax(axis=1), proba)
    got = tally.summary()
    assert got["per_class_recall"] == {"0": 0.5, "1": 1.0}
    assert got["macro_f1"] == pytest.approx(f1_score(true, [0, 1, 1], average="macro"))
    assert got["top_k_accuracy"] == {"1": pytest.approx(2 / 3)}  # top-3 of 3 says nothing


def test_an_empty_tally_has_no_figures_and_percentiles_are_in_milliseconds() -> None:
    with pytest.raises(ValueError, match="no rows"):
        Tally([0, 1]).summary()
    with pytest.raises(ValueError, match="at least one class"):
        Tally([])
    p50, p99 = percentiles_ms([0.001] * 99 + [0.1])
    assert p50 == pytest.approx(1.0)
    assert p99 == pytest.approx(1.99)
