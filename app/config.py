"""Service settings: defaults, then the process environment, then explicit overrides (12-factor).

Every setting is an environment variable named like the field in upper case (`MODEL_DIR`,
`MODEL_SHA256`, ...). Values are validated once at start-up; a bad value stops the service with
a message naming the variable, never a silent fallback.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.errors import ConfigError
from app.logging import parse_level

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
# modelstore's model-name rule (modelstore/names.py; a test holds the two equal), not imported:
# the service should not import the store's Azure client to start.
MODEL_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62})$")
MODEL_NAME_RULE = (
    "use 1-63 characters: lowercase letters, digits, '-' or '_', starting alphanumeric"
)


class Settings(BaseModel):
    """Everything the service reads from its environment."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    # The model pin, set by the overlay's `model-pin` ConfigMap.
    model_dir: Path = Path("/models")
    model_name: str | None = None
    model_version: int | None = Field(default=None, ge=1)
    model_sha256: str
    # The signature this image declares it can serve (baked in from the image build ARG);
    # when set, a model with another signature is refused at start-up.
    model_input_signature: str | None = None

    # Request limits.
    max_content_length: int = Field(default=4 * 1024 * 1024, ge=1024)
    max_batch: int = Field(default=1024, ge=1)
    score_max_images: int = Field(default=16, ge=1)
    score_max_pixels: int = Field(default=4_000_000, ge=64)

    # Runtime.
    ort_intra_op_threads: int = Field(default=1, ge=0)
    log_level: str = "INFO"

    # Build metadata baked into the image (`/version`).
    app_version: str = "dev"
    app_revision: str = "unknown"
    app_created: str = "unknown"

    @field_validator("model_sha256")
    @classmethod
    def _sha256_is_hex(cls, value: str) -> str:
        value = value.strip().lower().removeprefix("sha256:")
        if not SHA256_RE.match(value):
            raise ValueError("must be 64 hexadecimal digits (the sha256 of model.onnx)")
        return value

    @field_validator("model_name", "model_input_signature", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("model_name")
    @classmethod
    def _model_name(cls, value: str | None) -> str | None:
        # The name is answered in JSON and in the `.npy` answer's X-Model-Name header.
        if value is not None and not MODEL_NAME_RE.fullmatch(value):
            raise ValueError(f"is not a model store name ({MODEL_NAME_RULE})")
        return value

    @field_validator("model_version", mode="before")
    @classmethod
    def _empty_version_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        return parse_level(value)


ENV_NAMES = {name.upper(): name for name in Settings.model_fields}


def load_settings(
    environ: Mapping[str, str], overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Build settings from an environment mapping and overrides (both keyed by UPPER_CASE names).

    Unknown keys are ignored here (the app factory passes them on to Flask's config).
    """
    values: dict[str, Any] = {}
    for source in (environ, overrides or {}):
        for key, value in source.items():
            field = ENV_NAMES.get(key)
            if field is not None:
                values[field] = value
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = str(err["loc"][0]).upper() if err["loc"] else "?"
            message = "is not set" if err["type"] == "missing" else err["msg"]
            message = message.removeprefix("Value error, ")
            problems.append(f"{name} {message}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
