"""POST /score: the reference API with real PNG/JPEG decoding; bad images are 4xx, never 5xx."""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from tests.app.conftest import DATA, write_model
from tests.app.test_predict import MIB, worst_case_bodies


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def png_bytes(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def test_score_classifies_the_known_digit_images(
    client: FlaskClient, expected_images: dict[str, dict[str, int]]
) -> None:
    names = sorted(expected_images)
    images = [b64((DATA / name).read_bytes()) for name in names]
    response = client.post("/score", json={"input": images})
    assert response.status_code == 200
    body = response.get_json()
    assert len(body["result"]) == len(names)
    for name, top3 in zip(names, body["result"], strict=True):
        assert len(top3) == 3
        assert top3[0][0] == str(expected_images[name]["label"]), name
        probabilities = [p for _, p in top3]
        assert probabilities == sorted(probabilities, reverse=True)
        assert top3[0][1] > 0.9
    assert body["time"] >= 0
    assert body["model"] == {"name": "digits", "version": 3}


def test_score_accepts_the_reference_string_and_bytes_literal_forms(client: FlaskClient) -> None:
    raw = b64((DATA / "digit-3.png").read_bytes())
    forms = [
        {"input": json.dumps([raw])},
        {"input": [f"b'{raw}'"]},
        {"input": json.dumps([f"b'{raw}'"])},
        {"input": raw},
    ]
    for form in forms:
        response = client.post("/score", json=form)
        assert response.status_code == 200, form
        assert response.get_json()["result"][0][0][0] == "3"


def test_score_reads_jpeg_too(client: FlaskClient) -> None:
    image = Image.open(DATA / "digit-7-32px.png").convert("L")
    response = client.post("/score", json={"input": [b64(png_bytes(image, "JPEG"))]})
    assert response.status_code == 200
    assert response.get_json()["result"][0][0][0] == "7"


def _sixteen_bit_png(name: str) -> bytes:
    """The checked-in 8-bit digit as a 16-bit grayscale PNG with the same picture (v * 257)."""
    import numpy as np

    eight = np.asarray(Image.open(DATA / name).convert("L"), dtype=np.uint16)
    data = png_bytes(Image.fromarray(eight * 257))
    decoded = Image.open(io.BytesIO(data))
    assert decoded.mode == "I;16"  # really read back as 16-bit
    assert int(np.asarray(decoded).max()) > 255
    return data


def test_score_reads_a_16_bit_png_like_its_8_bit_original(
    client: FlaskClient, expected_images: dict[str, dict[str, int]]
) -> None:
    names = sorted(expected_images)
    eight = [b64((DATA / name).read_bytes()) for name in names]
    sixteen = [b64(_sixteen_bit_png(name)) for name in names]
    want = client.post("/score", json={"input": eight}).get_json()["result"]
    response = client.post("/score", json={"input": sixteen})
    assert response.status_code == 200
    got = response.get_json()["result"]
    for name, top3, ref in zip(names, got, want, strict=True):
        assert top3[0][0] == str(expected_images[name]["label"]), name
        assert [label for label, _ in top3] == [label for label, _ in ref], name
        assert [p for _, p in top3] == pytest.approx([p for _, p in ref], abs=1e-4), name


def _error(response: Any) -> dict[str, Any]:
    assert response.mimetype == "application/json"
    error: dict[str, Any] = response.get_json()["error"]
    assert error["status"] == response.status_code
    return error


def test_score_rejects_a_decompression_bomb_before_decoding_it(client: FlaskClient) -> None:
    bomb = png_bytes(Image.new("L", (5000, 5000)))  # 25 Mpx of zeros: a few KB compressed
    assert len(bomb) < 100_000
    response = client.post("/score", json={"input": [b64(bomb)]})
    assert response.status_code == 413
    assert "5000x5000" in _error(response)["message"]


def test_score_rejects_an_image_beyond_pillows_own_bomb_limit(client: FlaskClient) -> None:
    """A PNG header announcing 20000x20000 px (over Pillow's limit) with no real pixel data."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")
    response = client.post("/score", json={"input": [b64(png)]})
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("payload", "status", "message_part"),
    [
        ({"input": [b64(b"this is not an image")]}, 400, "not a PNG or JPEG"),
        ({"input": ["%%% not base64 %%%"]}, 400, "invalid image"),
        ({"input": [12]}, 400, "invalid image"),
        ({"input": []}, 400, "empty"),
        ({"input": "[1, 2"}, 400, "not one"),
        ({"input": {"a": 1}}, 400, "must be a list"),
        ({"images": []}, 400, "'input'"),
        ([], 400, "'input'"),
        ({"input": [b64(b"x")] * 17}, 413, "limit of 16"),
    ],
)
def test_score_rejects_bad_input_with_a_clear_message(
    client: FlaskClient, payload: Any, status: int, message_part: str
) -> None:
    response = client.post("/score", json=payload)
    assert response.status_code == status
    assert message_part in _error(response)["message"]


@pytest.mark.parametrize(
    "text",
    [
        *("aGVsbG8=", "aGVsbG8", "aGVsbG8==", "aGVs bG8=", "aGVsbG8=\n", "aGVsbG8=\u00e9"),
        *("\u00ff" * 4, "", " b'aGVsbG8=' ", "=aGVsbG8", "aGVsbG8=aGVs", "aGVs\x00bG8="),
    ],
)
def test_decode_images_decodes_base64_exactly_as_b64decode_with_validate(text: str) -> None:
    """Valid or not, each string is what `base64.b64decode(validate=True)` says (non-ASCII
    included: its ValueError, not valid base64 either)."""
    from app.errors import APIError
    from app.imaging import _unwrap_bytes_literal, decode_images

    try:
        want: list[bytes] | None = [base64.b64decode(_unwrap_bytes_literal(text), validate=True)]
    except (binascii.Error, ValueError):
        want = None
    try:
        got: list[bytes] | None = decode_images({"input": [text]}, 16)
    except APIError as exc:
        assert exc.details == [{"instance": 0, "message": "not valid base64"}]
        got = None
    assert got == want


def test_score_rejects_a_truncated_png(client: FlaskClient) -> None:
    data = (DATA / "digit-0.png").read_bytes()
    response = client.post("/score", json={"input": [b64(data[: len(data) // 2])]})
    assert response.status_code == 400
    assert "image 0" in _error(response)["message"]


def test_score_rejects_other_image_formats(client: FlaskClient) -> None:
    gif = png_bytes(Image.new("L", (8, 8)), "GIF")
    response = client.post("/score", json={"input": [b64(gif)]})
    assert response.status_code == 400


def test_score_pixel_limit_is_configurable(make_app: Callable[..., Flask]) -> None:
    client = make_app(SCORE_MAX_PIXELS=100).test_client()
    ok = client.post("/score", json={"input": [b64((DATA / "digit-0.png").read_bytes())]})
    assert ok.status_code == 200
    big = client.post("/score", json={"input": [b64((DATA / "digit-7-32px.png").read_bytes())]})
    assert big.status_code == 413


def test_score_refuses_images_the_model_cannot_score(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    """A model whose every output is NaN (pixels times infinite weights): 422 naming each
    image, the error `/predict` gives for rows its model cannot score."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["input", "W"], ["scores"]),
            helper.make_node("Softmax", ["scores"], ["probabilities"], axis=1),
            helper.make_node("ArgMax", ["scores"], ["label"], axis=1, keepdims=0),
        ],
        "nan",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 64])],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 10]),
        ],
        initializer=[helper.make_tensor("W", TensorProto.FLOAT, [64, 10], [math.inf] * 640)],
    )
    model_dir = tmp_path / "nan-model"
    sha = write_model(model_dir, graph, list(range(10)))
    client = make_app(MODEL_DIR=str(model_dir), MODEL_SHA256=sha).test_client()
    image = b64((DATA / "digit-0.png").read_bytes())
    for images in ([image], [image, b64((DATA / "digit-7-32px.png").read_bytes())]):
        response = client.post("/score", json={"input": images})
        assert response.status_code == 422
        error = _error(response)
        assert error["code"] == "unscorable_input"
        assert error["details"] == [
            {"instance": i, "message": "the model's output is not finite"}
            for i in range(len(images))
        ]


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_score_refuses_a_deeply_nested_input_string_with_400(
    client: FlaskClient, depth: int
) -> None:
    """A JSON-encoded `input` string nested past the parser's depth is bad input, not a 500."""
    response = client.post("/score", json={"input": "[" * depth + "]" * depth})
    assert response.status_code == 400
    assert "'input'" in _error(response)["message"]


@pytest.mark.parametrize("shape", list(worst_case_bodies(64 * 1024)))
def test_score_refuses_a_body_with_more_values_than_any_request_before_parsing_it(
    client: FlaskClient, shape: str
) -> None:
    import tracemalloc

    body = worst_case_bodies()[shape].replace(b'"instances"', b'"input"', 1)
    tracemalloc.start()
    try:
        response = client.post("/score", data=body, content_type="application/json")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert response.status_code == 413
    assert peak < 3 * len(body), f"{peak / MIB:.1f} MiB allocated for a {len(body)} byte body"
