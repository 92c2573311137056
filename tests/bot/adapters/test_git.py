"""The git adapter against real repositories: fresh branches, lease-protected pushes, history."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.adapters import git as git_adapter
from bot.adapters.git import GitError, GitRepo, PushRejectedError
from tests.conftest import git


@pytest.fixture
def origin(tmp_path: Path, bare_remote: Path) -> Path:
    seed = tmp_path / "seed"
    seed.mkdir()
    git(seed, "init", "-q", "-b", "main")
    (seed / "overlay.yaml").write_text("version: 1\n")
    git(seed, "add", ".")
    git(seed, "commit", "-q", "-m", "seed")
    git(seed, "remote", "add", "origin", str(bare_remote))
    git(seed, "push", "-q", "origin", "main")
    return bare_remote


def _clone(origin: Path, dest: Path) -> GitRepo:
    repo = GitRepo.clone(str(origin), dest)
    repo.fetch()
    return repo


def test_fresh_branch_commit_and_push_creates_remote_branch(tmp_path: Path, origin: Path):
    repo = _clone(origin, tmp_path / "work")
    repo.checkout_fresh("promote/dev", "main")
    (repo.path / "overlay.yaml").write_text("version: 2\n")
    sha = repo.commit([repo.path / "overlay.yaml"], "promote dev")
    repo.push_with_lease(sha, "promote/dev", expected=None)
    assert git(origin, "rev-parse", "refs/heads/promote/dev").strip() == sha
    repo.fetch()
    assert repo.remote_sha("promote/dev") == sha
    assert repo.remote_sha("does-not-exist") is None


def test_push_with_stale_lease_is_rejected_and_remote_keeps_other_writer(
    tmp_path: Path, origin: Path
):
    ours = _clone(origin, tmp_path / "ours")
    theirs = _clone(origin, tmp_path / "theirs")
    main_sha = ours.remote_sha("main")
    assert main_sha is not None

    theirs.checkout_fresh("promote/dev", "main")
    (theirs.path / "human.txt").write_text("hand edit\n")
    human = theirs.commit([theirs.path / "human.txt"], "human edit")
    theirs.push_with_lease(human, "promote/dev", expected=None)

    ours.checkout_fresh("promote/dev", "main")
    (ours.path / "overlay.yaml").write_text("version: 3\n")
    bot = ours.commit([ours.path / "overlay.yaml"], "bot edit")
    with pytest.raises(PushRejectedError, match="moved"):
        ours.push_with_lease(bot, "promote/dev", expected=None)
    assert git(origin, "rev-parse", "refs/heads/promote/dev").strip() == human


def test_last_change_reads_history(tmp_path: Path, origin: Path):
    repo = _clone(origin, tmp_path / "work")
    first = repo.last_change("overlay.yaml", "refs/remotes/origin/main")
    assert first is not None
    assert first.subject == "seed"
    assert repo.last_change("missing.yaml", "refs/remotes/origin/main") is None


def test_not_a_repository_is_a_clear_error(tmp_path: Path):
    with pytest.raises(GitError, match="is not a git repository"):
        GitRepo(tmp_path)
    with pytest.raises(GitError, match="cannot clone"):
        GitRepo.clone(str(tmp_path / "nope.git"), tmp_path / "dest")


# --------------------------------------------------------------------------- batch reads


MAIN = "refs/remotes/origin/main"

FILES = {
    "crlf.yaml": b"a: 1\r\nb: 2\r\n",
    "no-final-newline.yaml": b"a: 1\nb: 2",
    "crlf-no-final-newline.yaml": b"a: 1\r\nb: 2",
    "blank-lines-at-end.yaml": b"a: 1\n\n\n",
    "empty.yaml": b"",
    "dir with spaces/kustomization file.yaml": b"name: spaced\n",
    "deploy/overlays/\u00fcber/kustomization.yaml": "name: \u00fcber\n".encode(),
    "newline\nin-name.yaml": b"odd: true\n",
}


def _commit(work: Path, files: dict[str, bytes], message: str, when: int, monkeypatch) -> str:
    monkeypatch.setenv("GIT_COMMITTER_DATE", f"{when} +0000")
    for name, data in files.items():
        path = work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    git(work, "add", "--", *files)
    git(work, "commit", "-q", "-m", message)
    return git(work, "rev-parse", "HEAD").strip()


@pytest.fixture(params=["by-path", "listed"])
def list_from(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Batch reads both ways: every file as `ref:path`, or from each ref's tree listing."""
    threshold = 10**9 if request.param == "by-path" else 1
    monkeypatch.setattr(git_adapter, "LIST_TREE_FROM", threshold)
    return threshold


def _clone_of(work: Path, tmp_path: Path) -> GitRepo:
    bare = tmp_path / "history.git"
    git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    return _clone(bare, tmp_path / "clone")


def test_show_many_returns_each_file_byte_for_byte_and_none_when_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, list_from: int
):
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    _commit(work, FILES, "files", 1_700_000_000, monkeypatch)
    repo = _clone_of(work, tmp_path)
    paths = [*FILES, "missing.yaml", "dir with spaces/missing.yaml", "newline\nmissing.yaml"]

    texts = repo.show_many(MAIN, paths)

    assert list(texts) == paths
    for name, data in FILES.items():
        assert texts[name] is not None
        assert texts[name] == data.decode()
        assert texts[name] == repo.show(MAIN, name)
    assert texts["missing.yaml"] is None
    assert texts["dir with spaces/missing.yaml"] is None
    assert texts["newline\nmissing.yaml"] is None
    assert repo.show_many(MAIN, []) == {}


def test_show_many_refuses_a_directory(tmp_path: Path, origin: Path, list_from: int):
    repo = _clone(origin, tmp_path / "work")
    repo.checkout_fresh("main", "main")
    (repo.path / "deploy").mkdir()
    (repo.path / "deploy" / "x.yaml").write_text("x: 1\n")
    sha = repo.commit([repo.path / "deploy" / "x.yaml"], "add a directory")
    with pytest.raises(GitError, match="deploy is a tree, not a file"):
        repo.show_many(sha, ["overlay.yaml", "deploy"])


def _show_or_none(repo: GitRepo, ref: str, path: str) -> str | None:
    try:
        return repo.show(ref, path)
    except GitError:
        return None


def test_listed_reads_equal_one_at_a_time_reads_whatever_the_ref_and_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, list_from: int
):
    """Refs and paths a tree listing could misread: a symlink, a submodule and paths below
    it, names git resolves although no listing spells them (`./x`, `a//b`), a tree-ish that
    is a tree, a ref with a colon (`cat-file` splits it at the colon), a ref read as an
    option, a missing ref; and a commit where the files are not there yet."""
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    first = _commit(work, {"app.txt": b"app\n"}, "before the files", 1_699_999_000, monkeypatch)
    (work / "link.yaml").symlink_to("crlf.yaml")
    git(work, "add", "link.yaml")
    git(work, "update-index", "--add", "--cacheinfo", f"160000,{'a' * 40},sub")
    sha = _commit(work, FILES, "files", 1_700_000_000, monkeypatch)
    repo = _clone_of(work, tmp_path)
    paths = [
        *(p for p in FILES if "\n" not in p),
        "link.yaml",
        "sub",
        "sub/x.yaml",
        "./crlf.yaml",
        "dir with spaces//kustomization file.yaml",
        "deploy/overlays/\u00fcber/../\u00fcber/kustomization.yaml",
        "missing.yaml",
        "deploy/overlays/missing/kustomization.yaml",
        "crlf.yaml/below-a-file",
    ]
    refs = [MAIN, sha, first, f"{sha}^{{tree}}", f"{sha}:deploy", "--no-such", "no-such-ref"]
    specs = [(ref, path) for ref in refs for path in paths]
    specs += [(f"{sha}:deploy", "overlays/\u00fcber/kustomization.yaml")]

    texts = repo.show_each(specs)

    assert list(texts) == specs
    assert texts == {(ref, path): _show_or_none(repo, ref, path) for ref, path in specs}
    assert texts[(sha, "link.yaml")] == "crlf.yaml"
    assert texts[(MAIN, "./crlf.yaml")] == FILES["crlf.yaml"].decode()
    assert texts[(f"{sha}:deploy", "overlays/\u00fcber/kustomization.yaml")] is None
    assert texts[(first, "crlf.yaml")] is None
    with pytest.raises(GitError, match="deploy is a tree, not a file"):
        repo.show_each([(MAIN, p) for p in [*paths, "deploy"]])


def test_listed_reads_run_one_listing_per_ref_and_one_cat_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Past `LIST_TREE_FROM` paths of a ref, its files are read by blob id: one `ls-tree`
    for that ref, one `cat-file` for everything (and none for files the listing lacks)."""
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    files = {
        f"deploy/overlays/env-{i:02d}/kustomization.yaml": f"n: {i}\n".encode() for i in range(20)
    }
    first = _commit(work, {"app.txt": b"app\n"}, "app", 1_699_999_000, monkeypatch)
    sha = _commit(work, files, "20 overlays", 1_700_000_000, monkeypatch)
    repo = _clone_of(work, tmp_path)
    calls: list[list[str]] = []
    real = GitRepo._git_stdin

    def counted(self: GitRepo, args: list[str], stdin: bytes) -> bytes:
        calls.append([*args, str(stdin.count(b"\n"))])
        return real(self, args, stdin)

    monkeypatch.setattr(GitRepo, "_git_stdin", counted)
    specs = [(ref, path) for ref in (sha, first) for path in files] + [(sha, "app.txt")]

    texts = repo.show_each(specs)

    assert texts == {(ref, path): _show_or_none(repo, ref, path) for ref, path in specs}
    assert [c[c.index("ls-tree") + 5] for c in calls if "ls-tree" in c] == [sha, first]
    assert [c for c in calls if "cat-file" in c] == [["cat-file", "--batch", "21"]]


def _history(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Linear commits touching different files, at distinct committer dates."""
    git(work, "init", "-q", "-b", "main")
    when = 1_700_000_000
    _commit(work, FILES, "all files", when, monkeypatch)
    _commit(
        work, {"crlf.yaml": b"a: 2\r\n", "other.txt": b"x\n"}, "crlf: a 2", when + 10, monkeypatch
    )
    _commit(work, {"other.txt": b"y\n"}, "only other", when + 20, monkeypatch)
    changed = {"dir with spaces/kustomization file.yaml": b"name: spaced 2\n"}
    _commit(work, changed, "spaced: 2", when + 30, monkeypatch)
    _commit(work, {"no-final-newline.yaml": b"a: 9"}, "no newline: 9", when + 40, monkeypatch)
    git(work, "rm", "-q", "empty.yaml")
    monkeypatch.setenv("GIT_COMMITTER_DATE", f"{when + 50} +0000")
    git(work, "commit", "-q", "-m", "remove empty.yaml")
    _commit(work, {"other.txt": b"z\n"}, "only other again", when + 60, monkeypatch)


def test_last_changes_equals_last_change_of_each_path_on_linear_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    work = tmp_path / "work"
    work.mkdir()
    _history(work, monkeypatch)
    repo = _clone_of(work, tmp_path)
    paths = [*FILES, "other.txt", "missing.yaml", "newline\nmissing.yaml"]

    found = repo.last_changes(MAIN, paths)

    assert list(found) == paths
    assert found == {path: repo.last_change(path, MAIN) for path in paths}
    subjects = {path: info.subject if info else None for path, info in found.items()}
    assert subjects == {
        "crlf.yaml": "crlf: a 2",
        "no-final-newline.yaml": "no newline: 9",
        "crlf-no-final-newline.yaml": "all files",
        "blank-lines-at-end.yaml": "all files",
        "empty.yaml": "remove empty.yaml",
        "dir with spaces/kustomization file.yaml": "spaced: 2",
        "deploy/overlays/\u00fcber/kustomization.yaml": "all files",
        "newline\nin-name.yaml": "all files",
        "other.txt": "only other again",
        "missing.yaml": None,
        "newline\nmissing.yaml": None,
    }
    assert found["crlf.yaml"] is not None
    assert found["crlf.yaml"].when.timestamp() == 1_700_000_010
    older = git(work, "rev-parse", "HEAD~3").strip()
    assert repo.last_changes(older, paths) == {p: repo.last_change(p, older) for p in paths}
    assert repo.last_changes(MAIN, []) == {}


def test_last_changes_equals_last_change_across_merged_branches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """PR branches merged with merge commits while main moved, and a merge that edits a file."""
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    when = 1_700_000_000
    base = {"p.yaml": b"p: 1\n", "q.yaml": b"q: 1\n", "r.yaml": b"r: 1\n", "s.yaml": b"s: 1\n"}
    _commit(work, base, "base", when, monkeypatch)
    git(work, "checkout", "-q", "-b", "pr-p")
    _commit(work, {"p.yaml": b"p: 2\n"}, "pr: p 2", when + 10, monkeypatch)
    git(work, "checkout", "-q", "main")
    _commit(work, {"q.yaml": b"q: 2\n"}, "main: q 2", when + 20, monkeypatch)
    monkeypatch.setenv("GIT_COMMITTER_DATE", f"{when + 30} +0000")
    git(work, "merge", "-q", "--no-ff", "-m", "merge pr-p", "pr-p")
    git(work, "checkout", "-q", "-b", "pr-r")
    _commit(work, {"r.yaml": b"r: 2\n"}, "pr: r 2", when + 40, monkeypatch)
    git(work, "checkout", "-q", "main")
    _commit(work, {"q.yaml": b"q: 3\n"}, "main: q 3", when + 50, monkeypatch)
    monkeypatch.setenv("GIT_COMMITTER_DATE", f"{when + 60} +0000")
    git(work, "merge", "-q", "--no-ff", "--no-commit", "pr-r")
    (work / "s.yaml").write_bytes(b"s: resolved in the merge\n")
    git(work, "add", "s.yaml")
    git(work, "commit", "-q", "-m", "merge pr-r, editing s")
    repo = _clone_of(work, tmp_path)
    paths = [*base, "missing.yaml"]

    found = repo.last_changes(MAIN, paths)

    assert found == {path: repo.last_change(path, MAIN) for path in paths}
    subjects = {path: info.subject if info else None for path, info in found.items()}
    assert subjects == {
        "p.yaml": "pr: p 2",
        "q.yaml": "main: q 3",
        "r.yaml": "pr: r 2",
        "s.yaml": "merge pr-r, editing s",
        "missing.yaml": None,
    }


def test_batch_reads_take_thousands_of_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Thousands of long paths in one process each (through stdin: no command-line limit)."""
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    prefix = "deploy/overlays/" + "long-environment-name-" * 4
    files = {f"{prefix}{i:05d}/kustomization.yaml": f"n: {i}\n".encode() for i in range(1500)}
    sha = _commit(work, files, "1500 overlays", 1_700_000_000, monkeypatch)
    repo = _clone_of(work, tmp_path)

    texts = repo.show_many(MAIN, files)
    changes = repo.last_changes(MAIN, files)

    assert texts == {name: data.decode() for name, data in files.items()}
    assert {info.sha if info else None for info in changes.values()} == {sha}
    assert len(changes) == 1500


def test_atomic_push_with_a_stale_lease_moves_no_ref(tmp_path: Path, origin: Path):
    ours = _clone(origin, tmp_path / "ours")
    main_sha = ours.remote_sha("main")
    assert main_sha is not None
    git(origin, "branch", "release", main_sha)  # someone made `release` since we read it
    ours.checkout_fresh("next", "main")
    (ours.path / "overlay.yaml").write_text("version: 2\n")
    new_sha = ours.commit([ours.path / "overlay.yaml"], "next")
    ours.create_tag("release-1", new_sha, "one")
    with pytest.raises(PushRejectedError, match="moved"):
        ours.push_atomic(
            [f"{new_sha}:refs/heads/release", "refs/tags/release-1"],
            leases={"refs/heads/release": None},
        )
    assert git(origin, "tag") == ""


def test_atomic_push_moves_branch_and_tag_together_and_finds_the_tag(tmp_path: Path, origin: Path):
    ours = _clone(origin, tmp_path / "ours")
    main_sha = ours.remote_sha("main")
    assert main_sha is not None
    ours.create_tag("release-1", main_sha, "stale")
    ours.create_tag("release-1", main_sha, "replaced")  # -f: a stale local tag is no error
    ours.push_atomic(
        [f"{main_sha}:refs/heads/release", "refs/tags/release-1"],
        leases={"refs/heads/release": None},
    )
    assert git(origin, "rev-parse", "release").strip() == main_sha
    assert ours.remote_tags_at(main_sha, "release-*") == ["release-1"]
    assert ours.remote_tags_at("0" * 40, "release-*") == []


def test_path_history_follows_the_first_parent_line_and_names_each_merges_side_author(
    tmp_path: Path, origin: Path
):
    seed = tmp_path / "side"
    git(tmp_path, "clone", "-q", str(origin), str(seed))
    git(seed, "checkout", "-q", "-b", "promote/dev")
    (seed / "overlay.yaml").write_text("version: 2\n")
    git(seed, "-c", "user.email=bot@x.invalid", "commit", "-q", "-am", "promote")
    git(seed, "checkout", "-q", "main")
    (seed / "other.txt").write_text("x\n")
    git(seed, "add", "other.txt")
    git(seed, "commit", "-q", "-m", "unrelated")
    git(seed, "merge", "-q", "--no-ff", "-m", "Merge promote/dev", "promote/dev")
    git(seed, "push", "-q", "origin", "main")
    repo = _clone(origin, tmp_path / "work")

    history = repo.path_history("refs/remotes/origin/main", "overlay.yaml", 10)
    assert [c.subject for c in history] == ["Merge promote/dev", "seed"]  # not the side commit
    merge, first = history
    assert len(merge.parents) == 2 and first.parents == ()
    assert repo.authors_of([merge.parents[1]]) == [(merge.parents[1], "bot@x.invalid", "promote")]
    texts = repo.show_each([(merge.sha, "overlay.yaml"), (merge.parents[0], "overlay.yaml")])
    assert list(texts.values()) == ["version: 2\n", "version: 1\n"]
    assert repo.path_history("refs/remotes/origin/main", "overlay.yaml", 1) == [merge]
    assert repo.show_each([(merge.sha, "no\nsuch")]) == {(merge.sha, "no\nsuch"): None}


def test_path_histories_are_path_history_of_each_path_from_one_walk(tmp_path: Path, origin: Path):
    """Merges (listed for what they changed against the first parent only), a side branch's
    own commits (never listed), a path changed in the same commit as another, a path never
    changed, a name git's stdin cannot carry, and the per-path limit."""
    seed = tmp_path / "side"
    git(tmp_path, "clone", "-q", str(origin), str(seed))
    (seed / "b.yaml").write_text("b: 1\n")
    git(seed, "add", "b.yaml")
    git(seed, "commit", "-q", "-m", "add b")
    git(seed, "checkout", "-q", "-b", "promote/dev")
    (seed / "overlay.yaml").write_text("version: 2\n")
    git(seed, "commit", "-q", "-am", "promote")
    git(seed, "checkout", "-q", "main")
    (seed / "b.yaml").write_text("b: 2\n")
    (seed / "overlay.yaml").write_text("version: 1\n# touched\n")
    git(seed, "commit", "-q", "-am", "both")
    git(seed, "merge", "-q", "--no-ff", "-X", "theirs", "-m", "Merge promote/dev", "promote/dev")
    for n in range(3):
        (seed / "b.yaml").write_text(f"b: {n + 3}\n")
        git(seed, "commit", "-q", "-am", f"b {n}")
    git(seed, "push", "-q", "origin", "main")
    repo = _clone(origin, tmp_path / "work")
    ref = "refs/remotes/origin/main"
    paths = ["overlay.yaml", "b.yaml", "never.yaml", "no\nsuch"]

    for limit in (1, 2, 50):
        batched = repo.path_histories(ref, paths, limit)
        assert batched == {p: repo.path_history(ref, p, limit) for p in paths}, limit
    subjects = [c.subject for c in repo.path_histories(ref, paths, 50)["overlay.yaml"]]
    assert subjects == ["Merge promote/dev", "both", "seed"]
    assert repo.path_histories(ref, [], 5) == {}


def test_a_branch_lookup_answers_only_with_the_ref_of_that_name(tmp_path: Path, origin: Path):
    """`remote_sha` and `remote_shas` (one `for-each-ref` for many) give the sha of exactly
    `refs/remotes/origin/<b>`, packed or loose, or None: never a ref only git's other rules
    find (`refs/heads/refs/remotes/origin/<b>`), never revision syntax, never the object a
    missing `git describe`-like name (`<ref>-g<hex>`) would read as, nor a dangling symref."""
    repo = _clone(origin, tmp_path / "work")
    main = repo.remote_sha("main")
    assert main is not None
    work = repo.path
    git(work, "commit", "-q", "--allow-empty", "-m", "second")
    second = git(work, "rev-parse", "HEAD").strip()
    git(work, "update-ref", "refs/remotes/origin/release/dev", main)
    git(work, "pack-refs", "--all")
    git(work, "update-ref", "refs/remotes/origin/release/prod", second)  # loose
    git(work, "update-ref", "refs/heads/refs/remotes/origin/release/odd", second)
    git(work, "tag", "-a", "-m", "t", "annotated", main)
    tag = git(work, "rev-parse", "annotated").strip()
    git(work, "update-ref", "refs/remotes/origin/tagged", tag)
    git(work, "symbolic-ref", "refs/remotes/origin/dangling", "refs/remotes/origin/nope")
    short = main[:7]
    assert git(work, "rev-parse", "--verify", "--quiet", f"refs/remotes/origin/x-g{short}")
    expected: dict[str, str | None] = {
        "main": main,
        "release/dev": main,
        "release/prod": second,
        "tagged": tag,
        "release": None,  # a prefix of branches is not one
        "release/odd": None,
        "release/missing": None,
        "dangling": None,
        "main^": None,
        "main~1": None,
        "main@{0}": None,
        "main..release/prod": None,
        f"missing-g{short}": None,
        f"release/dev-g{short}": None,
        "a//b": None,
        "x.lock": None,
        "rel*": None,
    }
    assert repo.remote_shas(expected) == expected
    assert {b: repo.remote_sha(b) for b in expected} == expected
    assert repo.remote_shas([]) == {}


# --------------------------------------------------------------------------- as GitPython ran


def test_commands_answer_and_fail_word_for_word_as_through_gitpython(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """`_git` runs git itself: its output (bytes that are not UTF-8 included) and its errors
    (git's words, in English whatever the locale) are GitPython's `execute`'s."""
    import git as gitpython

    from bot.adapters.git import _stderr

    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    _commit(
        work,
        {"latin1.yaml": b"caf\xe9: 1\n", "plain.yaml": b"a: 1\n"},
        "f",
        1_700_000_000,
        monkeypatch,
    )
    repo = _clone_of(work, tmp_path)
    through = gitpython.Repo(repo.path).git
    monkeypatch.setenv("LC_ALL", "de_DE.UTF-8")
    monkeypatch.setenv("LANGUAGE", "de")
    for args in (["show", f"{MAIN}:latin1.yaml"], ["rev-parse", MAIN], ["log", "--format=%s"]):
        expected = through.execute(["git", *args], strip_newline_in_stdout=False)
        assert expected
        out = repo._git(*args)
        assert out == (expected if args[0] == "show" else expected.removesuffix("\n"))
    for args in (
        ["show", f"{MAIN}:missing.yaml"],
        ["rev-parse", "--verify", "no-such-ref"],
        ["push", "--porcelain", "origin", "no-such-ref:refs/heads/x"],
        ["merge-base", "--is-ancestor", "HEAD", "HEAD~1"],
    ):
        with pytest.raises(gitpython.GitCommandError) as direct:
            through.execute(["git", *args], strip_newline_in_stdout=False)
        with pytest.raises(GitError) as ours:
            repo._git(*args)
        assert str(ours.value) == f"git {' '.join(args)}: {_stderr(direct.value)}"


def test_a_checkout_is_a_repository_exactly_when_gitpython_says_so(tmp_path: Path):
    """A clone, a bare repository, a linked worktree (`.git` a file), a `.git` that is not a
    repository's, a plain directory, a missing one: accepted or refused as GitPython did."""
    import git as gitpython

    seed = tmp_path / "seed"
    seed.mkdir()
    git(seed, "init", "-q", "-b", "main")
    (seed / "a.txt").write_text("a\n")
    git(seed, "add", ".")
    git(seed, "commit", "-q", "-m", "a")
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(tmp_path / "bare.git"))
    git(seed, "worktree", "add", "-q", str(tmp_path / "linked"), "-b", "linked")
    (tmp_path / "fake" / ".git" / "objects").mkdir(parents=True)
    (tmp_path / "fake" / ".git" / "HEAD").write_text("not a ref\n")
    (tmp_path / "plain").mkdir()
    for name in ("seed", "bare.git", "linked", "fake", "plain", "missing"):
        path = tmp_path / name
        try:
            gitpython.Repo(path)
        except (gitpython.InvalidGitRepositoryError, gitpython.NoSuchPathError):
            with pytest.raises(GitError, match="is not a git repository"):
                GitRepo(path)
        else:
            assert GitRepo(path).head_sha() == git(path, "rev-parse", "HEAD").strip()
