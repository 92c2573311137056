"""One wrk run's figures, and the summaries over repeated, interleaved runs (pure functions)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass


@dataclass
class Load:
    server: str
    scenario: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int = 0
    # CPU time (user + system) of the serving processes over the run, per request completed.
    cpu_ms_per_request: float | None = None
    # The same for the app server's processes alone (the app container's CPU budget in the pod).
    app_cpu_ms_per_request: float | None = None


def runs(results: list[Load], server: str, scenario: str) -> list[Load]:
    return [r for r in results if r.server == server and r.scenario == scenario]


def paired_ratio(
    results: list[Load], scenario: str, num: str = "service", den: str = "bare"
) -> float:
    """Median over rounds of num/den throughput, each pair measured back to back."""
    pairs = zip(runs(results, num, scenario), runs(results, den, scenario), strict=True)
    return statistics.median(a.requests_per_s / b.requests_per_s for a, b in pairs)


def peak(results: list[Load], server: str, scenario: str) -> float:
    """The best run: closest to the capacity with nothing else running on the machine."""
    return max(r.requests_per_s for r in runs(results, server, scenario))


def best(results: list[Load], server: str, scenario: str) -> Load | None:
    """The run with the median throughput (the load from elsewhere varies between runs)."""
    candidates = runs(results, server, scenario)
    clean = sorted(
        [r for r in candidates if r.errors == 0] or candidates, key=lambda r: r.requests_per_s
    )
    return clean[(len(clean) - 1) // 2] if clean else None


def median_cpu_ms(
    results: list[Load], server: str, scenario: str, app_only: bool = False
) -> float | None:
    """Median over runs of the serving processes' (or the app server's alone) CPU time per
    request."""
    values = [
        r.app_cpu_ms_per_request if app_only else r.cpu_ms_per_request
        for r in runs(results, server, scenario)
    ]
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None
