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
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


def blob_sha(text: str) -> str:
    """Git's blob id of `text` encoded as UTF-8 (as `git hash-object --stdin` prints it)."""
    data = text.encode("utf-8")
    header = b"blob %d\0" % len(data)
    return hashlib.sha1(header + data, usedforsecurity=False).hexdigest()


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
        value = parse()
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
