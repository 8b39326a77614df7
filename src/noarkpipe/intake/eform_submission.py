"""One e-form as a `Submission`: its documents in order, sender, subject and body text.

The documents are always the form's PDF rendering (main document), the form
data as XML (the envelope as received, or one written for a JSON delivery),
then the attachments, with file names unique within the submission. A
national identity number may sit in the fields and the submitter; it is kept
in `form_data` and the data document, never in the party name or subject.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from noarkpipe.core.context import IntakeContext
from noarkpipe.core.submission import FORM_SUBMISSION_KEY, DocumentRole, Party, Source, Submission, SubmissionDocument
from noarkpipe.errors import InputFileError
from noarkpipe.files.safety import require_size, safe_filename
from noarkpipe.intake.eform_envelope import render_eskjema
from noarkpipe.intake.eform_fields import (
    NOT_XML,
    Address,
    Doc,
    EformMetadata,
    FormField,
    Submitter,
    without_identity_numbers,
)

DATA_FILENAME = "skjemadata.xml"
DATA_TITLE = "Skjemadata (XML)"
PDF_MAGIC = b"%PDF-"


def build_submission(
    metadata: EformMetadata,
    main: Doc,
    attachments: list[Doc],
    data_name: str,
    data: bytes | None,
    context: IntakeContext,
) -> Submission:
    """Documents in order (PDF rendering, form data XML, attachments) and everything else from the metadata.

    `data` is the envelope as received; None writes the e-skjema rendering of a JSON delivery.
    """
    what, limits = context.origin_name, context.limits
    if not main.content.startswith(PDF_MAGIC):
        raise InputFileError(
            f"{what}: the form's rendering '{main.filename}' is not a PDF (it starts with {main.content[:8]!r})",
            hint="the form service must deliver the form's PDF rendering",
        )
    if len(attachments) + 2 > limits.max_documents:
        raise InputFileError(
            f"{what}: {len(attachments) + 2} documents, more than the limit of {limits.max_documents}",
            hint="raise max_documents under [intake.limits] if such forms are expected",
        )
    for document in (main, *attachments):
        require_size(len(document.content), limits.max_document_bytes, f"{what}: '{document.filename}'")
    names = _UniqueNames()
    main_document = SubmissionDocument(
        filename=names.take(_with_suffix(main.filename, ".pdf"), "skjema.pdf"),
        media_type="application/pdf",
        content=main.content,
        role=DocumentRole.main,
        title=metadata.title,
    )
    data_filename = names.take(_with_suffix(data_name, ".xml"), DATA_FILENAME)
    attachment_documents = [
        SubmissionDocument(
            filename=(filename := names.take(document.filename, f"vedlegg-{number}")),
            media_type=document.media_type,
            content=document.content,
            role=DocumentRole.attachment,
            title=document.title or filename,
        )
        for number, document in enumerate(attachments, start=1)
    ]
    if data is None:
        data = render_eskjema(metadata, main_document, attachment_documents, what)
    data_document = SubmissionDocument(
        filename=data_filename,
        media_type="application/xml",
        content=data,
        role=DocumentRole.attachment,
        title=DATA_TITLE,
    )
    sender = _party(metadata.submitter)
    return Submission(
        source=Source.eform,
        origin_name=context.origin_name,
        sender=sender,
        subject=without_identity_numbers(f"{metadata.title} – {metadata.about or metadata.submitter.name}"),
        sent=metadata.submitted_at,
        received=context.received,
        body_text=_body_text(metadata, sender),
        message_id=metadata.submission_id,
        our_reference=metadata.case_reference,
        form_type=metadata.form_type,
        form_data=_form_data(metadata),
        documents=[main_document, data_document, *attachment_documents],
    )


def _with_suffix(name: str, suffix: str) -> str:
    """The file name with the extension its format has, so the depot's format identification agrees."""
    return name if name.lower().endswith(suffix) else f"{name}{suffix}"


class _UniqueNames:
    """File names unique within one submission, compared as a case-insensitive file system would."""

    def __init__(self) -> None:
        self._taken: set[str] = set()

    def take(self, name: str, fallback: str) -> str:
        candidate = NOT_XML.sub("_", safe_filename(name, fallback))
        stem, dot, suffix = candidate.rpartition(".")
        if not dot:
            stem, suffix = candidate, ""
        number = 1
        while candidate.casefold() in self._taken:
            number += 1
            candidate = f"{stem} ({number}){dot}{suffix}"
        self._taken.add(candidate.casefold())
        return candidate


def _party(submitter: Submitter) -> Party:
    address = submitter.address or Address()
    return Party(
        name=without_identity_numbers(submitter.name) or None,
        email=submitter.email,
        postal_address=address.street,
        postal_code=address.postal_code,
        city=address.city,
        organisasjonsnummer=submitter.organisasjonsnummer,
    )


def _form_data(metadata: EformMetadata) -> dict:
    data = _fields_dict(metadata.fields)
    data[FORM_SUBMISSION_KEY] = metadata.model_dump(
        mode="json", by_alias=True, exclude_none=True, include={"submission_id", "form_version", "submitter"}
    )
    return data


def _fields_dict(fields: list[FormField]) -> dict:
    """Name to value, a group to a dict; a name used more than once among siblings to a list."""
    repeated = {name for name, count in Counter(f.name for f in fields).items() if count > 1}
    data: dict[str, Any] = {}
    for field in fields:
        value = _fields_dict(field.fields) if field.fields is not None else field.value
        if field.name in repeated:
            data.setdefault(field.name, []).append(value)
        else:
            data[field.name] = value
    return data


def _body_text(metadata: EformMetadata, sender: Party) -> str:
    version = f", versjon {metadata.form_version}" if metadata.form_version else ""
    organisation = f", org.nr. {sender.organisasjonsnummer}" if sender.organisasjonsnummer else ""
    lines = [
        metadata.title,
        f"Skjematype: {metadata.form_type}{version}",
        f"Innsendings-ID: {metadata.submission_id}",
        f"Innsendt: {metadata.submitted_at.isoformat()}",
        f"Innsender: {sender.name or ''}{organisation}",
    ]
    if metadata.about:
        lines.append(f"Gjelder: {metadata.about}")
    if metadata.case_reference:
        lines.append(f"Saksreferanse: {metadata.case_reference}")
    lines.append("")
    _field_lines(metadata.fields, 0, lines)
    return "\n".join(lines) + "\n"


def _field_lines(fields: list[FormField], depth: int, lines: list[str]) -> None:
    indent = "  " * depth
    for field in fields:
        label = field.label or field.name
        if field.fields is not None:
            lines.append(f"{indent}{label}:")
            _field_lines(field.fields, depth + 1, lines)
        else:
            shown = _shown(field.value).replace("\n", "\n" + indent + "  ")
            lines.append(f"{indent}{label}: {shown}".rstrip())


def _shown(value: str | bool | float | None) -> str:
    if isinstance(value, bool):
        return "Ja" if value else "Nei"
    return "" if value is None else str(value)
