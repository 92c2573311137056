"""Thin adapter over a bare Git repository: every read and write is a `git` subprocess.

Merges use git's own merge machinery (`git merge-tree --write-tree`, the same "ort" merge that
`git merge` runs) and land with `git update-ref <ref> <new> <old>`, a compare-and-swap: a push
that moves the base branch in between makes the update fail instead of being overwritten.
Rebase merges cherry-pick in a temporary worktree of the bare repository.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from localworld.github.errors import GitCommandError

ZERO_OID = "0" * 40
_SEP = "\x1f"
_COMMIT_FORMAT = _SEP.join(["%H", "%T", "%P", "%an", "%ae", "%aI", "%cn", "%ce", "%cI", "%B"])
_KEEP_GIT_ENV = {"GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM"}


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for git: inherited GIT_* variables (GIT_DIR, ...) never leak in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") or k in _KEEP_GIT_ENV}
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    date: str


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    tree: str
    parents: tuple[str, ...]
    author: Person
    committer: Person
    message: str


@dataclass(frozen=True)
class FileChange:
    filename: str
    status: str  # GitHub's vocabulary: added, removed, modified, renamed, copied, changed
    additions: int
    deletions: int
    blob_sha: str
    previous_filename: str | None
    patch: str | None


_STATUS = {"A": "added", "D": "removed", "M": "modified", "R": "renamed", "C": "copied"}


def safe_rev(rev: str) -> bool:
    """Revisions from URLs must not look like options or carry control characters."""
    return bool(rev) and not rev.startswith("-") and all(c.isprintable() for c in rev)


class BareRepo:
    """One bare repository on disk, read and written only through `git` argument lists."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def run(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        ok: Sequence[int] = (0,),
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        argv = ["git", f"--git-dir={self.path}", *args] if cwd is None else ["git", *args]
        result = subprocess.run(
            argv, capture_output=True, text=True, env=git_env(env), check=False, cwd=cwd
        )
        if result.returncode not in ok:
            raise GitCommandError(list(args), result.stderr)
        return result

    def exists(self) -> bool:
        return (self.path / "HEAD").is_file() and (self.path / "objects").is_dir()

    def default_branch(self) -> str:
        out = self.run("symbolic-ref", "--quiet", "--short", "HEAD", ok=(0, 1)).stdout.strip()
        return out or "main"

    def resolve(self, rev: str) -> str | None:
        """The commit sha `rev` names, or None (unknown names are not errors)."""
        if not safe_rev(rev):
            return None
        result = self.run(
            "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}", ok=(0, 1)
        )
        return result.stdout.strip() or None

    def refs(self, prefix: str = "refs/") -> list[tuple[str, str, str]]:
        """(refname, object sha, object type) for every ref under `prefix`, sorted by name."""
        out = self.run(
            "for-each-ref", "--format=%(refname)%00%(objectname)%00%(objecttype)", prefix
        ).stdout
        rows = [tuple(line.split("\0")) for line in out.splitlines() if line]
        return [(r[0], r[1], r[2]) for r in rows if r[0].startswith(prefix)]

    def ref_sha(self, refname: str) -> str | None:
        for name, sha, _ in self.refs(refname):
            if name == refname:
                return sha
        return None

    def branches(self) -> list[tuple[str, str]]:
        return [
            (name.removeprefix("refs/heads/"), sha) for name, sha, _ in self.refs("refs/heads/")
        ]

    def valid_refname(self, refname: str) -> bool:
        if not refname.startswith("refs/") or not safe_rev(refname):
            return False
        return self.run("check-ref-format", refname, ok=(0, 1)).returncode == 0

    def object_type(self, sha: str) -> str | None:
        if not safe_rev(sha):
            return None
        out = self.run("cat-file", "-t", "--end-of-options", sha, ok=(0, 128)).stdout.strip()
        return out or None

    def update_ref(self, refname: str, new: str, old: str | None = None) -> bool:
        """Set `refname` to `new`; with `old`, only if it still points there (ZERO_OID: absent).

        Returns False when the compare-and-swap lost; raises on any other failure.
        """
        args = ["update-ref", "-m", "localworld github", refname, new]
        if old is not None:
            args.append(old)
        result = self.run(*args, ok=(0, 1, 128))
        if result.returncode == 0:
            return True
        if old is not None:
            return False
        raise GitCommandError(args, result.stderr)

    def delete_ref(self, refname: str, old: str | None = None) -> bool:
        args = ["update-ref", "-d", refname, *([old] if old else [])]
        return self.run(*args, ok=(0, 1, 128)).returncode == 0

    def commits(self, shas: Sequence[str]) -> list[CommitInfo]:
        """Commit metadata for `shas`, in the given order (one `git log` call)."""
        if not shas:
            return []
        out = self.run(
            "log", "--no-walk=unsorted", f"--format={_COMMIT_FORMAT}%x00", *shas, "--"
        ).stdout
        infos = []
        for raw_record in out.split("\0"):
            record = raw_record.lstrip("\n")
            if not record:
                continue
            f = record.split(_SEP)
            infos.append(
                CommitInfo(
                    sha=f[0],
                    tree=f[1],
                    parents=tuple(f[2].split()),
                    author=Person(f[3], f[4], f[5]),
                    committer=Person(f[6], f[7], f[8]),
                    message=_SEP.join(f[9:]).rstrip("\n"),
                )
            )
        return infos

    def commit(self, sha: str) -> CommitInfo:
        return self.commits([sha])[0]

    def merge_base(self, a: str, b: str) -> str | None:
        return self.run("merge-base", a, b, ok=(0, 1)).stdout.strip() or None

    def rev_list(self, include: str, exclude: str | None = None) -> list[str]:
        """Commits reachable from `include` but not `exclude`, oldest first."""
        args = ["rev-list", "--reverse", "--topo-order", include]
        if exclude:
            args.append(f"^{exclude}")
        return self.run(*args, "--").stdout.split()

    def is_ancestor(self, a: str, b: str) -> bool:
        return self.run("merge-base", "--is-ancestor", a, b, ok=(0, 1)).returncode == 0

    def merge_tree(self, base: str, head: str) -> tuple[str | None, list[str]]:
        """(tree of the merge, []) when it merges cleanly, else (None, conflicted paths)."""
        result = self.run(
            "merge-tree", "--write-tree", "--no-messages", "--name-only", base, head, ok=(0, 1)
        )
        lines = result.stdout.splitlines()
        if result.returncode == 0:
            return lines[0], []
        return None, sorted({line for line in lines[1:] if line})

    def commit_tree(
        self, tree: str, parents: Sequence[str], message: str, author: Person, committer: Person
    ) -> str:
        args = ["commit-tree", tree, "-m", message]
        for parent in parents:
            args += ["-p", parent]
        return self.run(*args, env=_identity_env(author, committer)).stdout.strip()

    def rebase(self, onto: str, commits: Sequence[str], committer: Person) -> str | None:
        """Replay `commits` onto `onto` in a temporary worktree; None on a conflict."""
        with tempfile.TemporaryDirectory(prefix="lw-gh-rebase-") as tmp:
            work = Path(tmp) / "wt"
            self.run("worktree", "add", "--detach", "--quiet", str(work), onto)
            try:
                env = _identity_env(committer, committer)
                result = subprocess.run(
                    ["git", "cherry-pick", "--allow-empty", "--keep-redundant-commits", *commits],
                    cwd=work,
                    capture_output=True,
                    text=True,
                    check=False,
                    env=git_env({k: v for k, v in env.items() if k.startswith("GIT_COMMITTER")}),
                )
                if result.returncode != 0:
                    return None
                return self.run("rev-parse", "HEAD", cwd=work).stdout.strip()
            finally:
                self.run("worktree", "remove", "--force", str(work), ok=(0, 128))
                self.run("worktree", "prune")

    def diff_files(self, a: str, b: str, *, patches: bool = True) -> list[FileChange]:
        raw = self.run("diff", "--raw", "-z", "-M", "--no-abbrev", a, b, "--").stdout.split("\0")
        nums = self.run("diff", "--numstat", "-z", "-M", a, b, "--").stdout.split("\0")
        counts = _numstat(nums)
        changes: list[FileChange] = []
        i = 0
        while i < len(raw) and raw[i]:
            meta = raw[i].split()
            code = meta[4][0]
            if code in "RC":
                old, new = raw[i + 1], raw[i + 2]
                i += 3
            else:
                old, new = raw[i + 1], raw[i + 1]
                i += 2
            adds, dels = counts.get(new, (0, 0))
            blob = meta[3] if code != "D" else meta[2]
            patch = None
            if patches:
                paths = [old, new] if old != new else [new]
                diff = self.run("diff", "-M", a, b, "--", *paths).stdout
                patch = diff.split("\n@@", 1)[1] if "\n@@" in diff else None
                patch = f"@@{patch}".rstrip("\n") if patch is not None else None
            changes.append(
                FileChange(
                    filename=new,
                    status=_STATUS.get(code, "changed"),
                    additions=adds,
                    deletions=dels,
                    blob_sha=blob,
                    previous_filename=old if code in "RC" else None,
                    patch=patch,
                )
            )
        return changes


def _numstat(fields: list[str]) -> dict[str, tuple[int, int]]:
    """Parse `git diff --numstat -z`: renames put the two paths in the next two fields."""
    counts: dict[str, tuple[int, int]] = {}
    i = 0
    while i < len(fields) and fields[i]:
        adds, dels, path = fields[i].split("\t", 2)
        if path == "":
            path = fields[i + 2]
            i += 3
        else:
            i += 1
        counts[path] = (int(adds) if adds != "-" else 0, int(dels) if dels != "-" else 0)
    return counts


def _identity_env(author: Person, committer: Person) -> dict[str, str]:
    return {
        "GIT_AUTHOR_NAME": author.name,
        "GIT_AUTHOR_EMAIL": author.email,
        "GIT_AUTHOR_DATE": author.date,
        "GIT_COMMITTER_NAME": committer.name,
        "GIT_COMMITTER_EMAIL": committer.email,
        "GIT_COMMITTER_DATE": committer.date,
    }
