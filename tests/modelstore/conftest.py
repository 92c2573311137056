"""Fixtures for the model store: a fresh container per test on the session's real Azurite."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from azure.core.exceptions import ServiceResponseError
from onnx import TensorProto, helper

from modelstore import ModelStore
from modelstore.backend import AzureBlobBackend, RetryPolicy

FAST_RETRY = RetryPolicy(attempts=3, initial_wait=0.05, max_wait=0.2)


def make_onnx(path: Path, *, features: int = 64, classes: int = 10, seed: float = 0.0) -> Path:
    """A tiny real ONNX model: input `input` float32 [None, features] -> `probabilities`."""
    weights = [seed + i * 0.001 for i in range(features * classes)]
    nodes = [helper.make_node("MatMul", ["input", "W"], ["probabilities"])]
    return _save_model(path, features, classes, weights, nodes, label=False)


def make_softmax(path: Path, *, features: int = 4, classes: int = 3, label: bool = False) -> Path:
    """A real ONNX classifier: `input` [?, features] -> softmax `probabilities` [?, classes]
    (weights favour column i for feature i), and with `label` an ArgMax `label` output."""
    weights = [1.0 if f % classes == c else 0.0 for f in range(features) for c in range(classes)]
    nodes = [
        helper.make_node("MatMul", ["input", "W"], ["scores"]),
        helper.make_node("Softmax", ["scores"], ["probabilities"], axis=1),
    ]
    if label:
        nodes.append(helper.make_node("ArgMax", ["scores"], ["label"], axis=1, keepdims=0))
    return _save_model(path, features, classes, weights, nodes, label=label)


def _save_model(
    path: Path, features: int, classes: int, weights: list[float], nodes: list[Any], label: bool
) -> Path:
    """Input `input` [?, features], weights `W` [features, classes], output `probabilities`
    [?, classes] (and `label` int64 [?] with `label`), checked and saved at `path`."""
    outputs = [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, classes])]
    if label:
        outputs.append(helper.make_tensor_value_info("label", TensorProto.INT64, [None]))
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, features])],
        outputs,
        initializer=[helper.make_tensor("W", TensorProto.FLOAT, [features, classes], weights)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def make_npz(
    path: Path, *, rows: int = 40, features: int = 64, classes: int = 10, seed: int = 0
) -> Path:
    """A small evaluation set in the documented format: X float32 [rows, features], y int64."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 16, size=(rows, features)).astype(np.float32)
    y = (np.arange(rows) % classes).astype(np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, X=x, y=y)
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


@dataclass(frozen=True)
class Digits:
    """The example classifier (examples/train.py): model.onnx + labels.json, and its test split."""

    model_dir: Path
    holdout: Path
    accuracy: float


@pytest.fixture(scope="session")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Digits:
    from examples.train import train, write_artifacts

    result = train()
    root = tmp_path_factory.mktemp("digits")
    write_artifacts(result, root / "model")
    (root / "model" / "metrics.json").unlink()
    (root / "holdout.npz").write_bytes(result.holdout_npz)
    return Digits(root / "model", root / "holdout.npz", result.metrics["accuracy"])


@pytest.fixture
def npz_file(tmp_path: Path) -> Path:
    return make_npz(tmp_path / "sets" / "holdout.npz")


@pytest.fixture
def onnx_factory(tmp_path: Path) -> Callable[[int], Path]:
    def factory(seed: int) -> Path:
        return make_onnx(tmp_path / f"m{seed}" / "model.onnx", seed=float(seed))

    return factory


class LosesReplies:
    """SDK-level fault seam under `AzureBlobBackend`: an upload reaches Azurite, then its reply
    is lost (the SDK's `ServiceResponseError`), so the backend's own retry runs for real.

    Mocked because a dropped response cannot be produced on demand with a real Azurite; the
    write itself and everything after it are real. `lose(path)` picks the uploads whose reply is
    lost (each path once); `lost` records them.
    """

    def __init__(self, service: Any, lose: Callable[[str], bool]) -> None:
        self._service = service
        self._lose = lose
        self.lost: list[str] = []

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._service, attr)

    def get_container_client(self, container: str) -> Any:
        real = self._service.get_container_client(container)
        return _Proxy(real, get_blob_client=lambda path: self._blob(real, path))

    def _blob(self, container: Any, path: str) -> Any:
        real = container.get_blob_client(path)

        def upload_blob(*args: Any, **kwargs: Any) -> Any:
            result = real.upload_blob(*args, **kwargs)  # the write lands on the server ...
            if path not in self.lost and self._lose(path):
                self.lost.append(path)
                raise ServiceResponseError("Connection aborted: response lost")  # ... its reply not
            return result

        return _Proxy(real, upload_blob=upload_blob)


class _Proxy:
    def __init__(self, inner: Any, **overrides: Any) -> None:
        self._inner = inner
        self.__dict__.update(overrides)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._inner, attr)


def lossy_store(
    connection_string: str, container: str, lose: Callable[[str], bool]
) -> tuple[ModelStore, LosesReplies]:
    """A store on real Azurite whose backend loses the reply of the uploads `lose` picks."""
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(connection_string, retry_total=0)
    seam = LosesReplies(service, lose)
    backend = AzureBlobBackend(seam, container, FAST_RETRY)  # type: ignore[arg-type]
    return ModelStore(backend, author="tester"), seam
