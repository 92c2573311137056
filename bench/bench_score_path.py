"""Benchmark: `/score`'s own work in-process, the code as it is against the decoder before it.

Issue 20 goal 3 (`/score` 1 image >= 0.9x `/predict` 1 row in server CPU per request): how
much more the 1-image answer costs than the 1-row answer, through the app's WSGI callable (the
fast path: body read, request id, metrics, the request log to /dev/null, the answer), with the
bench_service bodies (`digits.data[173]` as one row; `tests/data/digits/digit-7.png` as one
base64 image). Variants, interleaved in every round (the order flips each round):
* `predict`: `/predict` with the 1-row body;
* `before`: `/score` with the PNG-to-row and top-3 code as of cd8e786 (copied below), the
  model's outputs checked by `check_outputs` before the ranking, as then;
* `np-check`: `/score` as it is but for that separate `check_outputs` (a numpy reduction) in
  place of `top_k`'s own finiteness test (the code before that test);
* `after`: `/score` as it is;
* with `--ref REV` (repeatable), `REV`: `/score` with `app/imaging.py` as of that git revision
  (its `score_body_bounds`, `decode_images`, `images_to_rows` and `top_k`, loaded as a module
  of their own) under the current `score.answer`.
`hot`: `--calls` calls back to back per variant and round, `time.thread_time()` over them.
`cold`: 4 MiB touched before every call (caches mostly cold), each call timed alone.
Figures: medians over rounds of µs per call, and of the paired per-round differences and
ratios against `predict` in the same round. Figures only, nothing asserted; the load average
is printed before and after.
Run: .venv/bin/python bench/bench_score_path.py [--rounds 21 --calls 2000 --cold-calls 300]
    [--ref main]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import math
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import types
import zlib
from collections.abc import Callable
from itertools import accumulate
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import imaging  # noqa: E402
from app.api import score  # noqa: E402
from app.validation import check_outputs  # noqa: E402

DIGIT_PNG = ROOT / "tests" / "data" / "digits" / "digit-7.png"

# --- the decoder before (cd8e786's app/imaging.py, the parts this change replaced) ---------

_CHUNK_HEAD = struct.Struct(">I4s")
_CRC = struct.Struct(">I")
_IHDR = struct.Struct(">IIBBBBB")


def _old_unfilter(raw: bytes, side: int) -> bytes | None:
    stride, prior, out = side + 1, bytes(side), bytearray()
    for start in range(0, side * stride, stride):
        kind, line = raw[start], raw[start + 1 : start + stride]
        if kind == 0:
            current = line
        elif kind == 2:
            current = bytes([(a + b) & 255 for a, b in zip(line, prior, strict=True)])
        elif kind == 1:
            current = bytes([total & 255 for total in accumulate(line)])
        elif kind == 3:
            row, left = bytearray(side), 0
            for x in range(side):
                left = row[x] = (line[x] + ((left + prior[x]) >> 1)) & 255
            current = bytes(row)
        elif kind == 4:
            row, left, upper_left = bytearray(side), 0, 0
            for x in range(side):
                up = prior[x]
                pa, pb = up - upper_left, left - upper_left
                pc = pa + pb
                if pa < 0:
                    pa = -pa
                if pb < 0:
                    pb = -pb
                if pc < 0:
                    pc = -pc
                predicted = left if pa <= pb and pa <= pc else up if pb <= pc else upper_left
                left = row[x] = (line[x] + predicted) & 255
                upper_left = up
            current = bytes(row)
        else:
            return None
        out += current
        prior = current
    return bytes(out)


def _old_png_idat(data: bytes, side: int) -> bytes | None:
    view, position, size, parts = memoryview(data), len(imaging.PNG_SIGNATURE), len(data), []
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
                return None
            expected = b"IDAT"
        elif kind == b"IDAT":
            parts.append(body)
        elif kind == b"IEND":
            return b"".join(parts) if end + 4 == size else None
        else:
            return None
        position = end + 4
    return None


def _old_small_gray_pixels(data: bytes, side: int) -> bytes | None:
    idat = _old_png_idat(data, side) if data.startswith(imaging.PNG_SIGNATURE) else None
    if idat is None:
        return None
    decoder = zlib.decompressobj()
    try:
        raw = decoder.decompress(idat, side * (side + 1) + 1)
    except zlib.error:
        return None
    if len(raw) != side * (side + 1) or not decoder.eof or decoder.unused_data:
        return None
    return _old_unfilter(raw, side)


def _old_image_to_row(data: bytes, index: int, side: int, max_pixels: int) -> Any:
    small = _old_small_gray_pixels(data, side)
    if small is None:
        return imaging._pillow_row(data, index, side, max_pixels)
    imaging._check_size((side, side), index, max_pixels)
    return imaging.SCALED_PIXELS[np.frombuffer(small, dtype=np.uint8)]


def _old_images_to_rows(images: list[bytes], n_features: int, max_pixels: int) -> Any:
    side = math.isqrt(n_features)
    rows = np.empty((len(images), n_features), dtype=np.float32)
    for index, data in enumerate(images):
        rows[index] = _old_image_to_row(data, index, side, max_pixels)
    return rows


def _old_top_k(probabilities: Any, labels: tuple[int | str, ...], k: int = 3) -> Any:
    check_outputs(probabilities)  # then in `score.answer`, before the ranking
    k = min(k, probabilities.shape[1])
    top = []
    for row in probabilities.tolist():
        order = sorted(range(len(row)), key=row.__getitem__, reverse=True)[:k]
        top.append([[str(labels[c]), round(row[c], 6)] for c in order])
    return top


def _np_checked_top_k(probabilities: Any, labels: tuple[int | str, ...], k: int = 3) -> Any:
    check_outputs(probabilities)
    return imaging.top_k(probabilities, labels, k)


SCORE_FUNCTIONS = ("score_body_bounds", "decode_images", "images_to_rows", "top_k")


def imaging_at(ref: str) -> dict[str, Callable[..., Any]]:
    """`score`'s `app.imaging` functions as of git revision `ref`, from a module of their own."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{ref}:app/imaging.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    module = types.ModuleType(f"imaging_at_{ref}")
    exec(compile(source, f"{ref}:app/imaging.py", "exec"), module.__dict__)  # noqa: S102
    return {name: getattr(module, name) for name in SCORE_FUNCTIONS}


VARIANTS: dict[str, dict[str, Callable[..., Any]]] = {
    "before": {"images_to_rows": _old_images_to_rows, "top_k": _old_top_k},
    "np-check": {"images_to_rows": imaging.images_to_rows, "top_k": _np_checked_top_k},
    "after": {"images_to_rows": imaging.images_to_rows, "top_k": imaging.top_k},
}

# --- the harness -----------------------------------------------------------------------------


def make_app(model_dir: Path) -> Any:
    import hashlib

    from app import create_app
    from app.config import ENV_NAMES

    for name in ENV_NAMES:
        os.environ.pop(name, None)
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    sha = hashlib.sha256((model_dir / "model.onnx").read_bytes()).hexdigest()
    return create_app(
        {
            "MODEL_DIR": str(model_dir),
            "MODEL_SHA256": sha,
            "MODEL_NAME": "digits",
            "MODEL_VERSION": "1",
            "MODEL_INPUT_SIGNATURE": "input:float32[?,64]",
        }
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--calls", type=int, default=2000, help="hot calls per variant a round")
    parser.add_argument("--cold-calls", type=int, default=300, help="cold calls, ditto")
    parser.add_argument(
        "--ref", action="append", default=[], help="also app/imaging.py as of this git revision"
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    for ref in args.ref:
        VARIANTS[ref] = imaging_at(ref)
    from sklearn.datasets import load_digits

    from examples.train import train, write_artifacts

    report = os.fdopen(os.dup(1), "w")  # the request log goes to /dev/null, figures here
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    model_dir = Path(tempfile.mkdtemp(prefix="bench-score-")) / "model"
    write_artifacts(train(), model_dir)
    app = make_app(model_dir)
    image = base64.b64encode(DIGIT_PNG.read_bytes()).decode()
    bodies = {
        "predict": json.dumps({"instances": [load_digits().data[173].tolist()]}).encode(),
        "score": json.dumps({"input": [image]}).encode(),
    }

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        pass

    def call(name: str) -> bytes:
        body = bodies["predict" if name == "predict" else "score"]
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/predict" if name == "predict" else "/score",
            "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": "application/json",
            "wsgi.input": io.BytesIO(body),
        }
        return b"".join(app.wsgi_app(environ, start_response))

    def use(name: str) -> None:
        for attribute in SCORE_FUNCTIONS:
            setattr(score, attribute, getattr(imaging, attribute))
        for attribute, function in VARIANTS.get(name, {}).items():
            setattr(score, attribute, function)

    answers = {}
    for name in VARIANTS:
        use(name)
        answer = json.loads(call(name))
        answer.pop("time")
        answers[name] = answer
    if any(answer != answers["after"] for answer in answers.values()):
        raise SystemExit(f"the variants answer differently: {answers}")

    scratch = bytearray(4 << 20)

    def hot(name: str) -> float:
        use(name)
        started = time.thread_time()
        for _ in range(args.calls):
            call(name)
        return float((time.thread_time() - started) / args.calls * 1e6)

    def cold(name: str) -> float:
        use(name)
        total = 0.0
        for _ in range(args.cold_calls):
            scratch[::64] = scratch[1::64]  # every cache line of 4 MiB read and written
            started = time.thread_time()
            call(name)
            total += time.thread_time() - started
        return float(total / args.cold_calls * 1e6)

    names = ["predict", *VARIANTS]
    print(f"load average before: {os.getloadavg()}", file=report, flush=True)
    results: dict[str, dict[str, list[float]]] = {"hot": {}, "cold": {}}
    for mode, measure in (("hot", hot), ("cold", cold)):
        for name in names:
            measure(name)  # warm-up
        per = results[mode] = {name: [] for name in names}
        for round_ in range(args.rounds):
            for name in names if round_ % 2 == 0 else names[::-1]:
                per[name].append(measure(name))
    print(f"load average after: {os.getloadavg()}", file=report)
    print(
        f"{args.rounds} rounds; hot: {args.calls} calls a round, cold: {args.cold_calls}",
        file=report,
    )
    print_table(results, names, report)


def print_table(results: dict[str, dict[str, list[float]]], names: list[str], out: Any) -> None:
    print(f"{'':7s}{'variant':9s}{'µs/call':>9s}{'- predict':>11s}{'predict ÷':>11s}", file=out)
    for mode, per in results.items():
        base = per["predict"]
        for name in names:
            runs = per[name]
            diff = statistics.median(a - b for a, b in zip(runs, base, strict=True))
            ratio = statistics.median(b / a for a, b in zip(runs, base, strict=True))
            print(
                f"{mode:7s}{name:9s}{statistics.median(runs):9.1f}{diff:11.1f}{ratio:11.3f}",
                file=out,
            )


if __name__ == "__main__":
    main()
