"""What the bot measured: one model's figures on one evaluation set (plain data, no I/O).

The shell (`bot.adapters.evaluation`) fills these from the model store's evaluation results
(`modelstore.evaluation`) into `ModelCandidate.evaluations`, keyed by the evaluation spec's
`dataset@ref`; the evaluation gate (`bot.core.evaluation`) only reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DatasetVersion:
    """The evaluation set a spec's `dataset@ref` resolved to."""

    name: str
    version: int
    sha256: str


@dataclass(frozen=True)
class Latency:
    p50_ms: float
    p99_ms: float


@dataclass(frozen=True)
class Measurement:
    """One model's figures on one set.

    `metrics`: `accuracy`, `macro_f1`, `log_loss`, `ece` and `top_<k>_accuracy`;
    `per_class_recall` and the confusion matrix's rows and columns are by `labels` (a recall's
    key is its label as text); `misclassified` holds (row index, true label, predicted label)
    of the first wrong rows, complete over the first `scanned` rows; `latency` by batch size.
    """

    rows: int
    labels: tuple[int, ...]
    metrics: Mapping[str, float]
    per_class_recall: Mapping[str, float] = field(default_factory=dict)
    confusion: tuple[tuple[int, ...], ...] = ()
    misclassified: tuple[tuple[int, int, int], ...] = ()
    scanned: int = 0
    latency: Mapping[str, Latency] = field(default_factory=dict)
    cached: bool = True


@dataclass(frozen=True)
class Evaluated:
    """A model's evaluation on a spec's set: the set and the figures, or why there are none
    (a bad input the store refused: a feature count or labels the model does not have, NaN
    features, an empty set, a file whose sha256 differs from its manifest)."""

    dataset: DatasetVersion | None
    measurement: Measurement | None = None
    error: str | None = None
    # batch size -> (this model, the baseline), timed together in one run, by the baseline's
    # sha256 (`modelstore.latency`): the latency ratio a PR shows
    latency_vs: Mapping[str, Mapping[str, tuple[Latency, Latency]]] = field(default_factory=dict)
