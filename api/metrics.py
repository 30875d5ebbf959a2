"""The API's Prometheus exposition: its HTTP metrics and the case store's figures.

The figures (consultations by status, overdue, deadline breaches, undelivered notifications)
are read from the case store when Prometheus scrapes, at most once per FIGURES_MAX_AGE_SECONDS
per process. The store keeps them up to date as cases change (triggers write a small ledger,
see store/operations.py), so a read sums a few hundred rows however many consultations there
are. Every API replica reports the same store-wide figures: aggregate them with max(), not
sum(). Worker metrics (the Temporal SDK's, activity failures and retries) are a second scrape
target: see the runbook in docs/guide-operator.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from weakref import WeakKeyDictionary

from prometheus_client import REGISTRY, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.operations import OperationalFigures, operational_figures

log = logging.getLogger("econsult.api")

FIGURES_MAX_AGE_SECONDS = 10.0
FIGURES_TIMEOUT_SECONDS = 3.0

Sessions = async_sessionmaker[AsyncSession]
_latest: WeakKeyDictionary[Sessions, tuple[float, OperationalFigures]] = WeakKeyDictionary()


class CaseStoreCollector:
    """One scrape's figures as Prometheus metrics; without figures, only `..._up 0`."""

    def __init__(self, figures: OperationalFigures | None) -> None:
        self._figures = figures

    def collect(self) -> Iterable[Metric]:
        figures = self._figures
        yield GaugeMetricFamily(
            "econsult_case_store_up",
            "Whether the case store answered this scrape's counts",
            value=0 if figures is None else 1,
        )
        if figures is None:
            return
        by_status = GaugeMetricFamily(
            "econsult_consultations", "Consultations in the case store by status", labels=["status"]
        )
        for status, count in figures.by_status.items():
            by_status.add_metric([status.value], count)
        yield by_status
        yield GaugeMetricFamily(
            "econsult_consultations_overdue",
            "Open consultations past their reply deadline",
            value=figures.overdue,
        )
        yield CounterMetricFamily(
            "econsult_deadline_breaches",
            "Reply deadlines missed since the start (one per breach, the practice was told)",
            value=figures.deadline_breaches,
        )
        yield GaugeMetricFamily(
            "econsult_notifications_undelivered",
            "Notifications in the outbox the sender has not delivered (yet)",
            value=figures.notifications_undelivered,
        )


class _Scrape:
    def __init__(self, *collectors: Collector) -> None:
        self._collectors = collectors

    def collect(self) -> Iterable[Metric]:
        for collector in self._collectors:
            yield from collector.collect()


async def _figures(sessions: Sessions) -> OperationalFigures | None:
    cached = _latest.get(sessions)
    if cached and time.monotonic() - cached[0] < FIGURES_MAX_AGE_SECONDS:
        return cached[1]
    try:
        figures = await asyncio.wait_for(operational_figures(sessions), FIGURES_TIMEOUT_SECONDS)
    except Exception as error:
        log.warning("case store figures unavailable", extra={"reason": type(error).__name__})
        return None
    _latest[sessions] = (time.monotonic(), figures)
    return figures


async def exposition(sessions: Sessions) -> bytes:
    """Prometheus text format: this process's metrics, then the case store's figures."""
    figures = await _figures(sessions)
    return generate_latest(_Scrape(REGISTRY, CaseStoreCollector(figures)))
