"""Serve the app on 127.0.0.1 with werkzeug's threaded WSGI server."""

from __future__ import annotations

import signal
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from werkzeug.serving import make_server

from localworld.clocked import clocked_handler
from localworld.github.app import create_app
from localworld.github.apps import App
from localworld.github.state import ServerState, Token
from localworld.process import LOOPBACK


def serve(
    root: Path,
    port: int,
    tokens: Sequence[Token],
    users: Sequence[str] = (),
    rate_limit: int = 5000,
    *,
    teams: Sequence[tuple[str, str, tuple[str, ...]]] = (),
    apps: Sequence[tuple[App, tuple[str, ...]]] = (),
) -> None:
    """Block serving GitHub's API for the bare repositories under `root/<owner>/<name>.git`;
    `teams` are (org, slug, members) to seed, `apps` GitHub Apps and the repositories each is
    installed on."""
    state = ServerState(rate_limit=rate_limit)
    for token in tokens:
        state.add_token(token)
    state.users.update(users)
    for org, slug, members in teams:
        state.seed_team(org, slug, members)
    for app, repos in apps:
        state.register_app(app, repos)
    wsgi = create_app(root.resolve(), state)
    handler = clocked_handler(state.clock.time)
    server = make_server(LOOPBACK, port, wsgi, threaded=True, request_handler=handler)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
