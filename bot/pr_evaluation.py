"""The PR body's "Measured by promotion-bot" section: the evaluation gate's evidence.

Reads the `evaluation` gate's data (`bot.core.evaluation`): the metric table (candidate and
running model measured on the same pinned set, and what the registration claimed, a claim
off by more than the tolerance flagged), which classes got better or worse, the confusions
that grew, rows the candidate newly gets wrong, and the latency ratio. Every string that came
from outside (dataset names, metric names) is escaped by `bot.untrusted`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.core.evaluation import Evaluation
from bot.core.plan import Promotion
from bot.untrusted import markdown

HEAD = "### Measured by promotion-bot"
GATE = Evaluation().name


def _num(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else "—"


def _claimed(row: Mapping[str, Any], tolerance: float) -> str:
    claimed, measured = row.get("claimed"), row.get("candidate")
    if not isinstance(claimed, (int, float)):
        return "—"
    if isinstance(measured, (int, float)) and abs(claimed - measured) > tolerance + 1e-12:
        return f"❌ {_num(claimed)} (measured {_num(measured)})"
    return _num(claimed)


def _running(row: Mapping[str, Any]) -> str:
    old, new = row.get("running"), row.get("candidate")
    if not isinstance(old, (int, float)):
        return "—"
    delta = f" (Δ {new - old:+.4g})" if isinstance(new, (int, float)) else ""
    return _num(old) + delta


def _table(data: Mapping[str, Any]) -> list[str]:
    tolerance = float(data.get("claim_tolerance", 0.0))
    rows = [
        "| metric | candidate (measured) | running (measured) | claimed |",
        "|---|---|---|---|",
    ]
    for row in data.get("table", []):
        rows.append(
            f"| {markdown(str(row.get('metric')))} | {_num(row.get('candidate'))} | "
            f"{_running(row)} | {_claimed(row, tolerance)} |"
        )
    return rows


def _classes(data: Mapping[str, Any]) -> list[str]:
    changed = data.get("classes", [])
    if data.get("running_version") is None:
        return []
    better = [f"{c['label']} (+{c['delta']})" for c in changed if c["delta"] > 0]
    worse = [f"{c['label']} ({c['delta']})" for c in changed if c["delta"] < 0]
    lines = [
        "Correct rows by class (confusion-matrix diagonal): "
        + (f"better {', '.join(better)}" if better else "none better")
        + "; "
        + (f"worse {', '.join(worse)}" if worse else "none worse")
        + "."
    ]
    grown = [f"{c['true']} → {c['predicted']} (+{c['more']})" for c in data.get("confusions", [])]
    if grown:
        lines.append("Confusions that grew (true → predicted): " + ", ".join(grown) + ".")
    wrong = [f"#{w['index']}: {w['true']} → {w['predicted']}" for w in data.get("newly_wrong", [])]
    lines.append(
        "Rows the candidate newly gets wrong (index: true → predicted): "
        + (", ".join(wrong) if wrong else "none")
        + "."
    )
    return lines


def _latency(data: Mapping[str, Any]) -> list[str]:
    ratios = data.get("latency") or {}
    if not ratios:
        return []
    parts = [
        f"batch {markdown(str(batch))}: p50 {r['p50']:.2f}x, p99 {r['p99']:.2f}x"
        for batch, r in ratios.items()
    ]
    how = (
        "timed together in one run"
        if data.get("latency_same_run")
        else "each as timed when first evaluated, not together"
    )
    return [
        f"Latency, candidate / running (`session.run`, one thread, {how}): "
        + "; ".join(parts)
        + "."
    ]


def section(promotion: Promotion) -> str | None:
    """The section, or None when the environment has no evaluation spec or the model stays."""
    result = next((g for g in promotion.gates if g.gate == GATE and g.data), None)
    if result is None or "table" not in result.data:
        return None
    data = result.data
    dataset = data["dataset"]
    sha = dataset.get("sha256")
    where = markdown(f"{dataset['name']} v{dataset['version']}")
    if sha:
        where += f" (sha256 `{str(sha)[:12]}…`)"
    if dataset.get("ref") and str(dataset.get("version")) != str(dataset["ref"]).partition("@")[2]:
        where += f", resolved from {markdown(str(dataset['ref']))}"
    model = promotion.model
    version = f"v{model.after.version}" if model else "the candidate"
    running = data.get("running_version")
    against = f" and the running v{running}" if running is not None else ""
    intro = (
        f"The bot evaluated {version}{against} on {where}, {data['rows']} rows; a claimed "
        f"figure more than {_num(data.get('claim_tolerance'))} from its measurement fails."
    )
    lines = [HEAD, "", intro, "", *_table(data)]
    extra = _classes(data) + _latency(data)
    if extra:
        lines += ["", *(f"- {line}" for line in extra)]
    return "\n".join(lines)
