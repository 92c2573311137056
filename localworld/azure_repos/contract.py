"""Microsoft's published REST specifications as the contract of the local Azure Repos.

The specifications (Swagger 2.0, MicrosoftDocs/vsts-rest-api-specs, version 7.1: `git`, `wit`,
`ims`) are checked in under `tests/localworld/azure_repos/testdata/` (SOURCE.md names the commit).
`Contract.check(entry)` judges one logged exchange, strictly:

- the operation exists in its specification with the served method and path;
- every query parameter is one the operation documents, and `api-version` is the one it declares;
- an accepted request's body, and a 2xx response's body, validate against the operation's
  schemas with every object CLOSED (`allOf` flattened, no property the specification does not
  name), so a misspelt field fails instead of passing unnoticed;
- a success is 200 (the only success the specifications document); a collection comes in Azure
  DevOps' envelope `{"count": n, "value": [...]}` (the specifications describe the array inside);
- an error (4xx/5xx) has Azure DevOps' error shape (`ERROR_SCHEMA`, ours: the specifications
  document no errors); a 401 may have no body.

Amendments, each with its reason, are in `AMENDMENTS` and `DEFINITION_AMENDMENTS`.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import jsonschema

from localworld.azure_repos.app import ROUTE_MODULES
from localworld.azure_repos.web import ROUTES
from localworld.errors import LocalWorldError
from localworld.services import PROJECT_ROOT

SPEC_DIR = PROJECT_ROOT / "tests" / "localworld" / "azure_repos" / "testdata"
SPEC_FILES = {
    "git": "git-7.1.json",
    "wit": "workItemTracking-7.1.json",
    "ims": "identities-7.1.json",
}
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "$id": {"type": "string"},
        "innerException": {"type": ["object", "null"]},
        "message": {"type": "string"},
        "typeName": {"type": "string"},
        "typeKey": {"type": "string"},
        "errorCode": {"type": "integer"},
        "eventId": {"type": "integer"},
    },
    "required": ["$id", "innerException", "message", "typeName", "typeKey", "errorCode", "eventId"],
    "additionalProperties": False,
}
# (spec, definition, property) -> the schema used instead, and why.
AMENDMENTS: dict[tuple[str, str, str], dict[str, Any]] = {
    # The spec gives every field value the schema {"type": "object"}, which would refuse the
    # strings and numbers Azure DevOps returns (System.Title, System.Id): values are any JSON.
    ("wit", "WorkItem", "fields"): {"type": "object"},
    # A C# `object` again: a patch operation's value is any JSON (the title is a string).
    ("wit", "JsonPatchOperation", "value"): {},
}

# (spec, definition) -> the schema used instead, and why.
DEFINITION_AMENDMENTS: dict[tuple[str, str], dict[str, Any]] = {
    # Generated from a C# List<JsonPatchOperation>: "type: object" with an allOf of an array,
    # which nothing can satisfy. The documented wire format is the array itself.
    ("wit", "JsonPatchDocument"): {
        "type": "array",
        "items": {"$ref": "#/definitions/JsonPatchOperation"},
    },
}


class ContractError(LocalWorldError):
    """The stand-in serves something its specification does not describe."""


@dataclass(frozen=True)
class Operation:
    spec: str
    operation_id: str
    method: str
    path: str
    api_version: str
    query: frozenset[str]
    request: dict[str, Any] | None
    response: dict[str, Any] | None
    collection: bool
    regex: re.Pattern[str]


def _template(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def _flask_template(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?[^<>]+>", "{}", rule)


def _path_regex(path: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", path)
    return re.compile(
        "^" + "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts) + "$"
    )


def _closed_definitions(spec: str, definitions: dict[str, Any]) -> dict[str, Any]:
    """Each definition as one closed object: its own properties and those of its `allOf`."""

    def properties(name: str) -> dict[str, Any]:
        node = definitions[name]
        merged: dict[str, Any] = {}
        for part in node.get("allOf", []):
            if "$ref" in part:
                merged.update(properties(part["$ref"].rsplit("/", 1)[1]))
            else:
                merged.update(part.get("properties", {}))
        merged.update(node.get("properties", {}))
        return merged

    closed: dict[str, Any] = {}
    for name, node in definitions.items():
        if (spec, name) in DEFINITION_AMENDMENTS:
            closed[name] = DEFINITION_AMENDMENTS[(spec, name)]
        elif node.get("type") == "object" and ("properties" in node or "allOf" in node):
            props = {
                key: AMENDMENTS.get((spec, name, key), value)
                for key, value in properties(name).items()
            }
            closed[name] = {"type": "object", "properties": props, "additionalProperties": False}
        else:
            closed[name] = copy.deepcopy(node)
    return closed


def _version(param: dict[str, Any], parameters: dict[str, Any]) -> str | None:
    ref = param.get("$ref", "")
    if ref.startswith("#/parameters/api-Version"):
        text = parameters[ref.rsplit("/", 1)[1]]["description"]
        found = re.search(r"set to '([^']+)'", text)
        return found.group(1) if found else None
    return None


def load_spec(name: str) -> dict[str, Any]:
    path = SPEC_DIR / SPEC_FILES[name]
    spec: dict[str, Any] = json.loads(path.read_text(encoding="utf-8-sig"))
    return spec


class Contract:
    def __init__(self, specs: dict[str, dict[str, Any]]) -> None:
        self.definitions = {
            name: _closed_definitions(name, s["definitions"]) for name, s in specs.items()
        }
        self.operations: dict[tuple[str, str], Operation] = {}
        for spec_name, spec in specs.items():
            for path, item in spec["paths"].items():
                for method, op in item.items():
                    if isinstance(op, dict) and "operationId" in op:
                        self._add(spec_name, spec, path, method.upper(), op)

    def _add(
        self, spec_name: str, spec: dict[str, Any], path: str, method: str, op: dict[str, Any]
    ) -> None:
        query: set[str] = set()
        version = None
        request = None
        for param in op.get("parameters", []):
            version = version or _version(param, spec.get("parameters", {}))
            if param.get("in") == "query":
                query.add(param["name"])
            if param.get("in") == "body":
                request = param.get("schema")
        response = (op.get("responses", {}).get("200") or {}).get("schema")
        collection = bool(response and response.get("type") == "array")
        self.operations[(spec_name, op["operationId"])] = Operation(
            spec_name,
            op["operationId"],
            method,
            path,
            version or "",
            frozenset(query),
            request,
            response,
            collection,
            _path_regex(path),
        )

    @classmethod
    def load(cls) -> Contract:
        return cls({name: load_spec(name) for name in SPEC_FILES})

    def check_served(self) -> list[str]:
        """Every served route is an operation of its specification: method, path, version."""
        problems = [] if ROUTE_MODULES else ["no route modules"]
        for endpoint, (spec, method, rule, version) in ROUTES.items():
            op = self.operations.get((spec, endpoint.split(":", 1)[1]))
            if op is None:
                problems.append(f"{endpoint}: no such operation in the {spec} specification")
                continue
            if (op.method, _template(op.path), op.api_version) != (
                method,
                _flask_template(rule),
                version,
            ):
                problems.append(
                    f"{endpoint}: served as {method} {rule} api-version={version}, "
                    f"described as {op.method} {op.path} api-version="
                    f"{op.api_version}"
                )
        return problems

    def _validate(
        self, spec: str, schema: dict[str, Any] | None, instance: Any, where: str
    ) -> list[str]:
        if schema is None:
            return []
        root = {**schema, "definitions": self.definitions[spec]}
        validator = jsonschema.Draft4Validator(root)
        return [
            f"{where}: {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}"
            for e in validator.iter_errors(instance)
        ]

    def check(self, entry: dict[str, Any]) -> list[str]:
        """Violations of the specifications by one logged exchange (empty when it conforms)."""
        where = f"{entry['method']} {entry['path']} -> {entry['status']}"
        status, body = int(entry["status"]), entry.get("response_body")
        if status >= 400:
            if status == 401 and body is None:
                return []
            return self._validate("git", ERROR_SCHEMA, body, f"{where} (error)")
        op = self.operations.get((entry.get("spec") or "", entry.get("operation") or ""))
        if op is None:
            return [f"{where}: answered {status} outside every described operation"]
        problems: list[str] = []
        if entry["method"] != op.method or not op.regex.match(entry["path"]):
            problems.append(f"{where}: does not match {op.operation_id} ({op.method} {op.path})")
        query = dict(parse_qsl(entry.get("query") or "", keep_blank_values=True))
        unknown = sorted(set(query) - op.query - {"api-version"})
        if unknown:
            problems.append(
                f"{where}: query parameters {unknown} not documented for {op.operation_id}"
            )
        if query.get("api-version") != op.api_version:
            problems.append(
                f"{where}: api-version {query.get('api-version')!r}, the operation "
                f"declares {op.api_version!r}"
            )
        if status != 200:
            problems.append(f"{where}: {op.operation_id} documents only 200")
        if entry.get("request_body") is not None:
            problems += self._validate(
                op.spec, op.request, entry["request_body"], f"{where} request body"
            )
        if op.collection:
            envelope = {
                "type": "object",
                "required": ["count", "value"],
                "additionalProperties": False,
                "properties": {"count": {"type": "integer"}, "value": op.response},
            }
            problems += self._validate(op.spec, envelope, body, f"{where} ({op.operation_id})")
            if isinstance(body, dict) and body.get("count") != len(body.get("value") or []):
                problems.append(f"{where}: count is not the number of values")
        else:
            problems += self._validate(op.spec, op.response, body, f"{where} ({op.operation_id})")
        return problems
