"""Run an ONNX classifier with onnxruntime: find its input and outputs, predict, time it.

A classifier here has one float32 input of rank 2 (rows x features) and a float output of rank
2 (rows x classes) holding probabilities; an int64 output of rank 1, when there is one, is its
predicted label (skl2onnx's `label` + `probabilities`), otherwise the most probable column is.
Column j is the class `labels[j]`: the model version's `labels.json` when it has one, else j.
Sessions run on the CPU provider with one thread, so figures do not depend on what else the
machine is doing in parallel and evaluation is deterministic.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from modelstore.errors import EvaluationError

PROBABILITY_TOLERANCE = 1e-3  # |row sum - 1| a float32 softmax stays within


@dataclass(frozen=True)
class Outputs:
    input_name: str
    features: int | None  # None where the model leaves the dimension open
    probabilities: str
    label: str | None
    classes: int


class Classifier:
    """One onnxruntime session over a model file, with its class labels."""

    def __init__(self, model: Path, labels: list[int] | None = None, *, threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(
                str(model), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise EvaluationError(f"onnxruntime cannot load the model ({exc})") from None
        self.outputs = _outputs(self.session)
        self.labels = list(range(self.outputs.classes)) if labels is None else list(labels)
        if len(self.labels) != self.outputs.classes or len(set(self.labels)) != len(self.labels):
            raise EvaluationError(
                f"the model has {self.outputs.classes} probability columns but its labels are "
                f"{self.labels[:20]}: one distinct label per column is needed"
            )
        order = np.argsort(self.labels)
        self._sorted = np.asarray(self.labels, dtype=np.int64)[order]
        self._columns = order.astype(np.int64)
        self._identity = self.labels == list(range(len(self.labels)))
        self._ones = np.ones(self.outputs.classes, dtype=np.float32)

    def indices(self, labels: npt.NDArray[np.int64]) -> npt.NDArray[np.int64] | None:
        """Class indices of `labels`; None when one of them is not a class of the model."""
        if self._identity:  # labels 0..C-1 are their own indices: a range check suffices
            inside = labels.size == 0 or (labels.min() >= 0 and labels.max() < len(self.labels))
            return labels if inside else None
        at = np.clip(np.searchsorted(self._sorted, labels), 0, len(self._sorted) - 1)
        if not np.array_equal(self._sorted[at], labels):
            return None
        return self._columns[at]

    def predict(self, x: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.int64], Any]:
        """(predicted class indices, probabilities) for the rows of `x`."""
        names = [self.outputs.probabilities] + ([self.outputs.label] if self.outputs.label else [])
        results = self.session.run(names, {self.outputs.input_name: x})
        probabilities = results[0]
        sums = probabilities @ self._ones  # row sums; far faster than sum(axis=1)
        if (
            not np.isfinite(sums).all()
            or probabilities.min() < -PROBABILITY_TOLERANCE
            or np.abs(sums - 1).max() > PROBABILITY_TOLERANCE
        ):
            raise EvaluationError(
                f"output {self.outputs.probabilities!r} does not hold probabilities (a row sums "
                f"to {float(sums[np.argmax(np.abs(sums - 1))]):g}): log-loss and calibration "
                "need a probability per class"
            )
        if self.outputs.label is None:
            return probabilities.argmax(axis=1).astype(np.int64), probabilities
        predicted = self.indices(results[1].astype(np.int64))
        if predicted is None:
            raise EvaluationError(
                f"output {self.outputs.label!r} predicts a label that is not among the model's "
                f"labels {self.labels[:20]}"
            )
        return predicted, probabilities

    def timings(self, x: npt.NDArray[np.float32], batch: int, runs: int) -> list[float]:
        """Seconds per `session.run` on `batch` rows of `x` (tiled when `x` is shorter)."""
        rows = np.resize(x, (max(batch, len(x)), x.shape[1]))  # repeats rows when short
        span = len(rows) - batch + 1
        name = self.outputs.input_name
        feeds = [{name: rows[s : s + batch]} for s in (i * batch % span for i in range(runs + 1))]
        names = [self.outputs.probabilities]
        self.session.run(names, feeds[0])  # warm-up: first-run allocations are not latency
        durations = []
        for feed in feeds[1:]:
            start = time.perf_counter()
            self.session.run(names, feed)
            durations.append(time.perf_counter() - start)
        return durations


def _outputs(session: Any) -> Outputs:
    inputs = session.get_inputs()
    if len(inputs) != 1 or inputs[0].type != "tensor(float)" or len(inputs[0].shape) != 2:
        found = ", ".join(f"{i.name}:{i.type}{i.shape}" for i in inputs)
        raise EvaluationError(
            f"a classifier takes one float32 input of shape [rows, features]; the model takes "
            f"{found}"
        )
    features = inputs[0].shape[1]
    probabilities = [
        o
        for o in session.get_outputs()
        if o.type == "tensor(float)" and len(o.shape or []) == 2 and isinstance(o.shape[1], int)
    ]
    if len(probabilities) != 1:
        raise EvaluationError(
            "a classifier has exactly one float output of shape [rows, classes] (probabilities); "
            f"the model has {len(probabilities)}"
        )
    labels = [
        o for o in session.get_outputs() if o.type == "tensor(int64)" and len(o.shape or []) == 1
    ]
    return Outputs(
        input_name=inputs[0].name,
        features=features if isinstance(features, int) else None,
        probabilities=probabilities[0].name,
        label=labels[0].name if len(labels) == 1 else None,
        classes=int(probabilities[0].shape[1]),
    )
