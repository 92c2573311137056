"""`make smoke` on a real image pushed to the real registry: passes, and fails when it should."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path
from typing import Any

import pytest

from scripts.build_image import BuildSpec, build_and_push, remove_image
from scripts.smoke import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_smoke_passes_on_a_good_image_and_fails_on_a_wrong_revision(registry: Any, capsys):
    revision = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    spec = BuildSpec(
        registry=registry.host,
        tag=f"0.1.0-9-{revision[:7]}",
        revision=revision,
        version="0.1.0",
        created=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        repository="smoke/modelops-app",
    )
    result = build_and_push(spec)
    ref = f"{registry.host}/smoke/modelops-app@{result.digest}"
    try:
        assert main(["--image", ref, "--revision", revision]) == 0
        out = capsys.readouterr().out
        assert "smoke: ok" in out
        assert "POST /predict 3 rows" in out

        assert main(["--image", ref, "--revision", "0" * 40]) == 1
        assert f"/version revision is not {'0' * 40}" in capsys.readouterr().err
    finally:
        remove_image(ROOT / "build" / "image", ref)


def test_smoke_of_an_image_not_pinned_by_digest_fails_clearly(capsys):
    assert main(["--image", "127.0.0.1:1/modelops-app:latest"]) == 1
    assert "not pinned by digest" in capsys.readouterr().err


def test_smoke_shares_the_exit_codes_of_every_entry_point(capsys):
    assert main(["--traceback", "--image", "127.0.0.1:1/modelops-app:latest"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("smoke: ") and err.count("\n") == 1
    assert main([]) == 2
    assert "the following arguments are required: --image" in capsys.readouterr().err
