"""`promotion-bot report`: a static, self-contained HTML page of the promotion state.

The environment matrix is `promotion-bot status --json`'s rows as they are (`bot.api.status`,
`bot.render.status_fields`): a field status gains is a column here too. Beside it, each
environment's overlay history on main and the metrics of the models it ran
(`bot.report.history`), rendered by `bot.report.page` into one file that needs no network.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from bot import api, render
from bot.overlay.document import write_atomic
from bot.report.history import History, read_history
from bot.report.page import ReportData, render_page
from bot.settings import Settings
from bot.world import read_policy

__all__ = [
    "REPORT_FILE",
    "History",
    "ReportData",
    "read_report",
    "render_page",
    "write_page",
    "write_report",
]

REPORT_FILE = "index.html"


def read_report(settings: Settings, *, now: datetime) -> ReportData:
    """Everything the page shows, read from the GitOps repo, the registry and the model store."""
    rows = [render.status_fields(row) for row in api.status(settings, now=now)]
    services = api.connect(settings)  # a fetch: history up to what status read, or newer
    base = settings.base_branch
    ref = f"refs/remotes/origin/{base}"
    policy = read_policy(services.repo, ref, settings.policy_file, settings.registry_host)
    history = read_history(services.repo, services.store, ref, policy, services.bot_author())
    main_sha = services.repo.remote_sha(base) or ""
    return ReportData(settings.repository, main_sha, now, rows, history)


def write_report(settings: Settings, *, now: datetime, out: Path) -> Path:
    """Write the page to `out/index.html`; its path."""
    return write_page(render_page(read_report(settings, now=now)), out)


def write_page(page: str, out: Path) -> Path:
    """`out/index.html` replaced in one rename: a failed write leaves the previous report (a
    published directory is never half-written)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / REPORT_FILE
    write_atomic(path, page)
    return path
