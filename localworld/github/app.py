"""The Flask app: GitHub's cross-cutting behaviour around every route.

Order for a request in GitHub's namespace: injected faults (slow, 5xx/429, rate limits) →
auth (401: a token, or on the GitHub App routes an app's JWT) → an installation token's
permissions (403) → primary rate limit accounting (403 at zero) → the route. After it: rate
limit and GitHub headers, a weak `ETag` on GET 200s with `If-None-Match` → 304 (not counted,
as on GitHub), and one request-log entry. `/_localworld/*` is the admin side and is not logged.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from pathlib import Path

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from localworld.github import apps, payloads, routes
from localworld.github.admin import admin
from localworld.github.state import LogEntry, RateWindow, ServerState
from localworld.github.web import APIError, init_app, json_response, operation_id

ADMIN_PREFIX = "/_localworld"
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
API_VERSION = "2022-11-28"
# The routes a GitHub App calls as itself, with a JWT (and nothing else does).
JWT_OPERATIONS = frozenset(
    {
        "apps/get-authenticated",
        "apps/get-repo-installation",
        "apps/create-installation-access-token",
    }
)


def create_app(root: Path, state: ServerState) -> Flask:
    """A fresh app serving the bare repositories under `root` with `state`."""
    app = Flask("localworld.github", static_folder=None)
    init_app(app, root, state)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    routes.register(app)
    app.register_blueprint(admin, url_prefix=ADMIN_PREFIX)

    @app.before_request
    def before() -> Response | None:
        g.started = time.monotonic()
        g.fault = None
        g.login = None
        g.app = None
        if request.path.startswith(ADMIN_PREFIX):
            return None
        return _gate(state)

    @app.after_request
    def after(resp: Response) -> Response:
        if request.path.startswith(ADMIN_PREFIX):
            return resp
        resp = _decorate(state, resp)
        _record(state, resp)
        return resp

    @app.errorhandler(APIError)
    def api_error(exc: APIError) -> Response:
        return json_response(exc.to_dict(), exc.status, exc.headers)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        if status in (404, 405):  # GitHub answers unknown routes and verbs with 404
            return json_response(payloads.error("Not Found", status=404), 404)
        if status == 400:
            return json_response(payloads.error("Problems parsing JSON", status=400), 400)
        return json_response(payloads.error(exc.description or "error", status=status), status)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        app.logger.exception("unexpected error: %s", exc)
        return json_response(payloads.error("Server Error", status=500), 500)

    return app


def _gate(state: ServerState) -> Response | None:
    method, path = request.method, request.path
    slow = state.take_fault(method, path, {"slow"})
    if slow is not None:
        g.fault = "slow"
        time.sleep(slow.delay)
    fault = state.take_fault(method, path, {"status", "secondary_rate_limit"})
    if fault is not None:
        g.fault = fault.kind if fault.kind != "status" else f"status:{fault.status}"
        return _fault_response(fault.kind, fault.status, fault.retry_after)
    login = _authenticate(state)
    g.login = login
    token = getattr(g, "token", None)
    held = token.permissions if token is not None else None
    if held is not None and not apps.allowed(operation_id(request.endpoint), held):
        raise APIError(403, apps.NOT_ACCESSIBLE)
    window = state.rate(login)
    forced = state.take_fault(method, path, {"rate_limit"})
    if forced is not None:
        g.fault = "rate_limit"
        g.rate_override = (0, int(time.time()) + forced.reset_in)
        return _rate_limited(login)
    if operation_id(request.endpoint) == "rate-limit/get":
        return None
    with state.lock:
        if window.remaining == 0:
            return _rate_limited(login)
        window.used += 1
    return None


def _authenticate(state: ServerState) -> str:
    """The login a request acts as: a token's user (an installation token's `slug[bot]`), or on
    the GitHub App routes the app's slug, which a JWT signed by the app's key proves."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if not header:
        raise APIError(401, "Requires authentication")
    if scheme.lower() not in ("token", "bearer"):
        raise APIError(401, "Bad credentials")
    if operation_id(request.endpoint) in JWT_OPERATIONS:
        if not apps.looks_like_jwt(value):  # a token where GitHub wants the app's JWT
            raise APIError(401, apps.UNDECODABLE)
        with state.lock:
            registered = dict(state.apps.apps)
        try:
            g.app = apps.verify_jwt(value, registered, state.clock.time())
        except apps.JWTRefusedError as exc:
            raise APIError(401, str(exc)) from exc
        return str(g.app.slug)
    token = state.tokens.get(value)
    if token is None or token.expired(state.clock.time()):
        raise APIError(401, "Bad credentials")
    g.token = token
    return token.login


def _fault_response(kind: str, status: int, retry_after: int | None) -> Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    if kind == "secondary_rate_limit":
        message = (
            "You have exceeded a secondary rate limit. Please wait a few minutes before you "
            "try again. If you reach out to GitHub Support for help, please include the "
            f"request ID {uuid.uuid4().hex[:20].upper()}."
        )
        headers.setdefault("Retry-After", "1")
        doc = "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
        return json_response(payloads.error(message, doc, 403), 403, headers)
    messages = {429: "Too Many Requests", 502: "Server Error", 503: "Service Unavailable"}
    return json_response(
        payloads.error(messages.get(status, "Server Error"), status=status), status, headers
    )


def _rate_limited(login: str) -> Response:
    message = f"API rate limit exceeded for user ID {payloads.user('', login)['id']}."
    doc = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-rate-limits"
    return json_response(payloads.error(message, doc, 403), 403)


def _decorate(state: ServerState, resp: Response) -> Response:
    window: RateWindow = state.rate(g.login or "anonymous")
    if request.method == "GET" and resp.status_code == 200:
        etag = 'W/"' + hashlib.sha256(resp.get_data()).hexdigest() + '"'
        resp.headers["ETag"] = etag
        if etag in {t.strip() for t in request.headers.get("If-None-Match", "").split(",")}:
            resp = Response(status=304)
            resp.headers["ETag"] = etag
            if g.login and operation_id(request.endpoint) != "rate-limit/get":
                with state.lock:
                    window.used = max(window.used - 1, 0)  # GitHub does not count 304s
    remaining, reset = getattr(g, "rate_override", (window.remaining, window.reset))
    resp.headers["X-RateLimit-Limit"] = str(window.limit)
    resp.headers["X-RateLimit-Remaining"] = str(remaining)
    resp.headers["X-RateLimit-Reset"] = str(reset)
    resp.headers["X-RateLimit-Used"] = str(window.limit - remaining)
    resp.headers["X-RateLimit-Resource"] = "core"
    resp.headers["X-GitHub-Media-Type"] = "github.v3; format=json"
    resp.headers["X-GitHub-Api-Version-Selected"] = API_VERSION
    resp.headers["X-GitHub-Request-Id"] = uuid.uuid4().hex[:32].upper()
    return resp


def _record(state: ServerState, resp: Response) -> None:
    request_body = request.get_json(silent=True) if request.get_data() else None
    response_body = None
    if resp.status_code != 304 and resp.content_type.startswith("application/json"):
        raw = resp.get_data()
        response_body = json.loads(raw) if raw else None
    state.record(
        LogEntry(
            seq=0,
            method=request.method,
            path=request.path,
            query=request.query_string.decode(),
            status=resp.status_code,
            operation=operation_id(request.endpoint) if request.url_rule is not None else None,
            login=g.login,
            fault=g.fault,
            request_body=request_body,
            response_body=response_body,
            duration_ms=round((time.monotonic() - g.started) * 1000, 1),
        )
    )
