"""``GET /metrics`` in the Prometheus text format, on ``prometheus_client``: tasks by status and
step durations (read from the task tables at each scrape), and the API's own request counts
and latencies by route and status (counted in this process)."""

from __future__ import annotations

import time

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from data_pipeline.tasks.models import TaskStatus
from data_pipeline.tasks.store import TaskStore

bp = Blueprint("metrics", __name__)

# Label values are bounded: an invented method or an unknown path must not add series.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class TaskCollector(Collector):
    """Tasks by status and finished step executions, read from the store at scrape time."""

    def __init__(self, task_store: TaskStore):
        self.store = task_store

    def describe(self):
        """The metric names, without reading the store (registration must not touch it)."""
        yield GaugeMetricFamily("data_pipeline_tasks", "Tasks by status.", labels=["status"])
        yield SummaryMetricFamily(
            "data_pipeline_step_duration_seconds",
            "Time spent in finished step executions.",
            labels=["step", "status"],
        )

    def collect(self):
        tasks = GaugeMetricFamily("data_pipeline_tasks", "Tasks by status.", labels=["status"])
        counts = self.store.count_by_status()
        for status in TaskStatus:
            tasks.add_metric([status.value], counts.get(status.value, 0))
        yield tasks
        steps = SummaryMetricFamily(
            "data_pipeline_step_duration_seconds",
            "Time spent in finished step executions.",
            labels=["step", "status"],
        )
        for row in self.store.step_durations():
            steps.add_metric(
                [row["execution_step"], row["status"]],
                count_value=int(row["n"]),
                sum_value=float(row["total_seconds"] or 0),
            )
        yield steps


class RequestMetrics:
    """The metrics of one app: its own registry, so that apps (and tests) do not mix."""

    def __init__(self, task_store: TaskStore):
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "data_pipeline_api_requests",
            "API requests by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "data_pipeline_api_request_duration_seconds",
            "API request latency by route.",
            ["route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(TaskCollector(task_store))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def install(app: Flask, task_store: TaskStore) -> RequestMetrics:
    """Count every request of the app (errors included) by route template and status."""
    disable_created_metrics()  # no *_created series: counters and histograms only
    metrics = RequestMetrics(task_store)
    app.extensions["data_pipeline_metrics"] = metrics

    @app.before_request
    def _start_timer():
        g._dp_started = time.perf_counter()

    @app.after_request
    def _count(response):
        started = g.get("_dp_started")
        route = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        elapsed = time.perf_counter() - started if started else 0.0
        method = request.method if request.method in KNOWN_METHODS else "other"
        metrics.observe(method, route, response.status_code, elapsed)
        return response

    return metrics


@bp.get("/metrics")
def metrics():
    """Prometheus text: tasks by status, step durations, API request counts and latency."""
    collected: RequestMetrics = current_app.extensions["data_pipeline_metrics"]
    return Response(collected.exposition(), content_type=CONTENT_TYPE_LATEST)
