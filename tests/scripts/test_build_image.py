"""`python -m scripts.build_image`: the shared exit codes (cliexit) around a build."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts import build_image
from scripts.build_image import BuildError, BuildSpec, main


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
