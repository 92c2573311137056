"""The Flask app: the subset of Azure DevOps' REST API (7.1) the promotion bot uses.

Every route is one operation of Microsoft's published specifications; its endpoint is
`<spec>:<operationId>` (`git:Pull Requests_Create`), which the request log records and the
contract test looks up. Around every route: injected faults, bearer-token auth (401 without),
the `api-version` the operation declares (400 otherwise, as Azure DevOps), one log entry.
Collections answer in Azure DevOps' envelope `{"count": n, "value": [...]}`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from localworld.azure_repos import (
    payloads,
    routes_boards,
    routes_commits,
    routes_pulls,
    routes_threads,
)
from localworld.azure_repos.admin import admin
from localworld.azure_repos.state import LogEntry, ServerState
from localworld.azure_repos.web import _VIEWS, ROUTES, APIError, json_response

# The route modules register their views in ROUTES when imported.
ROUTE_MODULES = (routes_pulls, routes_threads, routes_commits, routes_boards)
ADMIN_PREFIX = "/_localworld"


def create_app(root: Path, st: ServerState) -> Flask:
    app = Flask("localworld.azure_repos", static_folder=None)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    for endpoint, (_spec, method, rule, _version) in ROUTES.items():
        app.add_url_rule(rule, endpoint, _VIEWS[endpoint], methods=[method])
    app.register_blueprint(admin, url_prefix=ADMIN_PREFIX)
    app.config["STATE"] = st

    @app.before_request
    def before() -> Response | None:
        g.state, g.root, g.fault, g.identity = st, root, None, None
        if request.path.startswith(ADMIN_PREFIX):
            return None
        slow = st.take_fault(request.method, request.path, {"slow"})
        if slow is not None:
            g.fault = "slow"
            time.sleep(slow.delay)
        fault = st.take_fault(request.method, request.path, {"status"})
        if fault is not None:
            g.fault = f"status:{fault.status}"
            resp = json_response(
                payloads.error("injected fault", "ServiceUnavailableException", fault.status),
                fault.status,
            )
            if fault.retry_after is not None:
                resp.headers["Retry-After"] = str(fault.retry_after)
            return resp
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        identity = st.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if identity is None:  # no bearer token of ours (a PAT by Basic auth included): 401
            resp = Response(status=401)
            resp.headers["WWW-Authenticate"] = "Bearer"
            return resp
        g.identity = identity
        declared = ROUTES.get(request.endpoint or "", ("", "", "", ""))[3]
        if declared and request.args.get("api-version") != declared:
            raise APIError(
                400,
                f"The requested REST API version of {request.args.get('api-version')} is not "
                f"what this resource serves here: use api-version={declared}.",
                "VssVersionOutOfRangeException",
            )
        return None

    @app.after_request
    def after(resp: Response) -> Response:
        if request.path.startswith(ADMIN_PREFIX):
            return resp
        raw = resp.get_data() if resp.mimetype == "application/json" else b""
        endpoint = request.endpoint if request.url_rule is not None else None
        st.record(
            LogEntry(
                seq=0,
                method=request.method,
                path=request.path,
                query=request.query_string.decode(),
                status=resp.status_code,
                operation=endpoint.split(":", 1)[1] if endpoint else None,
                spec=endpoint.split(":", 1)[0] if endpoint else None,
                identity=g.identity.unique_name if g.get("identity") else None,
                fault=g.get("fault"),
                request_body=request.get_json(silent=True, force=True)
                if request.get_data()
                else None,
                response_body=json.loads(raw) if raw else None,
            )
        )
        return resp

    @app.errorhandler(APIError)
    def api_error(exc: APIError) -> Response:
        return json_response(payloads.error(exc.message, exc.type_key, exc.status), exc.status)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        if status in (404, 405):
            return json_response(
                payloads.error("The resource cannot be found.", "ResourceNotFoundException", 404),
                404,
            )
        return json_response(
            payloads.error(exc.description or "error", "HttpException", status), status
        )

    return app
