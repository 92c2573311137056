"""`python -m localworld.azure_repos`: serve the app on 127.0.0.1 (werkzeug, threaded).

Tokens come from `LOCALWORLD_AZURE_REPOS_TOKENS` (`TOKEN:NAME` lines), never from argv
(`/proc/<pid>/cmdline` is world-readable).
"""

from __future__ import annotations

import argparse
import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from werkzeug.serving import make_server

from localworld.azure_repos.app import create_app
from localworld.azure_repos.state import CLOCK, ServerState
from localworld.clocked import clocked_handler
from localworld.process import LOOPBACK

TOKENS_ENV = "LOCALWORLD_AZURE_REPOS_TOKENS"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localworld.azure_repos")
    parser.add_argument("--root", type=Path, required=True, help="<org>/<project>/<repo>.git")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", action="append", default=[])
    parser.add_argument("--team", action="append", default=[], help="PROJECT/TEAM[:MEMBER,...]")
    args = parser.parse_args(argv)
    state = ServerState()
    for spec in os.environ.get(TOKENS_ENV, "").splitlines():
        token, _, name = spec.partition(":")
        state.add_token(token, name or "Project Collection Build Service")
    for user in args.user:
        state.add_user(user)
    for spec in args.team:
        team, _, members = spec.partition(":")
        project, _, name = team.partition("/")
        state.add_team(project, name, [m for m in members.split(",") if m])
    app = create_app(args.root.resolve(), state)
    handler = clocked_handler(lambda: time.time() + CLOCK.offset)
    server = make_server(LOOPBACK, args.port, app, threaded=True, request_handler=handler)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
