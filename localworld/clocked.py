"""werkzeug's request handler with the `Date` header on the server's clock seam.

Every response carries `Date` (RFC 9110 6.6.1; GitHub and Azure DevOps send it): the bot
measures soak on the forge's clock from it (`bot.forge.Forge.server_time`), so a test that
moves the local forge's clock (`POST /_localworld/clock`) moves its `Date` too.
"""

from __future__ import annotations

from collections.abc import Callable
from email.utils import formatdate

from werkzeug.serving import WSGIRequestHandler


def clocked_handler(now: Callable[[], float]) -> type[WSGIRequestHandler]:
    """A handler class whose `Date` is `now()` (seconds since the epoch on the server's clock)
    instead of the machine's time."""

    class ClockedHandler(WSGIRequestHandler):
        def date_time_string(self, timestamp: float | None = None) -> str:
            return formatdate(now() if timestamp is None else timestamp, usegmt=True)

    return ClockedHandler
