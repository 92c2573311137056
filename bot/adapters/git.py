"""Thin GitPython adapter: clone, fresh branches from main, commit, push with lease, history.

Every remote write is a `--force-with-lease` push naming the exact remote sha we expect, so a
concurrent writer (a human, or another bot run) is never overwritten silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import git

from bot.errors import BotError


class GitError(BotError):
    """A git operation failed."""


class PushRejectedError(GitError):
    """The remote moved since we looked (lease broken, or a non-fast-forward)."""


BOT_NAME = "promotion-bot"
BOT_EMAIL = "promotion-bot@users.noreply.invalid"


# Inherited from a hook or CI step, these would redirect every command to another repository.
_REDIRECTING = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY")


def drop_redirecting_git_env() -> None:
    """Call once at the CLI edge (like pre-commit's no_git_env)."""
    for key in _REDIRECTING:
        os.environ.pop(key, None)


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    when: datetime
    subject: str


class GitRepo:
    """A working clone whose `origin` is the GitOps repository."""

    def __init__(self, path: Path) -> None:
        try:
            self.repo = git.Repo(path)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
            raise GitError(f"{path} is not a git repository") from exc
        self.path = Path(path)

    @classmethod
    def clone(cls, url: str, dest: Path) -> GitRepo:
        try:
            git.Repo.clone_from(url, dest)
        except git.GitCommandError as exc:
            raise GitError(f"cannot clone {url}: {_stderr(exc)}") from exc
        return cls(dest)

    def _git(self, *args: str) -> str:
        try:
            return str(self.repo.git.execute(["git", *args]))
        except git.GitCommandError as exc:
            raise GitError(f"git {' '.join(args)}: {_stderr(exc)}") from exc

    def fetch(self) -> None:
        self._git("fetch", "--prune", "--quiet", "origin")

    def remote_sha(self, branch: str) -> str | None:
        """The sha of origin/<branch> as of the last fetch, or None if it does not exist."""
        try:
            return self._git("rev-parse", "--verify", "--quiet", f"refs/remotes/origin/{branch}")
        except GitError:
            return None

    def head_sha(self) -> str:
        return self._git("rev-parse", "HEAD")

    def checkout_fresh(self, branch: str, base: str) -> None:
        """(Re)create `branch` at origin/<base>, discarding local edits."""
        self._git("checkout", "--quiet", "--force", "-B", branch, f"refs/remotes/origin/{base}")
        self._git("clean", "-fdq")

    def commit(self, paths: Sequence[Path], message: str) -> str:
        rel = [str(Path(p).resolve().relative_to(self.path.resolve())) for p in paths]
        self._git("add", "--", *rel)
        self._git(
            "-c",
            f"user.name={BOT_NAME}",
            "-c",
            f"user.email={BOT_EMAIL}",
            "commit",
            "--quiet",
            "-m",
            message,
            "--",
            *rel,
        )
        return self.head_sha()

    def push_with_lease(self, local: str, branch: str, expected: str | None) -> None:
        """Push `local` to origin/<branch> only if the remote is still at `expected`.

        `expected=None` means the branch must not exist yet.
        """
        lease = f"--force-with-lease=refs/heads/{branch}:{expected or ''}"
        try:
            self._git("push", "--porcelain", lease, "origin", f"{local}:refs/heads/{branch}")
        except GitError as exc:
            if any(word in str(exc) for word in ("stale info", "rejected", "fetch first")):
                raise PushRejectedError(
                    f"origin/{branch} moved since it was read (expected "
                    f"{(expected or 'no branch')[:12]}); nothing overwritten"
                ) from exc
            raise

    def fast_forward(self, target_sha: str, branch: str, expected: str | None) -> None:
        """Move origin/<branch> to `target_sha`, which must descend from `expected`."""
        if expected is not None and not self.is_ancestor(expected, target_sha):
            raise PushRejectedError(
                f"{branch} at {expected[:12]} is not an ancestor of {target_sha[:12]}: "
                "refusing a non-fast-forward"
            )
        self.push_with_lease(target_sha, branch, expected)

    def push_tag(self, tag: str, sha: str, message: str) -> None:
        self._git(
            "-c", f"user.name={BOT_NAME}", "-c", f"user.email={BOT_EMAIL}",
            "tag", "-a", "-m", message, tag, sha,
        )  # fmt: skip
        self._git("push", "--quiet", "origin", f"refs/tags/{tag}")

    def remote_tags(self, pattern: str) -> list[str]:
        out = self._git("ls-remote", "--tags", "--refs", "origin", f"refs/tags/{pattern}")
        return sorted(line.split("refs/tags/", 1)[1] for line in out.splitlines() if line)

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        try:
            self._git("merge-base", "--is-ancestor", ancestor, descendant)
        except GitError:
            return False
        return True

    def last_change(self, path: str, ref: str) -> CommitInfo | None:
        """The newest commit on `ref` that touched `path` (repo-relative)."""
        out = self._git("log", "-1", "--format=%H%x00%ct%x00%s", ref, "--", path)
        if not out:
            return None
        sha, ts, subject = out.split("\x00", 2)
        return CommitInfo(sha, datetime.fromtimestamp(int(ts), tz=UTC), subject)

    def parent_sha(self, sha: str) -> str | None:
        try:
            return self._git("rev-parse", "--verify", "--quiet", f"{sha}^")
        except GitError:
            return None

    def authors_between(self, old: str, new: str) -> list[str]:
        """Author emails of the commits in old..new (who pushed to a branch since it forked)."""
        out = self._git("log", "--format=%ae", f"{old}..{new}")
        return [line for line in out.splitlines() if line]

    def show(self, ref: str, path: str) -> str:
        return self._git("show", f"{ref}:{path}")

    def commits_between(self, old: str, new: str, limit: int = 50) -> list[CommitInfo]:
        out = self._git("log", f"--max-count={limit}", "--format=%H%x00%ct%x00%s", f"{old}..{new}")
        result = []
        for line in out.splitlines():
            sha, ts, subject = line.split("\x00", 2)
            result.append(CommitInfo(sha, datetime.fromtimestamp(int(ts), tz=UTC), subject))
        return result

    @contextmanager
    def on_branch(self, branch: str, base: str) -> Iterator[None]:
        self.checkout_fresh(branch, base)
        try:
            yield
        finally:
            self._git("checkout", "--quiet", "--force", "--detach", f"refs/remotes/origin/{base}")


def _stderr(exc: git.GitCommandError) -> str:
    parts = [str(exc.stdout or ""), str(exc.stderr or "")]
    text = " ".join(p.strip() for p in parts if p.strip()) or str(exc)
    return " ".join(text.replace("stderr:", "").replace("stdout:", "").split()).strip("'")
