"""A small bounded cache of what the bot parsed, keyed by the content's Git blob id.

Reading 1,000 overlays and a 1,000-environment `promotion.yaml` costs milliseconds per
environment (ruamel and pydantic); a run that finds nothing new reads the same blobs as the
run before it. Keyed by the blob id of the exact text (what `git hash-object` prints), a hit
can only be the result of parsing the very same bytes, so nothing stale can come back; the
key also names every other input of the parse (the pin names, the policy file's name). The
cache holds at most `maxsize` entries and drops the least recently used; only results are
kept (a text that fails to parse raises again, with its own path in the message). Values
must be immutable: every hit hands out the same object.

On disk (`DiskEntries`), each entry is a file of its own; a new process reading 1,000 of them
opened 1,000 files (~35 ms). With `pack`, the entries a process used are also written as one
file when it exits, if it used any that file lacked; the next process reads that one file
first and opens an entry's own file only for what the pack does not hold.
"""

from __future__ import annotations

import atexit
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

#: The pack's file name: not `*.json`, so the bound on entry files does not count it.
PACK_FILE = "entries.pack"


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
    never read, so two versions (or two kinds of value) can share a directory.

    `pack` > 0: `get` reads the pack (`PACK_FILE`, one JSON object: the version and the
    entries by key) before the entries' own files, and `save` writes the entries this object
    read or wrote as the pack (at most `pack` of them) when the pack lacked any of them."""

    def __init__(self, root: Path, maxfiles: int = 20000, version: str = "", pack: int = 0) -> None:
        self.root = root
        self.version = version
        self.pack = pack
        self._packed: dict[str, Any] | None = None  # the pack as read, on first use
        self._used: dict[str, Any] = {}  # what this object read or wrote, by JSON key
        self._dirty = False  # used an entry the pack lacks, or wrote one
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
        if not self.pack:
            return self._read(key)
        name = json.dumps(key)
        packed = self._pack_entries()
        if name in packed:
            value = packed[name]
        else:
            value = self._read(key)
            self._dirty = self._dirty or value is not None
        if value is not None:
            self._used[name] = value
        return value

    def _read(self, key: tuple[Hashable, ...]) -> Any:
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
        self._write(
            self._file(key),
            json.dumps({**entry, "version": self.version} if self.version else entry),
        )
        if self.pack:
            self._used[json.dumps(key)] = value
            self._dirty = True

    def save(self) -> None:
        """Write the pack: the entries used since it was read, if it lacked any of them."""
        if not self.pack or not self._dirty:
            return
        entries = dict(list(self._used.items())[: self.pack])
        try:
            data = json.dumps({"version": self.version, "entries": entries})
        except (TypeError, ValueError):
            return
        self._write(self.root / PACK_FILE, data)
        self._packed, self._dirty = entries, False

    def _pack_entries(self) -> dict[str, Any]:
        if self._packed is None:
            self._packed = {}
            try:
                stored = json.loads((self.root / PACK_FILE).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return self._packed
            if (
                isinstance(stored, dict)
                and stored.get("version") == self.version
                and isinstance(stored.get("entries"), dict)
            ):
                self._packed = stored["entries"]
        return self._packed

    def _write(self, path: Path, data: str) -> None:
        """`data` into `path` through a temporary file renamed into place (no error raised)."""
        try:
            fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".tmp")
        except OSError:
            return
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(data)
            Path(tmp).replace(path)
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
        self._saves_at_exit = False

    def use_disk(
        self, disk: DiskEntries | None, encode: Callable[[V], Any], decode: Callable[[Any], V]
    ) -> None:
        """Also keep values in `disk` as JSON (`encode`), read back by `decode` (which raises
        ValueError, TypeError or KeyError on what it does not recognise: then parsed again).
        None: memory only. The disk in use is saved (`DiskEntries.save`) when another one
        replaces it and when the process exits."""
        self.save_disk()
        self._disk = None if disk is None else (disk, encode, decode)
        if disk is not None and not self._saves_at_exit:
            atexit.register(self.save_disk)
            self._saves_at_exit = True

    def save_disk(self) -> None:
        """Write the disk's pack (`DiskEntries.save`), if it keeps one."""
        if self._disk is not None:
            self._disk[0].save()

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
