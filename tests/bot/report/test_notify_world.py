"""Notifications from the real commands on a real GitOps world, to the local webhook sink: the
shipped promotion.yaml's webhooks, their URLs in the settings it names."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot import api
from bot.runner import now_utc
from bot.settings import Settings
from localworld.webhooks import WebhookSink
from tests.bot.gitops_world import GitOpsWorld


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    server = WebhookSink()
    yield server
    server.stop()


def test_release_and_rollback_notify_the_shipped_webhooks(
    report_world: GitOpsWorld, sink: WebhookSink
):
    settings = Settings.from_env(
        {
            **report_world.environ(),
            "TEAMS_WEBHOOK_URL": sink.url("/teams/workflows/release"),
            "SLACK_WEBHOOK_URL": sink.url("/slack/T0/B0/sre"),
        }
    )
    decision = api.release(settings, today=now_utc().date())
    assert decision.action == "release", decision.reason
    outcome = api.rollback(settings, "dev", "p99 latency doubled")
    assert outcome.action == "push+create"
    got = [(r.path, r.status) for r in sink.received]
    assert got == [
        ("/teams/workflows/release", 202),  # release_shipped: Teams only (sre: not this event)
        ("/teams/workflows/release", 202),  # rollback: both
        ("/slack/T0/B0/sre", 200),
    ]
    card = sink.received[0].body["attachments"][0]["content"]
    assert card["body"][0]["text"] == "Release shipped"
    assert "rollback(dev)" in sink.received[2].body["text"]
