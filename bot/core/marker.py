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


#: An elapsed time in a gate row ("dev confirmed healthy for 2h0m3s"): `human()`'s format.
_ELAPSED_RE = re.compile(r" for -?(?:\d+[dhms])+\b")


def with_marker(promotion: Promotion, text: str) -> str:
    """`text` followed by the marker of `promotion` and of `text` itself, whose hash leaves
    out elapsed times: they grow every run (on the forge's clock, even between two runs at
    the same bot `now`), and rewriting a PR only because time passed is a write for nothing
    (the dashboard drops them the same way; the eligible time stays)."""
    data = marker_data(promotion)
    data[BODY_HASH] = hashlib.sha256(_ELAPSED_RE.sub("", text).encode()).hexdigest()
    return text + "\n\n<!-- promotion-bot: " + json.dumps(data, sort_keys=True) + " -->\n"


def read_marker(body: str) -> dict[str, object] | None:
    """The machine-readable state of a body we wrote, or None for a foreign body.

    Only the last marker counts, and only when nothing but whitespace follows it and its data
    has the shape `marker_data` writes: text quoted higher up in a body (a commit subject, a
    reviewer's edit) can never stand in for it.
    """
    matches = list(MARKER_RE.finditer(body or ""))
    if not matches or body[matches[-1].end() :].strip():
        return None
    try:
        data = json.loads(matches[-1].group(1))  # `{...}`: an object, if it parses at all
    except json.JSONDecodeError:
        return None
    return data if _well_formed(data) else None


_HEX64 = re.compile(r"[0-9a-f]{64}")


def _optional_str(value: object) -> bool:
    return value is None or isinstance(value, str)


def _well_formed(data: dict[str, object]) -> bool:
    """The keys and types `marker_data` + `with_marker` write, nothing else."""
    if not set(data) <= {"env", "image", "model", BODY_HASH} or not isinstance(
        data.get("env"), str
    ):
        return False
    digest = data.get(BODY_HASH)
    if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
        return False
    image = data.get("image", {"tag": None, "digest": None})
    if not isinstance(image, dict) or set(image) != {"tag", "digest"}:
        return False
    if not (_optional_str(image["tag"]) and _optional_str(image["digest"])):
        return False
    model = data.get("model", {"name": "", "version": 0, "sha256": "0" * 64})
    return (
        isinstance(model, dict)
        and set(model) == {"name", "version", "sha256"}
        and isinstance(model["name"], str)
        and type(model["version"]) is int
        and isinstance(model["sha256"], str)
        and _HEX64.fullmatch(model["sha256"]) is not None
    )


def same_body(existing: str, proposed: str) -> bool:
    """True when the PR already says what we would write (markers equal)."""
    ours = read_marker(proposed)
    return ours is not None and read_marker(existing) == ours


def same_target(marker: dict[str, object], promotion: Promotion) -> bool:
    """True when a body's marker proposed exactly `promotion`'s pins (whatever its prose)."""
    return {k: v for k, v in marker.items() if k != BODY_HASH} == marker_data(promotion)
