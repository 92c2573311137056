"""Benchmark: resolving `latest` at 10 to 10,000 versions, and moving big files, on real Azurite.

The model store keeps a pointer blob (`<name>/index.json`), so `resolve(name, "latest")` costs
two GETs whatever the number of versions. The in-run baseline is the listing-based approach
(list every blob under `<name>/versions/`, take the highest manifest, read it), whose cost grows
with the number of versions. Figures are printed as medians and ratios; nothing is asserted.

To create 10,000 versions quickly, versions 1..N-1 are written straight through the backend in
the exact layout `register` produces (claim, model file, manifest with its digest, index);
version N is registered through the public API, and every resolution goes through the API.

The transfer table (issue 21) compares `modelstore register` / `download` of one big file
with the raw azure-storage-blob SDK at the same concurrency (`upload_blob` / `download_blob`
with max_concurrency=4, SDK default block and chunk sizes), same data, same Azurite, same run.
Each transfer runs in a fresh child process, so its peak RSS is its own (`wait4`); raw and ours
alternate which goes first in each round; MB/s is the best of the rounds, `median` the median
of the per-round ratios. `azurite cpu` is the server's CPU seconds during the transfer, and per
request. `--tuned-raw` adds rows against the raw SDK given ours' two Azurite-facing settings
(`validate_content=True` up; 8 MiB chunks read in one piece down).

Run: .venv/bin/python bench/bench_modelstore.py  (or `make bench`)
     .venv/bin/python bench/bench_modelstore.py --transfer-only --sizes 256,1024 --rounds 3
     (add --tuned-raw for the rows against the tuned raw SDK)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
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


MB = 1_000_000
MODES = ("up-raw", "up-ours", "down-raw", "down-ours", "up-raw+", "down-raw+")
# `--tuned-raw`: the raw SDK given the two settings ours uses against Azurite's costs (blocks
# sent with their MD5; 8 MiB chunks read in one piece), to show what ours costs beyond them.
TUNED_CLIENT: dict[str, Any] = {
    "max_chunk_get_size": 8 << 20,
    "connection_data_block_size": 8 << 20,
}


def child(mode: str, connection_string: str, container: str, source: Path, out: Path) -> int:
    """One transfer in this (fresh) process; prints seconds and requests as JSON."""
    counter = Counter()
    size = source.stat().st_size
    if mode.endswith(("-raw", "-raw+")):
        from azure.storage.blob import BlobServiceClient

        tuned = mode.endswith("+")
        blob = BlobServiceClient.from_connection_string(
            connection_string, raw_request_hook=counter, **(TUNED_CLIENT if tuned else {})
        ).get_blob_client(container, "raw/" + source.name)
        started = time.perf_counter()
        if mode.startswith("up-"):
            with source.open("rb") as handle:
                blob.upload_blob(
                    handle, length=size, overwrite=True, max_concurrency=4, validate_content=tuned
                )
        else:
            with out.open("wb") as handle:
                blob.download_blob(max_concurrency=4).readinto(handle)
    else:
        store = ModelStore.from_connection_string(connection_string, container, on_request=counter)
        started = time.perf_counter()
        if mode == "up-ours":
            store.register("big", source)
        else:
            store.download("big", "latest", out)
    print(json.dumps({"seconds": time.perf_counter() - started, "requests": counter.count}))
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_child(mode: str, azurite: Any, container: str, source: Path, out: Path) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--child", mode, "--container", container]
    argv += ["--source", str(source), "--out", str(out)]
    env = {**os.environ, "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}
    before = cpu_seconds(azurite.process.pid)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    output = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} failed with exit code {proc.returncode}")
    result: dict[str, Any] = json.loads(output)
    result["rss_mb"] = usage.ru_maxrss * 1024 / MB
    result["server_cpu"] = cpu_seconds(azurite.process.pid) - before
    return result


def transfer_table(  # noqa: PLR0912 - one table, printed as measured
    azurite: Any, tmp: Path, sizes_mb: list[int], rounds: int, tuned_raw: bool = False
) -> None:
    container = "transfer"
    backend = AzureBlobBackend.from_connection_string(azurite.connection_string, container)
    backend.ensure_container()
    print(
        f"\n{'size':>7} {'way':<5} {'raw MB/s':>9} {'ours MB/s':>10} {'ours/raw':>9} {'median':>7} "
        f"{'raw RSS':>8} {'ours RSS':>9} {'raw req':>8} {'ours req':>9} "
        f"{'azurite cpu s raw/ours':>23} {'ms/req raw/ours':>16} {'pair ratios':>12}"
    )
    for size_mb in sizes_mb:
        source = tmp / f"model-{size_mb}.bin"
        with source.open("wb") as handle:  # incompressible, written once, then in page cache
            for _ in range(size_mb):
                handle.write(os.urandom(MB))
        best: dict[str, dict[str, Any]] = {}
        peak_rss: dict[str, float] = {}
        pairs: dict[str, list[float]] = {"up": [], "down": [], "up+": [], "down+": []}
        try:
            for round_no in range(rounds):
                for way in ("up", "down"):
                    pair = [f"{way}-raw", f"{way}-ours"]
                    if tuned_raw:
                        pair.append(f"{way}-raw+")
                    mbps: dict[str, float] = {}
                    for mode in pair if round_no % 2 == 0 else pair[::-1]:
                        out = tmp / f"out-{mode}"
                        result = run_child(mode, azurite, container, source, out)
                        if out.is_dir():
                            for item in out.iterdir():
                                item.unlink()
                            out.rmdir()
                        else:
                            out.unlink(missing_ok=True)
                        result["mbps"] = mbps[mode] = size_mb * MB / MB / result["seconds"]
                        peak_rss[mode] = max(peak_rss.get(mode, 0.0), result["rss_mb"])
                        if mode not in best or result["mbps"] > best[mode]["mbps"]:
                            best[mode] = result
                    pairs[way].append(mbps[f"{way}-ours"] / mbps[f"{way}-raw"])
                    if tuned_raw:
                        pairs[way + "+"].append(mbps[f"{way}-ours"] / mbps[f"{way}-raw+"])
                for blob in backend.list_blobs(""):  # keep Azurite's disk small
                    backend.delete(blob.name)
        finally:
            source.unlink()
        for way in ("up", "down"):
            for suffix in ("", "+") if tuned_raw else ("",):
                raw, ours = best[f"{way}-raw{suffix}"], best[f"{way}-ours"]
                ratios = pairs[way + suffix]
                print(
                    f"{size_mb:>4} MB {way + suffix:<5} {raw['mbps']:>9.1f} {ours['mbps']:>10.1f} "
                    f"{ours['mbps'] / raw['mbps']:>9.2f} {statistics.median(ratios):>7.2f} "
                    f"{peak_rss[f'{way}-raw{suffix}']:>5.0f} MB {peak_rss[way + '-ours']:>6.0f} MB "
                    f"{raw['requests']:>8} {ours['requests']:>9} "
                    f"{raw['server_cpu']:>11.2f} / {ours['server_cpu']:<9.2f} "
                    f"{raw['server_cpu'] * 1000 / raw['requests']:>7.1f} / "
                    f"{ours['server_cpu'] * 1000 / ours['requests']:<7.1f} "
                    f"{' '.join(f'{r:.2f}' for r in ratios)}"
                )
    print(
        f"(MB/s: best of {rounds} rounds, ours/raw their ratio, median: of the pair ratios; RSS: "
        "the highest of the rounds; pair ratios: ours/raw within each round; the transfers of a "
        "round alternate their order; up+/down+: against the tuned raw SDK, --tuned-raw)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfer-only", action="store_true", help="skip the resolve table")
    parser.add_argument("--sizes", default="256,1024", help="transfer sizes in MB (10^6 bytes)")
    parser.add_argument("--rounds", type=int, default=2, help="best of this many rounds")
    parser.add_argument(
        "--tuned-raw", action="store_true", help="also the raw SDK with ours' two Azurite settings"
    )
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--container", help=argparse.SUPPRESS)
    parser.add_argument("--source", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        connection_string = os.environ["AZURE_STORAGE_CONNECTION_STRING"]
        return child(args.child, connection_string, args.container, args.source, args.out)
    with tempfile.TemporaryDirectory(prefix="bench-modelstore-") as tmp:
        azurite = start_azurite(Path(tmp) / "data", Path(tmp) / "logs")
        try:
            if not args.transfer_only:
                resolve_table(azurite, Path(tmp))
            sizes = [int(s) for s in args.sizes.split(",") if s]
            transfer_table(azurite, Path(tmp), sizes, args.rounds, args.tuned_raw)
        finally:
            azurite.process.stop()
    return 0


def resolve_table(azurite: Any, tmp: Path) -> None:
    """`latest` by the index pointer vs by a listing, at 10 to 10,000 versions."""
    counter = Counter()
    backend = AzureBlobBackend.from_connection_string(
        azurite.connection_string, "bench", on_request=counter
    )
    store = ModelStore(backend, author="bench")
    backend.ensure_container()
    source = tmp / "model.bin"
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
        fast_ms, fast_req, fast_v = timed(partial(store.resolve, name, "latest"), 50, counter)
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


if __name__ == "__main__":
    raise SystemExit(main())
