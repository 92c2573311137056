"""`python -m scripts.build_image` / `make image`: the shared exit codes (cliexit) around a
build, the variables CI passes are the ones the build uses, TLS is verified except on loopback,
and the image's requirements match pyproject.toml."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from scripts import build_image
from scripts.build_image import (
    IMAGE_REQUIREMENTS,
    BuildError,
    BuildSpec,
    build_number,
    default_tag,
    is_loopback_registry,
    main,
    runtime_distributions,
    split_image,
    tls_verify_flag,
)

ROOT = Path(__file__).resolve().parents[2]
SHA = "0123456789abcdef0123456789abcdef01234567"


def test_make_image_maps_every_pipeline_variable_onto_the_build(tmp_path: Path) -> None:
    digest_file = tmp_path / "out" / "digest"
    result = subprocess.run(
        [
            "make",
            "-s",
            "image",
            "IMAGE_REPO=modelopsacr.azurecr.io/team/modelops-app",
            "IMAGE_TAG=0.1.0-42-0123456",
            f"IMAGE_DIGEST_FILE={digest_file}",
            "APP_VERSION=0.1.0",
            f"APP_REVISION={SHA}",
            "IMAGE_SOURCE=https://dev.azure.com/org/proj/_git/modelops",
            "MODEL_INPUT_SIGNATURE=input:float32[?,8]",
            "IMAGE_ARGS=--dry-run",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    spec = json.loads(result.stdout.strip().splitlines()[-1])
    assert spec["reference"] == "modelopsacr.azurecr.io/team/modelops-app:0.1.0-42-0123456"
    assert spec["digest_file"] == str(digest_file)
    assert spec["version"] == "0.1.0"
    assert spec["revision"] == SHA
    assert spec["source"] == "https://dev.azure.com/org/proj/_git/modelops"
    assert spec["signature"] == "input:float32[?,8]"


def test_make_image_without_variables_tags_with_the_azure_build_id(tmp_path: Path) -> None:
    result = subprocess.run(
        ["make", "-s", "image", "IMAGE_REPO=127.0.0.1:5000/modelops-app", "IMAGE_ARGS=--dry-run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**_env(), "BUILD_BUILDID": "4711"},
    )
    assert result.returncode == 0, result.stderr
    spec = json.loads(result.stdout.strip().splitlines()[-1])
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert spec["tag"] == default_tag(spec["version"], "4711", head)
    assert re.fullmatch(r"\d+\.\d+\.\d+-4711-[0-9a-f]{7}", spec["tag"])


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("BUILD_")}


@pytest.mark.parametrize(
    ("registry", "loopback"),
    [
        ("127.0.0.1:5000", True),
        ("127.0.0.1:5000/modelops-app@sha256:00", True),
        ("localhost:5000", True),
        ("[::1]:5000", True),
        ("modelopsacr.azurecr.io", False),
        ("127.0.0.1.example.com", False),
        ("localhost.evil.io:443", False),
        ("10.0.0.1:5000", False),
    ],
)
def test_tls_is_verified_except_on_loopback(registry: str, loopback: bool) -> None:
    assert is_loopback_registry(registry) is loopback
    assert tls_verify_flag(registry) == f"--tls-verify={'false' if loopback else 'true'}"


def test_bad_image_names_and_revisions_are_refused() -> None:
    assert split_image("acr.azurecr.io/team/app") == ("acr.azurecr.io", "team/app")
    for bad in ("modelops-app", "acr.azurecr.io/app:tag", "acr.azurecr.io/"):
        with pytest.raises(BuildError, match="--image"):
            split_image(bad)
    result = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "python"),
            "-m",
            "scripts.build_image",
            "--image",
            "127.0.0.1:1/x",
            "--revision",
            "abc",
            "--dry-run",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "not a full git sha" in result.stderr


def test_build_number_prefers_azure_build_id() -> None:
    assert build_number({"BUILD_BUILDID": "12", "BUILD_NUMBER": "20261127.3"}) == "12"
    assert build_number({}) is None


def test_image_requirements_match_pyproject_ranges() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    lines = [
        line.split("#", 1)[0].strip()
        for line in IMAGE_REQUIREMENTS.read_text().splitlines()
        if line.split("#", 1)[0].strip()
    ]
    assert lines
    assert set(lines) <= set(deps)
    assert runtime_distributions("flask>=3 # web\n\n# c\nazure-identity[x]<2\n") == (
        "flask",
        "azure-identity",
    )


def test_a_failed_step_is_exit_1_naming_the_step(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fail(_spec: BuildSpec) -> None:
        raise BuildError("buildah bud failed (exit 125): no space left on device")

    monkeypatch.setattr(build_image, "build_and_push", fail)  # a real build is the slow test
    assert main(["--registry", "127.0.0.1:1", "--no-push"]) == 1
    assert capsys.readouterr().err == (
        "build_image: buildah bud failed (exit 125): no space left on device\n"
    )


@pytest.mark.parametrize(
    ("raised", "code", "line"),
    [
        (KeyboardInterrupt(), 130, "build_image: interrupted"),
        (
            ValueError("bad pin"),
            3,
            "build_image: unexpected error: ValueError: bad pin (rerun with --traceback)",
        ),
    ],
)
def test_ctrl_c_exits_130_and_a_crash_3(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    raised: BaseException,
    code: int,
    line: str,
) -> None:
    def crash(_spec: BuildSpec) -> None:
        raise raised

    monkeypatch.setattr(build_image, "build_and_push", crash)
    assert main(["--registry", "127.0.0.1:1"]) == code
    assert capsys.readouterr().err == line + "\n"
    assert main(["--traceback", "--registry", "127.0.0.1:1"]) == code
    assert ("Traceback (most recent call last)" in capsys.readouterr().err) == (code == 3)


def test_no_registry_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("REGISTRY_HOST", raising=False)
    monkeypatch.setenv("LW_DIR", str(tmp_path / "no-local-world"))
    assert main([]) == 2
    assert "no registry: pass --registry host:port" in capsys.readouterr().err
    assert main(["--bogus"]) == 2
