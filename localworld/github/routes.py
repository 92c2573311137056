"""GitHub's REST routes, one function per operation; the Flask endpoint name IS GitHub's
`operationId`, which is how the contract test finds the schema of every logged exchange.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, current_app, g, request

from localworld.github import payloads
from localworld.github.app import APIError, ctx, json_response, validation_failed
from localworld.github.git import ZERO_OID, BareRepo, CommitInfo, Person
from localworld.github.state import Comment, Issue, Pull, RepoState, now_iso

View = Callable[..., Response]
_ROUTES: list[tuple[str, str, str, View]] = []
_MERGE_LOCKS: dict[str, threading.Lock] = {}
_MERGE_LOCKS_GUARD = threading.Lock()
GITHUB_COMMITTER = ("GitHub", "noreply@github.com")


def route(method: str, rule: str, operation_id: str) -> Callable[[View], View]:
    def register(view: View) -> View:
        _ROUTES.append((method, rule, operation_id, view))
        return view

    return register


def register_routes(app: Flask) -> None:
    for method, rule, operation_id, view in _ROUTES:
        app.add_url_rule(rule, endpoint=operation_id, view_func=view, methods=[method])


# --- helpers -------------------------------------------------------------------------------


@dataclass
class Repo:
    full_name: str
    git: BareRepo
    state: RepoState

    @property
    def owner(self) -> str:
        return self.full_name.split("/", 1)[0]


def api_base() -> str:
    return request.host_url.rstrip("/")


def open_repo(owner: str, name: str) -> Repo:
    """The repository if it exists on disk and the token may see it; else GitHub's 404."""
    context = ctx(current_app)
    full_name = f"{owner}/{name}"
    bare = BareRepo(context.root / owner / f"{name}.git")
    if "/" in name or owner.startswith(".") or not g.token.may_see(full_name) or not bare.exists():
        raise APIError(
            404, "Not Found", doc="https://docs.github.com/rest/repos/repos#get-a-repository"
        )
    return Repo(full_name, bare, context.state.repo(full_name))


def body() -> dict[str, Any]:
    data = request.get_json(silent=True) if request.get_data() else {}
    if data is None:
        raise APIError(400, "Problems parsing JSON")
    if not isinstance(data, dict):
        raise APIError(400, "Problems parsing JSON")
    return data


def page(
    items: list[Any], default_per_page: int = 30, max_per_page: int = 100
) -> tuple[list[Any], dict[str, str]]:
    """One page of `items` and GitHub's `Link` header (next/last/first/prev)."""
    per_page = min(
        max(request.args.get("per_page", default_per_page, type=int) or 1, 1), max_per_page
    )
    number = max(request.args.get("page", 1, type=int) or 1, 1)
    last = max((len(items) + per_page - 1) // per_page, 1)
    chunk = items[(number - 1) * per_page : number * per_page]

    def url(n: int) -> str:
        args = {k: v for k, v in request.args.items() if k not in ("page", "per_page")}
        args |= {"per_page": str(per_page), "page": str(n)}
        return f"{request.base_url}?{urlencode(args)}"

    links = []
    if number < last:
        links += [f'<{url(number + 1)}>; rel="next"', f'<{url(last)}>; rel="last"']
    if number > 1:
        links += [f'<{url(number - 1)}>; rel="prev"', f'<{url(1)}>; rel="first"']
    return chunk, ({"Link": ", ".join(links)} if links else {})


def get_pull(repo: Repo, number: int) -> Pull:
    pr = repo.state.pulls.get(number)
    if pr is None:
        raise APIError(
            404, "Not Found", doc="https://docs.github.com/rest/pulls/pulls#get-a-pull-request"
        )
    return pr


def refresh(repo: Repo, pr: Pull) -> None:
    """Follow pushes: an open PR's head/base shas are those of its branches right now."""
    if pr.state != "open":
        return
    head = repo.git.resolve(f"refs/heads/{pr.head_ref}")
    base = repo.git.resolve(f"refs/heads/{pr.base_ref}")
    pr.head_sha = head or pr.head_sha
    pr.base_sha = base or pr.base_sha


def pull_json(repo: Repo, pr: Pull, *, detail: bool = True) -> dict[str, Any]:
    refresh(repo, pr)
    labels = [repo.state.labels[name.lower()] for name in pr.labels]
    default = repo.git.default_branch()
    if not detail:
        return payloads.pull(api_base(), repo.full_name, default, pr, labels, detail=False)
    mergeable: bool | None = None
    mergeable_state = "unknown"
    if pr.state == "open":
        tree, _conflicts = repo.git.merge_tree(pr.base_sha, pr.head_sha)
        mergeable = tree is not None
        mergeable_state = "draft" if pr.draft else ("clean" if mergeable else "dirty")
    base = repo.git.merge_base(pr.base_sha, pr.head_sha) or pr.base_sha
    commits = repo.git.rev_list(pr.head_sha, base)
    files = repo.git.diff_files(base, pr.head_sha, patches=False)
    stats = (
        len(commits),
        sum(f.additions for f in files),
        sum(f.deletions for f in files),
        len(files),
    )
    return payloads.pull(
        api_base(),
        repo.full_name,
        default,
        pr,
        labels,
        detail=True,
        mergeable=mergeable,
        mergeable_state=mergeable_state,
        stats=stats,
    )


def split_head(repo: Repo, head: str) -> str | None:
    """`owner:branch` or `branch` → branch, when the owner is this repository's owner."""
    owner, sep, branch = head.rpartition(":")
    if sep and owner.lower() != repo.owner.lower():
        return None
    return branch


# --- users, rate limit, repository -----------------------------------------------------------


@route("GET", "/user", "users/get-authenticated")
def get_user() -> Response:
    return json_response(payloads.private_user(api_base(), g.login))


@route("GET", "/rate_limit", "rate-limit/get")
def rate_limit() -> Response:
    window = ctx(current_app).state.rate(g.login)
    core = {
        "limit": window.limit,
        "used": window.used,
        "remaining": window.remaining,
        "reset": window.reset,
    }
    return json_response(payloads.rate_limit(core))


@route("GET", "/repos/<owner>/<repo>", "repos/get")
def get_repo(owner: str, repo: str) -> Response:
    r = open_repo(owner, repo)
    return json_response(
        payloads.repository(api_base(), r.full_name, r.git.default_branch(), full=True)
    )


# --- branches and refs ------------------------------------------------------------------------


@route("GET", "/repos/<owner>/<repo>/branches", "repos/list-branches")
def list_branches(owner: str, repo: str) -> Response:
    r = open_repo(owner, repo)
    items = [payloads.short_branch(api_base(), r.full_name, n, s) for n, s in r.git.branches()]
    chunk, headers = page(items)
    return json_response(chunk, 200, headers)


@route("GET", "/repos/<owner>/<repo>/branches/<path:branch>", "repos/get-branch")
def get_branch(owner: str, repo: str, branch: str) -> Response:
    r = open_repo(owner, repo)
    sha = r.git.ref_sha(f"refs/heads/{branch}")
    if sha is None:
        raise APIError(
            404,
            "Branch not found",
            doc="https://docs.github.com/rest/branches/branches#get-a-branch",
        )
    info = r.git.commit(sha)
    return json_response(payloads.branch_with_protection(api_base(), r.full_name, branch, info))


def ref_json(r: Repo, refname: str, sha: str, obj_type: str) -> dict[str, Any]:
    return payloads.git_ref(api_base(), r.full_name, refname, sha, obj_type)


@route("GET", "/repos/<owner>/<repo>/git/ref/<path:ref>", "git/get-ref")
def get_ref(owner: str, repo: str, ref: str) -> Response:
    r = open_repo(owner, repo)
    refname = f"refs/{ref}"
    for name, sha, obj_type in r.git.refs(refname):
        if name == refname:
            return json_response(ref_json(r, name, sha, obj_type))
    raise APIError(404, "Not Found", doc="https://docs.github.com/rest/git/refs#get-a-reference")


@route("GET", "/repos/<owner>/<repo>/git/matching-refs/<path:ref>", "git/list-matching-refs")
def matching_refs(owner: str, repo: str, ref: str) -> Response:
    r = open_repo(owner, repo)
    prefix = f"refs/{ref}"
    rows = [ref_json(r, n, s, t) for n, s, t in r.git.refs("refs/") if n.startswith(prefix)]
    return json_response(rows)


@route("POST", "/repos/<owner>/<repo>/git/refs", "git/create-ref")
def create_ref(owner: str, repo: str) -> Response:
    r = open_repo(owner, repo)
    data = body()
    refname, sha = data.get("ref"), data.get("sha")
    if not isinstance(refname, str) or not isinstance(sha, str):
        raise validation_failed("Reference", "missing_field", field="ref" if not refname else "sha")
    if refname.count("/") < 2 or not r.git.valid_refname(refname):
        raise APIError(422, "Reference name must start with 'refs/' and have at least two slashes.")
    obj_type = r.git.object_type(sha)
    if obj_type is None or len(sha) != 40:
        raise APIError(422, "Object does not exist")
    if not r.git.update_ref(refname, sha, ZERO_OID):
        raise APIError(422, "Reference already exists")
    return json_response(
        ref_json(r, refname, sha, obj_type),
        201,
        {"Location": f"{api_base()}/repos/{r.full_name}/git/{refname}"},
    )


@route("PATCH", "/repos/<owner>/<repo>/git/refs/<path:ref>", "git/update-ref")
def update_ref(owner: str, repo: str, ref: str) -> Response:
    r = open_repo(owner, repo)
    data = body()
    sha, force = data.get("sha"), bool(data.get("force", False))
    refname = f"refs/{ref}"
    if not isinstance(sha, str):
        raise validation_failed("Reference", "missing_field", field="sha")
    old = r.git.ref_sha(refname)
    if old is None:
        raise APIError(422, "Reference does not exist")
    obj_type = r.git.object_type(sha)
    if obj_type is None or len(sha) != 40:
        raise APIError(422, "Object does not exist")
    if not force and not r.git.is_ancestor(old, sha):
        raise APIError(422, "Update is not a fast forward")
    if not r.git.update_ref(refname, sha, old):
        raise APIError(422, "Reference cannot be updated")
    return json_response(ref_json(r, refname, sha, obj_type))


@route("DELETE", "/repos/<owner>/<repo>/git/refs/<path:ref>", "git/delete-ref")
def delete_ref(owner: str, repo: str, ref: str) -> Response:
    r = open_repo(owner, repo)
    refname = f"refs/{ref}"
    old = r.git.ref_sha(refname)
    if old is None or not r.git.delete_ref(refname, old):
        raise APIError(422, "Reference does not exist")
    return Response(status=204)


# --- pull requests ----------------------------------------------------------------------------


@route("GET", "/repos/<owner>/<repo>/pulls", "pulls/list")
def list_pulls(owner: str, repo: str) -> Response:
    r = open_repo(owner, repo)
    state = request.args.get("state", "open")
    head, base = request.args.get("head"), request.args.get("base")
    with ctx(current_app).state.lock:
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


@route("POST", "/repos/<owner>/<repo>/pulls", "pulls/create")
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
    state = ctx(current_app).state
    with state.lock:
        for other in r.state.pulls.values():
            if other.state == "open" and other.head_ref == head and other.base_ref == data["base"]:
                raise validation_failed(
                    "PullRequest",
                    "custom",
                    message=f"A pull request already exists for {r.owner}:{head}.",
                )
        stamp = now_iso()
        pr = Pull(
            number=r.state.next_number,
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
        r.state.pulls[pr.number] = pr
        r.state.next_number += 1
    location = f"{api_base()}/repos/{r.full_name}/pulls/{pr.number}"
    return json_response(pull_json(r, pr), 201, {"Location": location})


@route("GET", "/repos/<owner>/<repo>/pulls/<int:pull_number>", "pulls/get")
def get_pull_view(owner: str, repo: str, pull_number: int) -> Response:
    r = open_repo(owner, repo)
    return json_response(pull_json(r, get_pull(r, pull_number)))


@route("PATCH", "/repos/<owner>/<repo>/pulls/<int:pull_number>", "pulls/update")
def update_pull(owner: str, repo: str, pull_number: int) -> Response:
    r = open_repo(owner, repo)
    data = body()
    pr = get_pull(r, pull_number)
    state = ctx(current_app).state
    with state.lock:
        if "state" in data:
            if data["state"] not in ("open", "closed"):
                raise validation_failed("PullRequest", "invalid", field="state")
            if data["state"] == "open" and pr.state == "closed":
                _reopen(r, pr)
            elif data["state"] == "closed" and pr.state == "open":
                refresh(r, pr)
                pr.state, pr.closed_at = "closed", now_iso()
        if "base" in data:
            if pr.merged or r.git.resolve(f"refs/heads/{data['base']}") is None:
                raise validation_failed("PullRequest", "invalid", field="base")
            pr.base_ref = data["base"]
        for key in ("title", "body"):
            if key in data:
                setattr(pr, key, data[key])
        if "maintainer_can_modify" in data:
            pr.maintainer_can_modify = bool(data["maintainer_can_modify"])
        pr.updated_at = now_iso()
    return json_response(pull_json(r, pr))


def _reopen(r: Repo, pr: Pull) -> None:
    if pr.merged:
        raise validation_failed(
            "PullRequest",
            "custom",
            field="state",
            message="state cannot be changed. The pull request has been merged.",
        )
    if r.git.resolve(f"refs/heads/{pr.head_ref}") is None:
        raise validation_failed(
            "PullRequest",
            "custom",
            field="state",
            message="state cannot be changed. The head branch was deleted.",
        )
    for other in r.state.pulls.values():
        if (
            other.state == "open"
            and other.head_ref == pr.head_ref
            and other.base_ref == pr.base_ref
        ):
            raise validation_failed(
                "PullRequest",
                "custom",
                message=f"A pull request already exists for {r.owner}:{pr.head_ref}.",
            )
    pr.state, pr.closed_at = "open", None


@route("GET", "/repos/<owner>/<repo>/pulls/<int:pull_number>/merge", "pulls/check-if-merged")
def check_merged(owner: str, repo: str, pull_number: int) -> Response:
    r = open_repo(owner, repo)
    if get_pull(r, pull_number).merged:
        return Response(status=204)
    raise APIError(
        404,
        "Not Found",
        doc="https://docs.github.com/rest/pulls/pulls#check-if-a-pull-request-has-been-merged",
    )


@route("PUT", "/repos/<owner>/<repo>/pulls/<int:pull_number>/merge", "pulls/merge")
def merge_pull(owner: str, repo: str, pull_number: int) -> Response:
    r = open_repo(owner, repo)
    data = body()
    method = data.get("merge_method", "merge")
    if method not in ("merge", "squash", "rebase"):
        raise validation_failed("PullRequest", "invalid", field="merge_method")
    with _merge_lock(r.full_name):
        pr = get_pull(r, pull_number)
        if pr.state != "open":
            raise APIError(405, "Pull Request is not mergeable")
        state = ctx(current_app).state
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
            stamp = now_iso()
            pr.state, pr.closed_at, pr.merged_at, pr.updated_at = "closed", stamp, stamp, stamp
            pr.merge_commit_sha, pr.merged_by = new, g.login
    return json_response(
        {"sha": new, "merged": True, "message": "Pull Request successfully merged"}
    )


def _merge_lock(full_name: str) -> threading.Lock:
    with _MERGE_LOCKS_GUARD:
        return _MERGE_LOCKS.setdefault(full_name.lower(), threading.Lock())


def _merge_commit(
    r: Repo, pr: Pull, data: dict[str, Any], *, method: str, base: str, head: str
) -> str | None:
    """The new base-branch tip for `method`, or None when git cannot merge cleanly."""
    now = now_iso()
    merger = Person(
        g.login, f"{payloads.user('', g.login)['id']}+{g.login}@users.noreply.github.com", now
    )
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
        author = commits[0].author if commits else merger
        return r.git.commit_tree(tree, [base], f"{title}\n\n{detail}".rstrip(), author, committer)
    title = (
        data.get("commit_title") or f"Merge pull request #{pr.number} from {r.owner}/{pr.head_ref}"
    )
    detail = data.get("commit_message", pr.title)
    return r.git.commit_tree(tree, [base, head], f"{title}\n\n{detail}".rstrip(), merger, committer)


def _push_concurrent_commit(r: Repo, branch: str) -> None:
    """Fault `head_moved`: someone pushes a commit to the head branch right now."""
    old = r.git.resolve(f"refs/heads/{branch}")
    if old is None:
        return
    info: CommitInfo = r.git.commit(old)
    who = Person("concurrent pusher", "pusher@example.invalid", now_iso())
    new = r.git.commit_tree(info.tree, [old], "concurrent push (localworld fault)", who, who)
    r.git.update_ref(f"refs/heads/{branch}", new, old)


# --- issues (a pull request is an issue too: same numbers, seen here with `pull_request`) -------

ISSUE_DOC = "https://docs.github.com/rest/issues/issues"
_CLOSED_REASONS = ("completed", "not_planned", "duplicate")


def get_issue(repo: Repo, number: int) -> Issue | Pull:
    """The issue or pull request `number` (GitHub's issue endpoints serve both)."""
    item: Issue | Pull | None = repo.state.issues.get(number) or repo.state.pulls.get(number)
    if item is None:
        raise APIError(404, "Not Found", doc=f"{ISSUE_DOC}#get-an-issue")
    return item


def issue_json(r: Repo, item: Issue | Pull) -> dict[str, Any]:
    if isinstance(item, Pull):
        refresh(r, item)
    labels = [r.state.labels[name.lower()] for name in item.labels]
    return payloads.issue(api_base(), r.full_name, item, labels)


def _refuse_unmodelled(data: dict[str, Any]) -> None:
    """Nothing here has milestones or assignees: naming one is GitHub's 422, not a silent drop."""
    if data.get("milestone") not in (None, ""):
        raise validation_failed("Issue", "invalid", field="milestone")
    named = [a for a in data.get("assignees") or [] if a] + [data.get("assignee") or ""]
    if any(named):
        raise validation_failed(
            "Issue",
            "invalid",
            field="assignees",
            message="localworld.github does not model assignees",
        )


def _title(data: dict[str, Any], *, required: bool) -> str | None:
    title = data.get("title")
    if title is None and not required:
        return None
    if isinstance(title, int) and not isinstance(title, bool):
        title = str(title)
    if not isinstance(title, str) or not title.strip():
        raise validation_failed("Issue", "missing_field", field="title")
    return title


def _issue_text(data: dict[str, Any]) -> str | None:
    text = data.get("body")
    if text is not None and not isinstance(text, str):
        raise validation_failed("Issue", "invalid", field="body")
    return text


@route("GET", "/repos/<owner>/<repo>/issues", "issues/list-for-repo")
def list_issues(owner: str, repo: str) -> Response:
    r = open_repo(owner, repo)
    args = request.args
    state = args.get("state", "open")
    if state not in ("open", "closed", "all"):
        raise validation_failed("Issue", "invalid", field="state")
    with ctx(current_app).state.lock:
        items: list[Issue | Pull] = [*r.state.issues.values(), *r.state.pulls.values()]
    if state != "all":
        items = [i for i in items if i.state == state]
    if args.get("labels"):
        wanted = {n.strip().lower() for n in args["labels"].split(",") if n.strip()}
        items = [i for i in items if wanted <= {n.lower() for n in i.labels}]
    if args.get("creator"):
        items = [i for i in items if i.login.lower() == args["creator"].lower()]
    if args.get("mentioned"):
        at = f"@{args['mentioned'].lower()}"
        items = [
            i
            for i in items
            if at in (i.body or "").lower() or any(at in c.body.lower() for c in i.comments)
        ]
    if args.get("since"):
        items = [i for i in items if i.updated_at >= args["since"]]
    # Nobody is assigned, nothing has a milestone or a type: only "none" matches anything.
    for unmodelled in ("assignee", "milestone", "type"):
        if args.get(unmodelled) not in (None, "none"):
            items = []
    sort = args.get("sort", "created")

    def key(i: Issue | Pull) -> tuple[object, int]:
        if sort == "comments":
            return (len(i.comments), i.number)
        return (i.updated_at if sort == "updated" else i.created_at, i.number)

    items.sort(key=key, reverse=args.get("direction", "desc") == "desc")
    chunk, headers = page(items)
    return json_response([issue_json(r, i) for i in chunk], 200, headers)


@route("POST", "/repos/<owner>/<repo>/issues", "issues/create")
def create_issue(owner: str, repo: str) -> Response:
    r = open_repo(owner, repo)
    data = body()
    title = str(_title(data, required=True))
    text = _issue_text(data)
    _refuse_unmodelled(data)
    names = _label_names({"labels": data.get("labels") or []})
    state = ctx(current_app).state
    with state.lock:
        stamp = now_iso()
        item = Issue(
            number=r.state.next_number,
            id=state.ids.next(),
            title=title,
            body=text,
            login=g.login,
            created_at=stamp,
            updated_at=stamp,
        )
        for name in names:
            canonical = r.state.label(name, state.ids).name
            if canonical.lower() not in {n.lower() for n in item.labels}:
                item.labels.append(canonical)
        r.state.issues[item.number] = item
        r.state.next_number += 1
    out = issue_json(r, item)
    return json_response(out, 201, {"Location": out["url"]})


@route("GET", "/repos/<owner>/<repo>/issues/<int:issue_number>", "issues/get")
def get_issue_view(owner: str, repo: str, issue_number: int) -> Response:
    r = open_repo(owner, repo)
    return json_response(issue_json(r, get_issue(r, issue_number)))


@route("PATCH", "/repos/<owner>/<repo>/issues/<int:issue_number>", "issues/update")
def update_issue(owner: str, repo: str, issue_number: int) -> Response:
    r = open_repo(owner, repo)
    data = body()
    item = get_issue(r, issue_number)
    title = _title(data, required=False)
    text = _issue_text(data)
    _refuse_unmodelled(data)
    names = _label_names({"labels": data["labels"]}) if data.get("labels") is not None else None
    new_state = data.get("state")
    if new_state is not None and new_state not in ("open", "closed"):
        raise validation_failed("Issue", "invalid", field="state")
    reason = data.get("state_reason")
    if reason is not None and reason not in (*_CLOSED_REASONS, "reopened"):
        raise validation_failed("Issue", "invalid", field="state_reason")
    state = ctx(current_app).state
    with state.lock:
        if new_state is not None and new_state != item.state:
            _change_state(r, item, new_state, reason)
        if title is not None:
            item.title = title
        if "body" in data:
            item.body = text
        if names is not None:
            item.labels = []
            for name in names:
                canonical = r.state.label(name, state.ids).name
                if canonical.lower() not in {n.lower() for n in item.labels}:
                    item.labels.append(canonical)
        item.updated_at = now_iso()
    return json_response(issue_json(r, item))


def _change_state(r: Repo, item: Issue | Pull, new_state: str, reason: str | None) -> None:
    if isinstance(item, Pull):
        if new_state == "open":
            _reopen(r, item)
        else:
            refresh(r, item)
            item.state, item.closed_at = "closed", now_iso()
        return
    if new_state == "open":
        item.state, item.state_reason = "open", "reopened"
        item.closed_at = item.closed_by = None
        return
    item.state, item.closed_at, item.closed_by = "closed", now_iso(), g.login
    item.state_reason = reason if reason in _CLOSED_REASONS else "completed"


# --- issue comments, labels, reviewers --------------------------------------------------------


@route("GET", "/repos/<owner>/<repo>/issues/<int:issue_number>/comments", "issues/list-comments")
def list_comments(owner: str, repo: str, issue_number: int) -> Response:
    r = open_repo(owner, repo)
    item = get_issue(r, issue_number)
    on_pull = isinstance(item, Pull)
    items = [
        payloads.issue_comment(api_base(), r.full_name, item.number, c, on_pull=on_pull)
        for c in item.comments
    ]
    chunk, headers = page(items)
    return json_response(chunk, 200, headers)


@route("POST", "/repos/<owner>/<repo>/issues/<int:issue_number>/comments", "issues/create-comment")
def create_comment(owner: str, repo: str, issue_number: int) -> Response:
    r = open_repo(owner, repo)
    item = get_issue(r, issue_number)
    text = body().get("body")
    if not isinstance(text, str) or not text:
        raise validation_failed("IssueComment", "missing_field", field="body")
    state = ctx(current_app).state
    stamp = now_iso()
    comment = Comment(state.ids.next(), text, g.login, stamp, stamp)
    with state.lock:
        item.comments.append(comment)
        item.updated_at = stamp
    data = payloads.issue_comment(
        api_base(), r.full_name, item.number, comment, on_pull=isinstance(item, Pull)
    )
    return json_response(data, 201, {"Location": data["url"]})


def _labels_json(r: Repo, item: Issue | Pull) -> list[dict[str, Any]]:
    return [payloads.label(api_base(), r.full_name, r.state.labels[n.lower()]) for n in item.labels]


def _label_names(data: object) -> list[str]:
    """GitHub accepts {"labels": [...]}, [...], [{"name": ...}] and {"labels": [{"name": ...}]}."""
    items = data.get("labels") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise validation_failed("Label", "invalid", field="labels")
    names = [i.get("name") if isinstance(i, dict) else i for i in items]
    if not all(isinstance(n, str) and n for n in names):
        raise validation_failed("Label", "invalid", field="labels")
    return [str(n) for n in names]


def _labels_body() -> object:
    data = request.get_json(silent=True) if request.get_data() else []
    if data is None:
        raise APIError(400, "Problems parsing JSON")
    return data


@route(
    "GET", "/repos/<owner>/<repo>/issues/<int:issue_number>/labels", "issues/list-labels-on-issue"
)
def list_issue_labels(owner: str, repo: str, issue_number: int) -> Response:
    r = open_repo(owner, repo)
    chunk, headers = page(_labels_json(r, get_issue(r, issue_number)))
    return json_response(chunk, 200, headers)


@route("POST", "/repos/<owner>/<repo>/issues/<int:issue_number>/labels", "issues/add-labels")
def add_labels(owner: str, repo: str, issue_number: int) -> Response:
    return _set_labels(owner, repo, issue_number, replace=False)


@route("PUT", "/repos/<owner>/<repo>/issues/<int:issue_number>/labels", "issues/set-labels")
def set_labels(owner: str, repo: str, issue_number: int) -> Response:
    return _set_labels(owner, repo, issue_number, replace=True)


def _set_labels(owner: str, repo: str, issue_number: int, *, replace: bool) -> Response:
    r = open_repo(owner, repo)
    pr = get_issue(r, issue_number)
    names = _label_names(_labels_body())
    state = ctx(current_app).state
    with state.lock:
        if replace:
            pr.labels = []
        for name in names:
            canonical = r.state.label(name, state.ids).name
            if canonical.lower() not in {n.lower() for n in pr.labels}:
                pr.labels.append(canonical)
        pr.updated_at = now_iso()
    return json_response(_labels_json(r, pr))


@route(
    "DELETE",
    "/repos/<owner>/<repo>/issues/<int:issue_number>/labels/<path:name>",
    "issues/remove-label",
)
def remove_label(owner: str, repo: str, issue_number: int, name: str) -> Response:
    r = open_repo(owner, repo)
    pr = get_issue(r, issue_number)
    with ctx(current_app).state.lock:
        kept = [n for n in pr.labels if n.lower() != name.lower()]
        if len(kept) == len(pr.labels):
            raise APIError(
                404,
                "Label does not exist",
                doc="https://docs.github.com/rest/issues/labels#remove-a-label-from-an-issue",
            )
        pr.labels = kept
    return json_response(_labels_json(r, pr))


@route(
    "DELETE", "/repos/<owner>/<repo>/issues/<int:issue_number>/labels", "issues/remove-all-labels"
)
def remove_all_labels(owner: str, repo: str, issue_number: int) -> Response:
    r = open_repo(owner, repo)
    pr = get_issue(r, issue_number)
    with ctx(current_app).state.lock:
        pr.labels = []
    return Response(status=204)


@route("GET", "/repos/<owner>/<repo>/labels", "issues/list-labels-for-repo")
def list_repo_labels(owner: str, repo: str) -> Response:
    r = open_repo(owner, repo)
    with ctx(current_app).state.lock:
        labels = sorted(r.state.labels.values(), key=lambda lab: lab.name.lower())
    chunk, headers = page([payloads.label(api_base(), r.full_name, lab) for lab in labels])
    return json_response(chunk, 200, headers)


@route("GET", "/repos/<owner>/<repo>/labels/<path:name>", "issues/get-label")
def get_label(owner: str, repo: str, name: str) -> Response:
    r = open_repo(owner, repo)
    lab = r.state.labels.get(name.lower())
    if lab is None:
        raise APIError(
            404, "Not Found", doc="https://docs.github.com/rest/issues/labels#get-a-label"
        )
    return json_response(payloads.label(api_base(), r.full_name, lab))


@route("POST", "/repos/<owner>/<repo>/labels", "issues/create-label")
def create_label(owner: str, repo: str) -> Response:
    r = open_repo(owner, repo)
    data = body()
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise validation_failed("Label", "missing_field", field="name")
    state = ctx(current_app).state
    with state.lock:
        if name.lower() in r.state.labels:
            raise validation_failed("Label", "already_exists", field="name")
        lab = r.state.label(name, state.ids)
        lab.color = str(data.get("color") or "ededed").lstrip("#")
        lab.description = data.get("description")
    out = payloads.label(api_base(), r.full_name, lab)
    return json_response(out, 201, {"Location": out["url"]})


@route(
    "POST",
    "/repos/<owner>/<repo>/pulls/<int:pull_number>/requested_reviewers",
    "pulls/request-reviewers",
)
def request_reviewers(owner: str, repo: str, pull_number: int) -> Response:
    r = open_repo(owner, repo)
    pr = get_pull(r, pull_number)
    data = body()
    reviewers, teams = data.get("reviewers", []), data.get("team_reviewers", [])
    state = ctx(current_app).state
    if pr.login in reviewers:
        raise validation_failed(
            "PullRequest", "custom", message="Review cannot be requested from pull request author."
        )
    if teams or any(login not in state.users for login in reviewers):
        raise validation_failed(
            "PullRequest",
            "custom",
            message="Reviews may only be requested from collaborators. One or more of the users "
            f"or teams you specified is not a collaborator of the {r.full_name} repository.",
        )
    with state.lock:
        for login in reviewers:
            if login not in pr.reviewers:
                pr.reviewers.append(login)
    return json_response(pull_json(r, pr, detail=False), 201)


@route(
    "GET",
    "/repos/<owner>/<repo>/pulls/<int:pull_number>/requested_reviewers",
    "pulls/list-requested-reviewers",
)
def list_reviewers(owner: str, repo: str, pull_number: int) -> Response:
    r = open_repo(owner, repo)
    pr = get_pull(r, pull_number)
    users = [payloads.user(api_base(), login) for login in pr.reviewers]
    return json_response({"users": users, "teams": []})


@route(
    "DELETE",
    "/repos/<owner>/<repo>/pulls/<int:pull_number>/requested_reviewers",
    "pulls/remove-requested-reviewers",
)
def remove_reviewers(owner: str, repo: str, pull_number: int) -> Response:
    r = open_repo(owner, repo)
    pr = get_pull(r, pull_number)
    gone = set(body().get("reviewers", []))
    with ctx(current_app).state.lock:
        pr.reviewers = [login for login in pr.reviewers if login not in gone]
    return json_response(pull_json(r, pr, detail=False))


# --- compare ------------------------------------------------------------------------------------


@route("GET", "/repos/<owner>/<repo>/compare/<path:basehead>", "repos/compare-commits")
def compare(owner: str, repo: str, basehead: str) -> Response:
    r = open_repo(owner, repo)
    base_rev, sep, head_rev = basehead.partition("...")
    if not sep:
        raise APIError(
            404, "Not Found", doc="https://docs.github.com/rest/commits/commits#compare-two-commits"
        )
    base_sha = r.git.resolve(split_head(r, base_rev) or "")
    head_sha = r.git.resolve(split_head(r, head_rev) or "")
    merge_base = r.git.merge_base(base_sha, head_sha) if base_sha and head_sha else None
    if base_sha is None or head_sha is None or merge_base is None:
        raise APIError(
            404, "Not Found", doc="https://docs.github.com/rest/commits/commits#compare-two-commits"
        )
    ahead = r.git.rev_list(head_sha, merge_base)
    behind = len(r.git.rev_list(base_sha, head_sha))
    status = (
        "identical"
        if not ahead and not behind
        else "ahead"
        if not behind
        else "behind"
        if not ahead
        else "diverged"
    )
    chunk, headers = page(ahead, default_per_page=250, max_per_page=1000)
    files = r.git.diff_files(merge_base, head_sha)[:300]
    infos = r.git.commits([base_sha, merge_base])
    data = payloads.comparison(
        api_base(),
        r.full_name,
        basehead,
        base=infos[0],
        merge_base=infos[1] if len(infos) > 1 else infos[0],
        status=status,
        ahead_by=len(ahead),
        behind_by=behind,
        commits=r.git.commits(chunk),
        total_commits=len(ahead),
        files=[payloads.diff_entry(api_base(), r.full_name, head_sha, f) for f in files],
    )
    return json_response(data, 200, headers)
