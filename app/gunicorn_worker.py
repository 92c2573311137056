"""gunicorn's gthread worker, telling the arbiter it is alive once a second, not once per event.

The gthread worker calls `notify()` (an `os.utime` on its heartbeat file) on every turn of its
event loop, that is once or more per request under load: about 10% of a worker's busy time on
a 1-row prediction (py-spy, issue 20). The arbiter only needs to hear from it within
`GUNICORN_TIMEOUT` seconds; the loop turns at least once a second even when idle (its select
times out after 1 s), so one notification a second (or half the worker's timeout, if smaller)
keeps the same guarantee.
"""

from __future__ import annotations

import time

from gunicorn.workers import gthread


class ThreadWorker(gthread.ThreadWorker):  # type: ignore[misc]
    _notified = float("-inf")

    def notify(self) -> None:
        now = time.monotonic()
        if now - self._notified >= min(1.0, self.timeout / 2):
            self._notified = now
            super().notify()
