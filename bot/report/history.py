"""What the report shows besides `status`: each environment's overlay history on main (who
changed its pins, when, through which PR, to what) and the measured metrics of the model
versions it ran.

Only reads: the Git history of the overlays (one `git log` and one `git cat-file --batch` per
environment) and one manifest per model version pinned in that history.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from bot.adapters.git import GitRepo, LogCommit, PathCommit
from bot.errors import BotError
from bot.kustomize import read_pins_text
from bot.policy import PromotionPolicy
from bot.world import _promotions as promotions_among
from modelstore import ModelStore, ModelStoreError

#: Overlay changes per environment the timeline shows (newest first).
HISTORY_LIMIT = 50

# GitHub's (and the local GitHub's) merge subjects: squash `Title (#12)`, merge
# `Merge pull request #12 from owner/branch`.
_SQUASH_RE = re.compile(r"\(#(\d{1,9})\)\s*$")
_MERGE_RE = re.compile(r"^Merge pull request #(\d{1,9}) ")


@dataclass(frozen=True)
class Change:
    """One change of an environment's overlay on main, with the pins it left."""

    env: str
    sha: str
    when: datetime
    author: str
    author_email: str
    subject: str
    kind: str  # promotion | rollback | change (a person's edit)
    pr: int | None = None
    image_tag: str | None = None
    image_digest: str | None = None
    model_name: str | None = None
    model_version: int | None = None


@dataclass(frozen=True)
class History:
    """Every environment's overlay changes (newest first) and the metrics of each model
    version they pinned (`(name, version)` → metric → value; absent: manifest unreadable)."""

    changes: dict[str, tuple[Change, ...]] = field(default_factory=dict)
    metrics: dict[tuple[str, int], dict[str, float]] = field(default_factory=dict)


def pr_number(subject: str) -> int | None:
    """The PR a merge commit's subject names (squash or merge commit), if any."""
    found = _SQUASH_RE.search(subject) or _MERGE_RE.match(subject)
    return int(found.group(1)) if found else None


def _kind(commit: LogCommit, promotions: set[str]) -> str:
    if commit.sha in promotions:
        return "promotion"
    subject = commit.subject
    if subject.lower().startswith("rollback(") or re.match(r"^Rollback \w", subject):
        return "rollback"
    if subject.startswith("Merge pull request #") and "/rollback/" in subject:
        return "rollback"
    return "change"


def read_changes(
    repo: GitRepo, ref: str, policy: PromotionPolicy, limit: int = HISTORY_LIMIT
) -> dict[str, tuple[Change, ...]]:
    """Each environment's overlay changes on `ref`'s first-parent line, newest first."""
    found: dict[str, tuple[Change, ...]] = {}
    for env in policy.environments:
        commits = repo.path_log(ref, env.overlay, limit)
        texts = repo.show_each([(c.sha, env.overlay) for c in commits])
        as_path: list[PathCommit] = [
            PathCommit(c.sha, c.parents, c.author_email, c.subject) for c in commits
        ]
        promotions = promotions_among(repo, as_path) if commits else set()
        changes = []
        for c in commits:
            text = texts[(c.sha, env.overlay)]
            try:
                pins = (
                    read_pins_text(text, policy.image_name, policy.model_pin, env.overlay)
                    if text is not None
                    else None
                )
            except BotError:
                pins = None  # an unreadable overlay in the past: shown without pins
            image = pins.image if pins else None
            model = pins.model if pins else None
            changes.append(
                Change(
                    env=env.name,
                    sha=c.sha,
                    when=c.when,
                    author=c.author_name,
                    author_email=c.author_email,
                    subject=c.subject,
                    kind=_kind(c, promotions),
                    pr=pr_number(c.subject),
                    image_tag=image.tag if image else None,
                    image_digest=image.digest if image else None,
                    model_name=model.name if model else None,
                    model_version=model.version if model else None,
                )
            )
        found[env.name] = tuple(changes)
    return found


def read_metrics(
    store: ModelStore, changes: dict[str, tuple[Change, ...]]
) -> dict[tuple[str, int], dict[str, float]]:
    """The registered metrics of every model version the changes pinned (a version whose
    manifest cannot be read is left out: the report shows what it can)."""
    versions = sorted(
        {
            (c.model_name, c.model_version)
            for env_changes in changes.values()
            for c in env_changes
            if c.model_name is not None and c.model_version is not None
        }
    )
    metrics: dict[tuple[str, int], dict[str, float]] = {}
    for name, version in versions:
        try:
            metrics[(name, version)] = dict(store.get_manifest(name, version).metrics)
        except ModelStoreError:
            continue
    return metrics


def read_history(repo: GitRepo, store: ModelStore, ref: str, policy: PromotionPolicy) -> History:
    changes = read_changes(repo, ref, policy)
    return History(changes, read_metrics(store, changes))
