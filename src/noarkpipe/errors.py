"""Exit codes and the exceptions that carry them.

Cron jobs, systemd units and monitoring scripts rely on these numbers: they
are documented in the README and must not be renumbered.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    ok = 0
    internal_error = 1
    bad_args = 2
    invalid_config = 3
    input_file = 4
    missing_dependency = 5
    store_error = 6
    invalid_output = 7
    items_quarantined = 10
    source_unavailable = 11
    validation_errors = 12
    export_refused = 13
    unhealthy = 14
    already_running = 75
    ctrl_c = 130


class NoarkpipeError(Exception):
    """Base class: a failure the user can act on, with its exit code."""

    exit_code = ExitCode.internal_error

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class ConfigError(NoarkpipeError):
    """The config file is missing, unreadable or has a wrong value."""

    exit_code = ExitCode.invalid_config


class InputFileError(NoarkpipeError):
    """An input file cannot be read or understood; the item is quarantined."""

    exit_code = ExitCode.input_file


class MissingDependencyError(NoarkpipeError):
    exit_code = ExitCode.missing_dependency


class SourceUnavailableError(NoarkpipeError):
    """A mailbox or the Dask scheduler cannot be reached or refuses us.

    An unreachable mailbox is noted and the run goes on with what is already
    in the inbox; an unreachable scheduler stops the run before any item is
    taken in (the items wait for the next run).
    """

    exit_code = ExitCode.source_unavailable


class StoreError(NoarkpipeError):
    """The journal store cannot be opened, migrated or written."""

    exit_code = ExitCode.store_error


class InvalidOutputError(NoarkpipeError):
    """Something noarkpipe produced does not pass its own checks (e.g. schema)."""

    exit_code = ExitCode.invalid_output


class AlreadyRunningError(NoarkpipeError):
    exit_code = ExitCode.already_running


class ExportRefusedError(NoarkpipeError):
    """An export or period closing that must not go ahead: the arkivdel is not closed,
    documents are missing, the disk is too small. Nothing was written."""

    exit_code = ExitCode.export_refused


class SchemaValidationError(InvalidOutputError):
    """XML that does not validate; `problems` lists 'line N: path: message'."""

    def __init__(self, schema: str, problems: list[str]) -> None:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"XML does not validate against {schema}:\n  {shown}{more}")
        self.schema = schema
        self.problems = problems


# -- failures of one stage or service; the exit code says which kind of failure it is,
#    so several share one where a cron job needs to tell the same things apart

class ConversionError(InputFileError):
    """The archival copy was made but fails verification (or cannot be made); the document is not converted.

    `report` is the `files.verify.VerificationReport` when there is one (typed loosely: this module
    sits below every other and imports none of them).
    """

    def __init__(self, message: str, *, report: Any = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.report = report


class UnreadableMessage(InputFileError):
    """An Outlook message that cannot be opened or is damaged (not: one over the limits); an attached one is kept as received."""


class PdfaNotApprovedError(InputFileError):
    """OCRmyPDF could not make the PDF into a PDF/A its validator approves (often: fonts not embedded)."""


class SandboxError(MissingDependencyError):
    """The sandbox the converters must run in cannot be made on this machine (exit 5: something to install or allow)."""


class ArkivmeldingRefused(InputFileError):
    """A KS Fiks Arkiv arkivmelding that cannot be registered as asked (exit 4, an input that cannot be used).

    The item is quarantined with the reason, and the sender gets a feilmelding of
    `feiltype`: 'ugyldigforespoersel' (the message is wrong: schema, files,
    class, arkivdel, a key matching two cases), 'ikkefunnet' (a case it refers
    to does not exist here) or 'serverfeil' (our fault). `melding_id` is the
    message's meldingId when it could be read.
    """

    def __init__(
        self, message: str, *, feiltype: str = "ugyldigforespoersel", melding_id: str | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.feiltype = feiltype
        self.melding_id = melding_id

    def __reduce__(self):
        # Raised in the parse child and re-raised in the run: it must cross the process boundary whole.
        return (_rebuild_arkivmelding_refused, (self.message, self.feiltype, self.melding_id, self.hint))


def _rebuild_arkivmelding_refused(message: str, feiltype: str, melding_id: str | None, hint: str | None):
    return ArkivmeldingRefused(message, feiltype=feiltype, melding_id=melding_id, hint=hint)


class TrainingError(NoarkpipeError):
    """The journaled history is not enough to train a model on (exit 4, like any input that cannot be used)."""

    exit_code = ExitCode.input_file


class ModelFileError(NoarkpipeError):
    """A model file is missing, damaged, edited or from an incompatible noarkpipe (exit 4: a file that cannot be used)."""

    exit_code = ExitCode.input_file


class PublicJournalLeakError(InvalidOutputError):
    """A string meant for the public journal still holds screened information (exit 7: our own output failed its check)."""


class EmptyPublicJournalError(InvalidOutputError):
    """No journalpost in the period: offentligJournal.xsd needs at least one journalregistrering."""


class PeriodError(NoarkpipeError):
    """A period or case operation that cannot be carried out as asked; nothing was changed.

    Exit 13, shared with `ExportRefusedError`: both mean "refused, nothing written, fix and retry".
    """

    exit_code = ExitCode.export_refused


class ReviewError(NoarkpipeError):
    """A review decision that cannot be carried out (unknown number, wrong state): exit 2, a wrong argument."""

    exit_code = ExitCode.bad_args


class MailError(NoarkpipeError):
    """The run report could not be mailed; the message says why and what to check.

    Never a run's exit code: the run notes the failure in its log and report and ends as it
    would have. Its code (11) is that of a server noarkpipe could not reach.
    """

    exit_code = ExitCode.source_unavailable
