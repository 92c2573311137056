"""`app.imaging.small_gray_png`: PNGs already at the model's 8 x 8 grayscale size are decoded
without Pillow, to the same pixels; every other or malformed PNG is left to Pillow."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

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


def test_top_k_refuses_non_finite_probabilities_exactly_like_check_outputs() -> None:
    from app.imaging import top_k
    from app.validation import check_outputs

    labels = tuple(range(4))
    finite = [0.5, 0.25, 0.125, 0.125]
    for bad in (np.nan, np.inf, -np.inf):
        for rows in ([finite, [0.5, bad, 0.25, 0.25]], [[bad, 0.0, 0.0, 0.0]]):
            probabilities = np.asarray(rows, dtype=np.float32)
            with pytest.raises(APIError) as want:
                check_outputs(probabilities)
            with pytest.raises(APIError) as got:
                top_k(probabilities, labels, 3)
            assert got.value.to_dict() == want.value.to_dict()
            assert got.value.status_code == want.value.status_code == 422
    # +inf and -inf in different rows: their total is NaN, still refused, both rows named.
    both = np.asarray([[np.inf, 0, 0, 0], finite, [-np.inf, 0, 0, 0]], dtype=np.float32)
    with pytest.raises(APIError) as exc:
        top_k(both, labels, 1)
    assert [d["instance"] for d in exc.value.to_dict()["details"]] == [0, 2]
    # Finite values whose total overflows are not refused: check_outputs decides, and lets them be
    # (float64: no total of float32 values overflows, but the model's output type is not pinned).
    huge: Any = np.asarray([[1e308, 1e308, 0.0, -1.0]], dtype=np.float64)
    assert top_k(huge, labels, 3) == [[["0", 1e308], ["1", 1e308], ["2", 0.0]]]


def _reference_unfilter(raw: bytes, side: int) -> bytes:
    """RFC 2083 section 6 as written, one byte at a time (what `_unfilter` must equal)."""
    out, prior = bytearray(), [0] * side
    for start in range(0, len(raw), side + 1):
        kind, line = raw[start], raw[start + 1 : start + side + 1]
        row: list[int] = []
        for x in range(side):
            left = row[x - 1] if x else 0
            up, upper_left = prior[x], prior[x - 1] if x else 0
            p = left + up - upper_left
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - upper_left)
            paeth = left if pa <= pb and pa <= pc else up if pb <= pc else upper_left
            predicted = [0, left, up, (left + up) // 2, paeth][kind]
            row.append((line[x] + predicted) % 256)
        out += bytes(row)
        prior = row
    return bytes(out)


def _mixed_filters(pixels: np.ndarray, kinds: list[int]) -> bytes:
    """Each scanline filtered with its own type, as adaptive encoders (Pillow's) do."""
    lines = [_filter(pixels, kind) for kind in range(5)]
    stride = pixels.shape[1] + 1
    return b"".join(lines[k][i * stride : (i + 1) * stride] for i, k in enumerate(kinds))


def _images(rng: np.random.Generator, side: int) -> list[np.ndarray]:
    """Random pixels, and pixels drawn from a few values with flat runs (like digits): the
    latter take every shortcut in the Paeth branch (flat above, left equal to upper left)."""
    flat = rng.choice(np.array([0, 0, 0, 16, 128, 255], dtype=np.uint8), (side, side))
    flat[rng.random((side, side)) < 0.3] = 0
    return [rng.integers(0, 256, (side, side), dtype=np.uint8), flat]


@pytest.mark.parametrize("side", [1, 2, 3, 5, 8, 9, 16])
def test_unfiltering_equals_the_rfc_on_every_filter_mix(side: int) -> None:
    from app.imaging import _unfilter

    rng = np.random.default_rng(side)
    for trial in range(60):
        for pixels in _images(rng, side):
            kinds = [trial % 5] * side if trial < 5 else rng.integers(0, 5, side).tolist()
            raw = _mixed_filters(pixels, kinds)
            assert _unfilter(raw, side) == _reference_unfilter(raw, side) == pixels.tobytes()
            # And on filtered bytes no encoder would write (every byte value after every type).
            noise = bytearray(rng.integers(0, 256, side * (side + 1), dtype=np.uint8).tobytes())
            noise[:: side + 1] = bytes(kinds)
            assert _unfilter(bytes(noise), side) == _reference_unfilter(bytes(noise), side)


def test_sub_and_up_carry_nothing_into_the_next_byte() -> None:
    from app.imaging import _unfilter

    for value in (0x7F, 0x80, 0xFF, 0x01):
        for kind in (1, 2):
            raw = (bytes([kind]) + bytes([value]) * 8) * 8
            assert _unfilter(raw, 8) == _reference_unfilter(raw, 8)


@pytest.mark.parametrize("side", [3, 8, 16])
def test_mixed_filter_pngs_decode_to_pillows_pixels_at_other_sides(side: int) -> None:
    rng = np.random.default_rng(100 + side)
    for _ in range(15):
        for pixels in _images(rng, side):
            raw = _mixed_filters(pixels, rng.integers(0, 5, side).tolist())
            data = png(pixels)[: -12 - 12 - len(zlib.compress(_filter(pixels, 0)))]  # sig+IHDR
            data += _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")
            decoded = small_gray_png(data, side)
            assert decoded is not None
            np.testing.assert_array_equal(decoded, _pillow_pixels(data))


def test_the_one_idat_shortcut_accepts_and_refuses_what_the_chunk_walk_does() -> None:
    from app.imaging import _png_chunks, _png_idat

    rng = np.random.default_rng(11)
    idat = zlib.compress(_filter(EIGHT, 4))
    split = [_chunk(b"IDAT", idat[:5]), _chunk(b"IDAT", b""), _chunk(b"IDAT", idat[5:])]
    head = png(EIGHT)[:33]
    layouts = [
        png(EIGHT, 4),
        head + b"".join(split) + _chunk(b"IEND", b""),  # three IDATs, one empty
        head + _chunk(b"IEND", b""),  # no IDAT
        head + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"x"),  # an IEND with data
        *OTHERS.values(),
    ]
    cases = list(layouts)
    for data in layouts:  # every one of them with one byte changed, anywhere
        for _ in range(40):
            broken = bytearray(data)
            broken[rng.integers(0, len(data))] ^= 1 << int(rng.integers(0, 8))
            cases.append(bytes(broken))
    for data in cases:
        walked = _png_chunks(data, 8) if data.startswith(b"\x89PNG\r\n\x1a\n") else None
        assert _png_idat(data, 8) == walked
    assert _png_idat(layouts[1], 8) == idat


def test_the_scaled_byte_tables_hold_the_scaled_pixels_bit_for_bit() -> None:
    from app.imaging import _SCALED_BYTES, PIXEL_SCALE, SCALED_PIXELS

    every = bytes(range(256))
    interleaved = bytearray(1024)
    for k, table in enumerate(_SCALED_BYTES):
        interleaved[k::4] = every.translate(table)
    values = np.frombuffer(bytes(interleaved), dtype=np.float32)
    np.testing.assert_array_equal(values.view(np.uint32), SCALED_PIXELS.view(np.uint32))
    want = np.arange(256, dtype=np.uint8).astype(np.float32) * PIXEL_SCALE  # `_pillow_row`'s
    np.testing.assert_array_equal(values.view(np.uint32), want.view(np.uint32))


def test_several_images_become_rows_in_order_small_pngs_and_pillow_ones_alike() -> None:
    from app.imaging import images_to_rows

    rng = np.random.default_rng(5)
    images = [png(p, kind) for kind, p in enumerate(rng.integers(0, 256, (5, 8, 8), np.uint8))]
    images.insert(2, (DATA / "digit-7-32px.png").read_bytes())  # Pillow decodes this one
    rows = images_to_rows(images, 64, 4_000_000)
    assert rows.dtype == np.float32 and rows.shape == (6, 64)
    for row, data in zip(rows, images, strict=True):
        np.testing.assert_array_equal(row, _pillow_row(data, 0, 8, 4_000_000))
    assert images_to_rows([], 64, 4_000_000).shape == (0, 64)
    for one in (images[0], images[2]):  # the one-image path: a small PNG, a Pillow-decoded one
        single = images_to_rows([one], 64, 4_000_000)
        assert single.dtype == np.float32 and single.shape == (1, 64)
        assert single.flags.c_contiguous
        np.testing.assert_array_equal(single[0], _pillow_row(one, 0, 8, 4_000_000))
    with pytest.raises(APIError, match="image 1 is not a PNG or JPEG image"):
        images_to_rows([images[0], b"not an image", b"nor this"], 64, 4_000_000)
    with pytest.raises(APIError, match="image 0 is 8x8 pixels, over the limit of 63"):
        images_to_rows([images[0], b"not an image"], 64, 63)


def test_top_k_matches_the_sorted_ranking_on_random_rows_and_signed_zeros() -> None:
    from app.imaging import top_k

    rng = np.random.default_rng(8)
    rows = [
        rng.random((200, 10), dtype=np.float32),
        rng.standard_normal((200, 10)).astype(np.float32),
        np.asarray(rng.integers(-2, 3, (200, 10)), dtype=np.float32) * np.float32(0.0),  # ±0
        np.asarray(rng.integers(0, 2, (200, 4)), dtype=np.float32),
    ]
    labels = tuple(range(10))
    for probabilities in rows:
        for k in (1, 3, 10, 12):
            want = []
            for row in probabilities.tolist():
                order = sorted(range(len(row)), key=row.__getitem__, reverse=True)[:k]
                want.append([[str(labels[c]), round(row[c], 6)] for c in order])
            got = top_k(probabilities, labels, k)
            assert got == want
            assert [[str(v) for _, v in r] for r in got] == [[str(v) for _, v in r] for r in want]
