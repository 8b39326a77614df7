"""The archival copies of a run: each document's conversion handed to an executor, and what became of it.

The run submits an item's conversions as soon as the item is read, and
goes on reading the next items while they run (`nightly.py` keeps the
window). Copies are kept in the item's archival folder with a record of
how they were made, so a document an interrupted run converted already is
not converted again (`previous_outcome`), and documents of one item with
the same bytes share one conversion, so no two tasks ever write the same
copy. The executor is the local process pool, or a Dask cluster when
[convert] scheduler is set (`execution.py`); one made here is closed with
the run.

What a failed conversion means is decided here too: a missing program or
a setting the converter refuses stops the run (`raise_if_installation_problem`);
anything else is the document's own gap (`gap_text`), and its letter is
journaled without that copy.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from noarkpipe._exec import ocrmypdf, sandbox
from noarkpipe.config import Settings, describe_validation_error
from noarkpipe.convert import (
    ConversionJob,
    ConversionOptions,
    ConversionOutcome,
    ConversionResult,
    convert_document,
    is_email_body,
    previous_outcome,
)
from noarkpipe.core.submission import SubmissionDocument
from noarkpipe.errors import ConfigError, MissingDependencyError
from noarkpipe.run.execution import Executor, Task, TaskOutcome
from noarkpipe.run.execution_dask import DaskExecutor
from noarkpipe.run.execution_local import LocalExecutor
from noarkpipe.run.reading import RECEIVED, rendered_path

HARD_LIMIT_GRACE_SECONDS = 60
"""How long past [convert] timeout_s a conversion may run before its worker is killed.

The conversion stops its own external programs at timeout_s; the executor's
hard limit is for what it cannot stop itself, and must not cut short the
checks that follow the last program.
"""


def conversion_options(settings: Settings) -> ConversionOptions:
    """The [convert] and [intake] settings as the conversion takes them."""
    try:
        return ConversionOptions(
            **settings.convert.model_dump(exclude={"workers", "scheduler", "max_worker_memory_mb"}),
            ocr_languages=settings.intake.ocr_languages,
        )
    except ValidationError as exc:
        raise describe_validation_error(
            exc, settings.config_path, model=ConversionOptions,
            hint="see the [intake] and [convert] sections of the sample config ('noarkpipe init')",
        ) from None


@dataclass
class ItemDocument:
    """One document of an item in flight: its description, its conversion job, and the task or earlier result."""

    document: SubmissionDocument
    job: ConversionJob
    task: Task[ConversionOutcome] | None = None
    previous: ConversionOutcome | None = None
    """The outcome recorded by an earlier run that was cut short, reused instead of converting again."""

    def done(self) -> bool:
        return self.task is None or self.task.done()

    def outcome(self) -> TaskOutcome[ConversionOutcome]:
        return TaskOutcome(value=self.previous) if self.task is None else self.task.outcome()


class Conversions:
    """The run's conversions: the executor that makes them, and every task given to it."""

    def __init__(self, settings: Settings, executor: Executor | None, preload: Sequence[str]) -> None:
        """`executor` runs the conversions; by default a `LocalExecutor` with [convert] workers (or a
        `DaskExecutor` for [convert] scheduler), made for this run; `preload` is what its workers import once."""
        self.settings = settings
        self.options = conversion_options(settings)
        self._executor = executor
        self._own_executor = executor is None
        self._preload = preload
        self._submitted: list[Task[ConversionOutcome]] = []
        self._scratch = settings.work_dir / ".scratch" / "convert"

    @property
    def workers(self) -> int:
        """How many conversions run at once: the executor's, or [convert] workers before one is made."""
        return self._executor.workers if self._executor else self.settings.convert.workers

    def executor(self) -> Executor:
        """The executor, made at the first call."""
        if self._executor is None:
            # What every archival copy needs, checked once before the first is asked for.
            ocrmypdf.require(self.options.ocr_languages)
            sandbox.require(self.options.sandbox)
            if self.settings.convert.scheduler:
                self._executor = DaskExecutor(
                    self.settings.convert.scheduler,
                    time_limit_s=self.options.timeout_s + HARD_LIMIT_GRACE_SECONDS,
                )
                return self._executor
            self._executor = LocalExecutor(
                self.settings.convert.workers,
                time_limit_s=self.options.timeout_s + HARD_LIMIT_GRACE_SECONDS,
                preload=self._preload,
                memory_limit_mb=self.settings.convert.max_worker_memory_mb,
            )
        return self._executor

    def submit(
        self, folder: Path, document: SubmissionDocument, blob: str, executor: Executor, shared: dict[str, ItemDocument]
    ) -> ItemDocument:
        """The conversion of a document, whose bytes wait in the item's archival folder: submitted, or done before.

        `shared` holds the item's conversions by job key: a document with the
        same bytes and role as one before it takes that one's task and copy.
        """
        job = ConversionJob(
            source=folder / RECEIVED / blob,
            source_sha256=blob,
            filename=document.filename,
            email_body=is_email_body(document.role, document.filename),
            rendered=rendered_path(folder, blob, document.rendered) if document.rendered is not None else None,
            target=folder,
            scratch=self._scratch,
            options=self.options,
        )
        if document.archival_gap:  # intake already knows: kept as received, nothing to convert
            refused = ConversionOutcome(
                filename=document.filename, options=self.options, failure=document.archival_gap, failure_kind="refused"
            )
            return ItemDocument(document=document, job=job, previous=refused)
        if job.key in shared:
            earlier = shared[job.key]
            return ItemDocument(document=document, job=job, task=earlier.task, previous=earlier.previous)
        previous = previous_outcome(job)
        if previous is not None:
            converted = ItemDocument(document=document, job=job, previous=previous)
        else:
            task = executor.submit(convert_document, job)
            self._submitted.append(task)
            converted = ItemDocument(document=document, job=job, task=task)
        shared[job.key] = converted
        return converted

    def close(self) -> None:
        """Let the conversions still running finish (their copies are kept for the next run), then tidy up."""
        if self._executor is not None and self._own_executor:
            self._executor.close(cancel=True)
            self._executor = None
        else:
            for task in self._submitted:
                task.outcome()
        self._submitted.clear()
        shutil.rmtree(self._scratch, ignore_errors=True)


def conversion_of(outcome: TaskOutcome[ConversionOutcome]) -> ConversionResult | None:
    """The conversion result, or None when the task or the conversion failed."""
    return outcome.value.result if outcome.ok and outcome.value is not None else None


def raise_if_installation_problem(outcomes: list[TaskOutcome[ConversionOutcome]]) -> None:
    """A missing program or a setting OCRmyPDF refuses is no fault of the document: the run stops."""
    for outcome in outcomes:
        value = outcome.value
        if value is None or value.failure_kind is None or value.failure_kind == "refused":
            continue
        error = MissingDependencyError if value.failure_kind == "missing_dependency" else ConfigError
        raise error(f"no archival copy of {value.filename} could be made: {value.failure}")


def gap_text(outcome: TaskOutcome[ConversionOutcome]) -> str:
    """Why a document has no archival copy, on one line, with what to do about it."""
    value = outcome.value
    if value is not None and value.failure:
        text = value.failure.removeprefix(f"no archival copy of {value.filename}: ")
    elif outcome.timed_out:
        text = f"the conversion {outcome.failure}"
    else:
        text = f"the conversion failed: {outcome.failure}"
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())
