"""Thin git adapter: clone, fresh branches from main, commit, push with lease, history.

Every remote write is a `--force-with-lease` push naming the exact remote sha we expect, so a
concurrent writer (a human, or another bot run) is never overwritten silently.

Commands run as GitPython's `Git.execute` runs them (same environment, input and decoding);
GitPython itself (~40 ms of a new process's imports) is imported only to clone, to judge a
checkout that does not plainly look like a repository, and to word a failed command's error
exactly as it did.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bot.errors import BotError

if TYPE_CHECKING:
    import git


class GitError(BotError):
    """A git operation failed."""


class PushRejectedError(GitError):
    """The remote moved since we looked (lease broken, or a non-fast-forward)."""


# Commands whose stdout is file content: kept exact. Others lose one final newline, as before.
_EXACT_OUTPUT = frozenset({"show"})
# A commit's first field in `last_changes`' log format: \x01 and a SHA-1 or SHA-256.
_COMMIT_START = re.compile(r"\x01(?:[0-9a-f]{40}|[0-9a-f]{64})")

#: Where the remote's branches are as of the last fetch.
_REMOTE = "refs/remotes/origin/"

#: `show_each` lists the tree of a ref it reads at least this many files of (`git ls-tree`,
#: each tree walked once) and reads those files by blob id: a `ref:path` line makes git walk
#: the path's trees again, ~0.1 ms of git's CPU a line in a 1,000-entry directory.
LIST_TREE_FROM = 16
#: At most this many top-level names restrict the listing (more: the whole tree is listed).
_LIST_TOPS = 64

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


@dataclass(frozen=True)
class PathCommit:
    """A commit that changed a path (`path_history`)."""

    sha: str
    parents: tuple[str, ...]
    author_email: str
    subject: str


@dataclass(frozen=True)
class LogCommit(PathCommit):
    """A commit that changed a path, with who wrote it and when it landed (`path_log`)."""

    author_name: str
    when: datetime


class GitRepo:
    """A working clone whose `origin` is the GitOps repository."""

    def __init__(self, path: Path) -> None:
        if not _plainly_a_clone(Path(path)):  # GitPython decides, as it always did
            import git

            try:
                git.Repo(path)
            except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
                raise GitError(f"{path} is not a git repository") from exc
        self.path = Path(path)

    @classmethod
    def clone(cls, url: str, dest: Path) -> GitRepo:
        import git

        try:
            git.Repo.clone_from(url, dest)
        except git.GitCommandError as exc:
            raise GitError(f"cannot clone {url}: {_stderr(exc)}") from exc
        return cls(dest)

    def _git(self, *args: str) -> str:
        """Run git; stdout as text minus one final newline, except for `show` (exact content).

        As GitPython's `execute` ran it: messages in English (`LC_ALL=C`), no standard input,
        stdout decoded as UTF-8 with undecodable bytes kept (`surrogateescape`)."""
        command = ["git", *args]
        try:
            done = subprocess.run(
                command,
                cwd=self.path,
                env={**os.environ, "LANGUAGE": "C", "LC_ALL": "C"},
                stdin=subprocess.DEVNULL,
                capture_output=True,
                check=False,
            )
        except FileNotFoundError as exc:  # no git at all: GitPython's own error, as before
            import git

            raise git.GitCommandNotFound(command, exc) from exc
        if done.returncode != 0:
            import git
            from git.util import remove_password_if_present

            failed = git.GitCommandError(
                remove_password_if_present(command),
                done.returncode,
                done.stderr.removesuffix(b"\n"),
                done.stdout,
            )
            raise GitError(f"git {' '.join(args)}: {_stderr(failed)}") from failed
        out = done.stdout.decode("utf-8", "surrogateescape")
        return out.removesuffix("\n") if args[0] not in _EXACT_OUTPUT else out

    def _git_stdin(self, args: Sequence[str], stdin: bytes) -> bytes:
        """Run git feeding `stdin`; stdout as bytes (for `--batch` and `--stdin` commands)."""
        done = subprocess.run(
            ["git", *args], cwd=self.path, input=stdin, capture_output=True, check=False
        )
        if done.returncode != 0:
            detail = " ".join(done.stderr.decode("utf-8", "replace").split())
            raise GitError(f"git {' '.join(args)}: {detail or f'exit {done.returncode}'}")
        return done.stdout

    def fetch(self) -> None:
        self._git("fetch", "--prune", "--quiet", "origin")

    def remote_sha(self, branch: str) -> str | None:
        """The sha of origin/<branch> as of the last fetch, or None if it does not exist."""
        return self._remote_refs(_REMOTE + branch).get(_REMOTE + branch)

    def remote_shas(self, branches: Iterable[str]) -> dict[str, str | None]:
        """`remote_sha` of each branch from one `git for-each-ref` (not one process each)."""
        wanted = list(dict.fromkeys(branches))
        refs = self._remote_refs(_REMOTE) if wanted else {}
        return {branch: refs.get(_REMOTE + branch) for branch in wanted}

    def _remote_refs(self, pattern: str) -> dict[str, str]:
        """Ref name → sha of the refs `for-each-ref` lists for `pattern` (that name, or the
        refs below it). A branch is then looked up by its exact ref name: `rev-parse` would
        also read a missing name by git's other ref rules (`refs/heads/refs/remotes/...`), as
        revision syntax (`main^`, `a..b`) or as a `git describe` name (`x-g<hex>` is the
        object `<hex>`), and a branch lookup must only ever answer with that branch."""
        listing = self._git("for-each-ref", "--format=%(objectname) %(refname)", pattern)
        return {
            name: sha for sha, _, name in (line.partition(" ") for line in listing.splitlines())
        }

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

    def create_tag(self, tag: str, sha: str, message: str) -> None:
        """An annotated local tag; `-f` replaces a stale one left by an earlier failed push."""
        self._git(
            "-c", f"user.name={BOT_NAME}", "-c", f"user.email={BOT_EMAIL}",
            "tag", "-f", "-a", "-m", message, tag, sha,
        )  # fmt: skip

    def push_atomic(self, refspecs: Sequence[str], leases: Mapping[str, str | None]) -> None:
        """Push every refspec or none (`--atomic`), each leased ref only if still as expected.

        `leases` maps a full ref name (`refs/heads/release`) to the sha we read, or None for
        "must not exist yet". A refused ref (lease, hook, non-fast-forward) moves no ref at all.
        """
        args = ["push", "--porcelain", "--atomic"]
        args += [f"--force-with-lease={ref}:{sha or ''}" for ref, sha in leases.items()]
        try:
            self._git(*args, "origin", *refspecs)
        except GitError as exc:
            if any(word in str(exc) for word in ("stale info", "fetch first", "non-fast-forward")):
                raise PushRejectedError(
                    f"origin moved since it was read ({', '.join(leases)}); nothing overwritten"
                ) from exc
            raise

    def remote_tags(self, pattern: str) -> list[str]:
        out = self._git("ls-remote", "--tags", "--refs", "origin", f"refs/tags/{pattern}")
        return sorted(line.split("refs/tags/", 1)[1] for line in out.splitlines() if line)

    def remote_tags_at(self, sha: str, pattern: str) -> list[str]:
        """The origin tags matching `pattern` that point (peeled) at commit `sha`."""
        peeled = self.remote_tag_commits(pattern)
        return sorted(name for name, target in peeled.items() if target == sha)

    def remote_tag_commits(self, pattern: str) -> dict[str, str]:
        """Each origin tag matching `pattern` and the object it points at (peeled: the commit
        of an annotated tag)."""
        out = self._git("ls-remote", "--tags", "origin", f"refs/tags/{pattern}")
        peeled: dict[str, str] = {}
        for line in out.splitlines():
            target, _, ref = line.partition("\t")
            name = ref.removeprefix("refs/tags/")
            if name.endswith("^{}"):
                peeled[name.removesuffix("^{}")] = target
            else:
                peeled.setdefault(name, target)
        return peeled

    def contains_all(self, tip: str, commits: Iterable[str]) -> bool:
        """Whether every one of `commits` is `tip` or an ancestor of it (one `git rev-list`,
        the revisions through stdin); False when any is unknown here."""
        revisions = [*dict.fromkeys(commits), f"^{tip}"]
        try:
            out = self._git_stdin(
                ["rev-list", "--count", "--stdin"], "".join(f"{r}\n" for r in revisions).encode()
            )
        except GitError:
            return False
        return out.strip() == b"0"

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

    def last_changes(self, ref: str, paths: Iterable[str]) -> dict[str, CommitInfo | None]:
        """`last_change` of many paths from one `git log` walk: the first commit listing each.

        The paths go through stdin (`--stdin`), so any number fits, and are matched literally;
        names come back NUL-separated (`-z`), so spaces and non-ASCII need no unquoting. `-c`
        lists a merge for the paths it changed against every parent, as `git log -1 -- path`
        shows such a merge. On linear history this is exactly `last_change` per path. With
        merges, git simplifies history for all the paths at once, so a path can differ from
        `last_change` when a merge dropped one side's change to it, or both sides made it.
        """
        wanted = list(dict.fromkeys(paths))
        found: dict[str, CommitInfo | None] = dict.fromkeys(wanted)
        batch = [p for p in wanted if p and "\n" not in p]
        for path in set(wanted) - set(batch):  # stdin is line-based: ask git one by one
            found[path] = self.last_change(path, ref)
        if not batch:
            return found
        missing = set(batch)
        walk = self._log_names(ref, batch, ["-c"], ["%H", "%ct", "%s"])
        for (sha, ts, subject), name in walk:
            if name in missing:
                found[name] = CommitInfo(sha, datetime.fromtimestamp(int(ts), tz=UTC), subject)
                missing.discard(name)
                if not missing:
                    break
        return found

    def _log_names(
        self, ref: str, paths: Sequence[str], options: Sequence[str], fields: Sequence[str]
    ) -> Iterator[tuple[list[str], str]]:
        """(the commit's `fields`, a path) for each of `paths` each commit of one `git log
        --name-only` walk of `ref` lists, newest first. The paths go through stdin
        (`--stdin`), so any number fits, matched literally; names come back NUL-separated
        (`-z`), so spaces and non-ASCII need no unquoting. `fields[0]` must be `%H`."""
        stdin = "".join(f"{line}\n" for line in (ref, "--", *paths)).encode()
        layout = "%x00".join(fields)
        args = ["--literal-pathspecs", "log", *options, "-z", "--name-only"]
        out = self._git_stdin([*args, f"--format=%x01{layout}", "--stdin"], stdin)
        tokens = iter(out.decode("utf-8", "surrogateescape").split("\x00"))
        commit: list[str] | None = None
        for token in tokens:
            item = token.removeprefix("\n")  # the name list starts on a new line
            if _COMMIT_START.fullmatch(item):
                commit = [item[1:], *(next(tokens) for _ in fields[1:])]
            elif commit is not None:
                yield commit, item

    def parent_sha(self, sha: str) -> str | None:
        try:
            return self._git("rev-parse", "--verify", "--quiet", f"{sha}^")
        except GitError:
            return None

    def writers_between(self, old: str, new: str) -> list[str]:
        """Author and committer emails of the commits in old..new (who wrote to a branch since
        it forked: `git commit --amend` keeps the author, the committer is who amended)."""
        out = self._git("log", "--format=%ae%n%ce", f"{old}..{new}")
        return [line for line in out.splitlines() if line]

    def changed_files(self, old: str, new: str) -> list[str]:
        """The paths whose content differs between the trees of `old` and `new`."""
        out = self._git("diff", "--no-renames", "--name-only", old, new, "--")
        return [line for line in out.splitlines() if line]

    def authors_of(self, shas: Sequence[str]) -> list[tuple[str, str, str]]:
        """(sha, author email, subject) of each commit, from one `git log --no-walk`."""
        out = self._git("log", "--no-walk=unsorted", "--format=%H%x00%ae%x00%s", *shas)
        return [
            (sha, email, subject)
            for sha, email, subject in (x.split("\x00", 2) for x in out.splitlines())
        ]

    def resolve(self, ref: str) -> str | None:
        """The commit `ref` names (a sha, a branch, `origin/main~2`), or None."""
        try:
            return self._git(
                "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"
            )
        except GitError:
            return None

    def show(self, ref: str, path: str) -> str:
        """The file's text at `ref`, byte for byte (CRLF and a missing final newline kept)."""
        return self._git("show", f"{ref}:{path}")

    def show_many(self, ref: str, paths: Iterable[str]) -> dict[str, str | None]:
        """The text of many files at `ref` from one `git cat-file --batch` (None: no such file).

        Exact like `show`: each blob is read by its announced size, never split on newlines.
        """
        wanted = list(dict.fromkeys(paths))
        found = self.show_each([(ref, path) for path in wanted])
        return {path: found[(ref, path)] for path in wanted}

    def show_each(self, specs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
        """The text of each (ref, path) from one `git cat-file --batch` (None: no such file).

        A ref with many paths (`LIST_TREE_FROM`) is listed once and its files are read by blob
        id; a path the listing cannot answer for (not there as a file: a directory, a
        submodule, or a name git spells otherwise) is read as `ref:path`, as every path was."""
        wanted = list(dict.fromkeys(specs))
        found: dict[tuple[str, str], str | None] = dict.fromkeys(wanted)
        batch = [s for s in wanted if "\n" not in s[0] + s[1]]
        for ref, path in set(wanted) - set(batch):  # stdin is line-based: ask git one by one
            try:
                found[(ref, path)] = self.show(ref, path)
            except GitError:
                found[(ref, path)] = None
        listed = self._listed_blobs(batch)
        batch = [spec for spec in batch if listed.get(spec, "") is not None]  # None: no file
        if not batch:
            return found
        lines = "".join(f"{listed.get((ref, p)) or f'{ref}:{p}'}\n" for ref, p in batch)
        out = self._git_stdin(["cat-file", "--batch"], lines.encode())
        pos = 0
        for ref, path in batch:
            eol = out.index(b"\n", pos)
            header = out[pos:eol].decode("utf-8", "surrogateescape")
            pos = eol + 1
            if header.endswith((" missing", " ambiguous")):
                continue
            sha, kind, size = header.rsplit(" ", 2)
            end = pos + int(size)
            if out[end : end + 1] != b"\n" or len(sha) not in (40, 64):
                raise GitError(f"git cat-file --batch: unexpected output for {ref}:{path}")
            data, pos = out[pos:end], end + 1
            if kind != "blob":
                raise GitError(f"{ref}:{path} is a {kind}, not a file")
            found[(ref, path)] = data.decode("utf-8", "surrogateescape")  # as GitPython decodes
        return found

    def _listed_blobs(self, specs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
        """For the refs with at least `LIST_TREE_FROM` of `specs`: (ref, path) → the file's
        blob id, or None when the listing shows it is not there (a plain path whose name is
        not in it). Paths left out are read as `ref:path` (see `show_each`)."""
        by_ref: dict[str, list[str]] = {}
        for ref, path in specs:
            by_ref.setdefault(ref, []).append(path)
        found: dict[tuple[str, str], str | None] = {}
        for ref, paths in by_ref.items():
            # `a:b` would name a tree in `ls-tree` but `a` and the path `b:...` in `cat-file`;
            # an empty ref is the index there; a leading `-` would be read as an option
            if len(paths) < LIST_TREE_FROM or not ref or ":" in ref or ref.startswith("-"):
                continue
            plain = [p for p in paths if _plain_path(p)]
            if not plain:
                continue
            tops = sorted({p.split("/", 1)[0] for p in plain})
            try:
                listing = self._git_stdin(
                    [
                        "--literal-pathspecs",
                        "ls-tree",
                        "-r",
                        "-t",
                        "-z",
                        "--full-tree",
                        ref,
                        *(tops if len(tops) <= _LIST_TOPS else []),
                    ],
                    b"",
                )
            except GitError:  # not a tree-ish here: `cat-file` answers each path as before
                continue
            entries: dict[str, tuple[str, str]] = {}
            for record in listing.decode("utf-8", "surrogateescape").split("\x00"):
                info, _, name = record.partition("\t")
                if name:
                    _mode, kind, oid = info.split(" ")
                    entries[name] = (kind, oid)
            for path in plain:
                kind, oid = entries.get(path, ("", ""))
                if kind == "blob":
                    found[(ref, path)] = oid
                elif not kind:
                    found[(ref, path)] = None
        return found

    def first_parents(self, ref: str, oldest: str | None, limit: int) -> list[str]:
        """`ref`'s first-parent line from its tip back to `oldest` (included; None: as far as
        `limit` goes), newest first, at most `limit` commits."""
        shas = self._git("rev-list", "--first-parent", f"--max-count={limit}", ref).split()
        return shas[: shas.index(oldest) + 1] if oldest in shas else shas

    def path_history(self, ref: str, path: str, limit: int) -> list[PathCommit]:
        """The newest `limit` commits on `ref`'s first-parent line that changed `path` (a merge
        counts when it changed it against its first parent), newest first."""
        return [
            PathCommit(c.sha, c.parents, c.author_email, c.subject)
            for c in self.path_log(ref, path, limit)
        ]

    def path_histories(
        self, ref: str, paths: Iterable[str], limit: int
    ) -> dict[str, list[PathCommit]]:
        """`path_history` of many paths from one first-parent `git log` walk (paths through
        stdin, names NUL-separated, as `last_changes`). A commit is listed for each path it
        changed against its first parent (`--diff-merges=first-parent`), which is exactly what
        `path_history` selects per path; each path keeps its newest `limit` commits."""
        wanted = list(dict.fromkeys(paths))
        found: dict[str, list[PathCommit]] = {path: [] for path in wanted}
        batch = [p for p in wanted if p and "\n" not in p]
        for path in set(wanted) - set(batch):  # stdin is line-based: ask git one by one
            found[path] = self.path_history(ref, path, limit)
        if not batch:
            return found
        open_paths = set(batch)
        options = ["--first-parent", "--diff-merges=first-parent"]
        walk = self._log_names(ref, batch, options, ["%H", "%P", "%ae", "%s"])
        for (sha, parents, email, subject), name in walk:
            if name in open_paths:
                found[name].append(PathCommit(sha, tuple(parents.split()), email, subject))
                if len(found[name]) >= limit:
                    open_paths.discard(name)
        return found

    def tree_files(self, ref: str) -> frozenset[str]:
        """Every file path in `ref`'s tree, from one `git ls-tree`."""
        out = self._git("ls-tree", "-r", "-z", "--name-only", ref)
        return frozenset(name for name in out.split("\x00") if name)

    def commits_touching(
        self, ref: str, exclude: Iterable[str], paths: Iterable[str]
    ) -> list[tuple[str, str | None, tuple[str, ...]]]:
        """(sha, first parent, the `paths` it changed) of each commit reachable from `ref` but
        from none of `exclude` that changed any of `paths` (files or directories), newest
        first, from one `git log` (revisions and paths through stdin). A merge counts with
        what it changed against its first parent (its side's commits are listed too)."""
        wanted = [p for p in dict.fromkeys(paths) if p and "\n" not in p]
        if not wanted:
            return []
        revisions = [ref, *(f"^{sha}" for sha in dict.fromkeys(exclude))]
        stdin = "".join(f"{line}\n" for line in (*revisions, "--", *wanted)).encode()
        out = self._git_stdin(
            [
                "--literal-pathspecs",
                "log",
                "--diff-merges=first-parent",
                "-z",
                "--name-only",
                "--format=%x01%H%x00%P",
                "--stdin",
            ],
            stdin,
        )
        found: list[tuple[str, str | None, list[str]]] = []
        tokens = iter(out.decode("utf-8", "surrogateescape").split("\x00"))
        for token in tokens:
            start = token.removeprefix("\n")
            if _COMMIT_START.fullmatch(start):
                parents = next(tokens).split()
                found.append((start[1:], parents[0] if parents else None, []))
            elif start and found:
                found[-1][2].append(start)
        return [(sha, parent, tuple(files)) for sha, parent, files in found]

    def path_log(self, ref: str, path: str, limit: int) -> list[LogCommit]:
        """The newest `limit` first-parent commits on `ref` that changed `path` (a merge counts
        when it changed it against its first parent), newest first, each with its author's
        name and email and its committer date (when it reached `ref`)."""
        out = self._git(
            "--literal-pathspecs",
            "log",
            "--first-parent",
            f"--max-count={limit}",
            "--format=%x01%H%x00%P%x00%an%x00%ae%x00%ct%x00%s",
            ref,
            "--",
            path,
        )
        commits = []
        for record in out.split("\x01")[1:]:
            sha, parents, name, email, ts, subject = record.rstrip("\n").split("\x00", 5)
            when = datetime.fromtimestamp(int(ts), tz=UTC)
            commits.append(
                LogCommit(
                    sha=sha,
                    parents=tuple(parents.split()),
                    author_email=email,
                    subject=subject,
                    author_name=name,
                    when=when,
                )
            )
        return commits


def _plainly_a_clone(path: Path) -> bool:
    """`path/.git` is a repository's directory as `git init` or `git clone` makes it (a valid
    HEAD, `objects/` and `refs/`, not a linked worktree's), with nothing in the environment
    or the path that GitPython would read otherwise: a checkout GitPython accepts too."""
    if any(os.environ.get(name) is not None for name in ("GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY")):
        return False
    if str(path).startswith("~") or "$" in str(path):  # GitPython expands these
        return False
    dotgit = path / ".git"
    try:
        head = (dotgit / "HEAD").read_bytes()[:256]
    except OSError:
        return False
    valid_head = (head.startswith(b"ref:") and head[4:].lstrip().startswith(b"refs/")) or bool(
        re.match(rb"(?:[0-9A-Fa-f]{64}|[0-9A-Fa-f]{40})", head)
    )
    return (
        valid_head
        and not (dotgit / "HEAD").is_symlink()
        and (dotgit / "objects").is_dir()
        and (dotgit / "refs").is_dir()
        and not os.path.lexists(dotgit / "commondir")
    )


def _plain_path(path: str) -> bool:
    """A path a tree listing names as it is: relative, no empty, `.` or `..` part, UTF-8 (what
    `cat-file` would resolve otherwise, or refuse, is left to it)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))


def git_config_env(
    environ: Mapping[str, str], entries: Sequence[tuple[str, str]]
) -> dict[str, str]:
    """`entries` (key, value) as git's `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_n`/`GIT_CONFIG_VALUE_n`,
    numbered after the ones `environ` already has (config for every git the process runs,
    written to no file)."""
    start = int(environ.get("GIT_CONFIG_COUNT", "0") or 0)
    env = {"GIT_CONFIG_COUNT": str(start + len(entries))}
    for offset, (key, value) in enumerate(entries):
        env[f"GIT_CONFIG_KEY_{start + offset}"] = key
        env[f"GIT_CONFIG_VALUE_{start + offset}"] = value
    return env


def _stderr(exc: git.GitCommandError) -> str:
    parts = [str(exc.stdout or ""), str(exc.stderr or "")]
    text = " ".join(p.strip() for p in parts if p.strip()) or str(exc)
    return " ".join(text.replace("stderr:", "").replace("stdout:", "").split()).strip("'")
