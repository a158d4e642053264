"""Prometheus metrics: what each app counts, and the text a scrape of /metrics returns.

Contract (the series names are what dashboards and alerts rely on):

- ``distserver_http_request_duration_seconds{route, method, status}``: histogram of every
  request's time in the app, labelled by its URL rule (``/files/<token>``, never the raw
  path, so credentials in paths never become labels) or ``<unmatched>``.
- ``distserver_links_total{door, outcome, reason}``: counted as links are handed out or
  refused (``outcome`` is ``issued``, ``refused`` or ``failed``; ``reason`` the refusal
  code, empty for issued links). Never derived from the audit log.
- ``distserver_link_decision_seconds{door}``: histogram of the link service's time from
  request to signed URL or refusal (decide, count the quota, record, sign).
- ``distserver_audit_sealing_lag_seconds``: age of the oldest unsealed audit event (0 when
  everything is sealed), read at scrape time with one indexed query.
- ``distserver_webhook_backlog``: deliveries waiting to be sent, and
  ``distserver_webhook_oldest_pending_seconds``.
- ``distserver_job_backlog{queue}`` and ``distserver_job_failed{queue}``: from the reader
  the job engine registers with ``set_job_stats_reader`` (absent until one is registered).

Registries: each app owns a ``CollectorRegistry`` (two apps can live in one process, as
the tests do). Under gunicorn with several workers, set ``PROMETHEUS_MULTIPROC_DIR`` to an
empty folder (emptied at each start, e.g. a tmpfs) in gunicorn's environment: the library's
documented multiprocess mode then keeps the counters and histograms in files per worker
and a scrape of any worker adds them all up. There are no live gauges kept in-process
(the gauges are read at scrape time), so dead workers need no clean-up hook.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from flask import Flask, current_app, has_app_context
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from distserver.db import utcnow

EXTENSION_KEY = "distserver.metrics"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNMATCHED_ROUTE = "<unmatched>"
# The link service is counted in microseconds on its fast path: fine buckets at the bottom.
DECISION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# How far below the newest sealed event the lag query looks for a late-committed unsealed
# one (events that commit out of id order are sealed in the next batch; see audit.sealing).
LATE_COMMIT_WINDOW = 1000

# queue -> (messages waiting, messages that failed for good): the job engine's figures.
JobStatsReader = Callable[[], Mapping[str, tuple[int, int]]]

# The *_created series double the output for nothing a dashboard here reads.
disable_created_metrics()

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class AppMetrics:
    """One app's metric objects, in ``app.extensions[EXTENSION_KEY]``."""

    registry: CollectorRegistry
    requests: Histogram
    links: Counter
    decisions: Histogram
    job_stats: JobStatsReader | None = None
    # Labelled children by label values: `labels()` takes a lock and builds a tuple on
    # every call, and the link path counts microseconds.
    children: dict[tuple[str, ...], Any] = field(default_factory=dict)

    def link_child(self, door: str, outcome: str, reason: str) -> Any:
        key = ("links", door, outcome, reason)
        child = self.children.get(key)
        if child is None:
            child = self.children[key] = self.links.labels(door, outcome, reason)
        return child

    def decision_child(self, door: str) -> Any:
        key = ("decisions", door)
        child = self.children.get(key)
        if child is None:
            child = self.children[key] = self.decisions.labels(door)
        return child

    def request_child(self, route: str, method: str, status: int) -> Any:
        key = ("requests", route, method, str(status))
        child = self.children.get(key)
        if child is None:
            child = self.children[key] = self.requests.labels(route, method, str(status))
        return child


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def init_metrics(app: Flask) -> AppMetrics:
    registry = CollectorRegistry(auto_describe=True)
    metrics = AppMetrics(
        registry=registry,
        requests=Histogram(
            "distserver_http_request_duration_seconds",
            "Time in the app per request, by URL rule, method and status.",
            ("route", "method", "status"),
            buckets=REQUEST_BUCKETS,
            registry=registry,
        ),
        links=Counter(
            "distserver_links",
            "Download links handed out or refused, by door, outcome and refusal reason.",
            ("door", "outcome", "reason"),
            registry=registry,
        ),
        decisions=Histogram(
            "distserver_link_decision_seconds",
            "Link service time from request to signed URL or refusal, by door.",
            ("door",),
            buckets=DECISION_BUCKETS,
            registry=registry,
        ),
    )
    app.extensions[EXTENSION_KEY] = metrics
    return metrics


def app_metrics() -> AppMetrics | None:
    """This app's metrics, or None outside an app (scripts, unit tests of services)."""
    return current_app.extensions.get(EXTENSION_KEY) if has_app_context() else None


def set_job_stats_reader(app: Flask, reader: JobStatsReader) -> None:
    """The hook for the job engine: `reader()` returns {queue: (waiting, failed)} and is
    called at each scrape (keep it to a few cheap broker reads)."""
    app.extensions[EXTENSION_KEY].job_stats = reader


# -- counted as it happens -------------------------------------------------------------


def record_link(door: str, outcome: str, reason: str | None = None) -> None:
    """Count one link issued (outcome "issued") or refused ("refused", with the reason)."""
    metrics = app_metrics()
    if metrics is not None:
        metrics.link_child(door, outcome, reason or "").inc()


def observe_decision(door: str, seconds: float) -> None:
    metrics = app_metrics()
    if metrics is not None:
        metrics.decision_child(door).observe(seconds)


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    metrics = app_metrics()
    if metrics is not None:
        metrics.request_child(route, method, status).observe(seconds)


def metered_link(func: Callable[P, R]) -> Callable[P, R]:
    """Wraps a link-service entry point (request_link, use_link) and times it. The door
    is the call's `door` keyword ("dl" when it has none). Issued and refused links are
    counted where their outcome is known (downloads.records.link_outcome, shared with
    the fast path); an error that carries no decision is counted here as "failed"."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        metrics = app_metrics()
        if metrics is None:
            return func(*args, **kwargs)
        door = str(kwargs.get("door") or "dl")
        started = time.perf_counter()
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            if getattr(exc, "decision", None) is None:
                code = str(getattr(exc, "code", "") or "error")
                metrics.link_child(door, "failed", code).inc()
            raise
        finally:
            metrics.decision_child(door).observe(time.perf_counter() - started)

    return wrapper


def timed_fast_link(func: Callable[P, R | None]) -> Callable[P, R | None]:
    """Times a fast-path entry point (downloads.fastpath) as metered_link times the ORM
    path's. A None answer hands the request to the ORM path, which times it there."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | None:
        metrics = app_metrics()
        if metrics is None:
            return func(*args, **kwargs)
        door = str(kwargs.get("door") or "dl")
        started = time.perf_counter()
        try:
            result = func(*args, **kwargs)
        except Exception:  # refused or failed: timed all the same
            metrics.decision_child(door).observe(time.perf_counter() - started)
            raise
        if result is not None:
            metrics.decision_child(door).observe(time.perf_counter() - started)
        return result

    return wrapper


# -- read at scrape time -----------------------------------------------------------------


class StateCollector:
    """Gauges read from the database (and the job engine) when /metrics is scraped.
    Each is one indexed query: never a COUNT(*) over audit_events."""

    def __init__(self, session: Any, metrics: AppMetrics, now: datetime | None = None):
        self.session, self.metrics, self.now = session, metrics, now or utcnow()

    def describe(self) -> Iterable[Metric]:
        return []  # collected fresh at each scrape; nothing to register up front

    def collect(self) -> Iterable[Metric]:
        from distserver.observability.state import oldest_unsealed_at, webhook_backlog

        oldest = oldest_unsealed_at(self.session, LATE_COMMIT_WINDOW)
        lag = max(0.0, (self.now - oldest).total_seconds()) if oldest else 0.0
        yield GaugeMetricFamily(
            "distserver_audit_sealing_lag_seconds",
            "Age of the oldest unsealed audit event (0: everything is sealed).",
            value=lag,
        )
        pending, oldest_pending = webhook_backlog(self.session)
        yield GaugeMetricFamily(
            "distserver_webhook_backlog", "Webhook deliveries waiting to be sent.", value=pending
        )
        age = max(0.0, (self.now - oldest_pending).total_seconds()) if oldest_pending else 0.0
        yield GaugeMetricFamily(
            "distserver_webhook_oldest_pending_seconds",
            "Age of the oldest webhook delivery still waiting (0: none).",
            value=age,
        )
        if self.metrics.job_stats is not None:
            backlog = GaugeMetricFamily(
                "distserver_job_backlog", "Background jobs waiting, by queue.", labels=["queue"]
            )
            failed = GaugeMetricFamily(
                "distserver_job_failed",
                "Background jobs failed for good, by queue.",
                labels=["queue"],
            )
            for queue, (waiting, dead) in sorted(self.metrics.job_stats().items()):
                backlog.add_metric([queue], waiting)
                failed.add_metric([queue], dead)
            yield backlog
            yield failed


def render(session: Any, metrics: AppMetrics) -> bytes:
    """The Prometheus text exposition of this app (or of every gunicorn worker, in
    multiprocess mode) plus the state gauges."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        registry.register(StateCollector(session, metrics))
        return generate_latest(registry)
    return generate_latest(metrics.registry) + generate_latest(_state(session, metrics))


def _state(session: Any, metrics: AppMetrics) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector(session, metrics))
    return registry
