"""The one shape every intake source produces and the later stages consume."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from noarkpipe.core.arkivmelding import Arkivmelding

FORM_SUBMISSION_KEY = "_submission"
"""The key in `Submission.form_data` for what an e-form delivery says besides its fields (field names
start with a letter, so they never collide with it); screening reads the fields around it."""


class DocumentRole(StrEnum):
    main = "main"
    attachment = "attachment"


class Source(StrEnum):
    email = "email"
    eform = "eform"
    scan = "scan"
    fiks_arkiv = "fiks_arkiv"
    """An arkivmelding from a form service or specialist system (KS Fiks Arkiv)."""


class SubmissionDocument(BaseModel):
    """One file of a submission, as received (Produksjonsformat)."""

    filename: str = Field(description="safe file name: no folders, no control characters")
    media_type: str = Field(description="MIME type as declared or detected, e.g. 'application/pdf'")
    content: bytes
    role: DocumentRole
    title: str = Field(description="title for the dokumentbeskrivelse")
    archival_gap: str | None = Field(
        default=None,
        description="why intake already knows this document cannot get an archival copy (e.g. a scanned page "
        "that cannot be decoded): it is kept as received, not converted, and its journalpost goes to review",
    )
    rendered: SubmissionDocument | None = Field(
        default=None,
        description="the main document intake laid out of it (a forwarded e-mail: header block, text, list of its "
        "attachments, as e-post.txt or e-post.html): its archival copy is typeset from this, not from its bytes",
    )


class Party(BaseModel):
    """A correspondence party as far as the submission tells it."""

    name: str | None = None
    email: str | None = None
    postal_address: str | None = None
    postal_code: str | None = None
    city: str | None = None
    organisasjonsnummer: str | None = None


class Submission(BaseModel):
    source: Source
    origin_name: str = Field(description="name of the inbox file this came from")
    sender: Party | None = None
    recipients: list[Party] = Field(default_factory=list)
    subject: str = ""
    sent: datetime | None = Field(default=None, description="when the sender sent it (Date header)")
    received: datetime | None = Field(default=None, description="when it reached the post room")
    body_text: str = ""
    message_id: str | None = None
    refers_to_message_id: str | None = Field(
        default=None,
        description="Message-ID of the message this one is about: the undelivered message of a bounce, "
        "the read message of a receipt",
    )
    our_reference: str | None = Field(
        default=None, description='what the sender quotes as "Deres ref": our case or document number'
    )
    their_reference: str | None = Field(default=None, description='the sender\'s own reference ("Vår ref")')
    form_type: str | None = Field(default=None, description="e-form type id, e.g. 'byggesak-ett-trinn'")
    form_data: dict = Field(default_factory=dict)
    documents: list[SubmissionDocument] = Field(default_factory=list)
    arkivmelding: Arkivmelding | None = Field(
        default=None, description="what a KS Fiks Arkiv sender asked for: case, journalpost, parties, skjerming"
    )

    @property
    def main_document(self) -> SubmissionDocument | None:
        return next((d for d in self.documents if d.role is DocumentRole.main), None)
