"""The OpenAPI 3.1 description of the service, filled in from the loaded model and the limits."""

from __future__ import annotations

from typing import Any

from app.config import Settings
from app.model import ModelInfo
from app.validation import FLOAT32_MAX


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _json(schema_ref: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}},
    }


def _errors(*statuses: int) -> dict[str, Any]:
    text = {
        400: "Invalid input; `details` lists each bad value by position",
        413: "Body, batch or image too large",
        415: "Content-Type is not one the operation accepts",
        422: "The model cannot score this input (not an image model, or values so far outside "
        "its range that its output is not finite)",
    }
    return {str(s): _error_response(text[s]) for s in statuses}


def build_openapi(info: ModelInfo, settings: Settings) -> dict[str, Any]:
    n = info.n_features
    row = {
        "type": "array",
        "items": {"type": "number", "minimum": -FLOAT32_MAX, "maximum": FLOAT32_MAX},
        "minItems": n,
        "maxItems": n,
        "description": f"{n} finite numbers (float32 range)",
    }
    schemas: dict[str, Any] = {
        "PredictRequest": {
            "type": "object",
            "required": ["instances"],
            "additionalProperties": False,
            "properties": {
                "instances": {
                    "oneOf": [
                        {
                            "type": "array",
                            "items": row,
                            "minItems": 1,
                            "maxItems": settings.max_batch,
                        },
                        row,
                    ]
                }
            },
        },
        "PredictResponse": {
            "type": "object",
            "required": ["predictions", "probabilities", "model"],
            "properties": {
                "predictions": {"type": "array", "items": {"type": "integer"}},
                "probabilities": {
                    "type": "array",
                    "items": {"type": "array", "items": {"type": "number"}},
                },
                "model": {"$ref": "#/components/schemas/ModelRef"},
            },
        },
        "ScoreRequest": {
            "type": "object",
            "required": ["input"],
            "properties": {
                "input": {
                    "oneOf": [
                        {
                            "type": "array",
                            "items": {
                                "type": "string",
                                "contentEncoding": "base64",
                                "minLength": 1,
                            },
                            "minItems": 1,
                            "maxItems": settings.score_max_images,
                        },
                        {
                            "type": "string",
                            "minLength": 1,
                            "description": "a JSON-encoded list of base64 images, or one image",
                        },
                    ]
                }
            },
        },
        "ScoreResponse": {
            "type": "object",
            "required": ["result", "time"],
            "properties": {
                "result": {
                    "type": "array",
                    "description": "per image, the top-3 [label, probability] pairs",
                    "items": {"type": "array", "items": {"type": "array"}},
                },
                "time": {"type": "number", "description": "compute time in seconds"},
                "model": {"$ref": "#/components/schemas/ModelRef"},
            },
        },
        "ModelRef": {
            "type": "object",
            "properties": {
                "name": {"type": ["string", "null"]},
                "version": {"type": ["integer", "null"]},
            },
        },
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["status", "code", "message"],
                    "properties": {
                        "status": {"type": "integer"},
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "details": {"type": "array", "items": {"type": "object"}},
                    },
                },
                "request_id": {"type": "string"},
            },
        },
    }
    plain_json = {
        "description": "OK",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
    paths: dict[str, Any] = {
        "/predict": {
            "post": {
                "summary": "Predict labels and class probabilities for feature rows",
                "operationId": "predict",
                "description": (
                    "JSON (`application/json`), or the same rows packed as float32 for less "
                    "parsing: `application/x-npy` is an `.npy` file (what `numpy.save` writes) "
                    f"of a C-ordered little-endian float32 (`<f4`) array shaped (rows, {n}) or "
                    f"({n},); `application/octet-stream` is raw little-endian float32 values, "
                    f"row after row, the row count being the body's length / {4 * n}. At most "
                    f"{settings.max_batch} rows; every value must be finite. The answer is "
                    "JSON unless the request's `Accept` header prefers `application/x-npy` to "
                    "`application/json` (q-values honoured; no `Accept`, `*/*`, a tie, or "
                    "neither type acceptable: JSON, never 406), whatever the body's type: then "
                    "it is an `.npy` file of a structured array shaped (rows,) with fields "
                    "`label` (`<i8`) and `probabilities` (`<f4`, shape "
                    f"({len(info.labels)},)), the model in the `X-Model-Name` and "
                    "`X-Model-Version` headers. Errors are JSON whatever `Accept` says. (OpenAPI "
                    "ignores an `Accept` header parameter: the 200 answer's two media types "
                    "describe it.)"
                ),
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/PredictRequest"}
                        },
                        "application/x-npy": {"schema": {"type": "string", "format": "binary"}},
                        "application/octet-stream": {
                            "schema": {"type": "string", "format": "binary"}
                        },
                    },
                },
                "responses": {
                    "200": {
                        "description": "Predictions: JSON, or `.npy` when `Accept` prefers it",
                        "headers": {
                            "X-Model-Name": {
                                "description": "The `.npy` answer's model name (left out when "
                                "unset)",
                                "schema": {
                                    "type": "string",
                                    "pattern": "^[a-z0-9][a-z0-9_-]{0,62}$",
                                },
                            },
                            "X-Model-Version": {
                                "description": "The `.npy` answer's model version (left out "
                                "when unset)",
                                "schema": {"type": "integer"},
                            },
                        },
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/PredictResponse"}
                            },
                            "application/x-npy": {
                                "schema": {
                                    "type": "string",
                                    "format": "binary",
                                    "description": "`numpy.save` of a structured array shaped "
                                    "(rows,): `[('label', '<i8'), ('probabilities', '<f4', "
                                    f"({len(info.labels)},))]`",
                                }
                            },
                        },
                    },
                    **_errors(400, 413, 415, 422),
                },
            }
        },
        "/score": {
            "post": {
                "summary": "Top-3 labels for base64 PNG/JPEG images (the reference API)",
                "operationId": "score",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/ScoreRequest"}
                        }
                    },
                },
                "responses": {
                    "200": _json("ScoreResponse", "Top-3 labels per image"),
                    **_errors(400, 413, 415, 422),
                },
            }
        },
        "/": {
            "get": {
                "summary": "Liveness probe of the reference ('Healthy')",
                "operationId": "root",
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/healthz": {"get": {"operationId": "healthz", "responses": {"200": plain_json}}},
        "/readyz": {
            "get": {
                "operationId": "readyz",
                "responses": {"200": plain_json, "503": {"description": "Not ready"}},
            }
        },
        "/version": {"get": {"operationId": "version", "responses": {"200": plain_json}}},
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "responses": {
                    "200": {
                        "description": "Prometheus text exposition",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/openapi.json": {"get": {"operationId": "openapi", "responses": {"200": plain_json}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "modelops prediction service",
            "version": settings.app_version,
            "description": (
                f"Serves model {info.name or '(unnamed)'} version {info.version or '?'} "
                f"(sha256 {info.sha256}, input {info.signature})."
            ),
        },
        "paths": paths,
        "components": {"schemas": schemas},
    }
