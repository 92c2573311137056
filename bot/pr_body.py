"""The promotion PR's title and body: one function per section, plus a hidden state marker.

The marker (`<!-- promotion-bot: {...} -->`, see `bot.core.marker`) carries the target pins and
a hash of the rendered body, so a later run can tell "nothing changed" without diffing prose.
Nothing secret is ever passed in: the body is built from pins, metrics, checks and commit
subjects only.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from bot import pr_evaluation
from bot.core.gates import Check
from bot.core.marker import with_marker
from bot.core.plan import Promotion
from bot.forge import CommitRange
from bot.kustomize import MODEL_NAME, MODEL_SHA256, MODEL_VERSION, UpdateResult
from bot.untrusted import markdown, terminal, terminal_lines

# Gate details and reasons quote tags, labels and metric names: long, but still bounded.
DETAIL_LIMIT = 1000
# Inside a code span only a backtick, a table's `|` and control characters can do harm.
_CODE_SAFE = re.compile(r"[^`|\\\s]{1,200}")


def title(promotion: Promotion) -> str:
    return terminal(f"Promote {promotion.summary}", limit=256)


def _code(value: str) -> str:
    """A value as inline code when it is plainly a tag/digest/name, else as escaped text."""
    safe = _CODE_SAFE.fullmatch(value) and terminal(value) == value
    return f"`{value}`" if safe else markdown(value)


def _short(digest: str | None) -> str:
    if not digest:
        return "—"
    algo, _, hexpart = digest.partition(":")
    return _code(f"{algo}:{hexpart[:12]}…") if hexpart else _code(f"{digest[:12]}…")


# How the "What changes" table names and shows each pinned field the edit changed.
_IMAGE_ROWS = {"newName": "image name", "newTag": "image tag", "digest": "image digest"}
_MODEL_ROWS = {
    MODEL_NAME: "model name",
    MODEL_VERSION: "model version",
    MODEL_SHA256: "model sha256",
}
_ORDER = [*_IMAGE_ROWS.values(), *_MODEL_ROWS.values()]


def _cell(label: str, value: str | None, model_name: str | None) -> str:
    if value is None:
        return "—"
    if label == "image digest":
        return _short(value)
    if label == "model version":
        return markdown(f"{model_name} v{value}" if model_name else f"v{value}")
    if label == "model sha256":
        return _code(f"{value[:12]}…")
    return _code(value)


def change_rows(promotion: Promotion, changes: UpdateResult) -> list[tuple[str, str, str]]:
    """(what, before, after) per changed field of the edit, pins first in a fixed order."""
    model = promotion.model
    before_name = model.before.name if model is not None and model.before else None
    after_name = model.after.name if model is not None else None
    rows: list[tuple[int, str, str, str]] = []
    for objects in changes.files.values():
        for obj, found in objects.items():
            names = _IMAGE_ROWS if obj.startswith("images[") else _MODEL_ROWS
            for change in found:
                label = names.get(change.field) or markdown(f"{obj}.{change.field}")
                before = _cell(label, change.old, before_name)
                after = _cell(label, change.new, after_name)
                rank = _ORDER.index(label) if label in _ORDER else len(_ORDER)
                rows.append((rank, label, before, after))
    return [(label, before, after) for _, label, before, after in sorted(rows, key=lambda r: r[0])]


def section_changes(promotion: Promotion, changes: UpdateResult) -> str:
    """Before and after of every value the overlay edit changes (the edit's own result)."""
    rows = ["| | before | after |", "|---|---|---|"]
    rows += [
        f"| {label} | {before} | **{after}** |"
        for label, before, after in change_rows(promotion, changes)
    ]
    return "### What changes\n\n" + "\n".join(rows)


def section_metrics(promotion: Promotion) -> str:
    if promotion.model is None:
        return "### Model metrics\n\nThe model does not change."
    before, after = promotion.model.metrics_before, promotion.model.metrics_after
    names = sorted(set(before) | set(after))
    if not names:
        return "### Model metrics\n\nNeither version reports metrics."
    rows = ["| metric | running | proposed | Δ |", "|---|---|---|---|"]
    for name in names:
        old, new = before.get(name), after.get(name)
        delta = f"{new - old:+.4g}" if old is not None and new is not None else "—"
        fmt_old = f"{old:.4g}" if old is not None else "—"
        fmt_new = f"{new:.4g}" if new is not None else "—"
        rows.append(f"| {markdown(name)} | {fmt_old} | {fmt_new} | {delta} |")
    return "### Model metrics\n\n" + "\n".join(rows)


def section_commits(commits: CommitRange | None) -> str:
    head = "### Code between the images"
    if commits is None:
        return f"{head}\n\nThe image does not change."
    if commits.unavailable:
        why = markdown(commits.unavailable, limit=DETAIL_LIMIT)
        return f"{head}\n\nCommit range unavailable: {why}."
    span = _code(f"{(commits.base or '?')[:12]}..{(commits.head or '?')[:12]}")
    if not commits.commits:
        return f"{head}\n\n{span}: no commits (same source revision)."
    lines = [f"- {_code(c.sha[:12])} {markdown(c.subject)}" for c in commits.commits]
    return f"{head}\n\n{span}, {len(lines)} commit(s):\n\n" + "\n".join(lines)


def gate_row(check: Check) -> str:
    """One evidence row of any gate (bot/core/gates.py): the section knows no gate by name."""
    detail = markdown(check.detail, limit=DETAIL_LIMIT)
    return f"- {'✅' if check.passed else '❌'} **{markdown(check.name)}**: {detail}"


def section_checks(promotion: Promotion) -> str:
    """Every gate's evidence rows, in the order the planner ran the gates, then why now."""
    if not promotion.checks:
        return "### Gates\n\nNo gates apply to this environment."
    rows = [gate_row(check) for check in promotion.checks]
    reasons = [f"- {markdown(r, limit=DETAIL_LIMIT)}" for r in promotion.reasons]
    text = "### Gates\n\n" + "\n".join(rows)
    if reasons:
        text += "\n\nWhy now:\n\n" + "\n".join(reasons)
    return text


def section_rollback(promotion: Promotion, model_pin: str) -> str:
    """How to undo: revert the merge, or pin the old values (`model_pin`: the generator)."""
    steps = [
        "### How to roll back",
        "",
        "Revert the merge commit of this PR on `main` (`git revert -m 1 <merge sha>`, or "
        "GitHub's *Revert* button); the nightly release ships the revert. For an urgent "
        "rollback, pin the previous values by hand:",
        "",
    ]
    # Reviewers paste this into a shell: every value from the overlay is quoted for it.
    cmd = f"promotion-bot set {shlex.quote(promotion.overlay)}"
    if promotion.image is not None and promotion.image.before is not None:
        pin = promotion.image.before
        spec = f"{pin.name}={pin.new_name or pin.name}"
        spec += f":{pin.tag}" if pin.tag else ""
        spec += f"@{pin.digest}" if pin.digest else ""
        cmd += f" \\\n  --image {shlex.quote(spec)}"
    if promotion.model is not None and promotion.model.before is not None:
        pin_m = promotion.model.before
        for key, value in ((MODEL_VERSION, pin_m.version), (MODEL_SHA256, pin_m.sha256)):
            cmd += f" \\\n  --literal {shlex.quote(f'{model_pin}:{key}={value}')}"
    # The old values come from the overlay: a fence longer than any backtick run they hold.
    fence = "`" * max([3, *(len(run) + 1 for run in re.findall(r"`+", cmd))])
    steps += [f"{fence}sh", terminal_lines(cmd), fence]
    return "\n".join(steps)


def render(
    promotion: Promotion, commits: CommitRange | None, changes: UpdateResult, *, model_pin: str
) -> str:
    """The PR body; `changes`: what the overlay edit changed (`kustomize.edit_text`);
    `model_pin`: the policy's model pin generator (for the rollback)."""
    sections: Sequence[str] = (
        f"Promotes **{markdown(promotion.env)}** ({_code(promotion.overlay)}), opened by "
        "promotion-bot.",
        section_changes(promotion, changes),
        section_metrics(promotion),
        *filter(None, [pr_evaluation.section(promotion)]),  # issue 17: what the bot measured
        section_commits(commits),
        section_checks(promotion),
        section_rollback(promotion, model_pin),
    )
    return with_marker(promotion, "\n\n".join(sections))
