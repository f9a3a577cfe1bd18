"""``GET /metrics`` in the Prometheus text format (0.0.4): tasks by status, step durations,
running executors, and the API's own request counts and latencies by route and status."""

from __future__ import annotations

import threading
import time
from collections import defaultdict

from flask import Blueprint, Flask, Response, current_app, g, request

from data_pipeline.api.common import store
from data_pipeline.tasks.models import TaskStatus

bp = Blueprint("metrics", __name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RequestMetrics:
    """Counters of one API process (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: dict[tuple[str, str, int], int] = defaultdict(int)
        self.latency: dict[str, list[float]] = {}  # route -> bucket counts + [sum, count]

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.counts[(method, route, status)] += 1
            hist = self.latency.setdefault(route, [0.0] * (len(_BUCKETS) + 2))
            for i, bound in enumerate(_BUCKETS):
                if seconds <= bound:
                    hist[i] += 1
            hist[-2] += seconds
            hist[-1] += 1

    def snapshot(self) -> tuple[dict, dict]:
        with self._lock:
            return dict(self.counts), {k: list(v) for k, v in self.latency.items()}


def install(app: Flask) -> RequestMetrics:
    """Count every request of the app (errors included) by route template and status."""
    metrics = RequestMetrics()
    app.extensions["data_pipeline_metrics"] = metrics

    @app.before_request
    def _start_timer():
        g._dp_started = time.perf_counter()

    @app.after_request
    def _count(response):
        started = g.get("_dp_started")
        route = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        elapsed = time.perf_counter() - started if started else 0.0
        metrics.observe(request.method, route, response.status_code, elapsed)
        return response

    return metrics


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _lines() -> list[str]:
    out = [
        "# HELP data_pipeline_tasks Tasks by status.",
        "# TYPE data_pipeline_tasks gauge",
    ]
    counts = store().count_by_status()
    for status in TaskStatus:
        out.append(f'data_pipeline_tasks{{status="{status.value}"}} {counts.get(status.value, 0)}')
    out += [
        "# HELP data_pipeline_step_duration_seconds Time spent in finished step executions.",
        "# TYPE data_pipeline_step_duration_seconds summary",
    ]
    for row in store().step_durations():
        labels = f'step="{_label(row["execution_step"])}",status="{_label(row["status"])}"'
        total = float(row["total_seconds"] or 0)
        out.append(f"data_pipeline_step_duration_seconds_sum{{{labels}}} {total:.3f}")
        out.append(f"data_pipeline_step_duration_seconds_count{{{labels}}} {int(row['n'])}")
    metrics: RequestMetrics = current_app.extensions["data_pipeline_metrics"]
    requests, latency = metrics.snapshot()
    out += [
        "# HELP data_pipeline_api_requests_total API requests by method, route and status.",
        "# TYPE data_pipeline_api_requests_total counter",
    ]
    for (method, route, status), n in sorted(requests.items()):
        labels = f'method="{method}",route="{_label(route)}",status="{status}"'
        out.append(f"data_pipeline_api_requests_total{{{labels}}} {n}")
    out += [
        "# HELP data_pipeline_api_request_duration_seconds API request latency by route.",
        "# TYPE data_pipeline_api_request_duration_seconds histogram",
    ]
    for route, hist in sorted(latency.items()):
        r = _label(route)
        for bound, n in zip(_BUCKETS, hist, strict=False):
            out.append(
                f'data_pipeline_api_request_duration_seconds_bucket{{route="{r}",le="{bound}"}} '
                f"{int(n)}"
            )
        out.append(
            f'data_pipeline_api_request_duration_seconds_bucket{{route="{r}",le="+Inf"}} '
            f"{int(hist[-1])}"
        )
        out.append(f'data_pipeline_api_request_duration_seconds_sum{{route="{r}"}} {hist[-2]:.6f}')
        out.append(
            f'data_pipeline_api_request_duration_seconds_count{{route="{r}"}} {int(hist[-1])}'
        )
    return out


@bp.get("/metrics")
def metrics():
    """Prometheus text: tasks by status, step durations, API request counts and latency."""
    return Response("\n".join(_lines()) + "\n", content_type=CONTENT_TYPE)
