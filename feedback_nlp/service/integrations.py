"""What the integrations add to an app: the webhook and outbox routes, and their metrics.

Kept apart from ``main.py`` so that the app factory gains one call: :func:`install`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from fastapi import FastAPI
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from feedback_nlp.service.deps import ServiceState

logger = logging.getLogger(__name__)


class OutboxCollector(Collector):
    """``feedback_nlp_outbox_messages{state}``: messages per outbox state, read from the store at scrape time
    (the senders are other processes, so the store is where the truth is). Alert on ``state="dead"`` > 0."""

    def __init__(self, state: ServiceState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        from feedback_nlp.notify.outbox import Outbox

        family = GaugeMetricFamily(
            "feedback_nlp_outbox_messages", "Owner notifications in the outbox, by state", labels=["state"]
        )
        if self.state.store is not None:
            try:
                for name, count in Outbox(self.state.store.engine).counts().items():
                    family.add_metric([name], count)
            except SQLAlchemyError as exc:
                logger.warning("outbox counts unavailable for /metrics: %s", exc)
        yield family


class WebhookMetrics:
    """Webhook deliveries by desk and outcome (scored, duplicate, ignored, refused)."""

    def __init__(self, state: ServiceState) -> None:
        self.deliveries = Counter(
            "feedback_nlp_webhook_deliveries",
            "Support-desk webhook deliveries by desk and outcome (scored, duplicate, ignored, refused)",
            ["desk", "outcome"],
            registry=state.metrics.registry,
        )


def install(app: FastAPI, state: ServiceState) -> None:
    """Add the webhook and outbox routers and their metrics to ``app``."""
    from feedback_nlp.service.routers import outbox, webhooks

    state.metrics.registry.register(OutboxCollector(state))
    app.state.webhook_metrics = WebhookMetrics(state)
    app.include_router(webhooks.router)
    app.include_router(outbox.router)
