"""Chat notifications: optional webhooks in `promotion.yaml` (`notifications.webhooks`), in
Microsoft Teams' workflow format (an Adaptive Card) or Slack's incoming-webhook format, for PR
opened, PR merged, release shipped, release blocked and rollback.

    notifications:
      webhooks:
        - name: ml-team
          format: teams              # or slack
          url_from: TEAMS_WEBHOOK_URL  # the setting holding the URL: the URL is a secret
          events: [pr_opened, release_blocked]   # default: all five

Best effort, never in the way: a webhook whose setting is unset is skipped; a failed delivery
is retried (`ATTEMPTS`, backoff, honouring `Retry-After` up to `MAX_WAIT`) and then reported
as one warning line naming the webhook, never its URL (nor the exception text, which would
quote it); nothing here raises into the run. Outside strings in a message (titles, reasons)
are cleaned by `bot.untrusted.terminal` and, for Slack's mrkdwn, `&<>` escaped; for Teams'
Markdown, `](` is split so they cannot make links.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

from bot.core.pr_action import PrActionKind
from bot.errors import BotError
from bot.forge import Forge
from bot.policy import WebhookSpec, parse_notifications
from bot.proposal import ProposalAction, ProposalOutcome
from bot.release import ReleaseAction, ReleaseDecision
from bot.untrusted import terminal

if TYPE_CHECKING:
    from bot.runner import RunReport
    from bot.wiring import Services

log = logging.getLogger(__name__)

ATTEMPTS = 3
BACKOFF = 0.5  # seconds, doubled each retry
MAX_WAIT = 5.0  # the longest Retry-After honoured
TIMEOUT = 10.0
LOOPBACK = ("127.0.0.1", "localhost", "::1")
TITLES = {
    "pr_opened": "Promotion PR opened",
    "pr_merged": "Promotion merged",
    "release_shipped": "Release shipped",
    "release_blocked": "Release blocked",
    "rollback": "Rollback proposed",
}


@dataclass(frozen=True)
class Event:
    """One thing worth telling people. `facts`: label → value, shown as a list."""

    kind: str
    summary: str
    env: str | None = None
    url: str | None = None
    facts: tuple[tuple[str, str], ...] = ()


@dataclass
class Delivery:
    webhook: str
    event: str
    ok: bool
    attempts: int
    why: str = ""


# ----------------------------------------------------------------------------- payloads


def _title(event: Event) -> str:
    where = f": {event.env}" if event.env else ""
    return terminal(TITLES.get(event.kind, event.kind) + where, limit=150)


def _slack_text(text: str) -> str:
    """Slack mrkdwn treats only `&`, `<` and `>` as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _teams_text(text: str, limit: int) -> str:
    """Adaptive Card text is Markdown: a zero-width space between `]` and `(` keeps an outside
    `[Approve](https://elsewhere)` from becoming a link on the bot's card (terminal() removed
    every format character, so the space is ours)."""
    return terminal(text, limit=limit).replace("](", "]\u200b(")


def slack_payload(event: Event) -> dict[str, Any]:
    title, summary = _title(event), terminal(event.summary, limit=1000)
    lines = [f"*{_slack_text(k)}:* {_slack_text(terminal(v, limit=300))}" for k, v in event.facts]
    section = f"*{_slack_text(title)}*\n{_slack_text(summary)}"
    if event.url:
        section += f"\n<{_slack_text(event.url)}|open>"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": section}}
    ]
    if lines:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}})
    return {"text": _slack_text(f"{title}: {summary}"), "blocks": blocks}


def teams_payload(event: Event) -> dict[str, Any]:
    """A Teams workflow message: one Adaptive Card (1.4, what Teams renders)."""
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": _title(event),
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
        },
        {"type": "TextBlock", "text": _teams_text(event.summary, 1000), "wrap": True},
    ]
    if event.facts:
        facts = [
            {"title": _teams_text(k, 80), "value": _teams_text(v, 300)} for k, v in event.facts
        ]
        body.append({"type": "FactSet", "facts": facts})
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if event.url:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open", "url": event.url}]
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


PAYLOADS: Mapping[str, Callable[[Event], dict[str, Any]]] = {
    "teams": teams_payload,
    "slack": slack_payload,
}


# ----------------------------------------------------------------------------- delivery


def _usable(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK)


def _wait(response: requests.Response | None, attempt: int) -> float:
    retry_after = str(response.headers.get("Retry-After") or "") if response is not None else ""
    if retry_after and retry_after.isdigit():
        return min(float(retry_after), MAX_WAIT)
    return BACKOFF * 2.0 ** (attempt - 1)


def post_with_retries(
    url: str,
    payload: Mapping[str, Any],
    *,
    post: Callable[..., requests.Response] = requests.post,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[bool, int, str]:
    """(delivered, attempts, why not) — `why` never quotes the URL."""
    why = ""
    for attempt in range(1, ATTEMPTS + 1):
        response = None
        try:
            response = post(url, json=payload, timeout=TIMEOUT)
        except requests.RequestException as exc:
            why = type(exc).__name__  # its text names the URL
        else:
            if response.status_code < 300:
                return True, attempt, ""
            why = f"HTTP {response.status_code}"
            if response.status_code != 429 and response.status_code < 500:
                return False, attempt, why  # refused: asking again will not help
        if attempt < ATTEMPTS:
            sleep(_wait(response, attempt))
    return False, ATTEMPTS, why


def deliver(
    webhooks: Sequence[WebhookSpec],
    events: Iterable[Event],
    environ: Mapping[str, str],
    *,
    post: Callable[..., requests.Response] = requests.post,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Delivery]:
    """Send each event to every webhook that wants it; never raises."""
    done: list[Delivery] = []
    for event in events:
        for hook in webhooks:
            if event.kind not in hook.events:
                continue
            url = environ.get(hook.url_from, "").strip()
            if not url or url == f"$({hook.url_from})":  # unset (Azure leaves `$(NAME)` as is)
                continue  # not configured here: silent by design (optional)
            where = f"webhook {hook.name} ({hook.format})"
            if not _usable(url):
                delivery = Delivery(
                    hook.name, event.kind, False, 0, f"{hook.url_from} is not an https URL"
                )
            else:
                try:
                    ok, attempts, why = post_with_retries(
                        url, PAYLOADS[hook.format](event), post=post, sleep=sleep
                    )
                except Exception as exc:  # a notification never fails the run
                    ok, attempts, why = False, 1, type(exc).__name__
                delivery = Delivery(hook.name, event.kind, ok, attempts, why)
            if not delivery.ok:
                log.warning(
                    "%s: %s not delivered after %d attempt(s): %s",
                    where,
                    event.kind,
                    delivery.attempts,
                    delivery.why,
                )
            done.append(delivery)
    return done


def webhooks_in(policy_text: str | None) -> list[WebhookSpec]:
    """The webhooks of a policy file's text; none when it has none (or cannot be read: the
    run that read it already said why)."""
    if not policy_text:
        return []
    try:
        return parse_notifications(policy_text)
    except Exception:  # notifications are optional
        return []


# ----------------------------------------------------------------------------- events


def _pr_url(forge: Forge, number: int | None) -> str | None:
    if number is None:
        return None
    try:
        return forge.get_pr(number).url
    except BotError:
        return None


def run_events(report: RunReport, forge: Forge) -> list[Event]:
    """PR opened / merged, from a (not dry) run's outcomes."""
    events = []
    for o in report.outcomes:
        facts = (("PR", f"#{o.pr_number}"),) if o.pr_number else ()
        if o.action is PrActionKind.PUSH_CREATE:
            url = _pr_url(forge, o.pr_number)
            events.append(Event("pr_opened", o.reason, o.env, url, facts))
        if o.merged:
            url = _pr_url(forge, o.pr_number)
            events.append(Event("pr_merged", o.reason, o.env, url, facts))
    return events


def release_events(decision: ReleaseDecision) -> list[Event]:
    facts: list[tuple[str, str]] = []
    if decision.main_sha:
        facts.append(("main", decision.main_sha[:12]))
    if decision.action is ReleaseAction.RELEASE:
        if decision.tag:
            facts.append(("tag", decision.tag))
        return [Event("release_shipped", decision.reason, facts=tuple(facts))]
    if decision.action is ReleaseAction.BLOCKED:
        facts += [("problem", str(p)) for p in decision.problems[:5]]
        if len(decision.problems) > 5:
            facts.append(("and", f"{len(decision.problems) - 5} more"))
        return [Event("release_blocked", decision.reason, facts=tuple(facts))]
    return []


def rollback_events(outcome: ProposalOutcome) -> list[Event]:
    if outcome.action not in (ProposalAction.PUSH_CREATE, ProposalAction.PUSH):  # a PR opened,
        # or main moved (--direct)
        return []
    facts = (("PR", f"#{outcome.pr_number}"),) if outcome.pr_number else ()
    return [Event("rollback", outcome.reason, outcome.env, outcome.url, facts)]


def notifier_for(services: Services) -> Notifier:
    """The webhooks `promotion.yaml` on main names, with the settings holding their URLs."""
    settings = services.settings
    ref = f"refs/remotes/origin/{settings.base_branch}"
    try:
        text = services.repo.show_many(ref, [settings.policy_file])[settings.policy_file]
    except BotError:
        text = None
    return Notifier(webhooks_in(text), settings.environ)


@dataclass
class Notifier:
    """What the API hands events to: the webhooks and the settings holding their URLs."""

    webhooks: Sequence[WebhookSpec]
    environ: Mapping[str, str]
    sent: list[Delivery] = field(default_factory=list)

    def __call__(self, events: Iterable[Event]) -> list[Delivery]:
        events = list(events)
        if not events or not self.webhooks:
            return []
        result = deliver(self.webhooks, events, self.environ)
        self.sent += result
        return result
