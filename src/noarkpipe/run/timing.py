"""Wall time per stage of the nightly loop, for the run report.

The nightly loop wraps each stage of an item (fetch, claim, parse, store,
convert, journal, file, quarantine) in `timer.stage(name)`; nothing else in it
knows about timing. `started(run_id)` is the one moment the run has its id,
so the structured log can name the run from its first event on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from time import perf_counter

from pydantic import BaseModel


class StageTime(BaseModel):
    seconds: float = 0.0
    count: int = 0


class StageTimer:
    """Adds up the time spent in each named stage; cheap enough to stay always on."""

    def __init__(self, on_start: Callable[[int], None] | None = None) -> None:
        self._totals: dict[str, StageTime] = {}
        self._on_start = on_start
        self.run_id: int | None = None

    def started(self, run_id: int) -> None:
        self.run_id = run_id
        if self._on_start is not None:
            self._on_start(run_id)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        begun = perf_counter()
        try:
            yield
        finally:
            total = self._totals.setdefault(name, StageTime())
            total.seconds += perf_counter() - begun
            total.count += 1

    def totals(self) -> dict[str, StageTime]:
        """A copy, in the order the stages were first entered."""
        return {name: total.model_copy() for name, total in self._totals.items()}
