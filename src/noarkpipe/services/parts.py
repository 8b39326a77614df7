"""Review decisions that move files as well as rows: a document dropped to quarantine, or replaced.

The file work is ordered so the journal never points at what is not there:
a dropped original is copied to quarantine inside the transaction (a failed
copy rolls the drop back); a replacement's archival copy is made, verified
and stored before the transaction that attaches it.
"""

from __future__ import annotations

from pathlib import Path
from tempfile import TemporaryDirectory

from noarkpipe.clock import utcnow
from noarkpipe.config import Settings
from noarkpipe.convert import ConversionJob, convert_document
from noarkpipe.core.context import IntakeContext
from noarkpipe.core.submission import DocumentRole, SubmissionDocument
from noarkpipe.errors import ConfigError, InputFileError, MissingDependencyError
from noarkpipe.files.safety import safe_filename
from noarkpipe.intake.dispatch import looks_like_email
from noarkpipe.intake.email import with_forwarded_main
from noarkpipe.journal import review
from noarkpipe.run.converting import conversion_options
from noarkpipe.run.storing import store_converted
from noarkpipe.run.workarea import quarantine_copy
from noarkpipe.services.installation import Installation
from noarkpipe.store.docstore import DocumentStore, sha256_file


def drop_part(
    installation: Installation, kode: str, number: str, dokumentnummer: int, reason: str, by: str
) -> tuple[review.ReviewItem, Path]:
    settings = installation.settings
    creator = settings.creator(kode)
    with installation.store.write(by) as session:
        dropped = review.drop_part(session, kode, number, dokumentnummer, reason, by)
        original = DocumentStore(settings.documents_dir).path_for(dropped.sha256)
        kept = quarantine_copy(
            original, creator.quarantine, dropped.filename,
            f"dropped from journalpost {dropped.item.journalnummer} by {by}: {dropped.reason}",
            dropped.sha256, f"journalpost {dropped.item.journalnummer} ({dropped.item.registreringsID})",
        )
        return dropped.item, kept


def replace_part(
    installation: Installation, kode: str, number: str, dokumentnummer: int, path: Path, by: str
) -> review.ReviewItem:
    settings = installation.settings
    if not path.is_file():
        raise InputFileError(f"no such file: {path}", hint="give the path of the file the sender sent")
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    with TemporaryDirectory(dir=settings.work_dir, prefix=".replace-") as scratch:
        sha, _size = sha256_file(path)
        job = ConversionJob(
            source=path, source_sha256=sha, filename=path.name, email_body=False,
            target=Path(scratch) / "copy", scratch=Path(scratch) / "work", options=conversion_options(settings),
            rendered=_forwarded_main(path, Path(scratch), settings),
        )
        outcome = convert_document(job)
        if outcome.result is None:
            if outcome.failure_kind == "missing_dependency":
                raise MissingDependencyError(f"no archival copy of {path.name} could be made: {outcome.failure}")
            if outcome.failure_kind == "settings":
                raise ConfigError(f"no archival copy of {path.name} could be made: {outcome.failure}")
            raise review.ReviewError(
                f"the replacement {path.name} gets no archival copy either: {outcome.failure}",
                hint="ask the sender for the document in PDF or another format noarkpipe can convert",
            )
        document = SubmissionDocument(
            filename=safe_filename(path.name, "erstatning"), media_type=outcome.result.from_format.mime,
            content=b"", role=DocumentRole.attachment, title=path.stem,
        )
        stored = store_converted(DocumentStore(settings.documents_dir), path, sha, document, outcome.result)
    with installation.store.write(by) as session:
        return review.replace_part(session, kode, number, dokumentnummer, stored, by)


def _forwarded_main(path: Path, scratch: Path, settings: Settings) -> Path | None:
    """A replacement that is an e-mail (.eml) gets its copy from the main document the e-mail intake lays out.

    As in the nightly run (run/reading.py), within the [intake] limits; None for any other file.
    """
    with path.open("rb") as file:
        head = file.read(64 * 1024)
    if path.suffix.lower() != ".eml" and not looks_like_email(head):
        return None
    reading = scratch / "e-mail"
    reading.mkdir()
    context = IntakeContext(origin_name=path.name, received=utcnow(), scratch=reading, limits=settings.intake.limits)
    document = with_forwarded_main(
        SubmissionDocument(filename=path.name, media_type="message/rfc822", content=path.read_bytes(),
                           role=DocumentRole.attachment, title=path.stem),
        context,
    )
    if document.rendered is None:
        raise review.ReviewError(
            f"the replacement {path.name} cannot be read as an e-mail: {document.archival_gap}",
            hint="ask the sender for the letter again, or as PDF",
        )
    laid_out = scratch / document.rendered.filename
    laid_out.write_bytes(document.rendered.content)
    return laid_out
