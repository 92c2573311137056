"""Benchmark: resolving `latest` at 10, 1,000 and 10,000 versions, against real Azurite.

The model store keeps a pointer blob (`<name>/index.json`), so `resolve(name, "latest")` costs
two GETs whatever the number of versions. The in-run baseline is the listing-based approach
(list every blob under `<name>/versions/`, take the highest manifest, read it), whose cost grows
with the number of versions. Figures are printed as medians and ratios; nothing is asserted.

To create 10,000 versions quickly, versions 1..N-1 are written straight through the backend in
the exact layout `register` produces (claim, model file, manifest with its digest, index);
version N is registered through the public API, and every resolution goes through the API.

Run: .venv/bin/python bench/bench_modelstore.py  (or `make bench`)
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from localworld.services import start_azurite
from modelstore import Manifest, ModelStore
from modelstore.backend import AzureBlobBackend
from modelstore.manifest import FileEntry, canonical_json, sha256_hex
from modelstore.state import (
    claim_path,
    file_path,
    index_path,
    manifest_path,
    rebuilt_index,
    version_of_manifest_blob,
    versions_prefix,
)

SIZES = (10, 1_000, 10_000)
MODEL_BYTES = b"not really onnx, only bytes to hash" * 8


class Counter:
    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, _request: Any) -> None:
        with self._lock:
            self.count += 1


def seed_versions(backend: AzureBlobBackend, name: str, count: int) -> None:
    """Versions 1..count in the layout `register` writes, plus the index pointing at count."""
    sha = sha256_hex(MODEL_BYTES)

    def write(version: int) -> None:
        backend.put(claim_path(name, version), canonical_json({"token": f"seed-{version}"}))
        backend.put(file_path(name, version, "model.onnx"), MODEL_BYTES, metadata={"sha256": sha})
        manifest = Manifest(
            name=name,
            version=version,
            created_at=datetime.now(UTC),
            author="bench",
            files=[FileEntry(path="model.onnx", sha256=sha, size=len(MODEL_BYTES))],
            primary="model.onnx",
            framework="onnx",
            metrics={"accuracy": 0.9},
        )
        data = manifest.to_canonical_json()
        backend.put(
            manifest_path(name, version),
            data,
            metadata={"manifest_sha256": sha256_hex(data)},
            create_only=True,
        )

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(write, range(1, count + 1)))
    index = rebuilt_index(name, dict.fromkeys(range(1, count + 1), False))
    backend.put(index_path(name), canonical_json(index.model_dump(mode="json")))


def resolve_latest_by_listing(store: ModelStore, name: str) -> Manifest:
    """The baseline: list every version blob, pick the highest manifest, read it."""
    versions = [
        v
        for info in store.backend.list_blobs(versions_prefix(name))
        if (v := version_of_manifest_blob(name, info.name)) is not None
    ]
    return store.get_manifest(name, max(versions))


def timed(func: Callable[[], Manifest], repeats: int, counter: Counter) -> tuple[float, int, int]:
    """Median milliseconds, requests per call, and the version returned."""
    func()  # warm up connections
    samples = []
    counter.count = 0
    version = 0
    for _ in range(repeats):
        started = time.perf_counter()
        version = func().version
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), counter.count // repeats, version


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-modelstore-") as tmp:
        azurite = start_azurite(Path(tmp) / "data", Path(tmp) / "logs")
        try:
            counter = Counter()
            backend = AzureBlobBackend.from_connection_string(
                azurite.connection_string, "bench", on_request=counter
            )
            store = ModelStore(backend, author="bench")
            backend.ensure_container()
            source = Path(tmp) / "model.bin"
            source.write_bytes(MODEL_BYTES)
            print(
                f"{'versions':>8} {'index ms':>9} {'req':>4} {'listing ms':>11} {'req':>4} "
                f"{'listing/index':>14} {'seed s':>7}"
            )
            for size in SIZES:
                name = f"bench{size}"
                started = time.perf_counter()
                seed_versions(backend, name, size - 1)
                registered = store.register(name, source)
                seeded = time.perf_counter() - started
                assert registered.version == size
                fast_ms, fast_req, fast_v = timed(
                    partial(store.resolve, name, "latest"), 50, counter
                )
                slow_ms, slow_req, slow_v = timed(
                    partial(resolve_latest_by_listing, store, name),
                    20 if size < 10_000 else 5,
                    counter,
                )
                assert fast_v == slow_v == size
                print(
                    f"{size:>8} {fast_ms:>9.2f} {fast_req:>4} {slow_ms:>11.2f} {slow_req:>4} "
                    f"{slow_ms / fast_ms:>13.1f}x {seeded:>7.1f}"
                )
        finally:
            azurite.process.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
