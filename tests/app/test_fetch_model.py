"""`python -m app.fetch_model` against the real model store on Azurite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from app import fetch_model
from app.fetch_model import main
from examples.train import register
from tests.app.conftest import sha256_of

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store_env(azurite: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {
        "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
        "MODELSTORE_CONTAINER": f"fetch-{uuid.uuid4().hex[:12]}",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MODELSTORE_ACCOUNT_URL", raising=False)
    return env


@pytest.fixture
def registered(store_env: dict[str, str], trained_model_dir: Path) -> dict[str, str]:
    """The example model registered as version 1 of `digits`; returns the pin for it."""
    manifest = register(trained_model_dir, "digits", {"accuracy": 0.97})
    assert manifest.version == 1
    return {
        **store_env,
        "MODEL_NAME": "digits",
        "MODEL_VERSION": "1",
        "MODEL_SHA256": manifest.primary_sha256,
    }


def test_fetch_installs_the_pinned_version_and_the_service_starts_on_it(
    registered: dict[str, str], tmp_path: Path, trained_model_dir: Path, make_app: Any
) -> None:
    model_dir = tmp_path / "models"
    env = {**registered, "MODEL_DIR": str(model_dir)}
    assert main([], env) == 0
    assert sorted(p.name for p in model_dir.iterdir()) == [
        "labels.json",
        "manifest.json",
        "metrics.json",
        "model.onnx",
    ]
    assert sha256_of(model_dir / "model.onnx") == sha256_of(trained_model_dir / "model.onnx")
    app = make_app(
        MODEL_DIR=str(model_dir),
        MODEL_NAME="digits",
        MODEL_VERSION="1",
        MODEL_SHA256=registered["MODEL_SHA256"],
    )
    assert app.test_client().get("/readyz").status_code == 200


def test_fetch_logs_progress_as_json_lines_not_bars(
    registered: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([], {**registered, "MODEL_DIR": str(tmp_path / "models")}) == 0
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    progress = [e for e in lines if e["message"] == "model download progress"]
    model = [e for e in progress if e["file"] == "model.onnx"]
    assert model[0]["bytes"] == 0
    assert (
        model[-1]["bytes"] == model[-1]["total"] == (tmp_path / "models/model.onnx").stat().st_size
    )
    assert model[-1]["percent"] == 100.0
    assert {"mb_per_s", "eta_s"} <= model[-1].keys()
    assert {e["file"] for e in progress} == {"model.onnx", "labels.json", "metrics.json"}
    assert "━" not in out + err
    assert lines[-1]["message"] == "model fetched"


def test_fetch_refuses_a_sha_mismatch_and_writes_nothing(
    registered: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_dir = tmp_path / "models"
    env = {**registered, "MODEL_DIR": str(model_dir), "MODEL_SHA256": "f" * 64}
    assert main([], env) == 1
    err = capsys.readouterr().err
    assert "sha256 mismatch" in err
    assert "f" * 64 in err
    assert not model_dir.exists() or list(model_dir.iterdir()) == []


def test_fetch_keeps_the_installed_model_when_a_new_pin_is_bad(
    registered: dict[str, str], tmp_path: Path
) -> None:
    model_dir = tmp_path / "models"
    good = {**registered, "MODEL_DIR": str(model_dir)}
    assert main([], good) == 0
    before = {p.name: p.read_bytes() for p in model_dir.iterdir()}
    assert main([], {**good, "MODEL_VERSION": "2"}) == 1
    assert {p.name: p.read_bytes() for p in model_dir.iterdir()} == before


def test_fetch_is_a_no_op_when_the_pinned_model_is_already_there(
    registered: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_dir = tmp_path / "models"
    env = {**registered, "MODEL_DIR": str(model_dir)}
    assert main([], env) == 0
    capsys.readouterr()
    assert main([], env) == 0
    assert '"outcome":"already present"' in capsys.readouterr().out


def test_fetch_replaces_a_tampered_model(registered: dict[str, str], tmp_path: Path) -> None:
    model_dir = tmp_path / "models"
    env = {**registered, "MODEL_DIR": str(model_dir)}
    assert main([], env) == 0
    (model_dir / "model.onnx").write_bytes(b"tampered")
    assert main([], env) == 0
    assert sha256_of(model_dir / "model.onnx") == registered["MODEL_SHA256"]


@pytest.mark.parametrize(
    "case",
    [
        ({"MODEL_NAME": ""}, 2, "missing environment variable(s): MODEL_NAME"),
        ({"MODEL_VERSION": "latest"}, 2, "MODEL_VERSION must be a version number"),
        ({"MODEL_SHA256": "xyz"}, 2, "MODEL_SHA256 must be 64 hexadecimal digits"),
        ({"AZURE_STORAGE_CONNECTION_STRING": ""}, 2, "no model store configured"),
        ({"MODEL_NAME": "nosuchmodel"}, 1, "not found"),
        # the service's own rule (app/config.py), before the store is asked: the service in the
        # same pod would refuse to start on any of these
        ({"MODEL_NAME": "Digits"}, 2, "MODEL_NAME is not a model store name (use 1-63"),
        ({"MODEL_NAME": " digits"}, 2, "MODEL_NAME is not a model store name"),
        ({"MODEL_NAME": "digits\n"}, 2, "got 'digits\\n'"),
        ({"MODEL_NAME": "../digits"}, 2, "MODEL_NAME is not a model store name"),
        ({"LOG_LEVEL": "loud"}, 2, "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR"),
        ({"LOG_LEVEL": ""}, 2, "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, got ''"),
    ],
)
def test_fetch_explains_bad_settings_in_one_line(
    registered: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: tuple[dict[str, str], int, str],
) -> None:
    changes, code, message = case
    env = {**registered, "MODEL_DIR": str(tmp_path / "m"), **changes}
    assert main([], env) == code
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_fetch_model_module_reports_a_bad_log_level_as_a_setting_error(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "LOG_LEVEL": "chatty",
        "MODEL_NAME": "digits",
        "MODEL_VERSION": "1",
        "MODEL_SHA256": "0" * 64,
        "MODEL_DIR": str(tmp_path / "m"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "app.fetch_model"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "fetch_model: LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, got 'chatty'"
    ]
    assert not (tmp_path / "m").exists()


def test_fetch_model_module_runs_as_the_init_container_does(
    registered: dict[str, str], tmp_path: Path
) -> None:
    model_dir = tmp_path / "models"
    env = {**os.environ, **registered, "MODEL_DIR": str(model_dir)}
    ok = subprocess.run(
        [sys.executable, "-m", "app.fetch_model"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert (model_dir / "model.onnx").is_file()
    bad = subprocess.run(
        [sys.executable, "-m", "app.fetch_model"],
        cwd=ROOT,
        env={**env, "MODEL_DIR": str(tmp_path / "other"), "MODEL_SHA256": "0" * 64},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 1
    assert "sha256 mismatch" in bad.stderr


@pytest.mark.parametrize(
    ("raised", "code", "line"),
    [
        (KeyboardInterrupt(), 130, "fetch_model: interrupted"),
        (
            RuntimeError("boom"),
            3,
            "fetch_model: unexpected error: RuntimeError: boom (rerun with --traceback)",
        ),
    ],
)
def test_fetch_shares_the_exit_codes_of_every_entry_point(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    raised: BaseException,
    code: int,
    line: str,
) -> None:
    def crash(_environ: object) -> str:
        raise raised

    monkeypatch.setattr(fetch_model, "run", crash)  # injected: neither happens on demand
    assert main([], {}) == code
    assert capsys.readouterr().err == line + "\n"
    assert main(["--traceback"], {}) == code
    err = capsys.readouterr().err
    assert ("Traceback (most recent call last)" in err) == (code == 3)


def test_fetch_takes_no_arguments_but_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--model", "digits"], {}) == 2
    assert "unrecognized arguments: --model digits" in capsys.readouterr().err
