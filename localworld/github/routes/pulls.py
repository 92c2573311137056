"""Pull requests: list, create, get, update, check-if-merged and merge (real git merges)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, request

from localworld.github import payloads
from localworld.github.git import CommitInfo, Person
from localworld.github.routes.items import (
    PULL_DOC,
    change_state,
    get_pull,
    pull_json,
    refresh,
)
from localworld.github.state import Pull
from localworld.github.web import (
    APIError,
    Repo,
    api_base,
    body,
    json_response,
    not_found,
    open_repo,
    page,
    server_state,
    split_head,
    validation_failed,
)

bp = Blueprint("pulls", __name__)
GITHUB_COMMITTER = ("GitHub", "noreply@github.com")


@bp.get("/repos/<owner>/<repo>/pulls", endpoint="pulls/list")
def list_pulls(owner: str, repo: str) -> Response:
    r = open_repo(owner, repo)
    state = request.args.get("state", "open")
    head, base = request.args.get("head"), request.args.get("base")
    with server_state().lock:
        pulls = list(r.state.pulls.values())
    if state != "all":
        pulls = [p for p in pulls if p.state == state]
    # GitHub ignores a `head` filter without the `owner:` part; so do we.
    if head and ":" in head:
        branch = split_head(r, head)
        pulls = [p for p in pulls if p.head_ref == branch]
    if base:
        pulls = [p for p in pulls if p.base_ref == base]
    key = "updated_at" if request.args.get("sort") == "updated" else "created_at"
    descending = request.args.get("direction", "desc") == "desc"
    pulls.sort(key=lambda p: (getattr(p, key), p.number), reverse=descending)
    chunk, headers = page(pulls)
    return json_response([pull_json(r, p, detail=False) for p in chunk], 200, headers)


@bp.post("/repos/<owner>/<repo>/pulls", endpoint="pulls/create")
def create_pull(owner: str, repo: str) -> Response:
    r = open_repo(owner, repo)
    data = body()
    for key in ("title", "head", "base"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise validation_failed("PullRequest", "missing_field", field=key)
    head = split_head(r, data["head"])
    head_sha = r.git.resolve(f"refs/heads/{head}") if head else None
    if head is None or head_sha is None:
        raise validation_failed("PullRequest", "invalid", field="head")
    base_sha = r.git.resolve(f"refs/heads/{data['base']}")
    if base_sha is None:
        raise validation_failed("PullRequest", "invalid", field="base")
    if not r.git.rev_list(head_sha, base_sha):
        raise validation_failed(
            "PullRequest", "custom", message=f"No commits between {data['base']} and {head}"
        )
    state = server_state()
    with state.lock:
        if r.state.open_pull_for(head, data["base"]) is not None:
            message = f"A pull request already exists for {r.owner}:{head}."
            raise validation_failed("PullRequest", "custom", message=message)
        stamp = server_state().now()
        pr = Pull(
            number=r.state.take_number(),
            id=state.ids.next(),
            title=data["title"],
            body=data.get("body"),
            login=g.login,
            head_ref=head,
            base_ref=data["base"],
            head_sha=head_sha,
            base_sha=base_sha,
            draft=bool(data.get("draft", False)),
            maintainer_can_modify=bool(data.get("maintainer_can_modify", False)),
            created_at=stamp,
            updated_at=stamp,
        )
        r.state.add(pr)
    location = f"{api_base()}/repos/{r.full_name}/pulls/{pr.number}"
    return json_response(pull_json(r, pr), 201, {"Location": location})


@bp.get("/repos/<owner>/<repo>/pulls/<int:pull_number>", endpoint="pulls/get")
def get_pull_view(owner: str, repo: str, pull_number: int) -> Response:
    r = open_repo(owner, repo)
    return json_response(pull_json(r, get_pull(r, pull_number)))


@bp.patch("/repos/<owner>/<repo>/pulls/<int:pull_number>", endpoint="pulls/update")
def update_pull(owner: str, repo: str, pull_number: int) -> Response:
    r = open_repo(owner, repo)
    data = body()
    pr = get_pull(r, pull_number)
    with server_state().lock:
        if "state" in data:
            if data["state"] not in ("open", "closed"):
                raise validation_failed("PullRequest", "invalid", field="state")
            change_state(r, pr, data["state"], None)
        if "base" in data:
            if pr.merged or r.git.resolve(f"refs/heads/{data['base']}") is None:
                raise validation_failed("PullRequest", "invalid", field="base")
            pr.base_ref = data["base"]
        for key in ("title", "body"):
            if key in data:
                setattr(pr, key, data[key])
        if "maintainer_can_modify" in data:
            pr.maintainer_can_modify = bool(data["maintainer_can_modify"])
        pr.updated_at = server_state().now()
    return json_response(pull_json(r, pr))


@bp.get("/repos/<owner>/<repo>/pulls/<int:pull_number>/merge", endpoint="pulls/check-if-merged")
def check_merged(owner: str, repo: str, pull_number: int) -> Response:
    r = open_repo(owner, repo)
    if get_pull(r, pull_number).merged:
        return Response(status=204)
    raise not_found(f"{PULL_DOC}#check-if-a-pull-request-has-been-merged")


@bp.put("/repos/<owner>/<repo>/pulls/<int:pull_number>/merge", endpoint="pulls/merge")
def merge_pull(owner: str, repo: str, pull_number: int) -> Response:
    r = open_repo(owner, repo)
    data = body()
    method = data.get("merge_method", "merge")
    if method not in ("merge", "squash", "rebase"):
        raise validation_failed("PullRequest", "invalid", field="merge_method")
    state = server_state()
    with state.merge_lock(r.full_name):
        pr = get_pull(r, pull_number)
        if pr.state != "open":
            raise APIError(405, "Pull Request is not mergeable")
        if state.take_fault("PUT", request.path, {"head_moved"}) is not None:
            g.fault = "head_moved"
            _push_concurrent_commit(r, pr.head_ref)
        refresh(r, pr)
        head, base = pr.head_sha, pr.base_sha
        if r.git.resolve(f"refs/heads/{pr.head_ref}") is None:
            raise APIError(405, "Pull Request is not mergeable")
        if "sha" in data and data["sha"] != head:
            raise APIError(409, "Head branch was modified. Review and try the merge again.")
        new = _merge_commit(r, pr, data, method=method, base=base, head=head)
        if new is None:
            raise APIError(405, "Pull Request is not mergeable")
        if not r.git.update_ref(f"refs/heads/{pr.base_ref}", new, base):
            raise APIError(409, "Base branch was modified. Review and try the merge again.")
        with state.lock:
            r.state.mark_merged(pr, new, g.login)
    return json_response(
        {"sha": new, "merged": True, "message": "Pull Request successfully merged"}
    )


def _merge_commit(
    r: Repo, pr: Pull, data: dict[str, Any], *, method: str, base: str, head: str
) -> str | None:
    """The new base-branch tip for `method`, or None when git cannot merge cleanly."""
    now = server_state().now()
    merger = _account(g.login, now)
    committer = Person(*GITHUB_COMMITTER, now)
    if method == "rebase":
        return r.git.rebase(base, r.git.rev_list(head, base), committer)
    tree, _conflicts = r.git.merge_tree(base, head)
    if tree is None:
        return None
    if method == "squash":
        commits = r.git.commits(r.git.rev_list(head, base))
        title = data.get("commit_title") or f"{pr.title} (#{pr.number})"
        detail = data.get("commit_message")
        if detail is None:
            detail = "\n\n".join(f"* {c.message}" for c in commits)
        # github.com authors a squash merge as the PR's author (whoever merges it), by the
        # account's noreply address: for a GitHub App, `<id>+<slug>[bot]@users.noreply...`
        author = _account(pr.login, now)
        return r.git.commit_tree(tree, [base], f"{title}\n\n{detail}".rstrip(), author, committer)
    title = (
        data.get("commit_title") or f"Merge pull request #{pr.number} from {r.owner}/{pr.head_ref}"
    )
    detail = data.get("commit_message", pr.title)
    return r.git.commit_tree(tree, [base, head], f"{title}\n\n{detail}".rstrip(), merger, committer)


def _account(login: str, when: str) -> Person:
    """How github.com writes an account into a commit it makes: its noreply address."""
    return Person(login, f"{payloads.user('', login)['id']}+{login}@users.noreply.github.com", when)


def _push_concurrent_commit(r: Repo, branch: str) -> None:
    """Fault `head_moved`: someone pushes a commit to the head branch right now."""
    old = r.git.resolve(f"refs/heads/{branch}")
    if old is None:
        return
    info: CommitInfo = r.git.commit(old)
    who = Person("concurrent pusher", "pusher@example.invalid", server_state().now())
    new = r.git.commit_tree(info.tree, [old], "concurrent push (localworld fault)", who, who)
    r.git.update_ref(f"refs/heads/{branch}", new, old)
