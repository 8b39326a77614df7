"""A KS Fiks Arkiv message in the inbox: a zip or a folder holding `arkivmelding.xml` and the files it references.

This is the folder contract a Fiks IO client (or any integration) writes
into: one zip or one folder per message, written under a hidden name
('.'-prefixed) and renamed into the inbox when complete. A zip is unpacked with every safety check of
`intake/archive.py` (sizes, ratios, paths, nesting, encryption); the XML is
read and validated by `intake/arkivmelding.py`; here the message becomes the
one `Submission` every later stage reads: its documents in the order and
with the titles the message gives, the hoveddokument first, the sender and
subject for screening and search, and the `Arkivmelding` itself, which the
journaling follows (`journal/arkivmelding.py`).

The XML is not an archival document of its own: it is kept with the
original zip (Produksjonsformat of the item) in the document store, and what
it says is in the journalpost's metadata.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from noarkpipe.core.arkivmelding import Arkivmelding
from noarkpipe.core.context import IntakeContext
from noarkpipe.core.submission import DocumentRole, Party, Source, Submission, SubmissionDocument
from noarkpipe.errors import ArkivmeldingRefused, InputFileError
from noarkpipe.files.safety import open_regular, require_size
from noarkpipe.intake import archive
from noarkpipe.intake.arkivmelding import ARKIVMELDING_NAME, read_message
from noarkpipe.intake.attachment_names import typed_name


def is_fiks_message(path: Path) -> bool:
    """A message folder or zip whose top level holds arkivmelding.xml; cheap and never raising."""
    if path.is_dir() and not path.is_symlink():
        return (path / ARKIVMELDING_NAME).is_file()
    return is_fiks_zip(path)


def is_fiks_zip(path: Path) -> bool:
    """A zip whose top level holds arkivmelding.xml; cheap and never raising (reads the zip's directory only)."""
    try:
        with zipfile.ZipFile(path) as zipped:
            return any(archive.member_name(info) == ARKIVMELDING_NAME for info in zipped.infolist())
    except archive.ZIP_ERRORS:
        return False


def parse_fiks_zip(path: Path, context: IntakeContext) -> list[Submission]:
    """The message's one journalpost as a Submission; `ArkivmeldingRefused` when it cannot be taken as asked."""
    try:
        members = archive.read_zip(path, context)
    except InputFileError as exc:  # a zip bomb, a climbing path, an encrypted member: refused as the sender's fault
        raise ArkivmeldingRefused(exc.message, hint=exc.hint) from exc
    melding, files = read_message({member.name: member.content for member in members})
    return [submission_of(melding, files, context)]


def parse_fiks_folder(folder: Path, context: IntakeContext) -> list[Submission]:
    """A message folder, as the work area claimed it: regular files only (the claim checked), each within the limits."""
    limits, members, total = context.limits, {}, 0
    for path in sorted(folder.iterdir()):
        with open_regular(path) as handle:
            size = os.fstat(handle.fileno()).st_size
            require_size(size, limits.max_file_bytes, f"{context.origin_name}: '{path.name}'")
            total += size
            require_size(total, limits.max_file_bytes, f"{context.origin_name} (all its files)")
            members[path.name] = handle.read()
    melding, files = read_message(members)
    return [submission_of(melding, files, context)]


def submission_of(melding: Arkivmelding, files: dict[str, bytes], context: IntakeContext) -> Submission:
    """The Submission of a read arkivmelding; `files` holds each referenced file by its name in the message."""
    if len(melding.dokumenter) > context.limits.max_documents:
        raise ArkivmeldingRefused(
            f"{context.origin_name}: {len(melding.dokumenter)} documents, more than the limit of "
            f"{context.limits.max_documents}",
            melding_id=melding.melding_id,
            hint="raise max_documents under [intake.limits] if such messages are expected",
        )
    ordered = sorted(melding.dokumenter, key=lambda d: d.tilknyttet_registrering_som != "Hoveddokument")
    documents = []
    for number, dokument in enumerate(ordered, start=1):
        content = files[dokument.filnavn]
        media_type, filename = typed_name(content, None, dokument.filnavn, number)
        main = number == 1 and dokument.tilknyttet_registrering_som == "Hoveddokument"
        documents.append(
            SubmissionDocument(
                filename=filename,
                media_type=media_type,
                content=content,
                role=DocumentRole.main if main else DocumentRole.attachment,
                title=dokument.tittel,
            )
        )
    parties = melding.korrespondanseparter
    sender = next((p for p in parties if (p.korrespondanseparttype or "").upper() in ("EA", "AVSENDER")), None)
    return Submission(
        source=Source.fiks_arkiv,
        origin_name=context.origin_name,
        sender=Party(
            name=sender.navn, email=sender.epostadresse, postal_address=sender.postadresse,
            postal_code=sender.postnummer, city=sender.poststed, organisasjonsnummer=sender.organisasjonsnummer,
        ) if sender else None,
        subject=melding.tittel,
        sent=melding.sendt_dato,
        received=context.received,
        # What screening and search read besides the title: the case, the parties, the documents' titles.
        body_text="\n".join(
            filter(None, [melding.saksmappe.tittel, *(p.navn for p in parties), *(d.tittel for d in ordered)])
        ),
        # The journalpost keeps the meldingId where an e-mail's Message-ID goes: the answer to a
        # message delivered again is written from it.
        message_id=melding.melding_id,
        their_reference=f"{melding.ekstern_noekkel.fagsystem}:{melding.ekstern_noekkel.noekkel}",
        documents=documents,
        arkivmelding=melding,
    )
