"""Showing transfers to the person at the terminal: per-file progress bars, or nothing.

Bars use rich (`rich.progress`): it is already in the tested environment, ships the columns a
transfer needs (bytes done/total, rate, ETA), redraws from a background thread while worker
threads advance their files (thread-safe), and writes to stderr so stdout stays the command's
answer. It is imported only when bars are shown, so the init container never loads it.

Bars appear only when both stdout and stderr are terminals, and never with `--json` or
`--quiet`; notes (a resumed registration) go to stderr unless `--quiet`.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from modelstore.terminal import printable
from modelstore.transfer import NO_PROGRESS, Progress


def wants_bars(*, as_json: bool, quiet: bool, stdout_tty: bool, stderr_tty: bool) -> bool:
    """Bars only for a person: both streams are terminals, no `--json`, no `--quiet`."""
    return stdout_tty and stderr_tty and not as_json and not quiet


class NotesOnly:
    """No bars; notes as plain lines on a stream (stderr)."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def start(self, label: str, total: int) -> None:
        pass

    def advance(self, label: str, done: int) -> None:
        pass

    def finish(self, label: str) -> None:
        pass

    def note(self, text: str) -> None:
        with self._lock:
            print(text, file=self._stream, flush=True)


class Bars:
    """One rich progress bar per file being transferred (removed when the file is done)."""

    def __init__(self, progress: Any) -> None:
        self._progress = progress
        self._tasks: dict[str, Any] = {}
        self._lock = threading.Lock()

    def start(self, label: str, total: int) -> None:
        task = self._progress.add_task(printable(label), total=total)
        with self._lock:
            self._tasks[label] = task
        self._progress.refresh()  # drawn at once, even for a file done before the next tick

    def advance(self, label: str, done: int) -> None:
        with self._lock:
            task = self._tasks.get(label)
        if task is not None:
            self._progress.advance(task, done)

    def finish(self, label: str) -> None:
        with self._lock:
            task = self._tasks.pop(label, None)
        if task is not None:
            self._progress.remove_task(task)

    def note(self, text: str) -> None:
        self._progress.console.print(text, markup=False, highlight=False)


@contextmanager
def for_terminal(*, as_json: bool, quiet: bool) -> Iterator[Progress]:
    """The progress a CLI command reports to: bars, notes only, or nothing."""
    if quiet:
        yield NO_PROGRESS
        return
    if not wants_bars(
        as_json=as_json,
        quiet=quiet,
        stdout_tty=sys.stdout.isatty(),
        stderr_tty=sys.stderr.isatty(),
    ):
        yield NotesOnly(sys.stderr)
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )
    from rich.progress import Progress as RichProgress

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with RichProgress(*columns, console=Console(stderr=True), transient=True) as progress:
        yield Bars(progress)
