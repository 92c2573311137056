"""Big-file transfers on real Azurite: parallel blocks up, parallel verified ranges down.

Files of a few MB with blocks and ranges of 256 KiB exercise the same paths as multi-GB models.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from modelstore import ModelStore
from modelstore.backend import Backend
from modelstore.errors import ChecksumMismatchError
from modelstore.state import file_path
from modelstore.transfer import TransferSettings, block_id
from tests.modelstore.conftest import RequestCounter

SMALL = TransferSettings(block_size=256 * 1024, range_size=256 * 1024, concurrency=4)
SIZE = 3 * 1024 * 1024 + 12345  # 13 blocks, the last one short


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
