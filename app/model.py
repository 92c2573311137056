"""Load and verify the pinned ONNX model once per process; keep one onnxruntime session.

`load_model` reads `model.onnx` into memory, checks its sha256 against the pin, then builds the
session from those same verified bytes (no window between checking and loading). It also checks
`labels.json`, the optional `manifest.json` written by `python -m app.fetch_model`, and the input
signature against the one this image declares. Any problem is a `ModelLoadError`: the app factory
lets it propagate, so the worker, and with it the server (app/server.py), refuses to start.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from flask import Flask, current_app

from app.config import Settings
from app.errors import ModelLoadError

log = logging.getLogger("app")

MODEL_FILE = "model.onnx"
LABELS_FILE = "labels.json"
MANIFEST_FILE = "manifest.json"
EXTENSION_KEY = "model"

# ONNX tensor element types (as onnxruntime names them) to the names used in signature keys.
_ORT_DTYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(string)": "string",
    "tensor(uint8)": "uint8",
}


@dataclass(frozen=True)
class ModelInfo:
    """What the service knows about the model it serves (answered by `/version`)."""

    name: str | None
    version: int | None
    sha256: str
    signature: str
    input_name: str
    n_features: int
    labels: tuple[int | str, ...]
    load_seconds: float


def signature_key(inputs: list[Any]) -> str:
    """`"<name>:<dtype>[<dims>]"` per input, joined by `,`; unknown dims as `?` (the contract)."""
    parts = []
    for node in inputs:
        dtype = _ORT_DTYPES.get(node.type, node.type)
        dims = ",".join(str(d) if isinstance(d, int) else "?" for d in node.shape)
        parts.append(f"{node.name}:{dtype}[{dims}]")
    return ",".join(parts)


def _run_inner(inner: Any, outputs: list[str], feeds: dict[str, Any]) -> Any:
    return inner.run(outputs, feeds, None)


class Model:
    """One onnxruntime session and the checked facts about it; `predict` is the hot path."""

    def __init__(self, session: Any, info: ModelInfo) -> None:
        self._session = session
        self.info = info
        self._feeds_name = info.input_name
        self._outputs = ["label", "probabilities"]
        # `InferenceSession.run` checks the feed's names and OrtValue ownership in Python before
        # calling its C++ session (~5 us, a sixth of a 1-row run); the feed here is always one
        # numpy array under the input name checked at load, so the C++ session is called directly
        # when this onnxruntime has it.
        inner = getattr(session, "_sess", None)
        self._run: Any = session.run if inner is None else functools.partial(_run_inner, inner)

    def predict(
        self, rows: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """Labels and class probabilities for a (n, n_features) float32 batch."""
        labels, probabilities = self._run(self._outputs, {self._feeds_name: rows})
        return labels, probabilities


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        raise ModelLoadError(f"{path} is missing") from None
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path} is not readable JSON: {exc}") from None


def _check_manifest(model_dir: Path, settings: Settings, sha256: str) -> None:
    """If fetch_model left a manifest, it must describe the pinned model and these bytes."""
    path = model_dir / MANIFEST_FILE
    if not path.exists():
        return
    manifest = _read_json(path)
    if not isinstance(manifest, dict):
        raise ModelLoadError(f"{path} is not a JSON object")
    if settings.model_name is not None and manifest.get("name") != settings.model_name:
        raise ModelLoadError(
            f"manifest names model {manifest.get('name')!r}, MODEL_NAME is {settings.model_name!r}"
        )
    if settings.model_version is not None and manifest.get("version") != settings.model_version:
        raise ModelLoadError(
            f"manifest is version {manifest.get('version')!r}, "
            f"MODEL_VERSION is {settings.model_version}"
        )
    primary = manifest.get("primary", MODEL_FILE)
    listed = {
        f.get("path"): f.get("sha256") for f in manifest.get("files", []) if isinstance(f, dict)
    }
    if listed.get(primary) != sha256:
        raise ModelLoadError(
            f"manifest lists sha256 {listed.get(primary)!r} for {primary}, the file has {sha256}"
        )


def _check_labels(labels: Any, n_classes: int | None, path: Path) -> tuple[int | str, ...]:
    if not isinstance(labels, list) or not labels:
        raise ModelLoadError(f"{path} must be a non-empty JSON list of class labels")
    if not all(isinstance(x, int | str) and not isinstance(x, bool) for x in labels):
        raise ModelLoadError(f"{path} must hold only strings or integers")
    if n_classes is not None and len(labels) != n_classes:
        raise ModelLoadError(f"{path} has {len(labels)} labels, the model outputs {n_classes}")
    return tuple(labels)


def load_model(settings: Settings) -> Model:
    """Read, verify and load the model in `settings.model_dir`; raise ModelLoadError on anything."""
    import onnxruntime as ort

    started = time.perf_counter()
    model_dir = settings.model_dir
    model_path = model_dir / MODEL_FILE
    try:
        data = model_path.read_bytes()
    except FileNotFoundError:
        raise ModelLoadError(f"{model_path} is missing (did the init container run?)") from None
    except OSError as exc:
        raise ModelLoadError(f"{model_path} is not readable: {exc}") from None
    digest = _sha256(data)
    if digest != settings.model_sha256:
        raise ModelLoadError(
            f"sha256 mismatch for {model_path}: pinned {settings.model_sha256}, file has {digest}"
        )
    _check_manifest(model_dir, settings, digest)

    options = ort.SessionOptions()
    options.intra_op_num_threads = settings.ort_intra_op_threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises several private exception types
        raise ModelLoadError(f"{model_path} is not a loadable ONNX model: {exc}") from None

    inputs = session.get_inputs()
    key = signature_key(inputs)
    if settings.model_input_signature is not None and key != settings.model_input_signature:
        raise ModelLoadError(
            f"model input signature {key} is not the one this image serves "
            f"({settings.model_input_signature})"
        )
    if len(inputs) != 1 or inputs[0].type != "tensor(float)" or len(inputs[0].shape) != 2:
        raise ModelLoadError(f"expected one float32 [batch, features] input, model has {key}")
    n_features = inputs[0].shape[1]
    if not isinstance(n_features, int) or n_features < 1:
        raise ModelLoadError(f"the model's feature count is not fixed ({key})")
    outputs = {o.name: o for o in session.get_outputs()}
    if "label" not in outputs or "probabilities" not in outputs:
        raise ModelLoadError(
            f"expected outputs 'label' and 'probabilities' (skl2onnx, zipmap=False), "
            f"model has {sorted(outputs)}"
        )
    # The answers serialize the labels as integers and the probabilities as float32: a model
    # with string labels (skl2onnx on string classes) or float64 probabilities would fail or
    # be rounded on every request, so it is refused here, once, with the reason.
    kinds = (outputs["label"].type, outputs["probabilities"].type)
    if kinds != ("tensor(int64)", "tensor(float)"):
        raise ModelLoadError(
            "expected outputs label: tensor(int64) and probabilities: tensor(float) "
            f"(class indices, float32), model has label: {kinds[0]}, probabilities: {kinds[1]}"
        )
    prob_shape = outputs["probabilities"].shape
    n_classes = prob_shape[1] if len(prob_shape) == 2 and isinstance(prob_shape[1], int) else None
    labels = _check_labels(_read_json(model_dir / LABELS_FILE), n_classes, model_dir / LABELS_FILE)

    info = ModelInfo(
        name=settings.model_name,
        version=settings.model_version,
        sha256=digest,
        signature=key,
        input_name=inputs[0].name,
        n_features=n_features,
        labels=labels,
        load_seconds=time.perf_counter() - started,
    )
    model = Model(session, info)
    # Warm up: the first run allocates; do it now, not on the first user request. Its outputs
    # must be what both answers carry (one label per row, one probability per labels.json
    # entry): declared shapes may leave the class count open or be wrong, so the run's own
    # shapes are checked, once, here rather than as a 500 (or an off-schema answer) per request.
    got_labels, got_probabilities = model.predict(np.zeros((1, n_features), dtype=np.float32))
    want = ((1,), (1, len(labels)))
    if (np.shape(got_labels), np.shape(got_probabilities)) != want:
        raise ModelLoadError(
            f"for one row the model answers label shaped {np.shape(got_labels)} and "
            f"probabilities shaped {np.shape(got_probabilities)}; expected {want[0]} and "
            f"{want[1]} (one label per row, one probability per entry of {LABELS_FILE})"
        )
    return model


def init_app(app: Flask, settings: Settings) -> Model:
    model = load_model(settings)
    app.extensions[EXTENSION_KEY] = model
    log.info(
        "model loaded",
        extra={
            "fields": {
                "model_name": model.info.name,
                "model_version": model.info.version,
                "model_sha256": model.info.sha256,
                "signature": model.info.signature,
                "load_seconds": round(model.info.load_seconds, 4),
            }
        },
    )
    return model


def get_model() -> Model:
    model: Model = current_app.extensions[EXTENSION_KEY]
    return model
