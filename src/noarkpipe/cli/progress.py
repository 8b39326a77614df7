"""The one progress bar of the long commands (run, export, validate): on stderr, and only on a terminal.

Under cron, in a pipe or with --quiet/--json nothing is drawn: `progress_bar`
yields None and the command passes no callback. On a terminal it yields the
bar's `show(stage, done, total)`, a `core.progress.Progress`: every producer
reports in that one shape, so the command hands it on as it is.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bar

from noarkpipe.core.printable import printable
from noarkpipe.core.progress import Progress


@contextmanager
def progress_bar(first_stage: str, *, wanted: bool = True, counts: str | None = None) -> Iterator[Progress | None]:
    """A transient bar on stderr while the block runs, if `wanted` and stderr is a terminal: its `show`; else None.

    `counts` names what is counted ("items") to show the count instead of the percentage.
    """
    if not (wanted and sys.stderr.isatty()):
        yield None
        return
    amount = TextColumn(f"{{task.completed}} {counts}" if counts else "{task.percentage:>3.0f}%")
    with Bar(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), amount, TimeElapsedColumn(),
        console=Console(stderr=True), transient=True,
    ) as bar:
        task = bar.add_task(escape(first_stage), total=None)

        def show(stage: str, done: int, total: int | None) -> None:
            # The stage may name a sender's file: printable, and not read as rich markup.
            bar.update(task, description=escape(printable(stage)), completed=done, total=total)

        yield show
