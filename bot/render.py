"""Text for the terminal, from the structured results of `bot.api` (the CLI prints these).

Nothing here reads or decides: each function turns one result into lines, so the wording lives
in one place and the API keeps returning data.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.api import EnvStatus, ReleaseStep
from bot.core.confirm import controller, release_ref, zulu
from bot.core.model import EnvState
from bot.core.plan import EnvPlan, Plan
from bot.core.policy import zone
from bot.core.release_gate import Wait
from bot.runner import EnvOutcome
from bot.untrusted import terminal

# Lines quote tags, labels, PR titles and reasons from outside: one line each, no escapes.
LINE_LIMIT = 2000


def _line(text: str) -> str:
    """`text` safe for a terminal, its leading indentation kept."""
    body = text.lstrip(" ")
    return text[: len(text) - len(body)] + terminal(body, limit=LINE_LIMIT)


def plan_lines(result: Plan) -> list[str]:
    """`env: PROMOTE <what>` / `HELD <what>` / `nothing to do`, each with its reasons."""
    lines = []
    for env_plan in result.envs:
        if env_plan.promotion is not None:
            lines.append(f"{env_plan.env}: PROMOTE {env_plan.promotion.headline}")
        elif env_plan.held is not None:
            lines.append(f"{env_plan.env}: HELD {env_plan.held.headline}")
        else:
            lines.append(f"{env_plan.env}: nothing to do")
        lines += [f"  - {reason}" for reason in env_plan.reasons]
    return [_line(line) for line in lines]


def outcome_line(outcome: EnvOutcome, *, dry_run: bool) -> str:
    """`env: <action>[ (PR #n)]: <reason>`; a dry run says what it `would` write."""
    pr = f" (PR #{outcome.pr_number})" if outcome.pr_number else ""
    verb = f"would {outcome.label}" if dry_run and outcome.wrote else outcome.label
    return _line(f"{outcome.env}: {verb}{pr}: {outcome.reason}")


def pins_text(state: EnvState | None) -> str:
    if state is None:
        return "(no release yet)"
    image, model = state.image, state.model
    parts = [f"image {image.tag}" if image is not None and image.tag else "image —"]
    parts.append(f"model {model.name} v{model.version}" if model is not None else "model —")
    return ", ".join(parts)


def next_step(env_plan: EnvPlan) -> str:
    if env_plan.promotion is not None:  # plus the tags passed over to reach it, if any
        skipped = [r for r in env_plan.reasons if r.startswith("tag ") and " skipped: " in r]
        return "; ".join([f"promote: {env_plan.promotion.headline}", *skipped])
    if env_plan.held is not None:
        return "held: " + "; ".join(env_plan.reasons)
    return "up to date: " + "; ".join(env_plan.reasons)


def status_fields(row: EnvStatus) -> dict[str, str]:
    """One environment's status as text, by field (the `status --json` form too)."""
    pr = row.pending_pr
    return {
        "env": row.env,
        "on_main": pins_text(row.on_main),
        "released": pins_text(row.released),
        "pending_pr": f"#{pr.number} {pr.title}" if pr else "none",
        "next_step": next_step(row.plan),
        "hold": row.hold.describe() if row.hold else "none",
        # pins a person rolled this environment back from: never proposed again for it
        "rejected": "; ".join(r.describe() for r in row.on_main.rolled_back) or "none",
        "confirmed": confirmed_text(row),
        # the nightly release's step for the environment (its gate's words and time)
        "release": release_text(row.env, row.release),
        "release_waits": release_waits(row.release),
        "release_eligible_at": release_eligible_at(row.release),
    }


def when_text(at: datetime, zone_name: str) -> str:
    """A time in the environment's zone and in UTC: `2026-11-28T10:00:00+01:00 (Europe/Berlin;
    2026-11-28T09:00:00Z)`, just the UTC form for an environment on UTC."""
    if zone_name == "UTC":
        return zulu(at)
    try:
        local = at.astimezone(zone(zone_name)).isoformat()
    except ValueError:  # a zone this host does not know: UTC alone is still the truth
        return zulu(at)
    return f"{local} ({zone_name}; {zulu(at)})"


def release_text(env: str, step: ReleaseStep | None) -> str:
    """`released up to date`, `can release: ...`, or `release waits: <the nightly's reason>;
    eligible at <time>` (`at the earliest` when the time ends a freeze or hold only, after
    which the soaks are read; `not yet known` while a confirmation or a hold's end is)."""
    if step is None:
        return "unknown"
    if step.up_to_date:
        return "released up to date"
    wait = step.wait
    if wait is None:
        return (
            f"can release: the next nightly release moves {release_ref(env)} to main "
            "(if main passes its checks)"
        )
    if wait.eligible_at is None:
        why = "until the hold is lifted" if Wait.HOLD in wait.waits else "no confirmation yet"
        when = f"eligible: not yet known ({why})"
    else:
        earliest = " the earliest" if wait.earliest else ""
        when = f"eligible at{earliest} {when_text(wait.eligible_at, step.zone)}"
    return f"release waits: {wait.reason}; {when}"


def release_waits(step: ReleaseStep | None) -> str:
    """What the release waits for, as `status --json` names it: `soak, outside`, or `none`."""
    if step is None or step.wait is None:
        return "none"
    return ", ".join(w.value for w in step.wait.waits)


def release_eligible_at(step: ReleaseStep | None) -> str:
    """When the release may move (UTC), or `none`: nothing waits, or the time is not known."""
    if step is None or step.wait is None or step.wait.eligible_at is None:
        return "none"
    return zulu(step.wait.eligible_at.astimezone(UTC))


def confirmed_text(row: EnvStatus) -> str:
    """What the cluster confirmed running: `healthy since T (context on commit)` or why not."""
    found = row.confirmed
    if found is None:
        return "nothing released"
    if found.unknown is not None:
        return f"unknown ({found.unknown})"
    if found.evidence is not None and found.since is not None:
        ev = found.evidence
        who = controller(ev.context, row.env, found.mode) or "?"
        return f"healthy since {zulu(found.since)} ({who}: {ev.context} on {ev.commit[:12]})"
    if found.reset_by is not None:
        ev = found.reset_by
        return f"unhealthy: {ev.context} {ev.state} on {ev.commit[:12]} at {zulu(ev.created_at)}"
    if found.waiting:
        return f"not yet: no success from {', '.join(found.waiting)}"
    return "not confirmed: no deployment status on the release"


def status_lines(row: EnvStatus) -> list[str]:
    fields = status_fields(row)
    lines = [
        fields["env"],
        f"  on main:    {fields['on_main']}",
        f"  released:   {fields['released']}",
        f"  confirmed:  {fields['confirmed']}",
        f"  pending PR: {fields['pending_pr']}",
        f"  next:       {fields['next_step']}",
        f"  release:    {fields['release']}",
        *([f"  hold:       {fields['hold']}"] if row.hold else []),
        *([f"  rejected:   {fields['rejected']}"] if row.on_main.rolled_back else []),
    ]
    return [_line(line) for line in lines]
