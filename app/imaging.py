"""`/score` inputs: the reference API's base64 images to model rows (pure, no Flask).

Accepted bodies (the original reference's forms):
    {"input": ["<base64 PNG/JPEG>", ...]}
    {"input": "[\"<base64>\", ...]"}       (the list JSON-encoded into a string)
    {"input": "<base64>"}                  (one image)
and each base64 may be wrapped as the text of a Python bytes literal, `b'...'`.

Images are read with Pillow (PNG and JPEG only), size-checked from the header before any pixel
is decoded (decompression bombs never get decoded), converted to grayscale (16-bit scaled, not
clipped, to 0..255), resized to the model's 8x8 grid with area averaging, and scaled from
0..255 to the dataset's 0..16. The digits are expected bright on a dark background, like the
training data.
"""

from __future__ import annotations

import binascii
import functools
import io
import math
import struct
import warnings
import zlib
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from app import jsonio
from app.errors import APIError
from app.validation import BOUNDS_SLACK, check_body_bounds, check_outputs

FORMATS = ("PNG", "JPEG")
PIXEL_SCALE = 16.0 / 255.0
# Every 8-bit pixel value scaled as `_pillow_row` scales its float32 pixels: one table lookup
# per pixel instead of a cast and a multiplication (the same float32 products).
SCALED_PIXELS = np.arange(256, dtype=np.float32) * PIXEL_SCALE
# 16-bit grayscale as Pillow opens it (a 16-bit PNG is `I;16`; `I` is its 32-bit widening).
WIDE_GRAY_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})


def score_body_bounds(raw: bytes, max_images: int) -> None:
    """`check_body_bounds` for `/score`: `{"input": [...]}` (or its string form) holds at most
    `max_images` strings, and base64 has no commas."""
    check_body_bounds(
        raw, max_values=2 * max_images + BOUNDS_SLACK, limits=f"a request of {max_images} images"
    )


def _decode_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            try:
                # orjson, like the body parser: its depth limit answers a deeply nested
                # string with JSONDecodeError where the stdlib's raises RecursionError.
                decoded = jsonio.loads(stripped)
            except jsonio.JSONDecodeError:
                raise APIError(
                    "'input' is a string that starts like a JSON list but is not one"
                ) from None
            if not isinstance(decoded, list):
                raise APIError("'input' must be a list of base64 images")
            return decoded
        return [value]
    raise APIError("'input' must be a list of base64-encoded images (or one such string)")


def _unwrap_bytes_literal(text: str) -> str:
    text = text.strip()
    if len(text) >= 3 and text[0] == "b" and text[1] in "'\"" and text[-1] == text[1]:
        return text[2:-1]
    return text


def decode_images(doc: Any, max_images: int) -> list[bytes]:
    """The raw image bytes from a `/score` body, or an APIError that says which input is bad."""
    if not isinstance(doc, dict) or "input" not in doc:
        raise APIError("the body must be a JSON object with 'input': a list of base64 images")
    items = _decode_list(doc["input"])
    if not items:
        raise APIError("'input' is empty: send at least one image")
    if len(items) > max_images:
        raise APIError(
            f"{len(items)} images exceed the limit of {max_images} per request",
            status_code=413,
            code="too_many_images",
        )
    images: list[bytes] = []
    problems: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        if not isinstance(item, str):
            problems.append({"instance": index, "message": "expected a base64 string"})
            continue
        try:
            # `base64.b64decode(text, validate=True)` without its two Python-level calls: an
            # ASCII encode (UnicodeEncodeError is a ValueError, as b64decode raises) and the
            # strict decoder it calls.
            images.append(
                binascii.a2b_base64(_unwrap_bytes_literal(item).encode("ascii"), strict_mode=True)
            )
        except (binascii.Error, ValueError):
            problems.append({"instance": index, "message": "not valid base64"})
    if problems:
        raise APIError(f"{len(problems)} invalid image(s) in 'input'", details=problems)
    return images


def _check_size(size: tuple[int, int], index: int, max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise APIError(
            f"image {index} is {width}x{height} pixels, over the limit of {max_pixels}",
            status_code=413,
            code="image_too_large",
        )


def _to_gray(image: Image.Image) -> Image.Image:
    """Grayscale on the 0..255 scale: an `L` image, or an `F` one for 16-bit input.

    Pillow's own `convert("L")` clips 16-bit values (0..65535) at 255, which would turn any
    16-bit PNG into a white square; they are scaled down by 257 (65535 -> 255) instead.
    """
    if image.mode in WIDE_GRAY_MODES:
        pixels = np.asarray(image, dtype=np.float32) / 257.0
        return Image.fromarray(np.clip(pixels, 0.0, 255.0))  # float32: mode F
    return image.convert("L")


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHUNK_HEAD = struct.Struct(">I4s")
_CRC = struct.Struct(">I")
_IHDR = struct.Struct(">IIBBBBB")
_IEND_CHUNK = b"\0\0\0\0IEND" + _CRC.pack(zlib.crc32(b"IEND"))
_IDAT_AT = len(PNG_SIGNATURE) + 8 + _IHDR.size + 4  # where the chunk after IHDR starts: 33


class _Shape:
    """What decoding a `side` x `side` 8-bit grayscale PNG compares against and computes with,
    made once per side (the model's, so one or two sides per process)."""

    __slots__ = ("head", "high", "low", "shifts", "zeros")

    def __init__(self, side: int) -> None:
        ihdr = b"IHDR" + _IHDR.pack(side, side, 8, 0, 0, 0, 0)
        # The signature and the only IHDR chunk accepted, CRC included, as bytes to compare.
        self.head = PNG_SIGNATURE + _CRC.pack(_IHDR.size) + ihdr + _CRC.pack(zlib.crc32(ihdr))
        self.zeros = bytes(side)
        # A scanline as one big-endian int: byte-wise addition modulo 256 in a few int
        # operations, carries kept out of the neighbouring byte by the top-bit masks.
        self.low = int.from_bytes(b"\x7f" * side, "big")
        self.high = int.from_bytes(b"\x80" * side, "big")
        shifts, shift = [], 8
        while shift < 8 * side:
            shifts.append(shift)
            shift *= 2
        self.shifts = tuple(shifts)


_shape = functools.cache(_Shape)  # one per side


def _average(line: bytes, prior: bytes) -> bytes:
    """An Average-filtered line undone: each byte plus the mean of its left and upper ones."""
    row, left = bytearray(line), 0
    for x, up in enumerate(prior):
        left = row[x] = (row[x] + ((left + up) >> 1)) & 255
    return bytes(row)


def _paeth(line: bytes, prior: bytes) -> bytes:
    """A Paeth-filtered line undone: each byte plus whichever of its left, upper and upper-left
    neighbours is nearest to p = left + up - upper_left (ties in that order)."""
    row, left, upper_left = bytearray(line), 0, 0
    for x, up in enumerate(prior):
        if up == upper_left:  # p == left (flat above: the common case in digits)
            left = row[x] = (row[x] + left) & 255
        elif left == upper_left:  # p == up, and left is farther from p than up
            left = row[x] = (row[x] + up) & 255
        else:  # the distances written out (no abs() calls)
            pa, pb = up - upper_left, left - upper_left  # |p - left|, |p - up|
            pc = pa + pb  # |p - upper_left|
            if pa < 0:
                pa = -pa
            if pb < 0:
                pb = -pb
            if pc < 0:
                pc = -pc
            if pa <= pb and pa <= pc:
                left = row[x] = (row[x] + left) & 255
            elif pb <= pc:
                left = row[x] = (row[x] + up) & 255
            else:
                left = row[x] = (row[x] + upper_left) & 255
        upper_left = up
    return bytes(row)


def _unfilter(raw: bytes, side: int) -> bytes | None:
    """The pixels of `side` scanlines of `side` 8-bit samples, each line's PNG filter undone
    (RFC 2083 section 6); None for an unknown filter type.

    None lines are copied; Sub (a running sum) and Up (a sum with the line above) are done on
    the whole line at once as int arithmetic (`_Shape`); only Average and Paeth, whose every
    byte depends on the one just decoded to its left, go byte by byte.
    """
    stride, shape = side + 1, _shape(side)
    if raw[::stride] == shape.zeros:  # no filter on any line
        pixels = bytearray(raw)
        del pixels[::stride]
        return bytes(pixels)
    low, high = shape.low, shape.high
    out, prior = bytearray(), shape.zeros
    for start in range(1, side * stride, stride):
        kind, current = raw[start - 1], raw[start : start + side]
        if kind == 0:
            pass
        elif kind == 1:  # Sub: prefix sums, doubling the span each step
            a = int.from_bytes(current, "big")
            for shift in shape.shifts:
                b = a >> shift
                a = ((a & low) + (b & low)) ^ ((a ^ b) & high)
            current = a.to_bytes(side, "big")
        elif kind == 2:  # Up
            a, b = int.from_bytes(current, "big"), int.from_bytes(prior, "big")
            current = (((a & low) + (b & low)) ^ ((a ^ b) & high)).to_bytes(side, "big")
        elif kind == 3:
            current = _average(current, prior)
        elif kind == 4:
            current = _paeth(current, prior)
        else:
            return None
        out += current
        prior = current
    return bytes(out)


def _png_chunks(data: bytes, side: int) -> bytes | None:
    """The joined IDAT data of a PNG of exactly the shape `small_gray_png` takes, else None:
    the chunk walk for any layout (`_png_idat` takes the common one's shortcut)."""
    view, position, size, parts = memoryview(data), len(PNG_SIGNATURE), len(data), []
    expected = b"IHDR"
    while position + 12 <= size:
        length, kind = _CHUNK_HEAD.unpack_from(data, position)
        end = position + 8 + length
        if end + 4 > size or zlib.crc32(view[position + 4 : end]) != _CRC.unpack_from(data, end)[0]:
            return None
        body = view[position + 8 : end]
        if expected == b"IHDR":
            if kind != expected or length != _IHDR.size:
                return None
            if _IHDR.unpack(body) != (side, side, 8, 0, 0, 0, 0):
                return None  # another size, depth, colour type or interlacing
            expected = b"IDAT"
        elif kind == b"IDAT":
            parts.append(body)
        elif kind == b"IEND":
            return b"".join(parts) if end + 4 == size else None
        else:
            return None  # another chunk (palette, transparency, text, ...): Pillow decides
        position = end + 4
    return None


def _png_idat(data: bytes, side: int) -> bytes | None:
    """The joined IDAT data of a PNG of exactly the shape `small_gray_png` takes, else None.

    The common layout (signature, the one IHDR accepted, one IDAT, an empty IEND) is checked
    with two byte comparisons and one CRC; any other goes through the chunk walk, which
    accepts and refuses exactly the same files.
    """
    if data.startswith(_shape(side).head) and data.endswith(_IEND_CHUNK):
        end = len(data) - len(_IEND_CHUNK) - 4  # the chunk before IEND ends here, CRC next
        if (
            data[_IDAT_AT + 4 : _IDAT_AT + 8] == b"IDAT"
            and int.from_bytes(data[_IDAT_AT : _IDAT_AT + 4], "big") == end - _IDAT_AT - 8
        ):
            if zlib.crc32(data[_IDAT_AT + 4 : end]) != int.from_bytes(data[end : end + 4], "big"):
                return None
            return data[_IDAT_AT + 8 : end]
    if not data.startswith(PNG_SIGNATURE):  # (the accepted head starts with it)
        return None
    return _png_chunks(data, side)


def _small_gray_pixels(data: bytes, side: int) -> bytes | None:
    """The `side * side` pixels of a PNG that already is the model's input, else None (see
    `small_gray_png`)."""
    idat = _png_idat(data, side)
    if idat is None:
        return None
    decoder = zlib.decompressobj()
    try:
        raw = decoder.decompress(idat, side * (side + 1) + 1)
    except zlib.error:
        return None
    if len(raw) != side * (side + 1) or not decoder.eof or decoder.unused_data:
        return None
    return _unfilter(raw, side)


def small_gray_png(data: bytes, side: int) -> npt.NDArray[np.uint8] | None:
    """The pixels of a PNG that already is the model's input: `side` x `side`, 8-bit grayscale,
    not interlaced, only IHDR, IDAT and IEND chunks, every CRC right, nothing after IEND.
    Anything else, or anything malformed, is None: Pillow then decodes it (or says what is
    wrong). Pillow costs ~130 us to open the smallest PNG; this ~15 us for 8 x 8 (Pillow's own C
    decoder fed the same data costs more here, in turning its image into an array). Such an image
    needs no grayscale conversion, and resizing it to its own size is a copy."""
    pixels = _small_gray_pixels(data, side)
    return None if pixels is None else np.frombuffer(pixels, dtype=np.uint8).reshape(side, side)


def _pillow_row(data: bytes, index: int, side: int, max_pixels: int) -> npt.NDArray[np.float32]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
            _check_size(image.size, index, max_pixels)
            image.load()
            gray = _to_gray(image).resize((side, side), Image.Resampling.BOX)
    except APIError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise APIError(
            f"image {index} is too large to decode", status_code=413, code="image_too_large"
        ) from None
    except UnidentifiedImageError:
        raise APIError(f"image {index} is not a PNG or JPEG image") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        # Truncated or corrupt data: Pillow reports these with several exception types.
        raise APIError(f"image {index} could not be decoded: {exc}") from None
    pixels = np.asarray(gray, dtype=np.float32)
    return (pixels * PIXEL_SCALE).reshape(side * side)


def image_to_row(data: bytes, index: int, side: int, max_pixels: int) -> npt.NDArray[np.float32]:
    """One image as a flat float32 row of side*side values in 0..16."""
    return np.frombuffer(_row_bytes(data, index, side, max_pixels), dtype=np.float32)


# SCALED_PIXELS as four 256-byte tables, one per byte of a float32: `bytes.translate` maps a
# line of pixels to each byte of their scaled values (the same float32s, bit for bit).
_SCALED_BYTES = tuple(
    bytes(SCALED_PIXELS.view(np.uint8)[k :: SCALED_PIXELS.itemsize])
    for k in range(SCALED_PIXELS.itemsize)
)


def _row_bytes(data: bytes, index: int, side: int, max_pixels: int) -> bytes | bytearray:
    """`image_to_row`'s values as native float32 bytes."""
    small = _small_gray_pixels(data, side)
    if small is None:
        return _pillow_row(data, index, side, max_pixels).tobytes()
    if side * side > max_pixels:
        _check_size((side, side), index, max_pixels)
    row = bytearray(4 * len(small))
    first, second, third, fourth = _SCALED_BYTES
    row[0::4] = small.translate(first)
    row[1::4] = small.translate(second)
    row[2::4] = small.translate(third)
    row[3::4] = small.translate(fourth)
    return row


def images_to_rows(
    images: list[bytes], n_features: int, max_pixels: int
) -> npt.NDArray[np.float32]:
    side = math.isqrt(n_features)
    if side * side != n_features:
        raise APIError(
            f"this model takes {n_features} features, not a square image",
            status_code=422,
            code="not_an_image_model",
        )
    if len(images) == 1:
        values = _row_bytes(images[0], 0, side, max_pixels)
    else:
        values = b"".join([_row_bytes(data, i, side, max_pixels) for i, data in enumerate(images)])
    if not values:
        return np.empty((0, n_features), dtype=np.float32)
    return np.ndarray((len(images), n_features), np.float32, values)  # frombuffer + reshape


def top_k(
    probabilities: npt.NDArray[np.float32], labels: tuple[int | str, ...], k: int = 3
) -> list[list[list[Any]]]:
    """Per row, the k most likely `[label, probability]` pairs, most likely first; ties keep
    the lower class first (like numpy's `argsort(-p, kind="stable")`).

    Probabilities that are not all finite are refused first, with `check_outputs`' error: NaN
    has no place in a ranking. The test is on the Python floats the ranking reads anyway: inf
    and NaN absorb in a float sum, so a finite total means every value is finite, and only
    another total goes to `check_outputs`, which decides (a finite total that overflowed is let
    through by it). A separate numpy check (`check_outputs`'s reduction) costs ~1 us alone but
    ~10 us more per request in the request's own sequence (`bench/bench_score_path.py`,
    `np-check` against `after`).
    """
    k = min(k, probabilities.shape[1])
    rows = probabilities.tolist()  # float32 -> float is exact: same order, same values
    if not math.isfinite(sum(map(sum, rows))):
        check_outputs(probabilities)
    top: list[list[list[Any]]] = []
    for row in rows:
        best: list[list[Any]] = []
        c, previous = -1, None
        # The k largest values (a plain float sort, no key), then their classes: a value equal
        # to the one before is the next class holding it, else its first class.
        for value in sorted(row, reverse=True)[:k]:
            c = row.index(value, c + 1) if value == previous else row.index(value)
            best.append([str(labels[c]), round(row[c], 6)])
            previous = value
        top.append(best)
    return top
