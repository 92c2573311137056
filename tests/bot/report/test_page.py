"""The report page from plain data (no services): columns, escaping, the vendored Chart.js."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.report.history import Change, History, pr_number
from bot.report.page import ReportData, chart_js, json_for_script, render_page, text

PROJECT = Path(__file__).resolve().parents[3]
T0 = datetime(2026, 11, 20, 9, tzinfo=UTC)


def _change(env: str, hours: int, version: int, kind: str = "promotion") -> Change:
    return Change(
        env=env,
        sha=f"{hours:040x}",
        when=T0 + timedelta(hours=hours),
        author="promotion-bot",
        author_email="bot@example.invalid",
        subject=f"Promote {env} (#{hours + 1})",
        kind=kind,
        pr=hours + 1,
        image_tag=f"0.1.0-{version}-abcdef0",
        image_digest="sha256:" + "ab" * 32,
        model_name="digits",
        model_version=version,
    )


def test_vendored_chart_js_is_the_npm_package_byte_for_byte():
    installed = PROJECT / "node_modules" / "chart.js" / "dist" / "chart.umd.min.js"
    lock = json.loads((PROJECT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/chart.js"]["version"] in chart_js()[:40]
    assert installed.read_text() == chart_js()


def test_a_status_field_the_page_does_not_know_still_gets_a_column():
    rows = [{"env": "dev", "on_main": "image 1", "confirmed_running": "yes @ abc"}]
    page = render_page(ReportData("o/r", "f" * 40, T0, rows))
    assert '<th scope="col">Confirmed running</th>' in page
    assert '<td data-field="confirmed_running">yes @ abc</td>' in page


@pytest.mark.parametrize(
    "hostile",
    ["</script><script>alert(1)</script>", "<!--", "\x1b[31mred", 'a" onload="x', "&amp;"],
)
def test_outside_strings_render_inert(hostile: str):
    escaped = text(hostile)
    assert "<" not in escaped and '"' not in escaped and "\x1b" not in escaped
    assert "<" not in json_for_script({"k": hostile}) and ">" not in json_for_script(hostile)
    rows = [{"env": hostile, "next_step": hostile}]
    history = History({hostile: (_change(hostile, 0, 1),)}, {("digits", 1): {hostile: 0.5}})
    page = render_page(ReportData(hostile, hostile, T0, rows, history))
    assert hostile not in page.replace("&amp;amp;", "")
    assert page.count("<script") == 3


def test_metric_series_hold_each_value_until_the_next_change_and_now():
    history = History(
        {"dev": (_change("dev", 10, 2), _change("dev", 0, 1, kind="change"))},
        {("digits", 1): {"accuracy": 0.9}, ("digits", 2): {"accuracy": 0.95, "f1": 0.9}},
    )
    page = render_page(
        ReportData("o/r", "f" * 40, T0 + timedelta(hours=20), [{"env": "dev"}], history)
    )
    data = json.loads(page.split('id="report-data">', 1)[1].split("</script>", 1)[0])
    accuracy, f1 = data["charts"]
    assert accuracy["metric"] == "accuracy"
    assert [(p["y"], p.get("now", False)) for p in accuracy["series"]["dev"]] == [
        (0.9, False),
        (0.95, False),
        (0.95, True),
    ]
    assert [p["y"] for p in f1["series"]["dev"]] == [0.9, 0.9]
    assert 'aria-label="accuracy of the model each environment ran' in page


def test_no_metrics_says_so_instead_of_an_empty_chart():
    page = render_page(ReportData("o/r", "f" * 40, T0, [{"env": "dev"}]))
    assert "<canvas" not in page
    assert "No model metrics recorded" in page


@pytest.mark.parametrize(
    ("subject", "number"),
    [
        ("Promote dev: image 0.1.0-2 (#12)", 12),
        ("Merge pull request #7 from modelops/promote/dev", 7),
        ("promote(dev): image 0.1.0-2", None),
        ("fix (#x)", None),
    ],
)
def test_pr_number_from_merge_subjects(subject: str, number: int | None):
    assert pr_number(subject) == number


def test_a_non_finite_cached_figure_is_left_out_and_the_data_stays_json():
    """The measured figures come from cache blobs in the model store, which pydantic reads
    with NaN and Infinity allowed: one of those must not turn the page's data into JSON that
    `JSON.parse` refuses (every chart would be lost)."""
    old, new = _change("dev", 0, 1), _change("dev", 5, 2)
    metric = "latency ratio p50, batch 1"
    history = History(
        changes={"dev": (new, old)},
        metrics={},
        measured={
            ("dev", old.sha): {metric: 1.25, "accuracy (measured)": float("nan")},
            ("dev", new.sha): {metric: float("inf"), "accuracy (measured)": 0.97},
        },
    )
    page = render_page(
        ReportData("o/r", "a" * 40, T0 + timedelta(hours=9), [{"env": "dev"}], history)
    )
    found = page.split('<script type="application/json" id="report-data">', 1)[1]

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} is not JSON")

    data = json.loads(found.split("</script>", 1)[0], parse_constant=refuse)
    series = {c["metric"]: c["series"]["dev"] for c in data["charts"]}
    assert [p["y"] for p in series[metric]] == [1.25, 1.25]  # the change, held until now
    assert [p["y"] for p in series["accuracy (measured)"]] == [0.97, 0.97]
