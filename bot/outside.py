"""What moving `release/<env>` ships besides the pins, and who ran it first (issue 14.3): reads.

`closure`: the files an environment's overlay pulls in at a commit: its directory, every
directory its kustomization names (recursively: the base, components) and every other file of
the repository any of them names (`bot.core.outside.references`). `changes`: the commits that
changed those files other than by the pins (`bot.core.outside.pin_only` on the overlay file
itself). `read_outside`: those changes between `release/<env>` and main, with the statuses of
the commits of `release/<previous>` that contain them all, for `bot.core.release_gate`.
A path diff, not a render: one `git log` per question instead of two `kubectl kustomize` runs
of two checkouts (docs/decisions.md).

`read_own`: for a first release, what the environment's own cluster said about the commit the
single legacy `release` branch was last released at (its newest tag `release-YYYYMMDD[-N]`).
"""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Iterable

from ruamel.yaml.error import YAMLError

from bot.adapters.git import GitRepo
from bot.core.confirm import Deployment, release_ref
from bot.core.outside import KUSTOMIZATION_FILES, pin_only, references
from bot.core.policy import EnvironmentPolicy, PromotionPolicy
from bot.core.release_gate import Outside
from bot.deployments import MAX_RELEASE_COMMITS, statuses_of
from bot.errors import BotError
from bot.forge import Forge
from bot.kustomize import read_pins_text
from bot.overlay.document import AnchorError, yaml_loader

#: The tags the nightly release put on the single `release` branch before each environment
#: had its own (`release-YYYYMMDD`, then `-2`, `-3` the same day).
LEGACY_TAG = re.compile(r"release-(?P<day>\d{8})(?:-(?P<n>\d+))?")


@functools.lru_cache(maxsize=512)
def _parse(text: str | None) -> object:
    """The plain data of a kustomization's text; None when absent or unreadable. Kept per text
    for the run (callers only read it): every environment's overlay names the same base."""
    if text is None:
        return None
    try:
        return yaml_loader("safe").load(text)
    except (YAMLError, AnchorError, ValueError):
        return None


def closure(repo: GitRepo, ref: str, overlay: str) -> tuple[str, ...]:
    """The repository paths (directories and files) whose content `overlay` renders at `ref`."""
    files = repo.tree_files(ref)
    dirs = {posixpath.dirname(f) for f in files}
    dirs |= {parent for d in list(dirs) for parent in _parents(d)}
    found: set[str] = set()
    queue, seen = [posixpath.dirname(overlay)], set()
    while queue:
        directory = queue.pop()
        if directory in seen:
            continue
        seen.add(directory)
        found.add(directory or ".")
        names = [posixpath.join(directory, name) for name in KUSTOMIZATION_FILES]
        kustomization = next((name for name in names if name in files), None)
        if kustomization is None:
            continue
        for path in references(_parse(repo.show(ref, kustomization)), directory):
            if path in dirs:
                queue.append(path)
            elif path in files:
                found.add(path)
    folders = {d for d in found if d in seen or d == "."}
    inside = {p for p in found - folders if any(d in folders for d in [*_parents(p), "."])}
    return tuple(sorted(found - inside))


def _parents(directory: str) -> list[str]:
    parts = directory.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


class Changes:
    """The commits that changed what an environment renders other than by its pins, with the
    overlay file's pin-only commits remembered across questions (one run)."""

    def __init__(self, repo: GitRepo, policy: PromotionPolicy, env: EnvironmentPolicy) -> None:
        self.repo, self.policy, self.env = repo, policy, env
        self._pin_only: dict[str, bool] = {}

    def between(self, ref: str, exclude: Iterable[str], paths: Iterable[str]) -> list[str]:
        """The commits in `ref` but in none of `exclude` that changed `paths` other than by the
        pins of the environment's overlay, newest first."""
        overlay = self.env.overlay
        commits = self.repo.commits_touching(ref, exclude, paths)
        ask = [
            (sha, parent)
            for sha, parent, files in commits
            if files == (overlay,) and parent is not None and sha not in self._pin_only
        ]
        texts = self.repo.show_each(
            [(rev, overlay) for sha, parent in ask for rev in (parent, sha)]
        )
        for sha, parent in ask:
            before, after = _parse(texts[(parent, overlay)]), _parse(texts[(sha, overlay)])
            self._pin_only[sha] = (
                before is not None
                and after is not None
                and pin_only(before, after, self.policy.image_name, self.policy.model_pin)
            )
        return [sha for sha, _, files in commits if files and not self._pin_only.get(sha, False)]


def read_outside(
    repo: GitRepo,
    forge: Forge | None,
    policy: PromotionPolicy,
    env: EnvironmentPolicy,
    previous: EnvironmentPolicy,
    *,
    main: str,
    since: str | None,
    creators: frozenset[str] | None = None,
    unknown: str = "no forge to read statuses from",
) -> Outside:
    """The changes outside the pins moving `release/<env>` from `since` (None: a first release,
    everything) to `main` ships, and the statuses of the commits of `release/<previous>` (its
    first-parent line from the tip, at most `MAX_RELEASE_COMMITS`) that contain them all
    (`forge` None: unknown, saying `unknown`)."""
    paths = closure(repo, main, env.overlay)
    changes = Changes(repo, policy, env)
    base = [since] if since is not None else []
    found = tuple(changes.between(main, base, paths)) if since is not None else ()
    if since is not None and not found:
        return Outside((), since)
    if forge is None:
        return Outside(found, since, Deployment(unknown=unknown))
    ref = f"refs/remotes/origin/{release_ref(previous.name)}"
    if repo.resolve(ref) is None:
        return Outside(found, since, Deployment())
    containing = []
    for commit in repo.first_parents(ref, None, MAX_RELEASE_COMMITS):
        if changes.between(main, [*base, commit], paths):
            break  # this commit (and every older one) lacks a change
        containing.append(commit)
    return Outside(found, since, statuses_of(forge, containing, creators))


def legacy_releases(repo: GitRepo) -> list[str]:
    """The commits the single legacy `release` branch was released at, by its tags, oldest
    first (by the tag's name)."""
    tags = repo.remote_tag_commits("release-[0-9]*")
    legacy = [
        (m["day"], int(m["n"] or 1), name) for name in tags if (m := LEGACY_TAG.fullmatch(name))
    ]
    return [tags[name] for *_, name in sorted(legacy)]


def legacy_release(repo: GitRepo) -> str | None:
    """The commit the single legacy `release` branch was last released at: its newest tag."""
    commits = legacy_releases(repo)
    return commits[-1] if commits else None


def read_own(
    repo: GitRepo,
    forge: Forge,
    policy: PromotionPolicy,
    env: EnvironmentPolicy,
    pins: tuple[object, object],
    *,
    main: str,
    creators: frozenset[str] | None = None,
) -> tuple[str, Deployment] | None:
    """For a first release of `env`: (the legacy release commit, its statuses) when its
    overlay for `env` has exactly `pins` (image, model), it is a commit of `main` and it
    contains every earlier legacy release (the branch only fast-forwarded: a newest-named tag
    on an older commit was not made by the release); None otherwise (nothing to adopt)."""
    commits = legacy_releases(repo)
    commit = commits[-1] if commits else None
    if commit is None or not repo.is_ancestor(commit, main):
        return None
    if not repo.contains_all(commit, commits):
        return None
    try:
        text = repo.show(commit, env.overlay)
        found = read_pins_text(text, policy.image_name, policy.model_pin, env.overlay)
    except BotError:
        return None
    if (found.image, found.model) != pins:
        return None
    return commit, statuses_of(forge, [commit], creators)
