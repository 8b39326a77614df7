"""An item's documents into the document store, described for journaling.

The original of every document goes in as received; beside it its
archival copy, with the konvertering record of how it was made, or, for a
document that got none, the reason, which the journalpost carries to the
review queue. A copy is checked against the digest it was verified with
before it is stored (`check_copy`), so what is journaled is what passed.
"""

from __future__ import annotations

from pathlib import Path

from noarkpipe.convert import ConversionOutcome, ConversionResult, FormatId
from noarkpipe.convert.job import received_format
from noarkpipe.core.submission import SubmissionDocument
from noarkpipe.errors import InputFileError
from noarkpipe.journal.journaling import ArchivalVariant, KonverteringRecord, StoredDocument
from noarkpipe.run.converting import ItemDocument, conversion_of
from noarkpipe.run.execution import TaskOutcome
from noarkpipe.store.docstore import DocumentStore, StoreBatch, StoredBlob, sha256_file


def store_document(
    batch: StoreBatch, document: ItemDocument, outcome: TaskOutcome[ConversionOutcome], gap: str | None
) -> StoredDocument:
    """One document of an item: with its archival copy, or, given the `gap` that kept it from one, as received."""
    job = document.job
    if gap is None:
        return store_converted(batch, job.source, job.source_sha256, document.document, conversion_of(outcome))
    return _store_as_received(batch, document, outcome, gap)


def store_converted(
    documents: DocumentStore | StoreBatch,
    source: Path,
    source_sha256: str,
    document: SubmissionDocument,
    result: ConversionResult,
) -> StoredDocument:
    """The original and its archival copy into the document store, described for journaling.

    Also used by the review desk for a replacement the sender sent (`api.review_replace_part`).
    """
    original = documents.put_file(source, source_sha256)
    received_as = result.from_format
    if result.output is None:
        archival = _archival_variant(original, document.filename, result.to_format, None)
    else:
        copy = documents.put_file(result.output, result.output_sha256)
        name = f"{Path(document.filename).stem or 'dokument'}{result.output.suffix}"
        archival = _archival_variant(copy, name, result.to_format, _konvertering(result))
    return StoredDocument(
        document=document,
        blob=original,
        media_type=received_as.mime,
        format=_format_code(received_as),
        format_details=_format_details(received_as),
        archival=archival,
    )


def _store_as_received(
    batch: StoreBatch, document: ItemDocument, outcome: TaskOutcome[ConversionOutcome], gap: str
) -> StoredDocument:
    """A document without archival copy: the original alone, described as exactly as its bytes allow."""
    original = batch.put_file(document.job.source, document.job.source_sha256)
    received_as = outcome.value.received_format if outcome.value is not None else None
    received_as = received_as or received_format(document.job.source)
    return StoredDocument(
        document=document.document,
        blob=original,
        media_type=received_as.mime if received_as else document.document.media_type,
        format=_format_code(received_as) if received_as else document.document.media_type,
        format_details=_format_details(received_as) if received_as else None,
        archival=None,
        archival_gap=gap,
    )


def check_copy(document: ItemDocument, result: ConversionResult) -> None:
    """The copy in the archival folder must still be the one that was verified."""
    if result.output is None:
        return
    found, _ = sha256_file(result.output)
    if found != result.output_sha256:
        raise InputFileError(
            f"the archival copy of {document.document.filename} changed after it was verified "
            f"(SHA-256 {found}, verified as {result.output_sha256}); it is not used",
            hint="check the disk of the work area; then put the item back into the inbox to convert it again",
        )


def _format_code(fmt: FormatId) -> str:
    return fmt.puid or fmt.name


def _format_details(fmt: FormatId) -> str:
    return f"{fmt.name} {fmt.version}".strip()


def _archival_variant(blob: StoredBlob, filename: str, fmt: FormatId, konvertering: KonverteringRecord | None) -> ArchivalVariant:
    return ArchivalVariant(
        blob=blob,
        filename=filename,
        format=_format_code(fmt),
        format_details=_format_details(fmt),
        media_type=fmt.mime,
        konvertering=konvertering,
    )


def _konvertering(result: ConversionResult) -> KonverteringRecord:
    checks = ", ".join(f"{check.id} {check.outcome}" for check in result.verification.checks) if result.verification else ""
    comment = "; ".join(part for part in (result.reason, f"checks: {checks}" if checks else "", *result.warnings) if part)
    return KonverteringRecord(
        konvertertDato=result.finished,
        konvertertFraFormat=_format_code(result.from_format),
        konvertertTilFormat=_format_code(result.to_format),
        konverteringsverktoey=result.tool_version,
        konverteringskommentar=comment,
    )
