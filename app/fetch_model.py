"""The init container: fetch the pinned model version from the model store into MODEL_DIR.

    python -m app.fetch_model          # reads everything from the environment

Environment (set by the overlay's `model-pin` ConfigMap and the pod spec):
    MODEL_NAME, MODEL_VERSION (a number: overlays pin exact versions), MODEL_SHA256 (sha256 of
    model.onnx), MODEL_DIR (default /models), and the model store settings
    (AZURE_STORAGE_CONNECTION_STRING for local use, or MODELSTORE_ACCOUNT_URL with workload
    identity; MODELSTORE_CONTAINER), and LOG_LEVEL (DEBUG, INFO, WARNING or ERROR; default INFO).

The pin is checked against the version's manifest before anything is downloaded; the files are
downloaded by the model store's own path (parallel ranges into a preallocated file, each file's
size and sha256 checked as the bytes arrive, so a file is read once) into a staging directory
inside MODEL_DIR, then renamed into place, the manifest last. Nothing is half-written on
failure. Progress is logged as JSON lines (`model download progress`: file, bytes, total,
percent, MB/s, ETA) at most every PROGRESS_EVERY seconds per file, and when a file is done.
A directory that already holds the pinned model is left alone (restarts are cheap). Exit
codes: 0 done, 1 the store or the pin refused (mismatch, not found, unreachable), 2 a missing
or invalid setting, 3 unexpected, 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app.config import MODEL_NAME_RE, MODEL_NAME_RULE
from app.logging import configure as configure_logging
from app.logging import parse_level
from cliexit import EXIT_ERROR, EXIT_OK, EXIT_USAGE, ErrorCodes, run_argparse

if TYPE_CHECKING:
    from modelstore import ModelStore
    from modelstore.manifest import Manifest

log = logging.getLogger("app")

MODEL_FILE = "model.onnx"
LABELS_FILE = "labels.json"
MANIFEST_FILE = "manifest.json"
REQUIRED_FILES = (MODEL_FILE, LABELS_FILE)
PROGRESS_EVERY = 5.0  # seconds between progress lines of one file


class FetchError(Exception):
    """The pinned model cannot be served: exit 1 with this one-line message."""


class FetchConfigError(Exception):
    """A setting is missing or invalid: exit 2."""


@dataclass(frozen=True)
class Pin:
    name: str
    version: int
    sha256: str
    model_dir: Path


def read_pin(environ: Mapping[str, str]) -> Pin:
    missing = [k for k in ("MODEL_NAME", "MODEL_VERSION", "MODEL_SHA256") if not environ.get(k)]
    if missing:
        raise FetchConfigError(f"missing environment variable(s): {', '.join(missing)}")
    # The service's own rule, on the value as it is (the service does not strip it either): a
    # name it would refuse to start on is refused here, before the store is asked.
    name = environ["MODEL_NAME"]
    if not MODEL_NAME_RE.fullmatch(name):
        raise FetchConfigError(
            f"MODEL_NAME is not a model store name ({MODEL_NAME_RULE}), got {name!r}"
        )
    raw_version = environ["MODEL_VERSION"].strip()
    if not raw_version.isdigit() or int(raw_version) < 1:
        raise FetchConfigError(
            f"MODEL_VERSION must be a version number (overlays pin exact versions), "
            f"got {raw_version!r}"
        )
    sha = environ["MODEL_SHA256"].strip().lower().removeprefix("sha256:")
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise FetchConfigError(f"MODEL_SHA256 must be 64 hexadecimal digits, got {sha!r}")
    return Pin(
        name=name,
        version=int(raw_version),
        sha256=sha,
        model_dir=Path(environ.get("MODEL_DIR") or "/models"),
    )


def read_log_level(environ: Mapping[str, str]) -> str:
    """LOG_LEVEL by the service's own rule (app/config.py): unset is INFO, set but empty is
    refused, as the service container in the same pod would refuse it."""
    try:
        return parse_level(environ.get("LOG_LEVEL", "INFO"))
    except ValueError as exc:
        raise FetchConfigError(f"LOG_LEVEL {exc}") from None


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def already_present(pin: Pin) -> bool:
    """True when MODEL_DIR holds exactly the pinned version (a restarted init container)."""
    manifest_path = pin.model_dir / MANIFEST_FILE
    try:
        manifest = json.loads(manifest_path.read_bytes())
        if manifest.get("name") != pin.name or manifest.get("version") != pin.version:
            return False
        return all((pin.model_dir / f).is_file() for f in REQUIRED_FILES) and (
            _sha256_file(pin.model_dir / MODEL_FILE) == pin.sha256
        )
    except (OSError, ValueError, AttributeError):
        return False


def check_manifest_against_pin(manifest: Manifest, pin: Pin) -> None:
    """The store's manifest must describe the pinned model; pure, raises FetchError."""
    where = f"model {pin.name!r} version {pin.version}"
    if manifest.name != pin.name or manifest.version != pin.version:
        raise FetchError(
            f"the store answered {manifest.name!r} version {manifest.version} for {where}"
        )
    if manifest.primary != MODEL_FILE:
        raise FetchError(f"{where} has primary file {manifest.primary!r}, not {MODEL_FILE}")
    if manifest.primary_sha256 != pin.sha256:
        raise FetchError(
            f"sha256 mismatch for {where}: the overlay pins {pin.sha256}, "
            f"the store has {manifest.primary_sha256}"
        )
    paths = {entry.path for entry in manifest.files}
    missing = [f for f in REQUIRED_FILES if f not in paths]
    if missing:
        raise FetchError(f"{where} lacks {', '.join(missing)}, which the service needs")


class LoggedProgress:
    """The store's transfer progress as structured log lines (no bars in pods); thread-safe."""

    def __init__(self, every: float = PROGRESS_EVERY) -> None:
        self._every = every
        self._lock = threading.Lock()
        self._files: dict[str, list[float]] = {}  # label -> [total, done, started, last logged]

    def start(self, label: str, total: int) -> None:
        now = time.monotonic()
        with self._lock:
            self._files[label] = [float(total), 0.0, now, now]
        self._log(label, total, 0, 0.0)

    def advance(self, label: str, done: int) -> None:
        now = time.monotonic()
        with self._lock:
            state = self._files.get(label)
            if state is None:
                return
            state[1] += done
            if now - state[3] < self._every:
                return
            state[3] = now
            total, seen, elapsed = int(state[0]), int(state[1]), now - state[2]
        self._log(label, total, seen, elapsed)

    def finish(self, label: str) -> None:
        with self._lock:
            state = self._files.pop(label, None)
        if state is not None and state[1] >= state[0]:
            self._log(label, int(state[0]), int(state[1]), time.monotonic() - state[2])

    def note(self, text: str) -> None:
        log.info(text)

    @staticmethod
    def _log(label: str, total: int, done: int, elapsed: float) -> None:
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate > 0 else None
        log.info(
            "model download progress",
            extra={
                "fields": {
                    "file": label,
                    "bytes": done,
                    "total": total,
                    "percent": round(100.0 * done / total, 1) if total else 100.0,
                    "mb_per_s": round(rate / 1e6, 1),
                    "eta_s": None if eta is None else round(eta, 1),
                }
            },
        )


def fetch(pin: Pin, store: ModelStore) -> str:
    """Download, verify and install the pinned version; returns what was done, for the log."""
    if already_present(pin):
        return "already present"
    check_manifest_against_pin(store.resolve(pin.name, pin.version), pin)
    pin.model_dir.mkdir(parents=True, exist_ok=True)
    for stale in pin.model_dir.glob(".fetch-*"):  # left by an attempt that was killed
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=".fetch-", dir=pin.model_dir))
    try:
        # Every file's sha256 was checked against the manifest as it arrived, and the manifest's
        # primary sha256 against the pin: the bytes on disk are the pinned ones.
        manifest = store.download(pin.name, pin.version, staging, progress=LoggedProgress())
        check_manifest_against_pin(manifest, pin)
        names = sorted(p.name for p in staging.iterdir() if p.name != MANIFEST_FILE)
        # Same filesystem: each rename is atomic; the manifest goes last, so a directory with
        # a manifest always has the files it describes.
        for name in [*names, MANIFEST_FILE]:
            (staging / name).replace(pin.model_dir / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return "downloaded"


def run(environ: Mapping[str, str]) -> str:
    pin = read_pin(environ)
    from modelstore import ModelStore

    started = time.perf_counter()
    outcome = fetch(pin, ModelStore.from_env(environ))
    log.info(
        "model fetched",
        extra={
            "fields": {
                "model_name": pin.name,
                "model_version": pin.version,
                "model_sha256": pin.sha256,
                "model_dir": str(pin.model_dir),
                "outcome": outcome,
                "seconds": round(time.perf_counter() - started, 3),
            }
        },
    )
    return outcome


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fetch_model", description="Takes no arguments: settings come from the environment."
    )
    env = os.environ if environ is None else environ
    from modelstore.errors import ConfigurationError, ModelStoreError

    def fetch(_args: argparse.Namespace) -> int:
        configure_logging(read_log_level(env))
        run(env)
        return EXIT_OK

    codes: ErrorCodes = {
        FetchConfigError: EXIT_USAGE,
        ConfigurationError: EXIT_USAGE,
        FetchError: EXIT_ERROR,
        ModelStoreError: EXIT_ERROR,
    }
    return run_argparse(parser, argv, fetch, tag="fetch_model", codes=codes)


if __name__ == "__main__":
    raise SystemExit(main())
