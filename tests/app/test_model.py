"""The service refuses to start on a missing, corrupted, unpinned or unservable model."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app.errors import ModelLoadError
from tests.app.conftest import sha256_of, write_model


def test_refuses_a_model_whose_sha256_is_not_the_pinned_one(
    make_app: Callable[..., Flask],
) -> None:
    with pytest.raises(ModelLoadError, match=r"sha256 mismatch .* pinned 0{64}"):
        make_app(MODEL_SHA256="0" * 64)


def test_refuses_a_corrupted_model_even_with_a_matching_pin(
    make_app: Callable[..., Flask], model_dir: Path
) -> None:
    path = model_dir / "model.onnx"
    data = bytearray(path.read_bytes())
    path.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(ModelLoadError, match="not a loadable ONNX model"):
        make_app(MODEL_SHA256=sha256_of(path))


def test_refuses_to_start_without_the_model_file(
    make_app: Callable[..., Flask], model_dir: Path
) -> None:
    (model_dir / "model.onnx").unlink()
    with pytest.raises(ModelLoadError, match=r"model\.onnx is missing"):
        make_app()


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([0, 1, 2], "has 3 labels, the model outputs 10"),
        ([], "non-empty JSON list"),
        ({"0": "zero"}, "non-empty JSON list"),
        ([True] * 10, "only strings or integers"),
    ],
)
def test_refuses_labels_that_do_not_fit_the_model(
    make_app: Callable[..., Flask], model_dir: Path, labels: Any, message: str
) -> None:
    (model_dir / "labels.json").write_text(json.dumps(labels))
    with pytest.raises(ModelLoadError, match=message):
        make_app()


def test_refuses_missing_labels(make_app: Callable[..., Flask], model_dir: Path) -> None:
    (model_dir / "labels.json").unlink()
    with pytest.raises(ModelLoadError, match=r"labels.json is missing"):
        make_app()


def _manifest(model_dir: Path, **changes: Any) -> None:
    manifest = {
        "name": "digits",
        "version": 3,
        "primary": "model.onnx",
        "files": [
            {"path": "model.onnx", "sha256": sha256_of(model_dir / "model.onnx"), "size": 1},
        ],
    }
    manifest.update(changes)
    (model_dir / "manifest.json").write_text(json.dumps(manifest))


def test_accepts_a_manifest_that_matches_the_pin(
    make_app: Callable[..., Flask], model_dir: Path
) -> None:
    _manifest(model_dir)
    assert make_app().test_client().get("/readyz").status_code == 200


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "other"}, "manifest names model 'other'"),
        ({"version": 4}, "manifest is version 4, MODEL_VERSION is 3"),
        ({"files": [{"path": "model.onnx", "sha256": "1" * 64}]}, "manifest lists sha256 '1111"),
    ],
)
def test_refuses_a_manifest_that_disagrees_with_the_pin(
    make_app: Callable[..., Flask], model_dir: Path, changes: dict[str, Any], message: str
) -> None:
    _manifest(model_dir, **changes)
    with pytest.raises(ModelLoadError, match=message):
        make_app()


def test_refuses_a_model_with_another_signature_than_the_image_declares(
    make_app: Callable[..., Flask],
) -> None:
    with pytest.raises(ModelLoadError, match=r"input:float32\[\?,64\] is not the one"):
        make_app(MODEL_INPUT_SIGNATURE="input:float32[?,784]")
    assert make_app(MODEL_INPUT_SIGNATURE="input:float32[?,64]") is not None


def test_predict_session_is_created_once_per_app(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    session = app.extensions["model"]._session
    client = app.test_client()
    for _ in range(3):
        client.post("/predict", json={"instances": [[0] * 64]})
    assert app.extensions["model"]._session is session


def test_predict_answers_what_the_public_session_api_answers(
    make_app: Callable[..., Flask], digits_data: Any
) -> None:
    """`Model.predict` calls onnxruntime's C++ session directly; same results as `run`."""
    import numpy as np

    model = make_app().extensions["model"]
    rows = np.asarray(digits_data[0][:7], dtype=np.float32)
    labels, probabilities = model.predict(rows)
    want_labels, want_probabilities = model._session.run(None, {"input": rows})
    np.testing.assert_array_equal(labels, want_labels)
    np.testing.assert_array_equal(probabilities, want_probabilities)


@pytest.mark.parametrize(
    ("label_type", "probability_type", "refused"),
    [
        ("STRING", "FLOAT", r"has label: tensor\(string\)"),
        ("INT64", "DOUBLE", r"probabilities: tensor\(double\)"),
    ],
)
def test_refuses_outputs_the_answers_cannot_carry(
    make_app: Callable[..., Flask],
    tmp_path: Path,
    label_type: str,
    probability_type: str,
    refused: str,
) -> None:
    """String labels (skl2onnx on string classes) or float64 probabilities fail at start-up,
    not as a 500 on every request."""
    from onnx import TensorProto, helper

    probabilities = getattr(TensorProto, probability_type)
    nodes = [
        helper.make_node("MatMul", ["input", "W"], ["scores"]),
        helper.make_node("Softmax", ["scores"], ["soft"], axis=1),
        helper.make_node("Cast", ["soft"], ["probabilities"], to=probabilities),
        helper.make_node("ArgMax", ["scores"], ["index"], axis=1, keepdims=0),
    ]
    if label_type == "STRING":
        nodes.append(helper.make_node("Cast", ["index"], ["label"], to=TensorProto.STRING))
    else:
        nodes.append(helper.make_node("Identity", ["index"], ["label"]))
    graph = helper.make_graph(
        nodes,
        "outputs",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 64])],
        [
            helper.make_tensor_value_info("label", getattr(TensorProto, label_type), [None]),
            helper.make_tensor_value_info("probabilities", probabilities, [None, 10]),
        ],
        initializer=[helper.make_tensor("W", TensorProto.FLOAT, [64, 10], [0.5] * 640)],
    )
    model_dir = tmp_path / "typed-model"
    sha = write_model(model_dir, graph, list(range(10)))
    with pytest.raises(ModelLoadError, match=refused):
        make_app(MODEL_DIR=str(model_dir), MODEL_SHA256=sha)


def _shaped_model(
    model_dir: Path,
    *,
    n_classes: int = 10,
    flat_probabilities: bool = False,
    label_column: bool = False,
    probabilities_dims: list[int | None] | None = None,
    unfixed_classes: bool = False,
    n_labels: int | None = None,
) -> str:
    """A float32 [None, 64] -> label int64, probabilities float32 model with the output shapes
    asked for; returns the sha256 of its model.onnx."""
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("MatMul", ["input", "W"], ["scores"]),
        helper.make_node("Softmax", ["scores"], ["soft"], axis=1),
        helper.make_node("ArgMax", ["scores"], ["label"], axis=1, keepdims=int(label_column)),
    ]
    if flat_probabilities:  # the winning class's probability alone: shape (n,)
        nodes.append(
            helper.make_node("ReduceMax", ["soft"], ["probabilities"], keepdims=0, axes=[1])
        )
    elif unfixed_classes:  # reshaped to (rows, -1) by a computed shape: no fixed class count
        nodes += [
            helper.make_node("Shape", ["input"], ["input_shape"]),
            helper.make_node("Slice", ["input_shape", "zero", "one"], ["rows"]),
            helper.make_node("Concat", ["rows", "minus_one"], ["soft_shape"], axis=0),
            helper.make_node("Reshape", ["soft", "soft_shape"], ["probabilities"]),
        ]
    else:
        nodes.append(helper.make_node("Identity", ["soft"], ["probabilities"]))
    if probabilities_dims is None:
        probabilities_dims = [None] if flat_probabilities else [None, n_classes]
    graph = helper.make_graph(
        nodes,
        "shapes",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 64])],
        [
            helper.make_tensor_value_info(
                "label", TensorProto.INT64, [None, 1] if label_column else [None]
            ),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, probabilities_dims),
        ],
        initializer=[
            helper.make_tensor("W", TensorProto.FLOAT, [64, n_classes], [0.5] * 64 * n_classes),
            helper.make_tensor("zero", TensorProto.INT64, [1], [0]),
            helper.make_tensor("one", TensorProto.INT64, [1], [1]),
            helper.make_tensor("minus_one", TensorProto.INT64, [1], [-1]),
        ],
    )
    return write_model(
        model_dir, graph, list(range(n_classes if n_labels is None else n_labels)), 13
    )


@pytest.mark.parametrize(
    ("shape", "refused"),
    [
        ({"flat_probabilities": True}, r"probabilities shaped \(1,\)"),
        ({"label_column": True}, r"label shaped \(1, 1\)"),
        # declared without a class count: labels.json was not held to the real one
        (
            {"unfixed_classes": True, "probabilities_dims": [None, None], "n_labels": 3},
            r"probabilities shaped \(1, 10\)",
        ),
    ],
)
def test_refuses_output_shapes_the_answers_cannot_carry(
    make_app: Callable[..., Flask], tmp_path: Path, shape: dict[str, Any], refused: str
) -> None:
    """One label per row and one probability per labels.json entry, or the model is refused at
    start-up: a (rows,) probabilities output or a (rows, 1) label output answered JSON outside
    its documented schema and a 500 on every `.npy` answer; a model whose declared class count
    is not fixed was not held to labels.json at all."""
    model_dir = tmp_path / "shaped"
    sha = _shaped_model(model_dir, **shape)
    with pytest.raises(ModelLoadError, match=refused):
        make_app(MODEL_DIR=str(model_dir), MODEL_SHA256=sha)


@pytest.mark.parametrize(
    "shape", [{"n_classes": 1}, {"unfixed_classes": True, "probabilities_dims": [None, None]}]
)
def test_serves_one_class_and_undeclared_class_counts(
    make_app: Callable[..., Flask], tmp_path: Path, shape: dict[str, Any]
) -> None:
    import io

    import numpy as np
    from werkzeug.test import Client

    model_dir = tmp_path / "shaped"
    app = make_app(MODEL_DIR=str(model_dir), MODEL_SHA256=_shaped_model(model_dir, **shape))
    n_classes = shape.get("n_classes", 10)
    for client in (Client(app.wsgi_app), Client(app.wsgi_app.flask)):  # type: ignore[attr-defined]
        response = client.post(
            "/predict",
            json={"instances": [[0.5] * 64] * 2},
            headers={"Accept": "application/x-npy"},
        )
        assert response.status_code == 200
        answer = np.load(io.BytesIO(response.get_data()), allow_pickle=False)
        assert answer["probabilities"].shape == (2, n_classes)
