"""Per-section isolation: each collector section fails alone, as node_exporter's collectors do.

A section is a callable returning fresh families. ``SectionRunner`` runs them in order, keeps
what each returned, and adds node_exporter's ``node_scrape_collector_success{collector}`` and
``node_scrape_collector_duration_seconds{collector}``. A failure is logged when a section starts
failing (not at every collection) and when it recovers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client.core import Metric

from agent.modules.base import MetricSpec

log = logging.getLogger(__name__)

Section = Callable[[], Iterable[Metric]]

SCRAPE_SUCCESS = MetricSpec("node_scrape_collector_success", "gauge",
                            "node_exporter: Whether a collector succeeded.", ("collector",))
SCRAPE_DURATION = MetricSpec("node_scrape_collector_duration_seconds", "gauge",
                             "node_exporter: Duration of a collector scrape.", ("collector",))


@dataclass
class SectionRunner:
    """Runs named sections, each in isolation, and reports how each went."""

    sections: Mapping[str, Section]
    failing: dict[str, str] = field(default_factory=dict)

    def collect(self) -> list[Metric]:
        """Every section's families, then the success and duration of each."""
        out: list[Metric] = []
        success, duration = SCRAPE_SUCCESS.family(), SCRAPE_DURATION.family()
        for name, section in self.sections.items():
            start = time.perf_counter()
            try:
                families = list(section())
            # Any error of one section (a missing file, a line the parser does not expect)
            # costs that section only; node_scrape_collector_success says which.
            except Exception as exc:
                self._failed(name, exc)
                ok = 0.0
            else:
                out.extend(families)
                if self.failing.pop(name, None) is not None:
                    log.info("host section %s recovered", name)
                ok = 1.0
            duration.add_metric([name], time.perf_counter() - start)
            success.add_metric([name], ok)
        out.extend((success, duration))
        return out

    def _failed(self, name: str, exc: Exception) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        if self.failing.get(name) != reason:
            log.warning("host section %s failed: %s", name, reason)
        self.failing[name] = reason
