"""Classification metrics, accumulated batch by batch in memory that does not grow with rows.

Pure functions of numpy arrays, no I/O. A `Tally` knows the model's class labels, one per
probability column; `add` takes a batch of class indices (positions in that list) and
probabilities, `summary` turns the counts into the figures, keyed by label where per class:

- accuracy: predicted label == true label, over all rows;
- macro_f1: the mean F1 over every class that occurs as a true or a predicted label (as
  scikit-learn's `f1_score(average="macro")`);
- per_class_recall: per class with at least one row, recall = hits / rows of that class;
- log_loss: mean of -ln p(true class), with p clipped to [1e-15, 1];
- ece: expected calibration error of the top-1 confidence over `ECE_BINS` equal-width bins,
  sum over bins of (rows in bin / rows) * |accuracy in bin - mean confidence in bin|;
- top_k_accuracy: the true class is among the k most probable, for k in `TOP_K` below C;
- confusion_matrix: rows are true classes, columns predicted classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

ECE_BINS = 15
TOP_K = (1, 3, 5)
LOG_LOSS_EPS = 1e-15

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.floating[Any]]


@dataclass
class Tally:
    """Running counts for the classes `labels`; `add` one batch at a time, then `summary`."""

    labels: list[int]
    confusion: Ints = field(init=False)
    log_loss_sum: float = 0.0
    bin_rows: Ints = field(init=False)
    bin_confidence: npt.NDArray[np.float64] = field(init=False)
    bin_hits: Ints = field(init=False)
    top_k_hits: dict[int, int] = field(init=False)

    def __post_init__(self) -> None:
        if not self.labels:
            raise ValueError("a classifier has at least one class")
        self.confusion = np.zeros((self.classes, self.classes), dtype=np.int64)
        self.bin_rows = np.zeros(ECE_BINS, dtype=np.int64)
        self.bin_confidence = np.zeros(ECE_BINS, dtype=np.float64)
        self.bin_hits = np.zeros(ECE_BINS, dtype=np.int64)
        self.top_k_hits = dict.fromkeys(top_ks(self.classes), 0)

    @property
    def classes(self) -> int:
        return len(self.labels)

    @property
    def rows(self) -> int:
        return int(self.confusion.sum())

    def add(self, true: Ints, predicted: Ints, probabilities: Floats) -> None:
        """One batch: true and predicted class indices, probabilities (rows x classes)."""
        c = self.classes
        self.confusion += np.bincount(true * c + predicted, minlength=c * c).reshape(c, c)
        rows = np.arange(len(true))
        p_true = probabilities[rows, true]
        self.log_loss_sum += float(
            -np.log(np.clip(p_true, LOG_LOSS_EPS, 1.0, dtype=np.float64)).sum()
        )
        confidence = probabilities[rows, predicted]
        bins = np.minimum((confidence * ECE_BINS).astype(np.int64), ECE_BINS - 1)
        np.maximum(bins, 0, out=bins)
        self.bin_rows += np.bincount(bins, minlength=ECE_BINS)
        self.bin_confidence += np.bincount(bins, weights=confidence, minlength=ECE_BINS)
        self.bin_hits += np.bincount(bins[true == predicted], minlength=ECE_BINS)
        # Rank of the true class: how many classes are strictly more probable than it.
        above = probabilities > p_true[:, None]
        if c < 256:  # a uint8 product is the fastest row count (numpy's axis sums are slow)
            rank = above.view(np.uint8) @ np.ones(c, dtype=np.uint8)
        else:
            rank = np.count_nonzero(above, axis=1)
        for k in self.top_k_hits:
            self.top_k_hits[k] += int(np.count_nonzero(rank < k))

    def summary(self) -> dict[str, Any]:
        """The figures (see the module doc); JSON-ready, per-class keys are labels as strings."""
        if self.rows == 0:
            raise ValueError("no rows were added")
        rows = self.rows
        hits = np.diag(self.confusion)
        support = self.confusion.sum(axis=1)
        predicted = self.confusion.sum(axis=0)
        occurring = (support + predicted) > 0
        f1 = np.divide(
            2 * hits,
            support + predicted,
            out=np.zeros(self.classes, dtype=np.float64),
            where=occurring,
        )
        gaps = np.abs(self.bin_hits - self.bin_confidence)  # per bin: rows * |acc - conf|
        return {
            "accuracy": float(hits.sum() / rows),
            "macro_f1": float(f1[occurring].mean()),
            "per_class_recall": {
                str(label): float(hits[i] / support[i])
                for i, label in enumerate(self.labels)
                if support[i]
            },
            "log_loss": self.log_loss_sum / rows,
            "ece": float(gaps.sum() / rows),
            "top_k_accuracy": {str(k): v / rows for k, v in self.top_k_hits.items()},
            "confusion_matrix": self.confusion.tolist(),
        }


def top_ks(classes: int) -> list[int]:
    """The k of `TOP_K` worth reporting for `classes` classes (top-C is always 1.0)."""
    return [k for k in TOP_K if k == 1 or k < classes]


def percentiles_ms(seconds: list[float]) -> tuple[float, float]:
    """(p50, p99) of durations in seconds, in milliseconds."""
    if not seconds:
        raise ValueError("no durations")
    p50, p99 = np.percentile(np.asarray(seconds, dtype=np.float64), [50, 99])
    return float(p50) * 1000, float(p99) * 1000
