"""`promotion-bot report --out DIR` on a real GitOps world (local GitHub, registry, Azurite)."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from bot.cli import main
from bot.runner import now_utc
from tests.bot.gitops_world import GitOpsWorld
from tests.bot.report.conftest import HOSTILE_AUTHOR, HOSTILE_SUBJECT


def _payload(page: str) -> dict[str, object]:
    found = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page)
    assert found is not None
    data: dict[str, object] = json.loads(found.group(1))
    return data


def test_report_matrix_is_status_json_row_for_row(
    report_world: GitOpsWorld, monkeypatch: pytest.MonkeyPatch, capsys, tmp_path: Path
):
    for key, value in report_world.environ().items():
        monkeypatch.setenv(key, value)
    now = now_utc()  # one clock for both commands: `next_step` names durations
    monkeypatch.setattr("bot.cli.now_utc", lambda: now)
    assert main(["report", "--out", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.strip() == f"report: {tmp_path / 'out' / 'index.html'}"
    page = (tmp_path / "out" / "index.html").read_text()
    assert main(["status", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    matrix = page.split('<table id="matrix">', 1)[1].split("</table>", 1)[0]
    for row in rows:  # every field status has, whatever the fields are
        assert f'<th scope="row">{html.escape(row["env"])}</th>' in matrix
        for key, value in row.items():
            if key != "env":
                assert f'<td data-field="{key}">{html.escape(value)}</td>' in matrix


def test_report_timeline_names_the_promotion_its_pr_image_and_model(
    report_world: GitOpsWorld, report_page: Path
):
    page = report_page.read_text()
    dev = page.split('id="timeline-dev"', 1)[1].split("</table>", 1)[0]
    first = dev.split("<tbody>", 1)[1].split("</tr>", 1)[0]  # newest first
    assert "<td>promotion</td>" in first
    assert re.search(r"<td>#\d+</td>", first)
    assert "0.1.0-2-" in first
    assert "digits v2" in first
    assert report_world.digests[max(report_world.digests)] in first  # the digest, as a title


def test_report_charts_the_metrics_of_the_models_each_env_ran(report_page: Path):
    data = _payload(report_page.read_text())
    charts = {c["metric"]: c for c in data["charts"]}  # type: ignore[attr-defined]
    accuracy = charts["accuracy"]["series"]
    assert [p["y"] for p in accuracy["dev"]] == [0.95, 0.97, 0.97]  # seed, promotion, now
    assert [p["y"] for p in accuracy["prod"]] == [0.95, 0.95]


def test_report_escapes_commit_subjects_and_authors(report_page: Path):
    page = report_page.read_text()
    assert HOSTILE_SUBJECT not in page
    assert HOSTILE_AUTHOR not in page
    assert html.escape(HOSTILE_SUBJECT) in page
    assert html.escape(HOSTILE_AUTHOR) in page
    # only the page's own three scripts; the CSP allows two of them by hash (data is JSON)
    assert page.count("<script") == 3
    assert "script-src 'sha256-" in page
    assert "http://" not in page.split("<script", 1)[0]  # nothing is fetched


def test_a_failed_write_leaves_the_previous_report_whole(tmp_path: Path):
    from bot.report import REPORT_FILE, write_page

    out = tmp_path / "out"
    assert write_page("<p>previous</p>", out) == out / REPORT_FILE
    assert oct((out / REPORT_FILE).stat().st_mode & 0o777) == oct(0o644)
    with pytest.raises(UnicodeEncodeError):  # fails after the file would have been opened
        write_page("<p>next \ud800</p>", out)
    assert (out / REPORT_FILE).read_text() == "<p>previous</p>"
    assert [p.name for p in out.iterdir()] == [REPORT_FILE]  # no temporary left behind


def test_report_charts_what_the_bot_measured_and_the_latency_ratio(report_page: Path):
    """merge_dev's runs measured v1 and v2 on the shipped policy's evaluation set and timed v2
    against v1 (issue 17's cache): the report reads those, computing nothing."""
    data = _payload(report_page.read_text())
    charts = {c["metric"]: c for c in data["charts"]}  # type: ignore[attr-defined]
    measured = charts["accuracy (measured)"]["series"]
    assert len(measured["dev"]) == 3  # seed (v1), promotion (v2), now
    ratio = charts["latency ratio p50, batch 1"]["series"]
    assert list(ratio) == ["dev"]  # only dev moved to another model
    assert ratio["dev"][0]["model"] == "digits v2"
    assert ratio["dev"][0]["y"] > 0
