"""The report in a real browser: Debian's headless Chromium opens the page from a file (as a
reviewer opens a pipeline artifact), over the DevTools protocol (`scripts.headless`).

Checks what a person would: nothing logged as an error (console, exceptions, CSP violations,
failed loads: the page needs no network), the matrix shows the status cells, every chart drew
on its canvas, text contrast; and leaves a screenshot under build/ to look at.
"""

from __future__ import annotations

import json
from pathlib import Path

from scripts.headless import look

PROJECT = Path(__file__).resolve().parents[3]
SCREENSHOT = PROJECT / "build" / "report" / "report.png"

# Returns what the assertions need as one JSON value.
PROBE = r"""
(() => {
  const matrix = [...document.querySelectorAll("#matrix tr")].map(
    (tr) => [...tr.children].map((cell) => [cell.tagName, cell.textContent.trim()]));
  const charts = [...document.querySelectorAll("canvas")].map((canvas) => {
    const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let painted = 0;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
    return { metric: canvas.dataset.metric, width: canvas.width, painted: painted,
             label: canvas.getAttribute("aria-label") || "", role: canvas.getAttribute("role") };
  });
  const tables = [...document.querySelectorAll("table")].map((t) => ({
    caption: !!t.querySelector(":scope > caption"),
    headers: t.querySelectorAll("thead th[scope=col]").length }));
  const rgb = (c) => c.match(/[\d.]+/g).slice(0, 4).map(Number);
  const lum = (c) => { const v = rgb(c).slice(0, 3).map((x) => { x /= 255;
    return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); });
    return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
  const background = (el) => { for (; el; el = el.parentElement) {
    const c = getComputedStyle(el).backgroundColor; const p = rgb(c);
    if (p.length < 4 || p[3] > 0) return c; } return "rgb(255, 255, 255)"; };
  let worst = 21, where = "";
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || el.closest("canvas, script, style")) continue;
    const a = lum(getComputedStyle(el).color), b = lum(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < worst) { worst = ratio; where = el.tagName + " " + el.textContent.slice(0, 40); }
  }
  return JSON.stringify({ matrix, charts, tables, contrast: worst, where,
    lang: document.documentElement.lang, title: document.title });
})()
"""


def test_report_opens_in_chromium_without_errors_and_draws_its_charts(report_page: Path):
    seen = look(report_page.as_uri(), expression=PROBE, screenshot=SCREENSHOT)
    assert seen.errors == []
    page = json.loads(seen.value)
    header, *rows = page["matrix"]
    assert header[0] == ["TH", "Environment"]
    assert [row[0] for row in rows] == [["TH", "dev"], ["TH", "staging"], ["TH", "prod"]]
    on_main = [name for _, name in header].index("On main")
    assert "model digits v2" in rows[0][on_main][1]  # dev got v2 by the automerged promotion
    assert "model digits v1" in rows[2][on_main][1]
    charts = {c["metric"]: c for c in page["charts"]}
    assert charts["accuracy"]["role"] == "img"
    assert charts["accuracy"]["label"].startswith("accuracy of the model each environment ran")
    for chart in charts.values():  # drawn: axes, labels and lines (a blank canvas: 0)
        assert chart["painted"] > 5_000, chart
    assert all(t["caption"] and t["headers"] for t in page["tables"])
    assert page["contrast"] >= 4.5, page["where"]  # WCAG AA for body text
    assert page["lang"] == "en"
    assert seen.screenshot == SCREENSHOT
    assert SCREENSHOT.stat().st_size > 20_000
