"""The report page: one self-contained HTML file from `ReportData` (pure: no I/O but reading
the vendored Chart.js once).

Every string from outside (commit subjects, author names, tags, PR titles, hold reasons) goes
through `text()`: control characters dropped and length capped (`bot.untrusted.terminal`), then
HTML-escaped. The chart data travels as JSON in a `<script type="application/json">` block with
`<`, `>` and `&` escaped, so no string can close it. A Content-Security-Policy allows only the
page's own two scripts (by hash) and its stylesheet: a string that slipped through still could
not run. Nothing is fetched: Chart.js is inlined from `bot/report/vendor/` (docs/decisions.md).

Accessibility: tables have captions and `th` with `scope`; each chart is a `role="img"` canvas
with a text alternative (`aria-label`) and the same figures as a table inside it (canvas fallback
content, read by screen readers and shown without JavaScript); colours are the Okabe-Ito set,
each environment also has its own point shape; text contrast is at least 7:1.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib.resources import files

from bot.report.history import Change, History
from bot.untrusted import terminal

CHART_JS = "chart.umd.min.js"
# Okabe-Ito: distinguishable with the common colour-vision deficiencies, each >= 3:1 on white
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#8C6D00", "#56B4E9")
POINT_STYLES = ("circle", "rect", "triangle", "rectRot", "crossRot", "star")
# status --json keys with a better heading than the key itself (new keys still get a column)
HEADINGS = {
    "env": "Environment",
    "on_main": "On main",
    "pending_pr": "Pending PR",
    "next_step": "Next step",
    "release": "Release",
    "release_waits": "Release waits for",
    "release_eligible_at": "Release eligible at",
}
KIND_LABELS = {"promotion": "promotion", "rollback": "rollback", "change": "manual change"}


@dataclass(frozen=True)
class ReportData:
    """What the page shows: `status` is `promotion-bot status --json`'s rows as they are."""

    repository: str
    main_sha: str
    generated_at: datetime
    status: Sequence[Mapping[str, str]]
    history: History = field(default_factory=History)


def text(value: object, limit: int = 300) -> str:
    """An outside string as inert HTML text (also safe inside a quoted attribute)."""
    return html.escape(terminal(value, limit=limit), quote=True)


def _time(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC")


def _from_ms(value: object) -> datetime:
    return datetime.fromtimestamp(int(str(value)) / 1000, tz=UTC)


def heading(key: str) -> str:
    return HEADINGS.get(key, key.replace("_", " ").capitalize())


@cache
def chart_js() -> str:
    source = (files("bot.report") / "vendor" / CHART_JS).read_text(encoding="utf-8")
    if "</script" in source.lower():  # it is inlined in a <script> element
        raise ValueError(f"{CHART_JS} contains </script")
    return source


def _csp_hash(source: str) -> str:
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def json_for_script(data: object) -> str:
    """JSON that cannot end its `<script>` element nor start markup inside it."""
    dumped = json.dumps(data, ensure_ascii=True, sort_keys=True, allow_nan=False)
    return dumped.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# ----------------------------------------------------------------------------- sections


def matrix(rows: Sequence[Mapping[str, str]]) -> str:
    """The environment matrix: one row per environment, one column per status field."""
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    head = "".join(f'<th scope="col">{text(heading(k))}</th>' for k in keys)
    body = []
    for row in rows:
        cells = []
        for key in keys:
            value = text(row.get(key, ""), limit=600)
            if key == "env":
                cells.append(f'<th scope="row">{value}</th>')
            else:
                cells.append(f'<td data-field="{text(key)}">{value}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (
        '<table id="matrix"><caption>Each environment: its pins on main, in the last release, '
        "its pending promotion PR and what the bot does next</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def series(history: History, metric: str, until: datetime) -> dict[str, list[dict[str, object]]]:
    """Per environment, `metric` of the model it ran from each change on (oldest first), held
    until `until` (the last point repeats the current value there)."""
    found: dict[str, list[dict[str, object]]] = {}
    for env, changes in history.changes.items():
        points: list[dict[str, object]] = []
        for change in reversed(changes):
            key = (change.model_name or "", change.model_version or 0)
            value = history.measured.get((env, change.sha), {}).get(metric)
            if value is None:
                value = history.metrics.get(key, {}).get(metric)
            if value is None or not math.isfinite(value):
                continue  # a cache blob may hold NaN/Infinity: no point, and no invalid JSON
            points.append(
                {
                    "x": int(change.when.timestamp() * 1000),
                    "y": value,
                    "model": f"{change.model_name} v{change.model_version}",
                }
            )
        if points:
            points.append({**points[-1], "x": int(until.timestamp() * 1000), "now": True})
            found[env] = points
    return found


def metric_names(history: History) -> list[str]:
    """Registered metrics first (accuracy leading), then what the bot measured."""
    claimed = {name for values in history.metrics.values() for name in values}
    measured = {name for values in history.measured.values() for name in values} - claimed
    return [
        *sorted(claimed, key=lambda n: (n != "accuracy", n)),
        *sorted(measured, key=lambda n: (not n.startswith("accuracy"), n)),
    ]


def chart(metric: str, data: Mapping[str, list[dict[str, object]]], index: int) -> str:
    """A figure: the canvas Chart.js draws on, its text alternative and its data as a table."""
    summary = "; ".join(
        f"{env}: "
        + ", ".join(
            f"{p['model']} {p['y']:g} from {_time(_from_ms(p['x']))}"
            for p in points
            if not p.get("now")
        )
        for env, points in data.items()
    )
    rows = "".join(
        f'<tr><th scope="row">{text(env)}</th><td>{text(p["model"])}</td>'
        f"<td>{text(format(float(str(p['y'])), 'g'))}</td>"
        f"<td>{text(_time(_from_ms(p['x'])))}</td></tr>"
        for env, points in data.items()
        for p in points
        if not p.get("now")
    )
    label = f"{metric} of the model each environment ran, over time. {summary}"
    return (
        f'<figure class="chart"><div class="canvas-box">'
        f'<canvas id="chart-{index}" data-metric="{text(metric)}" role="img" '
        f'aria-label="{text(label, limit=2000)}">'
        f"<table><caption>{text(metric)} per environment</caption>"
        '<thead><tr><th scope="col">Environment</th><th scope="col">Model</th>'
        '<th scope="col">Value</th><th scope="col">From</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></canvas></div>"
        f"<figcaption>{text(metric)} of the model version each environment ran, from each "
        "change of its overlay on main until now (a point: the change; the line holds its value "
        "until the next one)</figcaption></figure>"
    )


def _pr_cell(change: Change) -> str:
    return f"#{change.pr}" if change.pr is not None else "—"


def timeline(env: str, changes: Sequence[Change]) -> str:
    if not changes:
        return f"<h3>{text(env)}</h3><p>No change of this environment's overlay on main.</p>"
    rows = []
    for c in changes:
        image = text(c.image_tag or "—")
        if c.image_digest:
            image = f'<span title="{text(c.image_digest)}">{image}</span>'
        model = f"{c.model_name} v{c.model_version}" if c.model_name else "—"
        rows.append(
            f'<tr class="kind-{text(c.kind)}">'
            f'<td><time datetime="{c.when.isoformat()}">{text(_time(c.when))}</time></td>'
            f"<td>{text(KIND_LABELS.get(c.kind, c.kind))}</td>"
            f'<td><span title="{text(c.author_email)}">{text(c.author)}</span></td>'
            f"<td>{text(_pr_cell(c))}</td><td>{image}</td><td>{text(model)}</td>"
            f'<td><code title="{text(c.sha)}">{text(c.sha[:7])}</code> {text(c.subject)}</td>'
            "</tr>"
        )
    return (
        f'<h3 id="timeline-{text(env)}">{text(env)}</h3>'
        f'<table class="timeline"><caption>Changes of {text(env)}\'s overlay on main, newest '
        'first</caption><colgroup><col class="when"><col class="kind"><col class="by">'
        '<col class="pr"><col class="image"><col class="model"><col></colgroup>'
        '<thead><tr><th scope="col">When</th><th scope="col">Kind</th>'
        '<th scope="col">By</th><th scope="col">PR</th><th scope="col">Image</th>'
        '<th scope="col">Model</th><th scope="col">Commit</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


STYLE = """
:root { color-scheme: light; --fg: #1a1a1a; --muted: #4a4a4a; --line: #c8c8c8; --head: #eef2f6; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1280px; padding: 1.5rem; color: var(--fg); background: #fff;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 .5rem; border-bottom: 2px solid var(--line); }
h3 { font-size: 1.05rem; margin: 1.25rem 0 .4rem; }
.meta { color: var(--muted); margin: 0; }
table { border-collapse: collapse; width: 100%; margin: .25rem 0 1rem; }
caption { text-align: left; color: var(--muted); padding: .25rem 0; caption-side: top; }
th, td { border: 1px solid var(--line); padding: .35rem .5rem; text-align: left;
  vertical-align: top; }
td { overflow-wrap: anywhere; }
thead th { background: var(--head); white-space: nowrap; }
table.timeline { table-layout: fixed; }
table.timeline col.when { width: 11rem; } table.timeline col.kind { width: 8.5rem; }
table.timeline col.by { width: 12rem; } table.timeline col.pr { width: 4.5rem; }
table.timeline col.image { width: 13rem; } table.timeline col.model { width: 7.5rem; }
tbody th { background: #f7f7f7; white-space: nowrap; }
code { font: .9em ui-monospace, "DejaVu Sans Mono", monospace; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 1rem; }
figure.chart { margin: 0; border: 1px solid var(--line); padding: .75rem; }
.canvas-box { position: relative; height: 280px; }
figcaption { color: var(--muted); font-size: .9rem; margin-top: .4rem; }
tr.kind-rollback td:nth-child(2) { font-weight: 600; color: #8a1c00; }
""".strip()

APP_JS = """
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var colours = data.colours, shapes = data.shapes;
  function when(ms) { return new Date(ms).toISOString().slice(0, 16).replace("T", " "); }
  function tick(ms, index, ticks) {  // seconds when the whole axis spans less than an hour
    var span = ticks[ticks.length - 1].value - ticks[0].value;
    var iso = new Date(ms).toISOString();
    return span < 3600000 ? iso.slice(11, 19) : iso.slice(5, 16).replace("T", " "); }
  data.charts.forEach(function (c) {
    var canvas = document.getElementById(c.id);
    var sets = c.envs.map(function (env, i) {
      return { label: env, data: c.series[env], stepped: "before", parsing: false,
        borderColor: colours[i % colours.length], backgroundColor: colours[i % colours.length],
        pointStyle: shapes[i % shapes.length], pointRadius: function (ctx) {
          var p = ctx.raw; return p && p.now ? 0 : 5; }, borderWidth: 2 };
    });
    new Chart(canvas, {
      type: "line",
      data: { datasets: sets },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        scales: {
          x: { type: "linear", title: { display: true, text: "time (UTC)", color: "#1a1a1a" },
               ticks: { callback: tick, maxTicksLimit: 6,
                        color: "#1a1a1a" } },
          y: { title: { display: true, text: c.metric, color: "#1a1a1a" },
               ticks: { color: "#1a1a1a" } }
        },
        plugins: {
          legend: { labels: { usePointStyle: true, color: "#1a1a1a" } },
          tooltip: { callbacks: {
            title: function (items) { return when(items[0].raw.x); },
            label: function (item) {
              return item.dataset.label + ": " + item.raw.model + " " + c.metric + " " +
                item.raw.y; } } }
        }
      }
    });
    canvas.setAttribute("data-rendered", "true");
  });
  document.documentElement.setAttribute("data-charts", String(data.charts.length));
})();
""".strip()


def render_page(report: ReportData) -> str:
    """The whole page."""
    until = report.generated_at
    charts, figures = [], []
    for index, metric in enumerate(metric_names(report.history)):
        data = series(report.history, metric, until)
        if not data:
            continue
        charts.append(
            {"id": f"chart-{index}", "metric": metric, "envs": list(data), "series": data}
        )
        figures.append(chart(metric, data, index))
    payload = json_for_script({"charts": charts, "colours": COLOURS, "shapes": POINT_STYLES})
    library = chart_js()
    csp = (
        "default-src 'none'; "
        f"script-src {_csp_hash(library)} {_csp_hash(APP_JS)}; "
        f"style-src {_csp_hash(STYLE)}; img-src data:; base-uri 'none'; form-action 'none'"
    )
    timelines = "".join(
        timeline(str(row.get("env", "")), report.history.changes.get(str(row.get("env")), ()))
        for row in report.status
    )
    charts_html = (
        f'<div class="charts">{"".join(figures)}</div>'
        if figures
        else "<p>No model metrics recorded for the versions the environments ran.</p>"
    )
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{csp}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>Promotion report: {text(report.repository)}</title>",
            f"<style>{STYLE}</style>",
            "</head>",
            "<body>",
            "<header>",
            "<h1>Promotion report</h1>",
            f'<p class="meta">{text(report.repository)} · main at '
            f"<code>{text(report.main_sha[:12])}</code> · generated "
            f'<time datetime="{until.isoformat()}">{text(_time(until))}</time></p>',
            "</header>",
            "<main>",
            '<section aria-labelledby="h-matrix"><h2 id="h-matrix">Environments</h2>',
            matrix(report.status),
            "</section>",
            '<section aria-labelledby="h-metrics"><h2 id="h-metrics">Model metrics over time</h2>',
            charts_html,
            "</section>",
            '<section aria-labelledby="h-timeline">',
            '<h2 id="h-timeline">Promotions and changes per environment</h2>',
            timelines,
            "</section>",
            "</main>",
            f'<script type="application/json" id="report-data">{payload}</script>',
            f"<script>{library}</script>",
            f"<script>{APP_JS}</script>",
            "</body>",
            "</html>",
            "",
        ]
    )
