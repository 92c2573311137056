"""A real model, trained once per session by examples/train.py, and a fresh app per test."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from examples.train import train, write_artifacts

DATA = Path(__file__).resolve().parent.parent / "data" / "digits"


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """model.onnx, labels.json, metrics.json as examples/train.py writes them (read-only use)."""
    out = tmp_path_factory.mktemp("model")
    write_artifacts(train(), out)
    return out


@pytest.fixture
def model_dir(trained_model_dir: Path, tmp_path: Path) -> Path:
    """A per-test copy that a test may corrupt."""
    target = tmp_path / "models"
    shutil.copytree(trained_model_dir, target)
    return target


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_model(model_dir: Path, graph: Any, labels: list[int], opset: int = 17) -> str:
    """An ONNX model of `graph` (IR 8, which this onnxruntime loads) and its labels.json in a
    new `model_dir`; returns the model's sha256 for MODEL_SHA256."""
    from onnx import helper, save

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    model_dir.mkdir()
    save(model, str(model_dir / "model.onnx"))
    (model_dir / "labels.json").write_text(json.dumps(labels))
    return sha256_of(model_dir / "model.onnx")


def npy(array: Any) -> bytes:
    """`array` as the `.npy` file `numpy.save` writes (a packed `/predict` body)."""
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@pytest.fixture
def app_settings(model_dir: Path) -> dict[str, Any]:
    return {
        "MODEL_DIR": str(model_dir),
        "MODEL_SHA256": sha256_of(model_dir / "model.onnx"),
        "MODEL_NAME": "digits",
        "MODEL_VERSION": "3",
        "TESTING": True,
    }


@pytest.fixture
def make_app(app_settings: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Flask]:
    # The process environment must not leak into these tests.
    from app.config import ENV_NAMES

    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)

    def factory(**changes: Any) -> Flask:
        from app import create_app

        return create_app({**app_settings, **changes})

    return factory


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="session")
def digits_data() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.data, digits.target


@pytest.fixture(scope="session")
def expected_images() -> dict[str, dict[str, int]]:
    expected: dict[str, dict[str, int]] = json.loads((DATA / "expected.json").read_text())
    return expected
