"""tests/conftest.py's own hooks: the suite runs with or without pytest-xdist."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import worker_group

ROOT = Path(__file__).resolve().parents[1]


def test_the_suite_runs_in_one_process_without_xdist():
    """`pytest_xdist_make_scheduler` is xdist's hook: without the plugin (not installed, or
    `-p no:xdist`) pytest must still run the tests, not stop at an unknown hook."""
    plugins = ["-p", "no:xdist", "-p", "no:cacheprovider"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *plugins, "-q", "tests/bot/core/test_cron.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert " passed" in done.stdout


def test_modules_sharing_state_outside_them_run_as_one_group():
    assert worker_group("tests/pipelines/test_stages.py::test_x") == "pipelines"
    assert worker_group("tests/scripts/test_smoke.py::t") == worker_group("tests/app/test_image.py")
    assert worker_group("tests/bot/test_outside.py::t") == "tests/bot/test_outside.py"
