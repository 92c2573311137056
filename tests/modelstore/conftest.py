"""Fixtures for the model store: a fresh container per test on the session's real Azurite."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnx
import pytest
from onnx import TensorProto, helper

from modelstore import ModelStore
from modelstore.backend import AzureBlobBackend, RetryPolicy

FAST_RETRY = RetryPolicy(attempts=3, initial_wait=0.05, max_wait=0.2)


def make_onnx(path: Path, *, features: int = 64, classes: int = 10, seed: float = 0.0) -> Path:
    """A tiny real ONNX model: input `input` float32 [None, features] -> `probabilities`."""
    weights = helper.make_tensor(
        "W",
        TensorProto.FLOAT,
        [features, classes],
        [seed + i * 0.001 for i in range(features * classes)],
    )
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["input", "W"], ["probabilities"])],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, features])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, classes])],
        initializer=[weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


class RequestCounter:
    """Counts real HTTP requests through the SDK's per-request hook (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []

    def __call__(self, request: Any) -> None:
        http = request.http_request
        with self._lock:
            self.requests.append((http.method, http.url.split("?")[0]))

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()

    @property
    def count(self) -> int:
        return len(self.requests)


@pytest.fixture
def container() -> str:
    return f"t{uuid.uuid4().hex[:20]}"


@pytest.fixture
def counter() -> RequestCounter:
    return RequestCounter()


@pytest.fixture
def store(azurite: Any, container: str, counter: RequestCounter) -> ModelStore:
    backend = AzureBlobBackend.from_connection_string(
        azurite.connection_string, container, retry=FAST_RETRY, on_request=counter
    )
    return ModelStore(backend, author="tester")


@pytest.fixture
def onnx_file(tmp_path: Path) -> Path:
    return make_onnx(tmp_path / "src" / "digits.onnx")


@pytest.fixture
def onnx_factory(tmp_path: Path) -> Callable[[int], Path]:
    def factory(seed: int) -> Path:
        return make_onnx(tmp_path / f"m{seed}" / "model.onnx", seed=float(seed))

    return factory
