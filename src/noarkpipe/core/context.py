"""What every intake source is given besides the file: limits and a scratch folder."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MB = 1024 * 1024


class IntakeLimits(BaseModel):
    """Bounds on what one inbox file may make noarkpipe read, unpack or render.

    Anything beyond them is quarantined with the limit named, never truncated.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_file_mb: int = Field(default=200, gt=0, description="largest inbox file taken in")
    max_document_mb: int = Field(default=100, gt=0, description="largest single document or attachment")
    max_documents: int = Field(default=200, gt=0, description="most documents in one submission")
    max_archive_members: int = Field(default=500, gt=0, description="most members in one zip delivery")
    max_unpacked_mb: int = Field(default=500, gt=0, description="most bytes unpacked from one file")
    max_compression_ratio: int = Field(default=100, gt=0, description="unpacked/packed size above which a member is a bomb")
    max_pages: int = Field(default=500, gt=0, description="most pages in one scan batch")
    max_nesting: int = Field(default=5, gt=0, description="deepest forwarded message or archive nesting")
    # Bounds on the reading itself (helper "isolation", issue 13): each item is read in a child
    # process that is stopped past these, whatever the parser does; PDF streams are measured
    # while they are inflated, before any library decodes them.
    max_parse_seconds: int = Field(default=300, gt=0, description="wall-clock time for reading one inbox file")
    max_parse_memory_mb: int = Field(default=2048, ge=1024, description="address space of the process reading one file")
    max_decompressed_mb: int = Field(default=256, gt=0, description="largest PDF stream once decompressed")
    # Bounds on e-mail headers (helper "mail", issue 13), measured on the raw text before the
    # stdlib parser reads a value (intake/email_guard.py): its cost grows faster than the header.
    max_header_kb: int = Field(default=128, gt=0, description="largest header block of an e-mail, a part or an attached message")
    max_headers: int = Field(default=500, gt=0, description="most fields in one header block")
    max_encoded_words: int = Field(default=2000, gt=0, description="most RFC 2047 encoded words in one header block")
    max_addresses: int = Field(default=1000, gt=0, description="most addresses in one address field (From, To, Cc, ...)")
    max_header_tokens: int = Field(
        default=20000, gt=0, description="most words and symbols in the parsed header fields of one e-mail"
    )

    @property
    def max_file_bytes(self) -> int:
        return self.max_file_mb * MB

    @property
    def max_document_bytes(self) -> int:
        return self.max_document_mb * MB

    @property
    def max_unpacked_bytes(self) -> int:
        return self.max_unpacked_mb * MB

    @property
    def max_decompressed_bytes(self) -> int:
        return self.max_decompressed_mb * MB


@dataclass(frozen=True)
class IntakeContext:
    origin_name: str
    """The inbox-relative name of the file, for titles and messages."""
    received: datetime
    """When the post room got it (aware); the claim time unless the source knows better."""
    scratch: Path
    """A private empty folder inside the data directory, removed after the item."""
    limits: IntakeLimits = IntakeLimits()  # noqa: RUF009 - frozen, so one shared default is safe
    ocr_languages: str = "nor+eng"
    sandbox: Literal["bwrap", "off"] = "bwrap"
    """[convert] sandbox, for the OCR of scanned mail (see _exec/sandbox.py)."""
