"""`make demo` runs the whole story against real services and leaves nothing running."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from localworld.process import pid_alive

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_demo_runs_end_to_end_and_stops_its_services():
    result = subprocess.run(
        [sys.executable, "-m", "scripts.demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out[-4000:] + result.stderr[-4000:]
    # the bot proposed image 2 + model v2 for dev, and the reviewer-facing body was printed
    assert re.search(
        r"dev: PROMOTE image 0\.1\.0-\d+-\w+ → 0\.1\.0-\d+-\w+, model digits v1 → v2", out
    )
    assert "| model version | digits v1 | **digits v2** |" in out
    # the PR's metric table is the bot's own measurement, and an inflated claim is refused
    assert "### Measured by promotion-bot" in out
    assert re.search(r"\| accuracy \| 0\.97\d* \| 0\.92\d* \(Δ \+0\.0\d+\) \| 0\.97", out)
    assert re.search(r"claimed accuracy 0\.99, measured 0\.92\d*", out)
    # the nightly release moved and tagged, and the released state renders the new pins
    assert "tagged release-" in out
    assert 'MODEL_VERSION: "2"' in out
    # the released image, run by digest, classifies the known digits correctly
    predicted = re.search(r"predictions (\[[\d, ]+\]) \(expected (\[[\d, ]+\])\)", out)
    assert predicted is not None
    assert predicted.group(1) == predicted.group(2)
    # the dashboard issue's table, the report and its screenshot
    assert re.search(r"^      \| \*\*dev\*\* \| image 0\.1\.0-", out, flags=re.MULTILINE)
    assert "report:     " in out and "screenshot: " in out
    assert (ROOT / "build" / "demo-report" / "report.png").stat().st_size > 10_000
    # issue 14: dev's Flux status on its release, staging held with the exact time it becomes
    # eligible, then (the local GitHub's clock moved, no sleeping) staging promoted and released
    # while prod stays in its shipped weekend freeze
    assert "kustomization/modelops-dev/aks-modelops" in out
    assert re.search(r"eligible at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", out)
    assert "staging: release:" in out
    assert "prod: wait: release/prod not moved: prod is frozen: window 'weekend'" in out
    assert "Services stopped" in out
    pids = [int(p) for p in re.findall(r"^    \w+: pid (\d+)$", out, flags=re.MULTILINE)]
    assert len(pids) == 3
    assert not any(pid_alive(pid) for pid in pids)
