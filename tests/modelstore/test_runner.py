"""The onnxruntime runner on real ONNX models: outputs found, labels mapped, bad models refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from modelstore.errors import EvaluationError
from modelstore.runner import Classifier
from tests.modelstore.conftest import Digits, make_onnx, make_softmax


def test_the_digits_model_predicts_what_its_session_predicts(digits: Digits) -> None:
    classifier = Classifier(digits.model_dir / "model.onnx")
    outputs = classifier.outputs
    assert (outputs.input_name, outputs.features, outputs.classes) == ("input", 64, 10)
    assert (outputs.probabilities, outputs.label) == ("probabilities", "label")
    x = np.random.default_rng(0).uniform(0, 16, size=(50, 64)).astype(np.float32)
    predicted, probabilities = classifier.predict(x)
    session = ort.InferenceSession(str(digits.model_dir / "model.onnx"))
    labels, expected = session.run(None, {"input": x})
    assert np.array_equal(predicted, labels)
    assert np.allclose(probabilities, expected)


def test_columns_map_to_the_given_labels(tmp_path: Path) -> None:
    classifier = Classifier(make_softmax(tmp_path / "m.onnx"), labels=[7, 3, 5])
    assert classifier.outputs.label is None
    indices = classifier.indices(np.array([3, 5, 7, 3]))
    assert indices is not None
    assert indices.tolist() == [1, 2, 0, 1]
    assert classifier.indices(np.array([3, 4])) is None
    x = np.eye(4, dtype=np.float32) * 5
    predicted, _ = classifier.predict(x)
    assert predicted.tolist() == [0, 1, 2, 0]  # column indices; label 7, 3, 5, 7


def test_label_output_and_columns_must_agree_with_the_labels(tmp_path: Path) -> None:
    model = make_softmax(tmp_path / "m.onnx", label=True)
    with pytest.raises(EvaluationError, match="3 probability columns but its labels are"):
        Classifier(model, labels=[0, 1])
    with pytest.raises(EvaluationError, match="one distinct label per column"):
        Classifier(model, labels=[0, 1, 1])
    shifted = Classifier(model, labels=[1, 2, 3])  # ArgMax says 0: not one of these labels
    with pytest.raises(EvaluationError, match="predicts a label that is not among"):
        shifted.predict(np.eye(4, dtype=np.float32))


def test_models_that_are_no_probabilistic_classifier_are_refused(tmp_path: Path) -> None:
    scores = Classifier(make_onnx(tmp_path / "scores.onnx", features=4, classes=3))
    with pytest.raises(EvaluationError, match="does not hold probabilities"):
        scores.predict(np.full((2, 4), 10.0, dtype=np.float32))
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not onnx")
    with pytest.raises(EvaluationError, match="onnxruntime cannot load the model"):
        Classifier(broken)


def test_timings_cover_the_asked_runs_even_with_fewer_rows_than_a_batch(tmp_path: Path) -> None:
    classifier = Classifier(make_softmax(tmp_path / "m.onnx"))
    x = np.ones((3, 4), dtype=np.float32)
    for batch in (1, 64):
        durations = classifier.timings(x, batch, runs=20)
        assert len(durations) == 20
        assert all(d > 0 for d in durations)


def test_a_model_with_two_inputs_is_no_classifier_here(tmp_path: Path) -> None:
    from onnx import TensorProto, helper, save

    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["probabilities"])],
        "two-inputs",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, [None, 2]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, [None, 2]),
        ],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    save(model, str(tmp_path / "two.onnx"))
    with pytest.raises(EvaluationError, match="one float32 input of shape"):
        Classifier(tmp_path / "two.onnx")
