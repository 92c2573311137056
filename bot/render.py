"""Text for the terminal, from the structured results of `bot.api` (the CLI prints these).

Nothing here reads or decides: each function turns one result into lines, so the wording lives
in one place and the API keeps returning data.
"""

from __future__ import annotations

from bot.api import EnvStatus
from bot.core.confirm import controller, zulu
from bot.core.model import EnvState
from bot.core.plan import EnvPlan, Plan
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
    }


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
        *([f"  hold:       {fields['hold']}"] if row.hold else []),
        *([f"  rejected:   {fields['rejected']}"] if row.on_main.rolled_back else []),
    ]
    return [_line(line) for line in lines]
