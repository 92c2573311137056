"""Holds recorded in Git: `deploy/holds.yaml`, read by every run, written by `promotion-bot hold`.

    # written by `promotion-bot hold` / `unhold`; reviewed by PR like every change
    holds:
      prod:
        scope: all            # image | model | all
        reason: incident 42, wait for the postmortem
        by: ann
        until: '2026-12-01T00:00:00+00:00'   # optional; without it, until `unhold`

A file of its own (not a field in the overlay or in promotion.yaml): a hold is an operator's
short-lived decision, reviewed on its own, while the overlays hold only pins and the policy
changes rarely. No file means no holds. `render` and `parse` round-trip exactly, so a hold that
is already on main (or already proposed) writes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from io import StringIO
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from bot.core.policy import Hold, HoldScope
from bot.errors import PolicyError
from bot.policy import parse_duration

HOLDS_FILE = "deploy/holds.yaml"
MAX_REASON = 300
_HEADER = (
    "# Environments held from promotion (`promotion-bot hold ENV` / `unhold ENV` open a PR).\n"
    "# A held environment gets no promotion PR; `promotion-bot status` shows who, why, until.\n"
)
_BY = re.compile(r"[^\s\x00-\x1f\x7f]{1,100}")


def clean_reason(text: str) -> str:
    """One printable line of at most MAX_REASON characters (ValueError otherwise)."""
    reason = " ".join(text.split())
    if not reason:
        raise ValueError("a hold needs a reason")
    if len(reason) > MAX_REASON:
        raise ValueError(f"the reason is {len(reason)} characters; at most {MAX_REASON}")
    if any(not ch.isprintable() for ch in reason):
        raise ValueError("the reason has control characters")
    return reason


def check_by(text: str) -> str:
    if not _BY.fullmatch(text):
        raise ValueError(f"who holds it must be one word (a login or an email), not {text!r}")
    return text


def parse_until(text: str, now: datetime) -> datetime:
    """An ISO 8601 time with its zone (`2026-12-01T09:00:00+01:00`, `...Z`) or a duration from
    `now` (`36h`, `2d`); it must be in the future."""
    try:
        until = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        try:
            until = now + parse_duration(text)
        except ValueError:
            raise ValueError(
                f"--until {text!r}: give a time with its zone (2026-12-01T09:00:00Z) or a "
                "duration (36h, 2d)"
            ) from None
    if until.tzinfo is None:
        raise ValueError(f"--until {text!r}: give the time zone (Z or +01:00)")
    if until <= now:
        raise ValueError(f"--until {until.isoformat()} is not in the future")
    return until


class _HoldSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    scope: HoldScope = HoldScope.ALL
    reason: str
    by: str
    until: datetime | None = None

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        return clean_reason(value)

    @field_validator("by")
    @classmethod
    def _by(cls, value: str) -> str:
        return check_by(value)

    @field_validator("until")
    @classmethod
    def _zoned(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("until needs a time zone (Z or +01:00)")
        return value


class _HoldsSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    holds: dict[str, _HoldSpec] = Field(default_factory=dict)


def parse_holds(text: str | None, source: str = HOLDS_FILE) -> dict[str, Hold]:
    """The holds in `text` by environment (None: no file, no holds); PolicyError naming the
    file and the field."""
    if text is None:
        return {}
    try:
        data: Any = YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        raise PolicyError(f"{source}: not valid YAML: {exc}".replace("\n", " ")) from None
    try:
        spec = _HoldsSpec.model_validate(data or {})
    except ValidationError as exc:
        lines = [
            f"{source}: {'.'.join(map(str, e['loc'])) or '(top level)'}: "
            + str(e["msg"]).removeprefix("Value error, ")
            for e in exc.errors()
        ]
        raise PolicyError("\n".join(lines)) from None
    return {env: Hold(h.scope, h.reason, h.by, h.until) for env, h in sorted(spec.holds.items())}


def render_holds(holds: Mapping[str, Hold]) -> str:
    """The file's text for `holds` (sorted by environment; `parse_holds` reads it back)."""
    data: dict[str, Any] = {"holds": {}}
    for env in sorted(holds):
        hold = holds[env]
        entry: dict[str, str] = {"scope": hold.scope.value, "reason": hold.reason, "by": hold.by}
        if hold.until is not None:
            entry["until"] = hold.until.isoformat()
        data["holds"][env] = entry
    yaml = YAML()
    yaml.default_flow_style = False
    out = StringIO()
    yaml.dump(data, out)
    return _HEADER + out.getvalue()
