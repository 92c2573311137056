"""The app's own CPU per `/predict` request, in-process: this tree against a git ref, one process.

    .venv/bin/python bench/bench_packed.py [--before main] [--rounds 15] [--calls 2000]

No server: each request is a call of the WSGI callable (`app.wsgi_app(environ, start_response)`,
the body in a BytesIO), what gunicorn or granian calls per request. The `app` package as of
`--before` is loaded beside this tree's under another name (`app_before`), both apps built from
the same model in the same process with `PROMETHEUS_MULTIPROC_DIR` set (as in the image), and
the rounds interleave them. Per round and scenario: `hot`, `time.thread_time()` over `--calls`
calls in a row; `cold`, the same per call with 4 MB written between calls (this machine's L2 is
1 MB per core: code and data mostly out of cache, as in a busy server). Figures are medians over
rounds in microseconds per request and after ÷ before ratios (paired by round); the request log
goes to /dev/null. `npy-64-out` (the `.npy` body with `Accept: application/x-npy`: the `.npy`
answer) runs on this tree only, against its own `npy-64` (JSON answer) in the same rounds.
Nothing is asserted; the load average is printed.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import io
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_service import extract_app  # noqa: E402 (the sibling bench, on the path as a script)

SCENARIOS = ("npy-64", "json-64", "json-1")
AFTER_ONLY = ("npy-64-out",)  # the .npy answer: `before` (main until it lands) has none
ACCEPT = {"npy-64-out": "application/x-npy"}


def before_package(ref: str, into: Path) -> str:
    """`app` as of `ref`, importable as `app_before` (its own imports renamed)."""
    extract_app(ref, into)
    (into / "app").rename(into / "app_before")
    pattern = re.compile(r"\b(from|import) app\b")
    for path in (into / "app_before").rglob("*.py"):
        path.write_text(pattern.sub(r"\1 app_before", path.read_text()))
    sys.path.insert(0, str(into))
    return "app_before"


def bodies() -> dict[str, tuple[str, bytes]]:
    """Per scenario: (Content-Type, body); `ACCEPT` adds the Accept header."""
    from sklearn.datasets import load_digits

    data = load_digits().data
    packed = io.BytesIO()
    np.save(packed, np.asarray(data[:64], dtype="<f4"))
    return {
        "npy-64": ("application/x-npy", packed.getvalue()),
        "npy-64-out": ("application/x-npy", packed.getvalue()),
        "json-64": ("application/json", json.dumps({"instances": data[:64].tolist()}).encode()),
        "json-1": ("application/json", json.dumps({"instances": [data[173].tolist()]}).encode()),
    }


def caller(app: Any, media: str, body: bytes, accept: str | None = None) -> Callable[[], Any]:
    size = str(len(body))
    extra = {} if accept is None else {"HTTP_ACCEPT": accept}

    def call() -> Any:
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/predict",
            "CONTENT_LENGTH": size,
            "CONTENT_TYPE": media,
            "wsgi.input": io.BytesIO(body),
            **extra,
        }
        return app.wsgi_app(environ, lambda status, headers: None)

    return call


def hot(call: Callable[[], Any], calls: int) -> float:
    started = time.thread_time()
    for _ in range(calls):
        call()
    return (time.thread_time() - started) / calls * 1e6


def cold(call: Callable[[], Any], calls: int, scratch: np.ndarray) -> float:
    spent = 0.0
    for _ in range(calls):
        np.add(scratch, 1, out=scratch)
        started = time.thread_time()
        call()
        spent += time.thread_time() - started
    return spent / calls * 1e6


def report(results: dict[tuple[str, str, str], list[float]], rounds: int) -> None:
    print(f"load average at end {os.getloadavg()}; {rounds} rounds, us per request (median)")
    print(f"{'scenario':10} {'mode':5} {'before':>8} {'after':>8} {'after/before':>13}  quartiles")
    for name in SCENARIOS:
        for mode in ("hot", "cold"):
            old, new = results[("before", name, mode)], results[("after", name, mode)]
            ratios = [n / o for n, o in zip(new, old, strict=True)]
            low, _, high = statistics.quantiles(ratios, n=4)
            print(
                f"{name:10} {mode:5} {statistics.median(old):8.1f} {statistics.median(new):8.1f}"
                f" {statistics.median(ratios):13.2f}  {low:.2f}-{high:.2f}"
            )
    for mode in ("hot", "cold"):
        for variant in ("before", "after"):
            ratios = [
                j / n
                for j, n in zip(
                    results[(variant, "json-64", mode)],
                    results[(variant, "npy-64", mode)],
                    strict=True,
                )
            ]
            print(f"json-64 / npy-64, {mode}, {variant}: {statistics.median(ratios):.2f}")
    for mode in ("hot", "cold"):
        out = results[("after", "npy-64-out", mode)]
        npy = statistics.median(
            n / o for n, o in zip(results[("after", "npy-64", mode)], out, strict=True)
        )
        json_64 = statistics.median(
            j / o for j, o in zip(results[("after", "json-64", mode)], out, strict=True)
        )
        print(
            f"npy-64-out (.npy answer), {mode}, after: {statistics.median(out):.1f} us;"
            f" npy-64 / npy-64-out {npy:.2f}, json-64 / npy-64-out {json_64:.2f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="main", help="git ref of the baseline app")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=2000, help="calls per hot measurement")
    parser.add_argument("--cold-calls", type=int, default=300)
    args = parser.parse_args(argv)
    if args.rounds < 2:  # the after/before quartiles need two ratios
        parser.error(f"--rounds must be at least 2, got {args.rounds}")

    from examples.train import train, write_artifacts

    work = Path(tempfile.mkdtemp(prefix="bench-packed-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(work / "prometheus")
    (work / "prometheus").mkdir()
    model_dir = work / "model"
    write_artifacts(train(), model_dir)
    settings = {
        "MODEL_DIR": str(model_dir),
        "MODEL_SHA256": hashlib.sha256((model_dir / "model.onnx").read_bytes()).hexdigest(),
        "MODEL_NAME": "digits",
        "MODEL_VERSION": "1",
        "LOG_LEVEL": "INFO",
    }
    before_name = before_package(args.before, work / "before")
    apps = {
        "before": importlib.import_module(before_name).create_app(settings),
        "after": importlib.import_module("app").create_app(settings),
    }
    inputs = bodies()
    calls = {
        (variant, name): caller(app, *inputs[name], ACCEPT.get(name))
        for variant, app in apps.items()
        for name in SCENARIOS + AFTER_ONLY
        if variant == "after" or name not in AFTER_ONLY
    }
    scratch = np.zeros(4 * 1024 * 1024, dtype=np.uint8)
    print(f"before = {args.before}, load average at start {os.getloadavg()}", flush=True)
    stdout = os.dup(1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # the request log lines
    results: dict[tuple[str, str, str], list[float]] = {}
    try:
        answers = {key: b"".join(call()) for key, call in calls.items()}
        for name in SCENARIOS:
            if answers[("before", name)] != answers[("after", name)]:
                raise SystemExit(f"{name}: the two apps answer differently")
        if not answers[("after", "npy-64-out")].startswith(b"\x93NUMPY"):
            raise SystemExit("npy-64-out: no .npy answer")
        for call in calls.values():
            hot(call, args.calls // 4)
        for round_ in range(args.rounds):
            order = ("before", "after") if round_ % 2 == 0 else ("after", "before")
            for name in SCENARIOS + AFTER_ONLY:
                for variant in [v for v in order if (v, name) in calls]:
                    run = calls[(variant, name)]
                    results.setdefault((variant, name, "hot"), []).append(hot(run, args.calls))
                    results.setdefault((variant, name, "cold"), []).append(
                        cold(run, args.cold_calls, scratch)
                    )
    finally:
        os.dup2(stdout, 1)
    report(results, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
