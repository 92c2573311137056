"""Chat notifications against the local world's webhook sink (localworld/webhooks.py): the
Teams and Slack payloads the real services accept, retries, and never a URL in a log or a
failure in the run."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import pytest

from bot import notify
from bot.core.plan import Plan
from bot.core.pr_action import PrActionKind
from bot.errors import BotError
from bot.policy import WebhookSpec, parse_notifications
from bot.proposal import ProposalAction, ProposalOutcome
from bot.release import ReleaseAction, ReleaseDecision
from bot.runner import EnvOutcome, RunReport, now_utc
from localworld.webhooks import WebhookSink, slack_problem, teams_problem
from tests.bot.gitops_world import PROJECT

HOSTILE = "<!channel> *bold* <https://evil.example|click> & </script>"
EVENT = notify.Event("rollback", f"rollback(prod): {HOSTILE}", "prod", None, (("why", HOSTILE),))


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    server = WebhookSink()
    yield server
    server.stop()


def _hooks(**events: list[str]) -> list[WebhookSpec]:
    return [
        WebhookSpec(name="ml-team", format="teams", url_from="TEAMS_WEBHOOK_URL", **events),
        WebhookSpec(name="sre", format="slack", url_from="SLACK_WEBHOOK_URL", **events),
    ]


def _env(sink: WebhookSink) -> dict[str, str]:
    return {
        "TEAMS_WEBHOOK_URL": sink.url("/teams/wf/abc"),
        "SLACK_WEBHOOK_URL": sink.url("/slack/T0/B0/xyz"),
    }


def test_the_shipped_policy_names_settings_not_urls():
    hooks = parse_notifications((PROJECT / "promotion.yaml").read_text())
    assert [(h.name, h.format, h.url_from) for h in hooks] == [
        ("ml-team", "teams", "TEAMS_WEBHOOK_URL"),
        ("sre", "slack", "SLACK_WEBHOOK_URL"),
    ]


def test_payloads_have_the_shape_teams_and_slack_accept():
    assert teams_problem(notify.teams_payload(EVENT)) is None
    assert slack_problem(notify.slack_payload(EVENT)) is None


def test_slack_text_cannot_ping_or_link():
    payload = notify.slack_payload(EVENT)
    text = payload["text"] + "".join(b["text"]["text"] for b in payload["blocks"])
    assert "<!channel>" not in text and "<https://evil" not in text
    assert "&lt;!channel&gt;" in text


def test_teams_text_cannot_link():
    """Adaptive Card text is Markdown (links `[t](url)`): an outside string cannot put a
    trusted-looking link on the bot's card."""
    link = "[Approve the rollback](https://evil.example/login)"
    event = notify.Event("rollback", f"rollback(prod): {link}", "prod", None, (("why", link),))
    card = notify.teams_payload(event)["attachments"][0]["content"]
    texts = [b["text"] for b in card["body"] if b["type"] == "TextBlock"]
    texts += [f[k] for b in card["body"] if b["type"] == "FactSet" for f in b["facts"] for k in f]
    assert all("](" not in t for t in texts), texts
    assert any("Approve the rollback" in t for t in texts)
    assert teams_problem(notify.teams_payload(event)) is None


def test_each_event_reaches_the_webhooks_that_want_it(sink: WebhookSink):
    hooks = [
        *_hooks()[:1],
        WebhookSpec(
            name="sre", format="slack", url_from="SLACK_WEBHOOK_URL", events=["release_blocked"]
        ),
    ]
    done = notify.deliver(hooks, [EVENT], _env(sink), sleep=lambda s: None)
    assert [(d.webhook, d.ok) for d in done] == [("ml-team", True)]
    [got] = sink.received
    assert got.path == "/teams/wf/abc" and got.status == 202
    assert got.content_type == "application/json"


def test_a_failing_webhook_is_retried_then_delivered(sink: WebhookSink):
    sink.fail(2, status=503)
    waits: list[float] = []
    done = notify.deliver(_hooks()[1:], [EVENT], _env(sink), sleep=waits.append)
    assert [(d.ok, d.attempts) for d in done] == [(True, 3)]
    assert waits == [0.5, 1.0]


def test_a_dead_webhook_warns_without_its_url_and_never_raises(
    sink: WebhookSink, caplog: pytest.LogCaptureFixture
):
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/slack/T0/B0/s3cret-token"
    sink.fail(5, status=500)
    env = {"TEAMS_WEBHOOK_URL": sink.url("/teams/wf/s3cret-sig"), "SLACK_WEBHOOK_URL": dead}
    with caplog.at_level(logging.WARNING, logger="bot.notify"):
        done = notify.deliver(_hooks(), [EVENT], env, sleep=lambda s: None)
    assert [(d.ok, d.attempts, d.why) for d in done] == [
        (False, 3, "HTTP 500"),
        (False, 3, "ConnectionError"),
    ]
    assert "s3cret" not in caplog.text and "127.0.0.1" not in caplog.text
    assert "webhook sre (slack): rollback not delivered after 3 attempt(s)" in caplog.text


def test_a_refusal_is_not_retried_and_unset_or_plain_http_urls_are_not_used(sink: WebhookSink):
    sink.fail(1, status=404)
    done = notify.deliver(_hooks()[:1], [EVENT], _env(sink), sleep=lambda s: None)
    assert [(d.ok, d.attempts) for d in done] == [(False, 1)]
    env = {
        "TEAMS_WEBHOOK_URL": "http://hooks.example/x"
    }  # not https, not loopback; SLACK_WEBHOOK_URL unset
    done = notify.deliver(_hooks(), [EVENT], env, sleep=lambda s: None)
    assert [(d.webhook, d.ok, d.why) for d in done] == [
        ("ml-team", False, "TEAMS_WEBHOOK_URL is not an https URL")
    ]
    assert len(sink.received) == 1


class _Forge:
    def get_pr(self, number: int):
        raise BotError("offline")


def test_events_of_a_run_a_release_and_a_rollback():
    report = RunReport(
        Plan(now_utc(), ()),
        [
            EnvOutcome("dev", PrActionKind.PUSH_CREATE, "promote dev", 4, merged=True),
            EnvOutcome("staging", PrActionKind.NOOP, "nothing"),
        ],
    )
    kinds = [(e.kind, e.env) for e in notify.run_events(report, _Forge())]  # type: ignore[arg-type]
    assert kinds == [("pr_opened", "dev"), ("pr_merged", "dev")]
    shipped = ReleaseDecision(ReleaseAction.RELEASE, "moved", tag="release-20261127")
    assert [e.kind for e in notify.release_events(shipped)] == ["release_shipped"]
    blocked = ReleaseDecision(ReleaseAction.BLOCKED, "blocked")
    assert [e.kind for e in notify.release_events(blocked)] == ["release_blocked"]
    assert notify.release_events(ReleaseDecision(ReleaseAction.NOOP, "at main")) == []
    opened = ProposalOutcome(
        "prod", ProposalAction.PUSH_CREATE, "rollback(prod): x", 9, "http://pr/9"
    )
    assert [e.kind for e in notify.rollback_events(opened)] == ["rollback"]
    assert notify.rollback_events(ProposalOutcome("prod", ProposalAction.NOOP, "x")) == []
    pushed = ProposalOutcome("dev", ProposalAction.PUSH, "rollback(dev): … (main at 9c41e07d2b1a)")
    assert [e.kind for e in notify.rollback_events(pushed)] == ["rollback"]  # --direct
