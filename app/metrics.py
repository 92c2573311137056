"""Prometheus metrics, one registry per app (tests build many apps; nothing at import time).

With several server workers (granian's processes, app/server.py), set
`PROMETHEUS_MULTIPROC_DIR` (the image does): every worker then writes its samples to files there
and `/metrics` aggregates them all.
"""

from __future__ import annotations

import os
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


class Metrics:
    def __init__(self) -> None:
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._rows_children: dict[str, Any] = {}
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

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        method = method_label(method)
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:  # labels() validates and locks: do it once per combination
            children = (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route, method),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def count_rows(self, route: str, rows: int) -> None:
        child = self._rows_children.get(route)
        if child is None:
            child = self._rows_children[route] = self.rows.labels(route)
        child.inc(rows)

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
