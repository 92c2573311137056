"""GitHub's published OpenAPI description as the contract of the local server.

The description (npm `@octokit/openapi`, `generated/api.github.com.deref.json`, 73 MB) is read
once; only the operations the server routes are kept, their OpenAPI 3.0 schemas turned into
JSON Schema (`nullable`), and cached under `build/github-openapi/` keyed by the file's sha256.
`Contract.check(entry)` then judges one logged exchange: the request body of an accepted (2xx)
request against the request schema, the response body against the schema of its status.
Statuses GitHub can send on any route (400 for a body that is not JSON, 401, 5xx/429 and
rate-limit 403s, the 403 "Resource not accessible by integration" an installation token gets for
what its permissions do not cover, 304 to conditional GETs) are held to GitHub's "Basic Error"
shape; any other undocumented status is a violation.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
from flask import Flask

from localworld.github.app import ADMIN_PREFIX, create_app
from localworld.github.apps import NOT_ACCESSIBLE
from localworld.github.errors import ContractError
from localworld.github.state import ServerState
from localworld.github.web import operation_id
from localworld.services import PROJECT_ROOT

SPEC_PATH = PROJECT_ROOT / "node_modules/@octokit/openapi/generated/api.github.com.deref.json"
CACHE_DIR = PROJECT_ROOT / "build" / "github-openapi"
# 400: "Problems parsing JSON", which GitHub answers on any route for a body that is not JSON.
_ANY_ROUTE_STATUSES = {400, 401, 429, 500, 502, 503}
_GREEDY_PARAMS = {"ref", "branch", "basehead", "base", "head", "name"}  # may contain "/"
# Where the description's prose allows more than its schema, and clients (PyGithub's
# `add_to_labels`/`set_labels`) rely on it: "You can also pass an `array` of labels directly".
_BARE_LABEL_ARRAY = {"type": "array", "items": {"type": "string"}}
_REQUEST_AMENDMENTS = {
    "issues/add-labels": _BARE_LABEL_ARRAY,
    "issues/set-labels": _BARE_LABEL_ARRAY,
}
# Answers GitHub gives that an operation's `responses` leave out, each with its reason. The
# schemas are the description's own: "basic" is its Basic Error, "validation" its Validation
# Error. Creating a status: the description's text says more than 1000 statuses per sha and
# context "will result in a validation error" (and GitHub answers 422 for an unknown sha or a bad
# field); like every repository route, both status routes answer 404 for a repository the token
# cannot see.
_RESPONSE_AMENDMENTS = {
    "repos/create-commit-status": {"404": "basic", "422": "validation"},
    "repos/list-commit-statuses-for-ref": {"404": "basic"},
}


# Older paths GitHub still serves for an operation, as its description's text names them
# ("This resource is also available via a legacy route"); PyGithub's `Commit.get_statuses()`
# calls this one.
LEGACY_PATHS = {
    "repos/list-commit-statuses-for-ref": "/repos/{owner}/{repo}/statuses/{ref}",
}


def served_operations(app: Flask | None = None) -> dict[str, tuple[str, str]]:
    """operationId → (method, OpenAPI path) of every GitHub route, read from the URL map of
    `app` (by default a fresh app, which has every route). `/_localworld/*` is not GitHub's;
    a rule on an operation's legacy path (`LEGACY_PATHS`) is not listed separately."""
    if app is None:
        app = create_app(CACHE_DIR / "no-repositories", ServerState())
    served: dict[str, tuple[str, str]] = {}
    for rule in app.url_map.iter_rules():
        op = operation_id(rule.endpoint)
        if op is None or rule.rule.startswith(ADMIN_PREFIX):
            continue
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        path = _openapi_path(rule.rule)
        if len(methods) != 1:
            raise ContractError(f"{op}: one operation must be one method")
        if path == LEGACY_PATHS.get(op):
            continue
        if op in served:
            raise ContractError(f"{op}: one operation must be one method on one rule")
        served[op] = (methods[0], path)
    return served


def _openapi_path(rule: str) -> str:
    """A Flask rule as an OpenAPI path: `/pulls/<int:pull_number>` → `/pulls/{pull_number}`."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema → JSON Schema: `nullable: true` becomes an explicit null."""
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: to_json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def _extract(spec: dict[str, Any], wanted: set[str]) -> dict[str, Any]:
    operations: dict[str, Any] = {}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if not isinstance(op, dict) or op.get("operationId") not in wanted:
                continue
            request_schema = (
                op.get("requestBody", {})
                .get("content", {})
                .get("application/json", {})
                .get("schema")
            )
            responses = {
                status: (resp.get("content", {}).get("application/json", {}).get("schema"))
                for status, resp in op["responses"].items()
            }
            request_json = to_json_schema(request_schema)
            if op["operationId"] in _REQUEST_AMENDMENTS:
                request_json = {"anyOf": [request_json, _REQUEST_AMENDMENTS[op["operationId"]]]}
            operations[op["operationId"]] = {
                "method": method.upper(),
                "path": path,
                "request": request_json,
                "responses": {k: to_json_schema(v) for k, v in responses.items()},
            }
    missing = wanted - set(operations)
    if missing:
        raise ContractError(f"operations not in GitHub's description: {sorted(missing)}")
    basic = spec["paths"]["/repos/{owner}/{repo}"]["get"]["responses"]["404"]
    validation = spec["paths"]["/repos/{owner}/{repo}/pulls"]["post"]["responses"]["422"]
    shared = {
        "basic": to_json_schema(basic["content"]["application/json"]["schema"]),
        "validation": to_json_schema(validation["content"]["application/json"]["schema"]),
    }
    for op_id, extra in _RESPONSE_AMENDMENTS.items():
        if op_id in operations:
            for status, name in extra.items():
                operations[op_id]["responses"].setdefault(status, shared[name])
    return {"operations": operations, "basic_error": shared["basic"]}


def _path_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    regex = ""
    for part in parts:
        if part.startswith("{"):
            name = part[1:-1]
            regex += f"(?P<{name}>.+)" if name in _GREEDY_PARAMS else f"(?P<{name}>[^/]+)"
        else:
            regex += re.escape(part)
    return re.compile(f"^{regex}$")


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    path: str
    request: dict[str, Any] | None
    responses: dict[str, dict[str, Any] | None]


class Contract:
    def __init__(self, subset: dict[str, Any]) -> None:
        self.operations = {
            op_id: Operation(op_id, o["method"], o["path"], o["request"], o["responses"])
            for op_id, o in subset["operations"].items()
        }
        self.basic_error: dict[str, Any] = subset["basic_error"]
        self._paths = {op_id: _path_regex(o.path) for op_id, o in self.operations.items()}
        self._legacy = {op_id: _path_regex(path) for op_id, path in LEGACY_PATHS.items()}

    @classmethod
    def load(cls, spec_path: Path = SPEC_PATH, cache_dir: Path = CACHE_DIR) -> Contract:
        if not spec_path.is_file():
            raise ContractError(f"{spec_path} not found: run `make setup` (npm ci installs it)")
        wanted = set(served_operations())
        digest = hashlib.sha256(spec_path.read_bytes()).hexdigest()
        amendments = json.dumps([_REQUEST_AMENDMENTS, _RESPONSE_AMENDMENTS], sort_keys=True)
        ops_key = hashlib.sha256("\n".join([*sorted(wanted), amendments]).encode()).hexdigest()[:12]
        cached = cache_dir / f"{digest[:24]}-{ops_key}.json"
        if cached.is_file():
            return cls(json.loads(cached.read_text()))
        subset = _extract(json.loads(spec_path.read_bytes()), wanted)
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".tmp{os.getpid()}")  # one per process: xdist workers race
        tmp.write_text(json.dumps(subset))
        tmp.replace(cached)
        return cls(subset)

    def matches(self, operation_id: str, method: str, path: str) -> bool:
        """Whether `method path` is a request to the described operation `operation_id` (on
        its path or on a legacy path of it)."""
        op = self.operations[operation_id]
        legacy = self._legacy.get(operation_id)
        on_path = self._paths[operation_id].match(path) is not None
        return op.method == method and (on_path or bool(legacy and legacy.match(path)))

    def check(self, entry: dict[str, Any]) -> list[str]:
        """Violations of GitHub's description by one logged exchange (empty when it conforms)."""
        where = f"{entry['method']} {entry['path']} -> {entry['status']}"
        status, body = int(entry["status"]), entry.get("response_body")
        op = self.operations.get(entry.get("operation") or "")
        if op is None:  # no route: GitHub answers 404 (or a gateway/auth error) in its error shape
            if status in {404, *_ANY_ROUTE_STATUSES} or _is_rate_limit(status, body):
                return _validate(self.basic_error, body, f"{where} (unrouted)")
            return [f"{where}: unrouted request answered with {status}"]
        problems: list[str] = []
        if not self.matches(op.operation_id, entry["method"], entry["path"]):
            problems.append(f"{where}: does not match {op.operation_id} ({op.method} {op.path})")
        # A request GitHub's description forbids must not be accepted; refusing it is fine.
        if op.request is not None and entry.get("request_body") is not None and status < 300:
            problems += _validate(op.request, entry["request_body"], f"{where} request body")
        if str(status) in op.responses:
            schema = op.responses[str(status)]
            if schema is None:
                if body is not None and status in (204, 304):
                    problems.append(f"{where}: {status} must have no body")
            else:
                problems += _validate(schema, body, f"{where} ({op.operation_id})")
        elif status == 304 and entry["method"] == "GET" and body is None:
            pass  # any GET answers a matching If-None-Match with 304
        elif status in _ANY_ROUTE_STATUSES or _is_rate_limit(status, body):
            problems += _validate(self.basic_error, body, f"{where} ({op.operation_id})")
        else:
            documented = ", ".join(op.responses)
            problems.append(f"{where}: {op.operation_id} documents only {documented}")
        return problems


def _is_rate_limit(status: int, body: Any) -> bool:
    """A 403 GitHub may answer on any route: a rate limit, or an installation token without
    the permission the route needs ("Resource not accessible by integration")."""
    message = str(body.get("message", "")) if isinstance(body, dict) else ""
    return status == 403 and ("rate limit" in message or message == NOT_ACCESSIBLE)


def _validate(schema: dict[str, Any] | None, instance: Any, where: str) -> list[str]:
    if schema is None:
        return []
    validator = jsonschema.Draft4Validator(schema)
    return [
        f"{where}: {'/'.join(map(str, err.absolute_path)) or '<root>'}: {err.message[:300]}"
        for err in validator.iter_errors(instance)
    ]
