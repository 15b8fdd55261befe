"""Prometheus metrics of one app instance, in a registry of its own (so tests and apps never share counts)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from feedback_nlp.schemas import ROUTE_TRIAGE, SOURCE_CALL_NOTE, SOURCE_TICKET, ItemScore

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Label values come from a fixed set so that clients cannot grow the number of series.
_KNOWN_SOURCES = frozenset({SOURCE_TICKET, SOURCE_CALL_NOTE})
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)
_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServiceMetrics:
    """Request counts and latencies by route template and status, scoring counts, and the model version."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "feedback_nlp_http_requests",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "feedback_nlp_http_request_duration_seconds",
            "HTTP request latency by route template and status",
            ["method", "route", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.items_scored = Counter(
            "feedback_nlp_items_scored",
            "Feedback items scored, by source (ticket, call_note, other)",
            ["source"],
            registry=self.registry,
        )
        self.units_scored = Counter(
            "feedback_nlp_units_scored",
            "Feedback units scored (a call note has several)",
            registry=self.registry,
        )
        self.triaged = Counter(
            "feedback_nlp_items_triaged",
            "Scored items whose primary unit was routed to triage",
            registry=self.registry,
        )
        self.model_info = Gauge(
            "feedback_nlp_model_info",
            "The model version being served (value 1)",
            ["version"],
            registry=self.registry,
        )
        self.model_reloads = Counter(
            "feedback_nlp_model_reloads",
            "Model reload attempts by result (reloaded, refused)",
            ["result"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "feedback_nlp_rate_limited",
            "Requests answered 429, by scope (key: a valid API key; address: requests without a valid key)",
            ["scope"],
            registry=self.registry,
        )
        self.work_budget_rejections = Counter(
            "feedback_nlp_work_budget_rejections",
            "Scoring requests refused before the work, by limit (batch_chars, units_per_item)",
            ["limit"],
            registry=self.registry,
        )
        self.score_batch_requests = Histogram(
            "feedback_nlp_score_batch_requests",
            "Scoring requests gathered into one encoder call (adaptive batching)",
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.store_write_requests = Histogram(
            "feedback_nlp_store_write_requests",
            "Scoring requests whose results were written to the store in one transaction",
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.score_timeouts = Counter(
            "feedback_nlp_score_timeouts",
            "Scoring requests answered 503 because scoring ran past the timeout",
            registry=self.registry,
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        labels = {"method": method, "route": route, "status": str(status)}
        self.requests.labels(**labels).inc()
        self.latency.labels(**labels).observe(seconds)

    def observe_scores(self, scores: Sequence[ItemScore]) -> None:
        for score in scores:
            source = score.source if score.source in _KNOWN_SOURCES else "other"
            self.items_scored.labels(source=source).inc()
            self.units_scored.inc(len(score.units))
            if score.units and score.primary.route == ROUTE_TRIAGE:
                self.triaged.inc()

    def set_model_version(self, version: str | None) -> None:
        self.model_info.clear()
        if version is not None:
            self.model_info.labels(version=version).set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure ASGI middleware timing every HTTP request; labels use the matched route's template."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before responding

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            # unmatched paths share one label: a scanner must not create a series per URL
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(scope["method"], template, status, time.perf_counter() - started)
