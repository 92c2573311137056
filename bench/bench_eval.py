"""Benchmark: evaluating a model on a dataset vs a bare `InferenceSession.run`, and peak memory.

1. Time: the example digits classifier (examples/train.py) on 10,000 rows x 64 features.
   `evaluation.measure` (read the .npz in batches, check every value, run the model, map
   labels, accumulate every metric) against a bare `session.run` of the same rows already in
   memory, with the same session options (CPU, one thread), in interleaved rounds in one run.
   Session load, downloads, and the latency loops are excluded from both sides and reported
   on their own. Each side runs 3 times per round and keeps its fastest (the machine is
   shared); figures are medians and minimums over rounds, and the median of the per-round
   ratios evaluation / bare (the issue's target: < 2).
2. Memory: peak RSS of a fresh process that evaluates a 1,000,000-row set (256 MB of features
   on disk), against a fresh process that only loads the model and reads the set's header.

Run: .venv/bin/python bench/bench_eval.py [--rounds 31] [--rows 1000000]  (or `make bench`)
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort

from modelstore.datasets import npz_bytes, read_info
from modelstore.evaluation import LATENCY_RUNS, measure
from modelstore.runner import Classifier

ROOT = Path(__file__).resolve().parents[1]

FEATURES = 64
CLASSES = 10
REPEATS = 3


def random_set(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 17, size=(rows, FEATURES)).astype(np.float32)
    return x, rng.integers(0, CLASSES, size=rows)


def write_large_set(path: Path, rows: int, chunk: int = 65_536) -> None:
    """An uncompressed .npz of `rows` rows written in chunks (never the whole array in memory)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for member, shape, dtype in (
            ("X", (rows, FEATURES), np.float32),
            ("y", (rows,), np.int64),
        ):
            with archive.open(f"{member}.npy", "w", force_zip64=True) as out:
                header = {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape}
                np.lib.format.write_array_header_1_0(out, header)
                for start in range(0, rows, chunk):
                    x, y = random_set(min(chunk, rows - start), seed=start)
                    out.write((x if member == "X" else y.astype(np.int64)).tobytes())


def best_of(repeats: int, run: Callable[[], object]) -> float:
    """The fastest of `repeats` runs: a run the scheduler preempted says nothing of the code."""
    durations = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        durations.append(time.perf_counter() - started)
    return min(durations)


def time_rounds(model: Path, rounds: int) -> None:
    x, y = random_set(10_000)
    with tempfile.TemporaryDirectory() as work:
        data = Path(work) / "set.npz"
        data.write_bytes(npz_bytes(x, y))
        started = time.perf_counter()
        classifier = Classifier(model)
        load = time.perf_counter() - started
        bare = classifier.session  # same options; run directly on the in-memory rows
        evaluation, plain = [], []
        for _ in range(rounds):  # interleaved, so both sides see the same machine load
            evaluation.append(best_of(REPEATS, lambda: measure(classifier, data)))
            plain.append(best_of(REPEATS, lambda: bare.run(None, {"input": x})))
        started = time.perf_counter()
        for batch, runs in LATENCY_RUNS.items():
            classifier.timings(x[:64], batch, runs)
        latency = time.perf_counter() - started
    med_e, med_b = statistics.median(evaluation), statistics.median(plain)
    paired = statistics.median(e / b for e, b in zip(evaluation, plain, strict=True))
    print(
        f"10,000 rows x {FEATURES} features, {rounds} interleaved rounds, best of {REPEATS} "
        "per side and round (median, min):"
    )
    print(f"  evaluation.measure       {med_e * 1000:8.2f} ms  {min(evaluation) * 1000:8.2f} ms")
    print(f"  bare session.run         {med_b * 1000:8.2f} ms  {min(plain) * 1000:8.2f} ms")
    print(
        f"  ratio                    {med_e / med_b:8.2f} x   {min(evaluation) / min(plain):8.2f}"
        f" x   per-round median {paired:.2f} x   (target < 2)"
    )
    print(
        f"  not in either: session load {load * 1000:.1f} ms, latency loops {latency * 1000:.1f} ms"
    )


def child(model: str, data: str, only_load: bool) -> None:
    """Run in a fresh process; prints its own peak RSS in MiB as JSON."""
    classifier = Classifier(Path(model))
    info = read_info(Path(data))
    if not only_load:
        measure(classifier, Path(data))
    print(json.dumps({"rows": info.rows, "peak_mib": peak_mib()}))


def peak_mib() -> float:
    """This process's peak RSS (VmHWM). Not ru_maxrss: Linux keeps that across exec, so a
    child would report the parent's peak from before it was started."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def peak_rss(model: Path, rows: int) -> None:
    with tempfile.TemporaryDirectory() as work:
        data = Path(work) / "large.npz"
        started = time.perf_counter()
        write_large_set(data, rows)
        written = time.perf_counter() - started
        size_mib = data.stat().st_size / 2**20
        figures = {}
        for mode in ("load", "evaluate"):
            argv = [sys.executable, __file__, "--child", str(model), str(data)]
            argv += ["--only-load"] if mode == "load" else []
            started = time.perf_counter()
            out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
            figures[mode] = (json.loads(out)["peak_mib"], time.perf_counter() - started)
    print(f"{rows:,} rows x {FEATURES} features ({size_mib:.0f} MiB, made in {written:.0f} s):")
    print(f"  peak RSS, load model + header only  {figures['load'][0]:7.1f} MiB")
    print(
        f"  peak RSS, full evaluation pass      {figures['evaluate'][0]:7.1f} MiB"
        f"  ({figures['evaluate'][1]:.1f} s)"
    )
    print(f"  growth: {figures['evaluate'][0] - figures['load'][0]:.1f} MiB for {size_mib:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=31)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "DATA"))
    parser.add_argument("--only-load", action="store_true")
    args = parser.parse_args()
    if args.child:
        model, data = args.child
        child(model, data, only_load=args.only_load)
        return
    sys.path.insert(0, str(ROOT))
    from examples.train import train

    with tempfile.TemporaryDirectory() as work:
        model = Path(work) / "model.onnx"
        model.write_bytes(train().onnx_bytes)
        print(f"onnxruntime {ort.__version__}, CPU provider, 1 thread")
        time_rounds(model, args.rounds)
        peak_rss(model, args.rows)


if __name__ == "__main__":
    main()
