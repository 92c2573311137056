"""The promotion PR's title and body: one function per section, plus a hidden state marker.

The marker (`<!-- promotion-bot: {...} -->`) carries the target pins and a hash of the rendered
body, so a later run can tell "nothing changed" without diffing prose (Renovate's approach).
Nothing secret is ever passed in: the body is built from pins, metrics, checks and commit
subjects only.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence

from bot.core.model import ImagePin, ModelPin
from bot.core.plan import Promotion
from bot.forge import CommitRange
from bot.overlay.pins import MODEL_SHA256, MODEL_VERSION

MARKER_RE = re.compile(r"<!-- promotion-bot: (\{.*?\}) -->", re.DOTALL)


def title(promotion: Promotion) -> str:
    return f"Promote {promotion.summary}"


def _short(digest: str | None) -> str:
    if not digest:
        return "—"
    algo, _, hexpart = digest.partition(":")
    return f"`{algo}:{hexpart[:12]}…`" if hexpart else f"`{digest[:12]}…`"


def _image_cells(pin: ImagePin | None) -> tuple[str, str]:
    if pin is None:
        return "—", "—"
    return f"`{pin.tag}`" if pin.tag else "—", _short(pin.digest)


def _model_cells(pin: ModelPin | None) -> tuple[str, str]:
    if pin is None:
        return "—", "—"
    return f"{pin.name} v{pin.version}", f"`{pin.sha256[:12]}…`"


def section_changes(promotion: Promotion) -> str:
    rows = ["| | before | after |", "|---|---|---|"]
    if promotion.image is not None:
        b_tag, b_digest = _image_cells(promotion.image.before)
        a_tag, a_digest = _image_cells(promotion.image.after)
        rows.append(f"| image tag | {b_tag} | **{a_tag}** |")
        rows.append(f"| image digest | {b_digest} | **{a_digest}** |")
    if promotion.model is not None:
        b_ver, b_sha = _model_cells(promotion.model.before)
        a_ver, a_sha = _model_cells(promotion.model.after)
        rows.append(f"| model version | {b_ver} | **{a_ver}** |")
        rows.append(f"| model sha256 | {b_sha} | **{a_sha}** |")
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
        rows.append(f"| {name} | {fmt_old} | {fmt_new} | {delta} |")
    return "### Model metrics\n\n" + "\n".join(rows)


def section_commits(commits: CommitRange | None) -> str:
    head = "### Code between the images"
    if commits is None:
        return f"{head}\n\nThe image does not change."
    if commits.unavailable:
        return f"{head}\n\nCommit range unavailable: {commits.unavailable}."
    span = f"`{(commits.base or '?')[:12]}..{(commits.head or '?')[:12]}`"
    if not commits.commits:
        return f"{head}\n\n{span}: no commits (same source revision)."
    lines = [f"- `{c.sha[:12]}` {c.subject}" for c in commits.commits]
    return f"{head}\n\n{span}, {len(lines)} commit(s):\n\n" + "\n".join(lines)


def section_checks(promotion: Promotion) -> str:
    if not promotion.checks:
        return "### Gates\n\nNo gates apply to this environment."
    rows = [f"- {'✅' if c.passed else '❌'} **{c.name}**: {c.detail}" for c in promotion.checks]
    reasons = [f"- {r}" for r in promotion.reasons]
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
        "```sh",
    ]
    cmd = f"promotion-bot set {promotion.overlay}"
    if promotion.image is not None and promotion.image.before is not None:
        pin = promotion.image.before
        spec = f"{pin.name}={pin.new_name or pin.name}"
        spec += f":{pin.tag}" if pin.tag else ""
        spec += f"@{pin.digest}" if pin.digest else ""
        cmd += f" \\\n  --image {spec}"
    if promotion.model is not None and promotion.model.before is not None:
        pin_m = promotion.model.before
        cmd += f" \\\n  --literal {model_pin}:{MODEL_VERSION}={pin_m.version}"
        cmd += f" \\\n  --literal {model_pin}:{MODEL_SHA256}={pin_m.sha256}"
    steps += [cmd, "```"]
    return "\n".join(steps)


def marker_data(promotion: Promotion) -> dict[str, object]:
    data: dict[str, object] = {"env": promotion.env}
    if promotion.image is not None:
        data["image"] = {"tag": promotion.image.after.tag, "digest": promotion.image.after.digest}
    if promotion.model is not None:
        after = promotion.model.after
        data["model"] = {"name": after.name, "version": after.version, "sha256": after.sha256}
    return data


def render(promotion: Promotion, commits: CommitRange | None, *, model_pin: str) -> str:
    """The PR body; `model_pin` is the policy's model pin generator (for the rollback)."""
    sections: Sequence[str] = (
        f"Promotes **{promotion.env}** (`{promotion.overlay}`), opened by promotion-bot.",
        section_changes(promotion),
        section_metrics(promotion),
        section_commits(commits),
        section_checks(promotion),
        section_rollback(promotion, model_pin),
    )
    text = "\n\n".join(sections)
    data = marker_data(promotion)
    data["body_sha256"] = hashlib.sha256(text.encode()).hexdigest()
    return text + "\n\n<!-- promotion-bot: " + json.dumps(data, sort_keys=True) + " -->\n"


def read_marker(body: str) -> dict[str, object] | None:
    """The machine-readable state of a body we wrote, or None for a foreign body."""
    match = MARKER_RE.search(body or "")
    if match is None:
        return None
    try:
        data = json.loads(match.group(1))
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def same_body(existing: str, proposed: str) -> bool:
    """True when the PR already says what we would write (markers equal)."""
    ours = read_marker(proposed)
    return ours is not None and read_marker(existing) == ours
