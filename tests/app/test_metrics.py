"""`app.metrics.Metrics` (`observe`, `count_rows`, with the label children it caches): the
exposition must be exactly what prometheus_client's own `inc`/`observe` calls give, in
multiprocess mode and in one process, and a fork must still move a child's samples to the
child's own files.

prometheus_client picks its value class when it is imported, from `PROMETHEUS_MULTIPROC_DIR`,
so each case runs in a fresh interpreter (`python -c`) with its own directory.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent

# (route, method, status, seconds, rows): bucket bounds exactly, between them, beyond the last
# (+Inf), a negative and a NaN duration, unknown methods, rows counted per route.
REQUESTS = [
    ("/predict", "POST", 200, 0.0004, 1),
    ("/predict", "POST", 200, 0.001, 64),
    ("/predict", "POST", 200, 0.0010000001, 64),
    ("/predict", "POST", 400, 0.0025, None),
    ("/predict", "GET", 405, 0.03, None),
    ("/score", "POST", 200, 0.7, 2),
    ("/score", "POST", 200, 5.0, 1),
    ("/score", "POST", 200, 7.5, 1),
    ("/predict", "BREW", 405, 0.2, None),
    ("/predict", "brew", 405, -0.5, None),
    ("/healthz", "GET", 200, float("nan"), None),
    ("/predict", "POST", 200, 0.0004, 1024),
]


def _drive(how: str) -> None:
    """Run REQUESTS through `app.metrics.Metrics` (`ours`) or through prometheus_client's
    public API on the same metrics (`reference`, what Metrics did before), print the
    exposition."""
    from prometheus_client import CollectorRegistry, generate_latest, multiprocess

    from app.metrics import Metrics, method_label

    metrics = Metrics()
    for _ in range(3):
        for route, method, status, seconds, rows in REQUESTS:
            if how == "ours":
                if rows is not None:
                    metrics.count_rows(route, rows)
                metrics.observe(route, method, status, seconds)
            else:
                if rows is not None:
                    metrics.rows.labels(route).inc(rows)
                label = method_label(method)
                metrics.requests.labels(route, label, str(status)).inc()
                metrics.latency.labels(route, label).observe(seconds)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        text = generate_latest(registry).decode()
    else:
        text = generate_latest(metrics.registry).decode()
    # `*_created` are the creation times of the series (one process only): they differ per run.
    # The multiprocess collector's order of families follows string hashes: sorted lines.
    print("".join(sorted(line for line in text.splitlines(True) if "_created" not in line)))


def _fork_and_count() -> None:
    """Parent and forked child both observe; print how many requests the files hold per pid."""
    from prometheus_client import CollectorRegistry, generate_latest, multiprocess

    from app.metrics import Metrics

    metrics = Metrics()
    metrics.observe("/predict", "POST", 200, 0.01)
    metrics.count_rows("/predict", 3)
    child = os.fork()
    if child == 0:
        metrics.observe("/predict", "POST", 200, 0.01)
        metrics.observe("/predict", "POST", 200, 0.01)
        metrics.count_rows("/predict", 5)
        os._exit(0)
    os.waitpid(child, 0)
    metrics.observe("/predict", "POST", 200, 0.01)
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    print(sorted(path.name for path in directory.iterdir()))
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    print(generate_latest(registry).decode())
    print("parent", os.getpid(), "child", child)


def _run(code: str, multiproc_dir: Path | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    if multiproc_dir is not None:
        multiproc_dir.mkdir()
        env["PROMETHEUS_MULTIPROC_DIR"] = str(multiproc_dir)
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


@pytest.mark.parametrize("multiprocess", [True, False], ids=["multiprocess", "one-process"])
def test_the_exposition_is_what_prometheus_client_itself_writes(
    tmp_path: Path, multiprocess: bool
) -> None:
    texts = {
        how: _run(
            f"from tests.app.test_metrics import _drive; _drive({how!r})",
            tmp_path / how if multiprocess else None,
        )
        for how in ("ours", "reference")
    }
    assert texts["ours"] == texts["reference"]
    # and it holds what was observed (3 rounds of REQUESTS)
    text = texts["ours"]
    assert 'http_requests_total{method="POST",route="/predict",status="200"} 12.0' in text
    assert 'http_requests_total{method="other",route="/predict",status="405"} 6.0' in text
    assert 'model_predicted_rows_total{route="/predict"} 3459.0' in text
    assert (
        'http_request_duration_seconds_bucket{le="+Inf",method="POST",route="/score"} 9.0' in text
    )
    assert 'http_request_duration_seconds_bucket{le="5.0",method="POST",route="/score"} 6.0' in text
    assert (
        'http_request_duration_seconds_bucket{le="0.001",method="POST",route="/predict"} 9.0'
        in (text)
    )
    assert 'http_request_duration_seconds_sum{method="GET",route="/healthz"} NaN' in text


def test_a_forked_child_writes_its_own_files(tmp_path: Path) -> None:
    out = _run(
        "from tests.app.test_metrics import _fork_and_count; _fork_and_count()", tmp_path / "m"
    )
    parent, child = re.search(r"parent (\d+) child (\d+)", out).groups()  # type: ignore[union-attr]
    assert f"counter_{parent}.db" in out and f"counter_{child}.db" in out
    # parent 1 + 1 and child 2 (on top of the 1 it inherited and then dropped with the parent's
    # file): 4 requests, 8 rows; a child writing into the parent's file would lose counts
    assert 'http_requests_total{method="POST",route="/predict",status="200"} 4.0' in out
    assert 'model_predicted_rows_total{route="/predict"} 8.0' in out
    assert 'http_request_duration_seconds_count{method="POST",route="/predict"} 4.0' in out
