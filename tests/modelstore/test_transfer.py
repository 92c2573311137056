"""Big-file transfers on real Azurite: parallel blocks up, parallel verified ranges down.

Files of a few MB with blocks and ranges of 256 KiB exercise the same paths as multi-GB models.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from modelstore import ModelStore, claims
from modelstore.backend import BULK_READ_PIECE, Backend
from modelstore.errors import ChecksumMismatchError, ClaimLostError, IntegrityError
from modelstore.state import claim_path, file_path
from modelstore.transfer import MIB, TransferSettings, block_id
from tests.modelstore.conftest import RequestCounter

SMALL = TransferSettings(block_size=256 * 1024, range_size=256 * 1024, concurrency=4)
SIZE = 3 * 1024 * 1024 + 12345  # 13 blocks, the last one short


def test_default_ranges_are_whole_blocks_read_in_one_piece() -> None:
    """Over 4 MiB (Azurite reads a range of up to 4 MiB twice, for an MD5), whole blocks, and
    at most the bulk client's read piece (a range arrives as one bytes object, not joined)."""
    default = TransferSettings()
    assert 4 * MIB < default.range_size <= BULK_READ_PIECE
    assert default.range_size % default.block_size == 0


@pytest.fixture
def big_file(tmp_path: Path) -> Path:
    path = tmp_path / "src" / "weights.bin"
    path.parent.mkdir()
    path.write_bytes(os.urandom(SIZE))
    return path


@pytest.fixture
def small_blocks(store: ModelStore) -> ModelStore:
    return ModelStore(store.backend, author="tester", transfers=SMALL)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_big_file_goes_up_in_parallel_blocks_and_comes_back_verified(
    small_blocks: ModelStore, big_file: Path, counter: RequestCounter, tmp_path: Path
) -> None:
    counter.reset()
    manifest = small_blocks.register("big", big_file)
    (entry,) = manifest.files
    assert (entry.path, entry.size, entry.sha256) == ("weights.bin", SIZE, _sha(big_file))
    puts = [url for method, url in counter.requests if method == "PUT" and "weights" in url]
    assert len(puts) == 13 + 1  # 13 staged blocks, one commit
    blob = file_path("big", 1, "weights.bin")
    assert len(small_blocks.backend.committed_blocks(blob)) == 13

    counter.reset()
    dest = tmp_path / "out"
    assert small_blocks.download("big", 1, dest) == manifest
    assert (dest / "weights.bin").read_bytes() == big_file.read_bytes()
    gets = [url for method, url in counter.requests if method == "GET" and "weights" in url]
    assert len(gets) == 13  # one GET per range
    assert small_blocks.verify("big", "latest") == manifest


def test_a_corrupted_stored_block_is_caught_before_anything_is_put_in_place(
    azurite: Any, container: str, small_blocks: ModelStore, big_file: Path, tmp_path: Path
) -> None:
    from azure.storage.blob import BlobBlock, BlobServiceClient

    small_blocks.register("big", big_file)
    blob = file_path("big", 1, "weights.bin")
    ids = small_blocks.backend.committed_blocks(blob)
    data = big_file.read_bytes()
    bad = bytearray(data[5 * SMALL.block_size : 6 * SMALL.block_size])
    bad[100] ^= 0x01
    # Rewrite the stored blob with block 5 flipped by one bit (as storage corruption would).
    client = BlobServiceClient.from_connection_string(azurite.connection_string)
    blob_client = client.get_container_client(container).get_blob_client(blob)
    blob_client.stage_block(block_id(5, "f" * 64), bytes(bad))
    blob_client.commit_block_list(
        [BlobBlock(b) for b in ids[:5]]
        + [BlobBlock(block_id(5, "f" * 64))]
        + [BlobBlock(b) for b in ids[6:]]
    )
    dest = tmp_path / "models"
    dest.mkdir()
    (dest / "weights.bin").write_bytes(b"previous")
    with pytest.raises(ChecksumMismatchError, match=r"weights\.bin is corrupted"):
        small_blocks.download("big", 1, dest)
    assert [p.name for p in dest.iterdir()] == ["weights.bin"]
    assert (dest / "weights.bin").read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    with pytest.raises(ChecksumMismatchError):
        small_blocks.verify("big", 1)


class WrongRange:
    """The real backend, except that one range read returns one wrong byte.

    Mocked because Azurite cannot be made to answer a range with wrong bytes on demand; the
    request itself is real. Everything else goes to the real backend.
    """

    def __init__(self, inner: Backend, offset: int) -> None:
        self.inner, self.offset = inner, offset

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def read_range(self, path: str, offset: int, length: int) -> tuple[bytes, int]:
        data, total = self.inner.read_range(path, offset, length)
        if offset == self.offset:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        return data, total


def test_a_range_with_wrong_bytes_fails_the_download_and_leaves_no_trace(
    small_blocks: ModelStore, big_file: Path, tmp_path: Path
) -> None:
    small_blocks.register("big", big_file)
    lying = ModelStore(
        WrongRange(small_blocks.backend, 7 * SMALL.range_size),
        transfers=SMALL,
    )
    dest = tmp_path / "fresh" / "models"
    with pytest.raises(ChecksumMismatchError, match=r"weights\.bin is corrupted"):
        lying.download("big", 1, dest)
    assert not (tmp_path / "fresh").exists()


class Recorder:
    """A Progress that records notes and can stop the run after some bytes (a Ctrl-C)."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.stop_after, self.seen, self.notes = stop_after, 0, list[str]()

    def start(self, label: str, total: int) -> None:
        pass

    def advance(self, label: str, done: int) -> None:
        self.seen += done
        if self.stop_after is not None and self.seen >= self.stop_after:
            raise KeyboardInterrupt

    def finish(self, label: str) -> None:
        pass

    def note(self, text: str) -> None:
        self.notes.append(text)


def _block_bytes(counter: RequestCounter) -> int:
    return sum(1 for method, url in counter.requests if method == "PUT" and "weights" in url)


def test_an_interrupted_register_resumes_from_the_staged_blocks(
    small_blocks: ModelStore, big_file: Path, counter: RequestCounter
) -> None:
    with pytest.raises(KeyboardInterrupt):
        small_blocks.register("big", big_file, progress=Recorder(stop_after=SIZE // 2))
    counter.reset()
    progress = Recorder()
    manifest = small_blocks.register("big", big_file, progress=progress)
    assert manifest.version == 1
    assert manifest.files[0].sha256 == _sha(big_file)
    assert progress.notes[0] == "big v1: resuming an interrupted registration"
    assert progress.notes[1].startswith("resumed big v1: sent ")
    assert _block_bytes(counter) <= 13 // 2 + 1  # the blocks not staged yet, and the commit
    assert small_blocks.verify("big", 1) == manifest


def test_a_resumed_register_does_not_commit_staged_blocks_of_other_bytes(
    azurite: Any, container: str, small_blocks: ModelStore, big_file: Path, counter: RequestCounter
) -> None:
    """A staged block's id names its bytes, but the store does not check that it holds them:
    a block staged under our id with other bytes (by anyone with write access) must not end up
    in a version whose manifest claims the file's sha256."""
    from azure.storage.blob import BlobServiceClient

    with pytest.raises(KeyboardInterrupt):
        small_blocks.register("big", big_file, progress=Recorder(stop_after=SIZE // 2))
    blob = file_path("big", 1, "weights.bin")
    first = big_file.read_bytes()[: SMALL.block_size]
    client = BlobServiceClient.from_connection_string(azurite.connection_string)
    blob_client = client.get_container_client(container).get_blob_client(blob)
    other = bytes(b ^ 0xFF for b in first)
    blob_client.stage_block(block_id(0, hashlib.sha256(first).hexdigest()), other)

    with pytest.raises(IntegrityError, match=r"weights\.bin: the blocks staged"):
        small_blocks.register("big", big_file, progress=Recorder())
    assert blob not in {b.name for b in small_blocks.backend.list_blobs("")}
    # The next attempt sends every block again and stores the file's own bytes.
    manifest = small_blocks.register("big", big_file, progress=Recorder())
    assert manifest.files[0].sha256 == _sha(big_file)
    assert small_blocks.verify("big", 1) == manifest


def test_an_abandoned_claim_of_other_files_is_said_and_skipped(
    small_blocks: ModelStore, big_file: Path, tmp_path: Path
) -> None:
    with pytest.raises(KeyboardInterrupt):
        small_blocks.register("big", big_file, progress=Recorder(stop_after=SIZE // 2))
    other = tmp_path / "other.bin"
    other.write_bytes(b"other weights")
    progress = Recorder()
    assert small_blocks.register("big", other, progress=progress).version == 2
    assert progress.notes == [
        "big v1: an abandoned registration of other files; leaving it and registering the "
        "next number"
    ]


class CountingProxy:
    """A 127.0.0.1 HTTP proxy in front of Azurite that counts the block bytes it forwards.

    After `hold_after` bytes of staged blocks it stops forwarding further blocks (holds those
    requests) until released: a registration stalls there, half done, to be killed for real.
    """

    def __init__(self, upstream_port: int, hold_after: int | None = None) -> None:
        import http.server
        import threading

        self.upstream_port = upstream_port
        self.hold_after = hold_after
        self.block_bytes = 0
        self.held = 0
        self.release = threading.Event()
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.command == "PUT" and "comp=block&" in self.path + "&":
                    with proxy._lock:
                        hold = (
                            proxy.hold_after is not None and proxy.block_bytes >= proxy.hold_after
                        )
                        proxy.held += hold
                        proxy.block_bytes += 0 if hold else len(body)
                    if hold:
                        proxy.release.wait(30)
                        self.close_connection = True
                        return
                status, headers, data = proxy._upstream(self.command, self.path, self.headers, body)
                self.send_response(status)
                for key, value in headers:
                    if key.lower() not in {"transfer-encoding", "connection", "content-length"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = _forward  # noqa: N815 - http.server names

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, *_args: Any) -> None:
                pass  # a client killed mid-request: nothing to report

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _upstream(
        self, method: str, path: str, headers: Any, body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        import http.client

        connection = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=30)
        try:
            forwarded = {k: v for k, v in headers.items() if k.lower() != "host"}
            connection.request(method, path, body=body, headers=forwarded)
            response = connection.getresponse()
            data = b"" if method == "HEAD" else response.read()
            return response.status, response.getheaders(), data
        finally:
            connection.close()

    def connection_string(self, azurite_connection_string: str) -> str:
        return azurite_connection_string.replace(f":{self.upstream_port}/", f":{self.port}/")

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


REGISTER = """
import sys
from pathlib import Path
from modelstore import ModelStore
from modelstore.transfer import TransferSettings
settings = TransferSettings(block_size=256 * 1024, range_size=256 * 1024, concurrency=4)
store = ModelStore.from_connection_string(sys.argv[1], sys.argv[2], transfers=settings)
store.register("big", Path(sys.argv[3]))
"""


def test_a_register_killed_halfway_resumes_and_sends_less_than_half(
    azurite: Any, container: str, big_file: Path, tmp_path: Path
) -> None:
    import signal
    import subprocess
    import sys
    import time

    blocks = -(-SIZE // SMALL.block_size)  # 13
    proxy = CountingProxy(azurite.port, hold_after=(blocks // 2 + 1) * SMALL.block_size)
    try:
        proxied = proxy.connection_string(azurite.connection_string)
        errors = tmp_path / "stderr"
        with errors.open("wb") as sink:
            child = subprocess.Popen(
                [sys.executable, "-c", REGISTER, proxied, container, str(big_file)], stderr=sink
            )
        deadline = time.monotonic() + 60
        while proxy.held == 0 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proxy.held > 0, errors.read_text()
        staged = proxy.block_bytes
        assert staged > SIZE // 2
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
        proxy.release.set()

        proxy.hold_after, proxy.block_bytes = None, 0
        store = ModelStore.from_connection_string(proxied, container, transfers=SMALL)
        progress = Recorder()
        manifest = store.register("big", big_file, progress=progress)
        assert manifest.version == 1
        assert progress.notes[0] == "big v1: resuming an interrupted registration"
        assert proxy.block_bytes == SIZE - staged < SIZE // 2
        assert manifest.files[0].sha256 == _sha(big_file)
        assert store.verify("big", 1) == manifest
    finally:
        proxy.stop()


class TakenOver(Recorder):
    """Another registration takes the claim over after the first block (it judged ours dead)."""

    def __init__(self, store: ModelStore) -> None:
        super().__init__()
        self.store, self.done = store, False

    def advance(self, label: str, done: int) -> None:
        if not self.done:
            self.done = True
            path = claim_path("big", 1)
            held = json.loads(self.store.backend.get(path).data)
            self.store.backend.put(path, json.dumps({**held, "token": "other"}).encode())
            time.sleep(0.5)  # a few heartbeats


def test_a_registration_whose_claim_was_taken_over_stops_and_leaves_the_files(
    small_blocks: ModelStore, big_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(claims, "CLAIM_HEARTBEAT", timedelta(seconds=0.05))
    with pytest.raises(ClaimLostError, match="took this number over"):
        small_blocks.register("big", big_file, progress=TakenOver(small_blocks))
    assert json.loads(small_blocks.backend.get(claim_path("big", 1)).data)["token"] == "other"
    assert small_blocks.backend.staged_blocks(file_path("big", 1, "weights.bin"))


def test_the_heartbeat_keeps_a_slow_registration_alive(
    small_blocks: ModelStore, big_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(claims, "CLAIM_HEARTBEAT", timedelta(seconds=0.05))
    refreshed: list[bool] = []

    class Slow(Recorder):
        def advance(self, label: str, done: int) -> None:
            if refreshed:
                return
            first = json.loads(small_blocks.backend.get(claim_path("big", 1)).data)["alive"]
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # an upload stalled here: still alive
                time.sleep(0.05)
                held = json.loads(small_blocks.backend.get(claim_path("big", 1)).data)
                if held["alive"] != first:
                    refreshed.append(True)
                    return

    small_blocks.register("big", big_file, progress=Slow())
    assert refreshed  # each stalled worker saw the claim refreshed
