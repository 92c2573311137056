"""Rollbacks that stick: the pins a person rolled an environment back from (pure).

The shell (`bot.world.read_rollbacks`) reads the overlay's first-parent history on main as
plain `PinsChange`s, oldest first; `rolled_back` finds the changes that moved a pin
*backwards* (an older tag by the environment's tag policy, a lower model version) and were not
the bot's own: a `git revert`, `promotion-bot set`, a hand edit. The pins moved away from are
rejected for that environment (`bot.core.gates.RolledBack` refuses them, and notes the
rollback on a newer candidate). A later change by a person back to a rejected pin re-approves
it; the bot's own changes never do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.core.model import ImagePin, ModelPin
from bot.core.tags import TagPolicy


@dataclass(frozen=True)
class PinsChange:
    """One commit on main that touched an environment's overlay, with its pins before/after."""

    sha: str
    subject: str
    by_bot: bool  # the bot's own commit, or the merge of a branch only the bot committed to
    image_before: ImagePin | None
    image_after: ImagePin | None
    model_before: ModelPin | None
    model_after: ModelPin | None


@dataclass(frozen=True)
class Rollback:
    """A pin rolled back from (exactly one of `image` / `model`) and the commit that did it."""

    sha: str
    subject: str
    image: ImagePin | None = None
    model: ModelPin | None = None

    @property
    def what(self) -> str:
        if self.image is not None:
            return f"image {self.image.tag or self.image.digest}"
        assert self.model is not None  # noqa: S101 (one of the two, by construction)
        return f"model v{self.model.version}"

    def describe(self) -> str:
        return f"{self.what} was rolled back by {self.sha[:12]} ({self.subject})"


def same_image(a: ImagePin, b: ImagePin) -> bool:
    """The same image: by digest when both have one, else by reference."""
    if a.digest and b.digest:
        return a.digest == b.digest
    return a.reference == b.reference


def _image_back(policy: TagPolicy, before: ImagePin | None, after: ImagePin | None) -> bool:
    if before is None or after is None or same_image(before, after):
        return False
    if before.tag is None or after.tag is None or before.tag == after.tag:
        return False
    return policy.latest([before.tag, after.tag]) == before.tag


def _model_back(before: ModelPin | None, after: ModelPin | None) -> bool:
    return (
        before is not None
        and after is not None
        and before.name == after.name
        and after.version < before.version
    )


def rolled_back(changes: Iterable[PinsChange], tag_policy: TagPolicy) -> tuple[Rollback, ...]:
    """The pins rejected for the environment after `changes` (oldest first), oldest first."""
    rejected: list[Rollback] = []
    for change in changes:
        if change.by_bot:
            continue
        image, model = change.image_after, change.model_after
        # a person moving (back) to a rejected pin approves it again
        rejected = [
            r
            for r in rejected
            if not (r.image is not None and image is not None and same_image(r.image, image))
            and not (r.model is not None and r.model == model)
        ]
        if _image_back(tag_policy, change.image_before, image):
            rejected.append(Rollback(change.sha, change.subject, image=change.image_before))
        if _model_back(change.model_before, model):
            rejected.append(Rollback(change.sha, change.subject, model=change.model_before))
    return tuple(rejected)
