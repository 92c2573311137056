"""`app.imaging.small_gray_png`: PNGs already at the model's 8 x 8 grayscale size are decoded
without Pillow, to the same pixels; every other or malformed PNG is left to Pillow."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from app.errors import APIError
from app.imaging import _pillow_row, image_to_row, small_gray_png
from tests.app.conftest import DATA


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _filter(pixels: np.ndarray, kind: int) -> bytes:
    """Scanlines filtered with one PNG filter type (RFC 2083 6.3), as an encoder would."""
    out, prior = b"", np.zeros(pixels.shape[1], dtype=np.int64)
    for line in pixels.astype(np.int64):
        left = np.concatenate([[0], line[:-1]])
        upper_left = np.concatenate([[0], prior[:-1]])
        if kind == 4:
            estimate = left + prior - upper_left
            pa, pb, pc = abs(estimate - left), abs(estimate - prior), abs(estimate - upper_left)
            predicted = np.where(
                (pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prior, upper_left)
            )
        else:
            predicted = [0 * line, left, prior, (left + prior) // 2][kind]
        out += bytes([kind]) + bytes(((line - predicted) % 256).astype(np.uint8))
        prior = line
    return out


def png(
    pixels: np.ndarray, kind: int = 0, *, extra: bytes = b"", ihdr: tuple[int, ...] = ()
) -> bytes:
    height, width = pixels.shape
    header = struct.pack(">IIBBBBB", *(ihdr or (width, height, 8, 0, 0, 0, 0)))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + extra
        + _chunk(b"IDAT", zlib.compress(_filter(pixels, kind)))
        + _chunk(b"IEND", b"")
    )


def _pillow_pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


@pytest.mark.parametrize("kind", [0, 1, 2, 3, 4])
def test_every_filter_type_decodes_to_pillows_pixels(kind: int) -> None:
    rng = np.random.default_rng(kind)
    for _ in range(20):
        pixels = rng.integers(0, 256, (8, 8), dtype=np.uint8)
        data = png(pixels, kind)
        decoded = small_gray_png(data, 8)
        assert decoded is not None
        np.testing.assert_array_equal(decoded, pixels)
        np.testing.assert_array_equal(decoded, _pillow_pixels(data))
        np.testing.assert_array_equal(image_to_row(data, 0, 8, 64), _pillow_row(data, 0, 8, 64))


def test_pngs_pillow_writes_decode_alike() -> None:
    rng = np.random.default_rng(7)
    images = [(DATA / name).read_bytes() for name in ("digit-0.png", "digit-3.png", "digit-7.png")]
    for _ in range(10):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(
            buffer, "PNG", optimize=True
        )
        images.append(buffer.getvalue())
    for data in images:
        assert small_gray_png(data, 8) is not None
        np.testing.assert_array_equal(image_to_row(data, 0, 8, 64), _pillow_row(data, 0, 8, 64))


def test_every_pixel_value_scales_as_the_pillow_path_scales_it() -> None:
    # The small-PNG path looks its scaled values up in a table; four 8 x 8 images hold all 256.
    for quarter in np.arange(256, dtype=np.uint8).reshape(4, 8, 8):
        data = png(quarter, 1)
        assert small_gray_png(data, 8) is not None
        np.testing.assert_array_equal(image_to_row(data, 0, 8, 64), _pillow_row(data, 0, 8, 64))


EIGHT = np.arange(64, dtype=np.uint8).reshape(8, 8) * 3


def _rgb() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


OTHERS = {
    "32 x 32": png(np.zeros((32, 32), dtype=np.uint8)),
    "RGB": _rgb(),
    "16-bit": png(EIGHT, ihdr=(8, 8, 16, 0, 0, 0, 0)),
    "interlaced": png(EIGHT, ihdr=(8, 8, 8, 0, 0, 0, 1)),
    "a text chunk": png(EIGHT, extra=_chunk(b"tEXt", b"a\0b")),
    "a bad CRC": png(EIGHT)[:-5] + b"\0" + png(EIGHT)[-4:],
    "a bad IHDR CRC": png(EIGHT)[:29] + b"\0\0\0\0" + png(EIGHT)[33:],
    "data after IEND": png(EIGHT) + b"junk",
    "cut short": png(EIGHT)[:-6],
    "no IHDR": b"\x89PNG\r\n\x1a\n" + _chunk(b"IEND", b""),
    "an unknown filter": b"\x89PNG\r\n\x1a\n"
    + _chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 0))
    + _chunk(b"IDAT", zlib.compress(b"\x05" + bytes(8) + b"\x00" * 9 * 7))
    + _chunk(b"IEND", b""),
    "too little data": b"\x89PNG\r\n\x1a\n"
    + _chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 0))
    + _chunk(b"IDAT", zlib.compress(b"\x00" * 9 * 7))
    + _chunk(b"IEND", b""),
    "not zlib": b"\x89PNG\r\n\x1a\n"
    + _chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 0))
    + _chunk(b"IDAT", b"not zlib data")
    + _chunk(b"IEND", b""),
    "JPEG": b"\xff\xd8\xff\xe0 not a png",
}


@pytest.mark.parametrize("name", list(OTHERS))
def test_other_or_malformed_pngs_are_left_to_pillow_with_the_same_outcome(name: str) -> None:
    data = OTHERS[name]
    assert small_gray_png(data, 8) is None
    try:
        want: object = _pillow_row(data, 0, 8, 4_000_000).tolist()
    except APIError as exc:
        want = exc.to_dict()
    try:
        got: object = image_to_row(data, 0, 8, 4_000_000).tolist()
    except APIError as exc:
        got = exc.to_dict()
    assert got == want


def test_the_pixel_limit_applies_to_small_pngs_too() -> None:
    with pytest.raises(APIError, match="over the limit of 63"):
        image_to_row(png(EIGHT), 0, 8, 63)


def test_top_k_orders_like_a_stable_numpy_argsort_ties_included() -> None:
    from app.imaging import top_k

    rng = np.random.default_rng(3)
    probabilities = np.asarray(rng.integers(0, 4, (50, 10)) / 3, dtype=np.float32)  # ties
    labels = tuple(f"c{i}" for i in range(10))
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :3]
    want = [
        [[labels[c], round(float(row[c]), 6)] for c in idx]
        for row, idx in zip(probabilities, order, strict=True)
    ]
    assert top_k(probabilities, labels, 3) == want
    assert top_k(probabilities[:, :2], labels, 3) == [
        w[:2] for w in top_k(probabilities[:, :2], labels, 2)
    ]
