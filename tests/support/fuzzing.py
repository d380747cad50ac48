"""Settings shared by the fuzz tests in ``tests/fuzz/``.

``make test`` runs each fuzz target with a small number of cases; ``make fuzz`` sets
``FUZZ_EXAMPLES`` (10,000 by default there) and runs only ``tests/fuzz``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, settings

#: Cases per fuzz target in ``make test``; ``make fuzz`` raises it through ``FUZZ_EXAMPLES``.
DEFAULT_EXAMPLES = 300


def examples() -> int:
    """How many cases each fuzz target runs (``FUZZ_EXAMPLES``, else :data:`DEFAULT_EXAMPLES`)."""
    text = os.environ.get("FUZZ_EXAMPLES", "")
    return int(text) if text.isdigit() and int(text) > 0 else DEFAULT_EXAMPLES


def fuzz(test: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a ``@given`` test: :func:`examples` cases, no deadline, no example database."""
    return settings(max_examples=examples(), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])(test)
