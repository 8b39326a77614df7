"""The metadata and fields of one e-form, shared by the XML and JSON delivery shapes.

Form data is untrusted, so every value is checked here: text XML can hold,
shapes of numbers and addresses, and a field typed as a fødselsnummer must
hold a valid one (`core/identity.py`). `validated_metadata` turns the raw
metadata of either shape into an `EformMetadata` or an InputFileError; the
message never quotes a value, so no identity number reaches the logs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    FiniteFloat,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel

from noarkpipe.core.identity import find_written_numbers, is_identity_number
from noarkpipe.core.submission import DocumentRole
from noarkpipe.errors import InputFileError

MAX_GROUP_DEPTH = 10

HINT = "ask the form service to deliver the form again; docs/eskjema.md describes what noarkpipe takes in"

NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_compatible(value: str) -> str:
    if bad := NOT_XML.search(value):
        raise ValueError(f"contains the control character U+{ord(bad.group()):04X}, which XML cannot hold")
    return value


def _without_spaces(value: Any) -> Any:
    return value.replace(" ", "") if isinstance(value, str) else value


def _identity_number(value: Any) -> Any:
    # A field typed as a fødselsnummer must hold one (core/identity.py: D-, H- and synthetic
    # numbers count, however spaced). One with a wrong check digit or date is refused, so the
    # delivery goes to quarantine: kept, it would be a personal number screening cannot see.
    if not isinstance(value, str):
        return value
    if (number := is_identity_number(value)) is None:
        raise ValueError("is not a valid fødselsnummer or D-nummer (check digits or date do not fit)")
    return number


def _iso_text(value: Any) -> Any:
    # pydantic would read a bare number as seconds since 1970: a form service never means that.
    # (ValueError, not TypeError: only the former becomes a validation error.)
    if not isinstance(value, str):
        raise ValueError("must be a date and time as text, e.g. 2026-11-20T14:03:00+01:00")
    return value.strip()


FreeText = Annotated[str, AfterValidator(_xml_compatible)]
Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000), AfterValidator(_xml_compatible)
]
ShortText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(_xml_compatible)
]
FormTypeId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,99}$")]
FieldName = Annotated[str, StringConstraints(pattern=r"^[^\W\d_][\w.\-]{0,99}$")]
Fodselsnummer = Annotated[str, BeforeValidator(_identity_number)]
Organisasjonsnummer = Annotated[str, BeforeValidator(_without_spaces), StringConstraints(pattern=r"^\d{9}$")]
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]
MediaType = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+\-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+\-]*(\s*;.*)?$")
]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$", to_lower=True)]
MemberPath = Annotated[str, StringConstraints(min_length=1, max_length=500)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


class FormField(_Model):
    """A field with a value, or (with `fields`) a group of fields."""

    name: FieldName
    label: Text | None = None
    value: FreeText | bool | int | FiniteFloat | None = None
    fields: list[FormField] | None = None

    @model_validator(mode="after")
    def _value_or_fields(self) -> FormField:
        if self.fields is not None and self.value is not None:
            raise ValueError("has both a value and fields; a group has only fields")
        return self


class Address(_Model):
    street: Text | None = None
    postal_code: ShortText | None = None
    city: ShortText | None = None
    country: ShortText | None = None


class Submitter(_Model):
    type: Literal["person", "organisation"]
    name: Text
    fodselsnummer: Fodselsnummer | None = None
    organisasjonsnummer: Organisasjonsnummer | None = None
    contact_person: Text | None = None
    email: Email | None = None
    phone: ShortText | None = None
    address: Address | None = None

    @model_validator(mode="after")
    def _identifiers_fit_type(self) -> Submitter:
        if self.type == "person" and (self.organisasjonsnummer or self.contact_person):
            raise ValueError("a person has no organisasjonsnummer or contactPerson")
        if self.type == "organisation" and self.fodselsnummer:
            raise ValueError("an organisation has no fodselsnummer")
        return self


class DocumentEntry(_Model):
    """One file of a zip or pair delivery, as listed in its JSON."""

    filename: MemberPath
    media_type: MediaType
    role: DocumentRole
    title: Text | None = None
    sha256: Sha256 | None = None


class EformMetadata(_Model):
    """What `manifest.json` or `X.json` holds; the envelope says the same in XML."""

    form_type: FormTypeId
    form_version: ShortText | None = None
    title: Text
    submission_id: ShortText
    submitted_at: Annotated[AwareDatetime, BeforeValidator(_iso_text)]
    case_reference: ShortText | None = None
    about: Text | None = None
    submitter: Submitter
    fields: list[FormField]
    documents: list[DocumentEntry] = []


def validated_metadata(raw: dict, what: str) -> EformMetadata:
    try:
        return EformMetadata.model_validate(raw)
    except ValidationError as error:
        problems = [f"{_location(e['loc'])}: {e['msg'].removeprefix('Value error, ')}" for e in error.errors()[:8]]
        more = f" (and {error.error_count() - 8} more)" if error.error_count() > 8 else ""
        raise InputFileError(f"{what}: " + "; ".join(problems) + more, hint=HINT) from None


def _location(loc: tuple) -> str:
    text = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")
    return text or "(top level)"


@dataclass(frozen=True)
class DocRef:
    """A document as the delivery describes it: inline content or a path in the zip."""

    filename: str
    media_type: str
    title: str | None
    sha256: str | None
    content: bytes | None
    reference: str | None


@dataclass(frozen=True)
class Doc:
    filename: str
    media_type: str
    title: str | None
    content: bytes


# Any eleven digits written as an identity number would be (core/identity.py), valid check
# digits or not, are taken out of names and titles, because a miss leaks.
def without_identity_numbers(text: str) -> str:
    """Text for a name or title with every 11-digit number (fødselsnummer, D-number) taken out."""
    text = _cut(text, find_written_numbers(text))
    text = re.sub(r"\(\s*\)|\[\s*\]", "", text)
    text = re.sub(r"\s+([,;:])", r"\1", text)
    return re.sub(r"\s+", " ", text).strip(" ,;:–-")


def mask_numbers(text: str) -> str:
    """A schema message quotes the bad value: a mistyped fødselsnummer (10 or 11 digits) must not reach the logs."""
    return _cut(text, find_written_numbers(text, frozenset({10, 11})), "***********")


def _cut(text: str, spans: list[tuple[int, int, str]], mask: str = "") -> str:
    """The text with each span (overlapping ones merged) replaced by `mask`."""
    pieces: list[str] = []
    position = 0
    for start, end, _digits in sorted(spans):
        if end <= position:
            continue
        pieces += [text[position:max(start, position)], mask if start >= position else ""]
        position = end
    return "".join(pieces) + text[position:]
