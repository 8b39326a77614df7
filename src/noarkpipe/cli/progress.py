"""The one progress bar of the long commands (run, export, validate): on stderr, and only on a terminal.

Under cron, in a pipe or with --quiet/--json nothing is drawn: `progress_bar`
yields None and the command passes no callback. On a terminal the bar takes
progress in one shape, `show(stage, done, total)`: what is being done (a
stage, or the item at hand), how far it is (items or bytes), and the total,
None while unknown. Each producer reports in its own shape today; the
adapters below turn its callback into `show`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from noarkpipe.core.printable import printable
from noarkpipe.run.results import Progress as RunProgress


class ProgressBar:
    def __init__(self, bar: Progress, task: TaskID) -> None:
        self._bar = bar
        self._task = task

    def show(self, stage: str, done: int, total: int | None) -> None:
        # The stage may name a sender's file: printable, and not read as rich markup.
        self._bar.update(self._task, description=escape(printable(stage)), completed=done, total=total)


@contextmanager
def progress_bar(first_stage: str, *, wanted: bool = True, counts: str | None = None) -> Iterator[ProgressBar | None]:
    """A transient bar on stderr while the block runs, if `wanted` and stderr is a terminal; else None.

    `counts` names what is counted ("items") to show the count instead of the percentage.
    """
    if not (wanted and sys.stderr.isatty()):
        yield None
        return
    amount = TextColumn(f"{{task.completed}} {counts}" if counts else "{task.percentage:>3.0f}%")
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), amount, TimeElapsedColumn(),
        console=Console(stderr=True), transient=True,
    ) as bar:
        yield ProgressBar(bar, bar.add_task(escape(first_stage), total=None))


def for_run(bar: ProgressBar | None) -> RunProgress | None:
    """The nightly run's progress(event, item): one step per item, shown by its arkivskaper and name."""
    if bar is None:
        return None
    done = 0

    def progress(_event: str, item) -> None:
        nonlocal done
        done += 1
        bar.show(f"{item.arkivskaper}: {item.origin_name[:40]}", done, None)

    return progress


def for_export(bar: ProgressBar | None) -> Callable[[str, int, int | None], None] | None:
    """The export's progress(stage, advance, total): a stage starts with advance 0 and its total, then advances."""
    if bar is None:
        return None
    stage_total: int | None = None
    done = 0

    def progress(stage: str, advance: int, total: int | None) -> None:
        nonlocal stage_total, done
        if advance == 0:
            stage_total, done = total, 0
        else:
            done += advance
        bar.show(stage, done, stage_total)

    return progress


def for_validate(bar: ProgressBar | None) -> Callable[[str, int, int], None] | None:
    """The validator's progress(phase, done, total): bytes done so far, total 0 while unknown."""
    if bar is None:
        return None

    def progress(phase: str, done: int, total: int) -> None:
        bar.show(phase, done, total or None)

    return progress
