"""Settings: the environment, then overrides; a bad value stops start-up with a clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import load_settings
from app.errors import ConfigError

SHA = "ab" * 32


def test_settings_read_the_environment_and_overrides_win() -> None:
    env = {"MODEL_SHA256": SHA, "MODEL_DIR": "/env", "MAX_BATCH": "8", "UNRELATED": "x"}
    settings = load_settings(env, {"MODEL_DIR": "/override"})
    assert settings.model_dir == Path("/override")
    assert settings.max_batch == 8
    assert settings.model_sha256 == SHA


def test_defaults_follow_the_contract() -> None:
    settings = load_settings({"MODEL_SHA256": SHA})
    assert settings.model_dir == Path("/models")
    assert settings.model_name is None
    assert settings.model_version is None


def test_sha256_is_normalised() -> None:
    assert load_settings({"MODEL_SHA256": f" sha256:{SHA.upper()} "}).model_sha256 == SHA


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "MODEL_SHA256 is not set"),
        ({"MODEL_SHA256": "abc"}, "MODEL_SHA256 .*64 hexadecimal digits"),
        ({"MODEL_SHA256": SHA, "MODEL_VERSION": "three"}, "MODEL_VERSION"),
        ({"MODEL_SHA256": SHA, "MODEL_VERSION": "0"}, "MODEL_VERSION"),
        ({"MODEL_SHA256": SHA, "MAX_BATCH": "-1"}, "MAX_BATCH"),
        ({"MODEL_SHA256": SHA, "LOG_LEVEL": "loud"}, "LOG_LEVEL must be one of"),
        ({"MODEL_SHA256": SHA, "MODEL_NAME": "Digits"}, "MODEL_NAME is not a model store name"),
        ({"MODEL_SHA256": SHA, "MODEL_NAME": "digits\r\nX-Evil: 1"}, "MODEL_NAME is not a"),
        ({"MODEL_SHA256": SHA, "MODEL_NAME": "../digits"}, "MODEL_NAME is not a"),
        ({"MODEL_SHA256": SHA, "MODEL_NAME": "d" * 64}, "MODEL_NAME is not a"),
    ],
)
def test_bad_settings_are_refused_by_name(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env)


def test_empty_optional_values_mean_unset() -> None:
    settings = load_settings({"MODEL_SHA256": SHA, "MODEL_NAME": "", "MODEL_VERSION": ""})
    assert settings.model_name is None
    assert settings.model_version is None


def test_model_name_rule_is_the_model_stores() -> None:
    """The service checks MODEL_NAME by the store's rule without importing the store."""
    from app.config import MODEL_NAME_RE, MODEL_NAME_RULE
    from modelstore.names import MODEL_NAME_RE as STORE_RE
    from modelstore.names import MODEL_RULE

    assert MODEL_NAME_RE.pattern == STORE_RE.pattern
    assert MODEL_NAME_RULE == MODEL_RULE
    assert load_settings({"MODEL_SHA256": SHA, "MODEL_NAME": "digits_v2-x"}).model_name == (
        "digits_v2-x"
    )
