"""The one progress protocol of the long operations (the nightly run, export, validation).

A producer calls `progress(stage, done, total)` as it goes: what it is doing
(a stage, or the item at hand), how far it is in absolute counts (items or
bytes done so far, not an increment), and the total, None while unknown.
What is made of it is the caller's business (the CLI draws a bar on a
terminal); a producer never prints, and takes None for "nobody is watching".
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, int, int | None], None]
"""progress(stage, done, total): absolute counts; total None while unknown."""


def no_progress(stage: str, done: int, total: int | None) -> None:
    """The progress of a producer nobody watches."""
