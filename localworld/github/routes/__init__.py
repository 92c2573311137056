"""GitHub's REST routes, one blueprint per resource and one view per operation.

A view's endpoint is GitHub's `operationId` (`pulls/get`), so Flask names it
`<blueprint>.<operationId>`; `web.operation_id` recovers the id, which is how the request log
and the contract test find the schema of every exchange. Nothing registers at import time:
`register(app)` attaches the blueprints to one app.
"""

from __future__ import annotations

from flask import Blueprint, Flask

from localworld.github.routes import (
    apps,
    commits,
    compare,
    issues,
    labels,
    meta,
    pulls,
    refs,
    reviewers,
    reviews,
    statuses,
    teams,
)

BLUEPRINTS: tuple[Blueprint, ...] = (
    meta.bp,
    refs.bp,
    pulls.bp,
    issues.bp,
    labels.bp,
    reviewers.bp,
    reviews.bp,
    compare.bp,
    statuses.bp,
    commits.bp,
    teams.bp,
    apps.bp,
)


def register(app: Flask) -> None:
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
