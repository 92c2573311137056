"""Prometheus metrics, one registry per app (tests build many apps; nothing at import time).

With several server workers (granian's processes, app/server.py), set
`PROMETHEUS_MULTIPROC_DIR` (the image does): every worker then writes its samples to files there
and `/metrics` aggregates them all.

The per-request series (`http_requests`, `http_request_duration_seconds`,
`model_predicted_rows`) are written by `Metrics.observe` and `Metrics.count_rows` only. Through
prometheus_client's API a request costs 4 increments, each with its own lock, process-id check
and mmap write, behind two layers of calls (~5 us of a ~70 us packed request). Here the samples
a call adds to are found once per label combination, and in multiprocess mode written under one
lock after one process-id check, into the same mmap slots with the same values as
prometheus_client writes them (`tests/app/test_metrics.py` holds both expositions equal).
"""

from __future__ import annotations

import os
import threading
from bisect import bisect_left
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

EXTENSION_KEY = "metrics"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# The method label takes only these values (anything else is "other"): a client picks the method
# token freely, and every distinct label value is a new time series kept forever.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
OTHER_METHOD = "other"


def method_label(method: str) -> str:
    """The request method as a bounded metrics label."""
    return method if method in KNOWN_METHODS else OTHER_METHOD


# This process's id, kept current across os.fork() (granian's multiprocessing workers): one list
# read per request instead of prometheus_client's getpid() per increment.
_process = [os.getpid()]
os.register_at_fork(after_in_child=lambda: _process.__setitem__(0, os.getpid()))


def _is_mmapped(value: Any) -> bool:
    """Whether a sample's value is prometheus_client's mmap-backed multiprocess one, whose
    slot `Metrics._add` may write (else its own `inc` is used)."""
    file = getattr(value, "_file", None)
    return (
        getattr(value, "_multiprocess", False) is True
        and isinstance(getattr(value, "_key", None), str)
        and isinstance(getattr(value, "_value", None), float)
        and callable(getattr(file, "write_value", None))
    )


@dataclass(frozen=True)
class _Series:
    """The samples of one (route, method, status): the request counter, the latency sum, the
    latency buckets and their upper bounds (the last is +Inf)."""

    count: Any
    total: Any
    buckets: tuple[Any, ...]
    bounds: tuple[float, ...]
    direct: bool


class Metrics:
    def __init__(self) -> None:
        self._series: dict[tuple[str, str, int], _Series] = {}
        self._rows_values: dict[str, tuple[Any, bool]] = {}
        self._lock = threading.Lock()
        self._pid = _process[0]
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "http_requests",
            "HTTP requests by route, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time from request start to response, by route and method.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rows = Counter(
            "model_predicted_rows",
            "Rows (feature vectors or images) run through the model, by route.",
            ["route"],
            registry=self.registry,
        )
        self.model_info = Gauge(
            "model_info",
            "The served model (value 1), labelled with its pin.",
            ["name", "version", "sha256", "signature"],
            registry=self.registry,
            multiprocess_mode="max",
        )
        self.model_load_seconds = Gauge(
            "model_load_seconds",
            "Seconds spent reading, verifying and loading the model.",
            registry=self.registry,
            multiprocess_mode="max",
        )

    def _add(self, direct: bool, updates: tuple[tuple[Any, float], ...]) -> None:
        """Add each amount to its sample, as `value.inc(amount)` would: in multiprocess mode
        under one lock, with one process check, straight into the value's mmap slot."""
        if direct:
            with self._lock:
                if _process[0] == self._pid:
                    for value, amount in updates:
                        value._value += amount
                        value._file.write_value(value._key, value._value, 0.0)
                    return
            # Forked since these samples were made: prometheus_client's own `inc` moves them to
            # this process's files (and resets them) first.
            self._pid = _process[0]
        for value, amount in updates:
            value.inc(amount)

    def _new_series(self, route: str, method: str, status: int) -> _Series:
        # labels() validates and locks: done once per combination
        count = self.requests.labels(route, method, str(status))._value
        latency = self.latency.labels(route, method)
        total, buckets = latency._sum, tuple(latency._buckets)
        series = _Series(
            count=count,
            total=total,
            buckets=buckets,
            bounds=tuple(latency._upper_bounds),
            direct=all(_is_mmapped(value) for value in (count, total, *buckets)),
        )
        self._series[(route, method, status)] = series
        return series

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """One request: `http_requests` + 1, and `seconds` into the latency histogram (its sum
        and the first bucket whose upper bound is >= seconds, as `Histogram.observe`)."""
        method = method_label(method)
        series = self._series.get((route, method, status))
        if series is None:
            series = self._new_series(route, method, status)
        bounds = series.bounds
        i = bisect_left(bounds, seconds)
        if i < len(bounds) and seconds <= bounds[i]:
            self._add(
                series.direct,
                ((series.count, 1.0), (series.total, seconds), (series.buckets[i], 1.0)),
            )
        else:  # NaN: in no bucket, like Histogram.observe
            self._add(series.direct, ((series.count, 1.0), (series.total, seconds)))

    def count_rows(self, route: str, rows: int) -> None:
        if rows < 0:
            raise ValueError("Counters can only be incremented by non-negative amounts.")
        known = self._rows_values.get(route)
        if known is None:
            value = self.rows.labels(route)._value
            known = self._rows_values[route] = (value, _is_mmapped(value))
        self._add(known[1], ((known[0], rows),))

    def exposition(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)


def init_app(app: Flask) -> Metrics:
    metrics = Metrics()
    app.extensions[EXTENSION_KEY] = metrics
    return metrics


def get_metrics() -> Metrics:
    metrics: Metrics = current_app.extensions[EXTENSION_KEY]
    return metrics


__all__ = ["CONTENT_TYPE_LATEST", "Metrics", "get_metrics", "init_app"]
