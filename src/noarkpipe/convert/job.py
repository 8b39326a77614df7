"""One document's archival copy as a unit of work: paths and settings in, a file and its record out.

The nightly run hands these jobs to an executor (`noarkpipe.run.execution`),
which may run them in another process or on another machine. So a job
holds only paths and settings, `convert_document` is importable by name, and
its answer is a plain value: a refusal (a password-protected PDF, an
unknown format) is an answer about the document, not a crash of the worker.

The copy is written into the job's `target` folder (the item's archival
folder in the work area), next to a JSON record of the outcome that is
written last and atomically. A run killed after the conversion finds both,
and `previous_outcome` gives the record back instead of converting again,
once it has checked that the file is still the one recorded.

The copy depends only on the bytes and on whether they are the e-mail's
text (identification never looks at the name; what intake lays out of a
forwarded e-mail follows from its bytes), so the copy and its record
are named by `ConversionJob.key`. Two documents of one item with the same
bytes (an inline logo sent twice, the same scan under two names) would
write the same file; the nightly run therefore submits one job per key and
item, and both documents share its copy, which stays the one verified.

A refusal carries the format the document was received in, where it can
be told, so that the document is still described exactly (PRONOM id, MIME
type) when it is kept without an archival copy.

The run's own process only describes jobs and reads their outcomes, so this
module is all it needs of the stage: the models, and `convert_document` by
name. The converters (`pdfa.py` and the libraries it loads: pikepdf,
img2pdf, fpdf2, WeasyPrint, OCRmyPDF) are imported where a conversion runs,
in a worker, which has them from its fork server's preload already
(`noarkpipe.run.nightly.PRELOAD`).
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from noarkpipe.convert.options import ConversionOptions
from noarkpipe.convert.steps import ToolVersion
from noarkpipe.core.email_document import HTML_MAIN_FILENAME, MAIN_FILENAME
from noarkpipe.core.submission import DocumentRole
from noarkpipe.errors import ConfigError, InputFileError, MissingDependencyError
from noarkpipe.files.results import FormatId, VerificationReport
from noarkpipe.store.docstore import sha256_file

FailureKind = Literal["refused", "missing_dependency", "settings"]


class ConversionResult(BaseModel):
    """What became of one document: the konvertering record, and the file if one was made."""

    model_config = ConfigDict(frozen=True)

    source_name: str
    action: Literal["kept", "converted"]
    reason: str
    output: Path | None
    """The archival copy under the scratch folder, for the caller to move; None when the original is kept."""
    from_format: FormatId
    to_format: FormatId
    source_sha256: str
    output_sha256: str | None
    tools: tuple[ToolVersion, ...]
    started: datetime
    finished: datetime
    verification: VerificationReport | None
    warnings: tuple[str, ...] = ()

    @property
    def tool(self) -> str:
        """The konverteringsverktøy: the programs that made the copy, in order."""
        return " + ".join(tool.name for tool in self.tools)

    @property
    def tool_version(self) -> str:
        return ", ".join(f"{tool.name} {tool.version}" for tool in self.tools)


class ConversionJob(BaseModel):
    """What a worker needs to make one archival copy."""

    model_config = ConfigDict(frozen=True)

    source: Path
    """The document as received, read only."""
    source_sha256: str
    filename: str
    """The name it was received under, for messages and the record."""
    email_body: bool
    """The e-mail's main document, which is typeset rather than kept as text."""
    rendered: Path | None = None
    """For a forwarded e-mail: the main document intake laid out of it (e-post.txt or e-post.html), read only."""
    target: Path
    """Where the copy and its record go; made if missing."""
    scratch: Path
    """Shared by the conversions one worker runs in turn (LibreOffice keeps its profile there)."""
    options: ConversionOptions

    @property
    def key(self) -> str:
        """The name of the copy and its record in `target`: the same bytes and role give the same copy."""
        return self.source_sha256 + ("-e-post" if self.email_body else "")


class ConversionOutcome(BaseModel):
    """The answer to a job: the conversion result, or why there is no archival copy."""

    filename: str
    options: ConversionOptions
    result: ConversionResult | None = None
    failure: str | None = None
    """The reason, with the hint on how to fix it, as the quarantine's reason file shows it."""
    failure_kind: FailureKind | None = None
    """refused: the document; missing_dependency and settings: the installation, which stops the run."""
    received_format: FormatId | None = None
    """On a refusal: the document's own format, if it could be identified."""


def is_email_body(role: DocumentRole, filename: str) -> bool:
    """True for the e-mail's main document as intake writes it (text or HTML), the one document that is typeset."""
    return role is DocumentRole.main and filename in (MAIN_FILENAME, HTML_MAIN_FILENAME)


def convert_document(job: ConversionJob) -> ConversionOutcome:
    """Make the archival copy `job` asks for (or keep the document as it is) and record it in `job.target`."""
    from noarkpipe.convert.pdfa import archival_copy  # the converters: in the worker, preloaded (see the module docstring)

    try:
        result = archival_copy(
            job.source, scratch=job.scratch, options=job.options, filename=job.filename, email_body=job.email_body,
            rendered=job.rendered,
        )
    except MissingDependencyError as exc:
        return _failure(job, exc, "missing_dependency")
    except ConfigError as exc:
        return _failure(job, exc, "settings")
    except InputFileError as exc:
        return _failure(job, exc, "refused").model_copy(update={"received_format": received_format(job.source)})
    job.target.mkdir(parents=True, exist_ok=True)
    if result.output is not None:
        placed = job.target / f"{job.key}{result.output.suffix}"
        os.replace(result.output, placed)
        result = result.model_copy(update={"output": placed})
    outcome = ConversionOutcome(filename=job.filename, options=job.options, result=result)
    _write_atomically(_record_path(job), outcome.model_dump_json(indent=2))
    return outcome


def previous_outcome(job: ConversionJob) -> ConversionOutcome | None:
    """The recorded outcome of the same job from an earlier, interrupted run, if its copy is intact."""
    try:
        outcome = ConversionOutcome.model_validate_json(_record_path(job).read_bytes())
    except (OSError, ValueError, ValidationError):
        return None
    result = outcome.result
    if result is None or outcome.options != job.options or result.source_sha256 != job.source_sha256:
        return None
    if result.output is not None and (
        not result.output.is_file() or sha256_file(result.output)[0] != result.output_sha256
    ):
        return None
    return outcome


def received_format(source: Path) -> FormatId | None:
    """The format of a document that gets no archival copy, or None if even that cannot be told."""
    from noarkpipe.files.identify import identify  # fido's signatures: only for a document without a copy

    try:
        return identify(source)
    except (InputFileError, OSError):
        return None


def _failure(job: ConversionJob, exc: InputFileError | MissingDependencyError | ConfigError, kind: FailureKind):
    return ConversionOutcome(filename=job.filename, options=job.options, failure=str(exc), failure_kind=kind)


def _record_path(job: ConversionJob) -> Path:
    return job.target / f"{job.key}.json"


def _write_atomically(path: Path, text: str) -> None:
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".record-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
