"""Review decisions that move files as well as rows: a document dropped to quarantine, or replaced.

The file work is ordered so the journal never points at what is not there:
a dropped original is copied to quarantine inside the transaction (a failed
copy rolls the drop back); a replacement's archival copy is made, verified
and stored before the transaction that attaches it.
"""

from __future__ import annotations

from pathlib import Path
from tempfile import TemporaryDirectory

from noarkpipe.convert import ConversionJob, convert_document
from noarkpipe.core.submission import DocumentRole, SubmissionDocument
from noarkpipe.errors import ConfigError, InputFileError, MissingDependencyError
from noarkpipe.files.safety import safe_filename
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
