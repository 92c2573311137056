"""The manifest of a model version: pydantic models, canonical JSON, ONNX signature extraction.

A manifest is immutable once written. Its canonical JSON form (sorted keys, no whitespace, UTF-8)
is what is stored, so the same manifest always has the same bytes and the same sha256.
`archived` is not part of the stored bytes: it is state that changes after registration and is
kept beside the manifest (blob metadata), then merged into the `Manifest` object on read.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from modelstore.errors import (
    InvalidMetricError,
    InvalidModelFileError,
    InvalidNameError,
    InvalidTagError,
    TooManyEntriesError,
)
from modelstore.names import validate_file_path, validate_key

SCHEMA_VERSION = 1
MAX_TAGS = 100
MAX_METRICS = 100
MAX_TAG_VALUE = 1024
SHA256_PATTERN = r"^[0-9a-f]{64}$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class FileEntry(_Frozen):
    path: str
    sha256: str = Field(pattern=SHA256_PATTERN)
    size: int = Field(ge=0)

    @field_validator("path")
    @classmethod
    def _relative_inside(cls, value: str) -> str:
        """Manifests are read from storage others can write: a path must stay in its folder."""
        try:
            return validate_file_path(value)
        except InvalidNameError as exc:
            raise ValueError(str(exc)) from None


class TensorSpec(_Frozen):
    """One input or output: dims are ints, or None where the model leaves them open."""

    name: str
    dtype: str
    shape: list[int | None] | None = None

    def key(self) -> str:
        if self.shape is None:
            return f"{self.name}:{self.dtype}"
        dims = ",".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name}:{self.dtype}[{dims}]"


class Signature(_Frozen):
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]

    def input_key(self) -> str:
        """Canonical key of the inputs, e.g. `input:float32[?,64]` (the image label's value)."""
        return ",".join(spec.key() for spec in self.inputs)


class Manifest(_Frozen):
    schema_version: Literal[1] = 1
    name: str
    version: int = Field(ge=1)
    created_at: datetime
    author: str | None = None
    git_commit: str | None = None
    files: list[FileEntry]
    primary: str
    framework: str
    signature: Signature | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    description: str | None = None
    archived: bool = False

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("created_at must carry a time zone")
        return value.astimezone(UTC)

    @field_validator("metrics")
    @classmethod
    def _finite(cls, value: dict[str, float]) -> dict[str, float]:
        for key, number in value.items():
            if not math.isfinite(number):
                raise ValueError(f"metric {key!r} is not finite")
        return value

    @model_validator(mode="after")
    def _primary_listed_once(self) -> Manifest:
        paths = [entry.path for entry in self.files]
        if len(set(paths)) != len(paths):
            raise ValueError("a file path is listed more than once")
        if self.primary not in paths:
            raise ValueError(f"primary file {self.primary!r} is not among the manifest's files")
        return self

    @property
    def primary_file(self) -> FileEntry:
        for entry in self.files:
            if entry.path == self.primary:
                return entry
        raise ValueError(f"primary file {self.primary!r} is not among the manifest's files")

    @property
    def primary_sha256(self) -> str:
        """The "model sha256" pinned in overlays: sha256 of the primary file."""
        return self.primary_file.sha256

    def to_canonical_json(self) -> bytes:
        """The stored bytes: sorted keys, compact, UTF-8; `archived` excluded (see module doc)."""
        return canonical_json(self.model_dump(mode="json", exclude={"archived"}))


def canonical_json(data: Any) -> bytes:
    text = json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_manifest(data: bytes) -> Manifest:
    """Parse stored manifest bytes; raises ValueError with a readable reason."""
    try:
        return Manifest.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "document"
        raise ValueError(f"{where}: {first['msg']}") from None


def normalize_metrics(metrics: Mapping[str, object] | None) -> dict[str, float]:
    """Metrics must be real, finite numbers (bools and numeric strings are refused)."""
    if len(metrics or {}) > MAX_METRICS:
        raise TooManyEntriesError("metrics", len(metrics or {}), MAX_METRICS)
    result: dict[str, float] = {}
    for key, value in (metrics or {}).items():
        validate_key("metric name", key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidMetricError(key, value)
        number = float(value)
        if not math.isfinite(number):
            raise InvalidMetricError(key, value)
        result[key] = number
    return result


def normalize_tags(tags: Mapping[str, object] | None) -> dict[str, str]:
    if len(tags or {}) > MAX_TAGS:
        raise TooManyEntriesError("tags", len(tags or {}), MAX_TAGS)
    result: dict[str, str] = {}
    for key, value in (tags or {}).items():
        validate_key("tag name", key)
        if not isinstance(value, str):
            raise InvalidTagError(key, f"must be a string, got {type(value).__name__}")
        if len(value) > MAX_TAG_VALUE:
            raise InvalidTagError(key, f"is longer than {MAX_TAG_VALUE} characters")
        result[key] = value
    return result


# --- ONNX signature ----------------------------------------------------------------------------


def onnx_signature(path: Path) -> Signature:
    """Inputs (minus initializers) and outputs of an ONNX graph, without loading external data."""
    try:
        import onnx
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise InvalidModelFileError(
            str(path), "reading an ONNX signature needs the `onnx` package (pip install onnx)"
        ) from exc
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise InvalidModelFileError(str(path), f"not a valid ONNX model ({exc})") from None
    graph = model.graph
    if not graph.output:
        raise InvalidModelFileError(str(path), "not a valid ONNX model (the graph has no outputs)")
    initializers = {init.name for init in graph.initializer}
    inputs = [_tensor_spec(v) for v in graph.input if v.name not in initializers]
    outputs = [_tensor_spec(v) for v in graph.output]
    return Signature(inputs=inputs, outputs=outputs)


def _tensor_spec(value_info: Any) -> TensorSpec:
    import onnx

    kind = value_info.type.WhichOneof("value")
    if kind != "tensor_type":
        return TensorSpec(name=value_info.name, dtype=str(kind or "unknown"), shape=None)
    tensor = value_info.type.tensor_type
    try:
        dtype = str(onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name)
        if dtype == "object":
            dtype = "string"
    except (KeyError, TypeError, ValueError):
        dtype = str(onnx.TensorProto.DataType.Name(tensor.elem_type)).lower()
    shape: list[int | None] | None = None
    if tensor.HasField("shape"):
        shape = [
            int(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else None
            for d in tensor.shape.dim
        ]
    return TensorSpec(name=value_info.name, dtype=dtype, shape=shape)


def utc_now() -> datetime:
    return datetime.now(UTC)
