from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from onnx import TensorProto, helper

from modelstore.errors import (
    InvalidMetricError,
    InvalidModelFileError,
    InvalidTagError,
    TooManyEntriesError,
)
from modelstore.manifest import (
    MAX_METRICS,
    MAX_TAGS,
    FileEntry,
    Manifest,
    Signature,
    TensorSpec,
    normalize_metrics,
    normalize_tags,
    onnx_signature,
    parse_manifest,
)
from tests.modelstore.conftest import make_onnx

SHA_A = "a" * 64
SHA_B = "b" * 64


def manifest(**overrides: object) -> Manifest:
    fields: dict[str, object] = {
        "name": "digits",
        "version": 1,
        "created_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "files": [
            FileEntry(path="labels.json", sha256=SHA_B, size=10),
            FileEntry(path="model.onnx", sha256=SHA_A, size=20),
        ],
        "primary": "model.onnx",
        "framework": "onnx",
        "metrics": {"accuracy": 0.97},
    }
    fields.update(overrides)
    return Manifest.model_validate(fields)


def test_primary_sha256_is_the_primary_files_digest() -> None:
    assert manifest().primary_sha256 == SHA_A


def test_canonical_json_is_sorted_compact_and_excludes_archived() -> None:
    data = manifest(archived=True).to_canonical_json()
    parsed = json.loads(data)
    assert "archived" not in parsed
    assert data == json.dumps(parsed, sort_keys=True, separators=(",", ":")).encode()
    assert parse_manifest(data) == manifest()


def test_canonical_json_is_stable_for_equal_manifests() -> None:
    assert manifest().to_canonical_json() == manifest().to_canonical_json()


def test_parse_manifest_refuses_unknown_schema_version() -> None:
    data = json.loads(manifest().to_canonical_json())
    data["schema_version"] = 2
    with pytest.raises(ValueError, match="schema_version"):
        parse_manifest(json.dumps(data).encode())


def test_parse_manifest_refuses_non_json() -> None:
    with pytest.raises(ValueError, match=r"document|Invalid JSON"):
        parse_manifest(b"not json")


def test_manifest_refuses_naive_timestamps_and_bad_digests() -> None:
    with pytest.raises(ValueError, match="time zone"):
        manifest(created_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="sha256"):
        manifest(files=[{"path": "model.onnx", "sha256": "xyz", "size": 1}])


def test_signature_input_key_marks_unknown_dims() -> None:
    signature = Signature(
        inputs=[
            TensorSpec(name="input", dtype="float32", shape=[None, 64]),
            TensorSpec(name="mask", dtype="bool", shape=[None]),
        ],
        outputs=[],
    )
    assert signature.input_key() == "input:float32[?,64],mask:bool[?]"


def test_onnx_signature_reads_inputs_and_outputs(tmp_path: Path) -> None:
    signature = onnx_signature(make_onnx(tmp_path / "m.onnx"))
    assert signature.input_key() == "input:float32[?,64]"
    assert signature.outputs == [
        TensorSpec(name="probabilities", dtype="float32", shape=[None, 10])
    ]


def test_onnx_signature_skips_initializers_and_reads_symbolic_dims(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "bias"], ["y"])],
        "g",
        [
            helper.make_tensor_value_info("x", TensorProto.INT64, ["batch", 3]),
            helper.make_tensor_value_info("bias", TensorProto.INT64, [3]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.INT64, ["batch", 3])],
        initializer=[helper.make_tensor("bias", TensorProto.INT64, [3], [1, 2, 3])],
    )
    path = tmp_path / "add.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    assert onnx_signature(path).input_key() == "x:int64[?,3]"


def test_onnx_signature_refuses_garbage(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x00\x01 definitely not protobuf \xff" * 10)
    with pytest.raises(InvalidModelFileError, match="not a valid ONNX model"):
        onnx_signature(path)


@pytest.mark.parametrize("value", ["0.9", "high", True, None, float("nan"), float("inf"), [1]])
def test_metrics_must_be_finite_numbers(value: object) -> None:
    with pytest.raises(InvalidMetricError, match="accuracy"):
        normalize_metrics({"accuracy": value})


def test_metrics_accept_ints_and_floats() -> None:
    assert normalize_metrics({"accuracy": 0.5, "epochs": 3}) == {"accuracy": 0.5, "epochs": 3.0}


def test_tags_must_be_strings() -> None:
    assert normalize_tags({"team": "vision"}) == {"team": "vision"}
    with pytest.raises(InvalidTagError, match="must be a string"):
        normalize_tags({"team": 3})


@pytest.mark.parametrize(
    "path", ["/tmp/escaped.txt", "../escaped.txt", "a/../../escaped.txt", "a//b", ".hidden", ""]
)
def test_parse_manifest_refuses_file_paths_that_leave_the_version_folder(path: str) -> None:
    doc = json.loads(manifest().to_canonical_json())
    doc["files"].append({"path": path, "sha256": SHA_A, "size": 1})
    with pytest.raises(ValueError, match="file path"):
        parse_manifest(json.dumps(doc).encode())


def test_parse_manifest_refuses_an_unlisted_primary_and_duplicate_paths() -> None:
    doc = json.loads(manifest().to_canonical_json())
    with pytest.raises(ValueError, match=r"primary file 'nope\.onnx'"):
        parse_manifest(json.dumps({**doc, "primary": "nope.onnx"}).encode())
    doc["files"].append(doc["files"][0])
    with pytest.raises(ValueError, match="more than once"):
        parse_manifest(json.dumps(doc).encode())


def test_tags_and_metrics_are_capped_in_number() -> None:
    many = {f"k{i}": "v" for i in range(MAX_TAGS + 1)}
    with pytest.raises(TooManyEntriesError, match=f"at most {MAX_TAGS} tags"):
        normalize_tags(many)
    assert len(normalize_tags(dict(list(many.items())[:MAX_TAGS]))) == MAX_TAGS
    with pytest.raises(TooManyEntriesError, match=f"at most {MAX_METRICS} metrics"):
        normalize_metrics({f"m{i}": 1.0 for i in range(MAX_METRICS + 1)})
