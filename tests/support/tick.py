"""A test-only agent module: a counter that goes up by one per collection, kept in a file.

Its values survive agent restarts, so a test knows exactly which samples must reach the
province: 1, 2, 3... with none missing. ``collect`` is a coroutine with no await, so a timeout
can never cut it between counting and returning.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from prometheus_client.core import Metric

from agent.modules.base import MetricSpec, ModuleConfig, ModuleInfo

TICKS = MetricSpec("test_ticks_total", "counter", "Collections of the tick module.")


@dataclass(frozen=True)
class TickConfig(ModuleConfig):
    """``tick: {state_file: PATH}``."""

    state_file: str


class TickModule:
    """Counts its collections in ``state_file``."""

    name: ClassVar[str] = "tick"
    metrics = (TICKS,)

    def __init__(self, config: TickConfig) -> None:
        self.path = Path(config.state_file)

    async def collect(self) -> Iterable[Metric]:
        count = read_ticks(self.path) + 1
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(str(count))
        tmp.replace(self.path)
        family = TICKS.family()
        family.add_metric([], count)
        return [family]

    def close(self) -> None:
        pass


def read_ticks(path: Path) -> int:
    """The last value the module reported (0 before the first collection)."""
    return int(path.read_text()) if path.exists() else 0


INFO = ModuleInfo("tick", TickConfig, lambda: TickModule)
