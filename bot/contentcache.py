"""A small bounded cache of what the bot parsed, keyed by the content's Git blob id.

Reading 1,000 overlays and a 1,000-environment `promotion.yaml` costs milliseconds per
environment (ruamel and pydantic); a run that finds nothing new reads the same blobs as the
run before it. Keyed by the blob id of the exact text (what `git hash-object` prints), a hit
can only be the result of parsing the very same bytes, so nothing stale can come back; the
key also names every other input of the parse (the pin names, the policy file's name). The
cache holds at most `maxsize` entries and drops the least recently used; only results are
kept (a text that fails to parse raises again, with its own path in the message). Values
must be immutable: every hit hands out the same object.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path
from typing import Any, Generic, TypeVar

V = TypeVar("V")


def blob_sha(text: str) -> str:
    """Git's blob id of `text` encoded as UTF-8 (as `git hash-object --stdin` prints it)."""
    data = text.encode("utf-8")
    header = b"blob %d\0" % len(data)
    return hashlib.sha1(header + data, usedforsecurity=False).hexdigest()


def code_version(files: Iterable[Path], *versions: str) -> str | None:
    """A digest of `files` (the code whose results an entry holds) and `versions` (of the
    libraries it calls), for `DiskEntries(version=...)`: an entry other code wrote is never
    read. None when a file cannot be read (then keep nothing on disk)."""
    digest = hashlib.sha256(" ".join(versions).encode())
    try:
        for path in files:
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    except OSError:
        return None
    return digest.hexdigest()


class DiskEntries:
    """JSON values by key, one file each under `root` (a process's cache lives as long as the
    process; the hourly pipeline starts a new one each run, so this one is on disk, under the
    bot's checkout). Only JSON is stored, never pickle; each file is written to a temporary
    name and renamed into place; an entry that cannot be read or decoded is a miss (and is
    written again). At most `maxfiles`: when opened with more, the oldest half go. `version`
    names what wrote the values (e.g. a digest of the code): entries of another version are
    never read, so two versions (or two kinds of value) can share a directory."""

    def __init__(self, root: Path, maxfiles: int = 20000, version: str = "") -> None:
        self.root = root
        self.version = version
        try:
            root.mkdir(parents=True, exist_ok=True)
            files = [f for f in root.iterdir() if f.suffix == ".json"]
            if len(files) > maxfiles:
                files.sort(key=lambda f: f.stat().st_mtime)
                for old in files[: len(files) - maxfiles // 2]:
                    old.unlink(missing_ok=True)
        except OSError:
            pass  # a cache: without it every entry is a miss

    def _file(self, key: tuple[Hashable, ...]) -> Path:
        named = json.dumps([self.version, key]) if self.version else json.dumps(key)
        name = hashlib.sha256(named.encode(), usedforsecurity=False).hexdigest()
        return self.root / f"{name}.json"

    def get(self, key: tuple[Hashable, ...]) -> Any:
        """The JSON value stored for `key`, or None (none, or unreadable)."""
        try:
            stored = json.loads(self._file(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if (
            not isinstance(stored, dict)
            or stored.get("key") != json.loads(json.dumps(key))
            or stored.get("version", "") != self.version
        ):
            return None
        return stored.get("value")

    def put(self, key: tuple[Hashable, ...], value: Any) -> None:
        entry = {"key": key, "value": value}
        data = json.dumps({**entry, "version": self.version} if self.version else entry)
        try:
            fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".tmp")
        except OSError:
            return
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(data)
            Path(tmp).replace(self._file(key))
        except OSError:
            Path(tmp).unlink(missing_ok=True)


class ContentCache(Generic[V]):
    """At most `maxsize` parsed values by (blob id, other inputs), least recently used out."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._entries: OrderedDict[tuple[Hashable, ...], V] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self._disk: tuple[DiskEntries, Callable[[V], Any], Callable[[Any], V]] | None = None

    def use_disk(
        self, disk: DiskEntries | None, encode: Callable[[V], Any], decode: Callable[[Any], V]
    ) -> None:
        """Also keep values in `disk` as JSON (`encode`), read back by `decode` (which raises
        ValueError, TypeError or KeyError on what it does not recognise: then parsed again).
        None: memory only."""
        self._disk = None if disk is None else (disk, encode, decode)

    def _from_disk(self, key: tuple[Hashable, ...], parse: Callable[[], V]) -> V:
        if self._disk is None:
            return parse()
        disk, encode, decode = self._disk
        stored = disk.get(key)
        if stored is not None:
            try:
                return decode(stored)
            except (ValueError, TypeError, KeyError):
                pass  # corrupt or from another format: parse and write it again
        value = parse()
        try:
            encoded = encode(value)
        except (ValueError, TypeError):
            return value  # not representable as JSON: kept in memory only
        disk.put(key, encoded)
        return value

    def __len__(self) -> int:
        return len(self._entries)

    def get_or_parse(self, text: str, extra: tuple[Hashable, ...], parse: Callable[[], V]) -> V:
        """The value cached for `text` and `extra`, or `parse()`'s, cached (if it returns)."""
        key = (blob_sha(text), *extra)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key]
        value = self._from_disk(key, parse)
        with self._lock:
            self.misses += 1
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0
