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

from bot.adapters.git import GitRepo, LogCommit
from bot.errors import BotError
from bot.kustomize import read_pins_text
from bot.policy import PromotionPolicy
from bot.world import BotAuthor, git_identity
from bot.world import _promotions as promotions_among
from modelstore import Manifest, ModelStore, ModelStoreError
from modelstore.evaluation import cached_result, labels_sha256
from modelstore.latency import cached_comparison

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
    # made by the bot (its identity wrote the commit or the merged-in tip): only then is its
    # subject's `Rollback`/`(#N)` believed; anyone can write those words in a commit subject
    by_bot: bool = False


@dataclass(frozen=True)
class History:
    """Every environment's overlay changes (newest first), the registered metrics of each
    model version they pinned (`(name, version)` → metric → value; absent: manifest
    unreadable), and what the bot measured where it already did (`(env, sha)` → figure →
    value: the model on the environment's evaluation set, and its latency against the model
    the change replaced)."""

    changes: dict[str, tuple[Change, ...]] = field(default_factory=dict)
    metrics: dict[tuple[str, int], dict[str, float]] = field(default_factory=dict)
    measured: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)


def pr_number(subject: str) -> int | None:
    """The PR a merge commit's subject names (squash or merge commit), if any."""
    found = _SQUASH_RE.search(subject) or _MERGE_RE.match(subject)
    return int(found.group(1)) if found else None


def _bot_made(repo: GitRepo, commits: list[LogCommit], is_bot: BotAuthor) -> set[str]:
    """The commits the bot made: its own commit (a direct push, its squash or rebase merge, a
    squash merge of its PR, which names the PR's author) or a merge whose merged-in tip is its
    commit (its PR, whoever merged it)."""
    found = {c.sha for c in commits if is_bot(c.author_email)}
    tips = {c.parents[1]: c.sha for c in commits if len(c.parents) > 1}
    if tips:
        found |= {tips[sha] for sha, email, _ in repo.authors_of(list(tips)) if is_bot(email)}
    return found


def _kind(commit: LogCommit, promotions: set[str], bot_made: set[str]) -> str:
    if commit.sha in promotions:
        return "promotion"
    if commit.sha not in bot_made:
        return "change"  # whatever its subject says: a person's edit
    subject = commit.subject
    if subject.lower().startswith("rollback(") or re.match(r"^Rollback \w", subject):
        return "rollback"
    if subject.startswith("Merge pull request #") and "/rollback/" in subject:
        return "rollback"
    return "change"


def read_changes(
    repo: GitRepo,
    ref: str,
    policy: PromotionPolicy,
    limit: int = HISTORY_LIMIT,
    is_bot: BotAuthor = git_identity,
) -> dict[str, tuple[Change, ...]]:
    """Each environment's overlay changes on `ref`'s first-parent line, newest first."""
    found: dict[str, tuple[Change, ...]] = {}
    for env in policy.environments:
        commits = repo.path_log(ref, env.overlay, limit)
        texts = repo.show_each([(c.sha, env.overlay) for c in commits])
        promotions = promotions_among(repo, commits, is_bot) if commits else set()
        bot_made = (_bot_made(repo, commits, is_bot) if commits else set()) | promotions
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
                    kind=_kind(c, promotions, bot_made),
                    pr=pr_number(c.subject),
                    image_tag=image.tag if image else None,
                    image_digest=image.digest if image else None,
                    model_name=model.name if model else None,
                    model_version=model.version if model else None,
                    by_bot=c.sha in bot_made,
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


def measured_name(metric: str) -> str:
    return f"{metric} (measured)"


LATENCY_RATIO = "latency ratio p50, batch 1"  # vs the model the change replaced


def read_measured(
    store: ModelStore, policy: PromotionPolicy, changes: dict[str, tuple[Change, ...]]
) -> dict[tuple[str, str], dict[str, float]]:
    """What the bot already measured for the models each change pinned: the cached evaluation
    on the environment's evaluation set (`gates: evaluation:`) and the cached latency of the
    model against the one the change replaced, both timed in one run (issue 17). Reads only:
    a pair never measured is left out, never computed here."""
    manifests: dict[tuple[str, int], Manifest | None] = {}

    def manifest(name: str | None, version: int | None) -> Manifest | None:
        if name is None or version is None:
            return None
        if (name, version) not in manifests:
            try:
                manifests[(name, version)] = store.get_manifest(name, version)
            except ModelStoreError:
                manifests[(name, version)] = None
        return manifests[(name, version)]

    found: dict[tuple[str, str], dict[str, float]] = {}
    for env in policy.environments:
        spec = env.gates.evaluation
        if spec is None:
            continue
        ref: str | int = spec.pinned_version or (
            spec.ref if spec.ref == "latest" else f"@{spec.ref}"
        )
        try:
            dataset = store.datasets.resolve(spec.dataset, ref)
        except ModelStoreError:
            continue
        before: Manifest | None = None
        for change in reversed(changes.get(env.name, ())):  # oldest first
            model = manifest(change.model_name, change.model_version)
            if model is None:
                continue
            figures = _measured(store, model, before, dataset)
            if figures:
                found[(env.name, change.sha)] = figures
            before = model
    return found


def _measured(
    store: ModelStore, model: Manifest, before: Manifest | None, dataset: Manifest
) -> dict[str, float]:
    figures: dict[str, float] = {}
    try:
        result = cached_result(
            store, model.primary_sha256, dataset.primary_sha256, labels_sha256(model)
        )
        if result is not None:
            figures[measured_name("accuracy")] = result.metrics.accuracy
            figures[measured_name("macro_f1")] = result.metrics.macro_f1
        if before is not None and before.primary_sha256 != model.primary_sha256:
            timed = cached_comparison(
                store, model.primary_sha256, before.primary_sha256, dataset.primary_sha256
            )
            new = timed.candidate.get("1") if timed else None
            old = timed.baseline.get("1") if timed else None
            if new is not None and old is not None and old.p50_ms > 0:
                figures[LATENCY_RATIO] = new.p50_ms / old.p50_ms
    except ModelStoreError:
        pass  # an unreadable cache entry: the page shows what it could read
    return figures


def read_history(
    repo: GitRepo,
    store: ModelStore,
    ref: str,
    policy: PromotionPolicy,
    is_bot: BotAuthor = git_identity,
) -> History:
    changes = read_changes(repo, ref, policy, is_bot=is_bot)
    return History(changes, read_metrics(store, changes), read_measured(store, policy, changes))
