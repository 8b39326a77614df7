"""The settings of the conversion to archival format: one validated object, passed whole."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from noarkpipe._exec import tesseract
from noarkpipe.errors import ConfigError
from noarkpipe.files.results import PdfaProfile


class ConversionOptions(BaseModel):
    """How archival copies are made. Meant to sit in the config file under [convert]."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pdfa_profile: PdfaProfile = Field(
        default="2b",
        description="PDF/A-2b is what Norwegian depots ask for; 1b for old viewers, 3b only by agreement",
    )
    ocr_languages: str = Field(
        default="nor+eng", description="tesseract languages joined by '+'; 'nor' is needed for æøå"
    )
    ocr_mode: Literal["skip", "redo"] = Field(
        default="skip",
        description="skip: OCR only pages without text; redo: also replace an earlier OCR layer",
    )
    timeout_s: float = Field(
        default=900,
        gt=0,
        description="per document, all steps together; a scanned page takes about 1-2 s on one core",
    )
    max_pages: int = Field(default=1000, ge=1, description="longer documents are refused, not converted")
    sandbox: Literal["bwrap", "off"] = Field(
        default="bwrap",
        description="bwrap: every converter runs with no network and writes only in the work area; "
        "off: unsafe, for machines without user namespaces",
    )

    @field_validator("ocr_languages")
    @classmethod
    def _languages(cls, value: str) -> str:
        try:
            tesseract.parse_languages(value)
        except ConfigError as exc:
            raise ValueError(exc.message) from exc
        return value

    @property
    def pdfa_part(self) -> int:
        return int(self.pdfa_profile[0])
