"""The hidden state marker of a promotion PR body: its target pins as JSON (Renovate's approach).

`<!-- promotion-bot: {...} -->` carries the target pins and a hash of the rendered body, so a
later run tells "already proposed as is" or "a reviewer rejected exactly this" without diffing
prose. Pure: the PR body module writes the marker, the PR action table compares markers.
"""

from __future__ import annotations

import hashlib
import json
import re

from bot.core.plan import Promotion

MARKER_RE = re.compile(r"<!-- promotion-bot: (\{.*?\}) -->", re.DOTALL)
BODY_HASH = "body_sha256"


def marker_data(promotion: Promotion) -> dict[str, object]:
    """The promotion's target: environment and the pins it moves to."""
    data: dict[str, object] = {"env": promotion.env}
    if promotion.image is not None:
        data["image"] = {"tag": promotion.image.after.tag, "digest": promotion.image.after.digest}
    if promotion.model is not None:
        after = promotion.model.after
        data["model"] = {"name": after.name, "version": after.version, "sha256": after.sha256}
    return data


def with_marker(promotion: Promotion, text: str) -> str:
    """`text` followed by the marker of `promotion` and of `text` itself."""
    data = marker_data(promotion)
    data[BODY_HASH] = hashlib.sha256(text.encode()).hexdigest()
    return text + "\n\n<!-- promotion-bot: " + json.dumps(data, sort_keys=True) + " -->\n"


def read_marker(body: str) -> dict[str, object] | None:
    """The machine-readable state of a body we wrote, or None for a foreign body."""
    match = MARKER_RE.search(body or "")
    if match is None:
        return None
    try:
        data: dict[str, object] = json.loads(match.group(1))  # `{...}`: always an object
    except json.JSONDecodeError:
        return None
    return data


def same_body(existing: str, proposed: str) -> bool:
    """True when the PR already says what we would write (markers equal)."""
    ours = read_marker(proposed)
    return ours is not None and read_marker(existing) == ours


def same_target(marker: dict[str, object], promotion: Promotion) -> bool:
    """True when a body's marker proposed exactly `promotion`'s pins (whatever its prose)."""
    return {k: v for k, v in marker.items() if k != BODY_HASH} == marker_data(promotion)
