"""Models whose measured accuracy is what a test asks for, and the evaluation set that
measures it (what the shipped policy's `gates: evaluation:` names).

The set has `ROWS` rows of 64 features and 10 classes: feature 0 is the row's place in
[0, 1), features 1-10 one-hot its label, features 11-20 one-hot a wrong label. A model made
for accuracy `a` is a real ONNX graph (MatMul, Sigmoid, Softmax) that follows the label on
rows whose feature 0 is below `a` and the wrong label above it, so onnxruntime measures an
accuracy of `a` (to 1/ROWS), and every class's recall is about `a` too. Cheap: a few
milliseconds to evaluate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from modelstore.datasets import npz_bytes

ROWS = 1000
FEATURES = 64
CLASSES = 10
DATASET = "digits-holdout"  # the shipped promotion.yaml's evaluation set (version 1)


def holdout_npz() -> bytes:
    x = np.zeros((ROWS, FEATURES), dtype=np.float32)
    y = np.arange(ROWS, dtype=np.int64) % CLASSES
    x[:, 0] = (np.arange(ROWS) + 0.5) / ROWS
    x[np.arange(ROWS), 1 + y] = 1.0
    x[np.arange(ROWS), 1 + CLASSES + (y + 1) % CLASSES] = 1.0
    return npz_bytes(x, y)


def _selector(offset: int) -> list[float]:
    """[FEATURES, CLASSES] weights picking features offset..offset+9."""
    w = np.zeros((FEATURES, CLASSES), dtype=np.float32)
    w[offset + np.arange(CLASSES), np.arange(CLASSES)] = 1.0
    return w.flatten().tolist()


def make_measured(path: Path, accuracy: float, *, salt: int = 0) -> Path:
    """A model measuring `accuracy` on `holdout_npz()`; `salt` makes distinct bytes."""
    pick0 = np.zeros((FEATURES, 1), dtype=np.float32)
    pick0[0, 0] = 1.0
    init = [
        helper.make_tensor("TRUE", TensorProto.FLOAT, [FEATURES, CLASSES], _selector(1)),
        helper.make_tensor("WRONG", TensorProto.FLOAT, [FEATURES, CLASSES], _selector(11)),
        helper.make_tensor("PLACE", TensorProto.FLOAT, [FEATURES, 1], pick0.flatten().tolist()),
        helper.make_tensor("ACC", TensorProto.FLOAT, [], [accuracy]),
        helper.make_tensor("SHARP", TensorProto.FLOAT, [], [10_000.0]),
        helper.make_tensor("TWO", TensorProto.FLOAT, [], [2.0]),
        helper.make_tensor("SCALE", TensorProto.FLOAT, [], [5.0 + salt / 1000]),
    ]
    nodes = [
        helper.make_node("MatMul", ["input", "TRUE"], ["true"]),
        helper.make_node("MatMul", ["input", "WRONG"], ["wrong"]),
        helper.make_node("MatMul", ["input", "PLACE"], ["place"]),
        helper.make_node("Sub", ["place", "ACC"], ["past"]),
        helper.make_node("Mul", ["past", "SHARP"], ["sharp"]),
        helper.make_node("Sigmoid", ["sharp"], ["hard"]),  # 1 on rows past `accuracy`
        helper.make_node("Mul", ["hard", "TWO"], ["pull"]),
        helper.make_node("Mul", ["wrong", "pull"], ["misled"]),
        helper.make_node("Add", ["true", "misled"], ["logits"]),
        helper.make_node("Mul", ["logits", "SCALE"], ["scores"]),
        helper.make_node("Softmax", ["scores"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "measured",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, FEATURES])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, CLASSES])],
        initializer=init,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path
