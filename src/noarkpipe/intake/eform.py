"""E-forms (elektroniske skjema) delivered by a form service.

Three delivery shapes, each one submitted form and so one `Submission`:

- an XML envelope in the noarkpipe e-skjema 1.0 format (`eskjema-1.0.xsd`
  next to this module), documents inline as base64;
- a zip holding `manifest.json` (metadata, fields and a list of documents)
  and the documents, or holding an e-skjema envelope whose documents are
  references to its sibling files;
- a JSON file with the same metadata and fields plus the PDF next to it.

The documents are always: the form's PDF rendering (main document), the form
data as XML (an archival format: the envelope as received, or for JSON an
e-skjema envelope written here that references the documents by file name),
then the attachments. docs/eskjema.md describes the formats.

Form data is untrusted: XML is parsed without DTDs, entities or network and
validated against the schema; JSON must be UTF-8, an object, shallow and
valid against the models below; zips are read through `archive.read_zip`.
A national identity number may sit in the fields and the submitter; it is
kept in `form_data` and the data document, never in the party name or subject.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import mimetypes
import re
import zipfile
from collections import Counter
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from lxml import etree
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

from noarkpipe.errors import InputFileError
from noarkpipe.xml.schemas import safe_parser
from noarkpipe.intake import archive
from noarkpipe.core.context import IntakeContext, IntakeLimits
from noarkpipe.files.safety import require_size, safe_filename
from noarkpipe.core.submission import FORM_SUBMISSION_KEY, DocumentRole, Party, Source, Submission, SubmissionDocument

NAMESPACE = "urn:noarkpipe:eskjema:1.0"
ENVELOPE_TAG = f"{{{NAMESPACE}}}eskjema"
SCHEMA_PATH = Path(__file__).with_name("eskjema-1.0.xsd")
MANIFEST_NAME = "manifest.json"
DATA_FILENAME = "skjemadata.xml"
DATA_TITLE = "Skjemadata (XML)"
MAX_GROUP_DEPTH = 10
MAX_JSON_DEPTH = 32
SNIFF_BYTES = 64 * 1024
PDF_MAGIC = b"%PDF-"

_HINT = "ask the form service to deliver the form again; docs/eskjema.md describes what noarkpipe takes in"


# --- The metadata and fields of one form, shared by the XML and JSON shapes ---

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_compatible(value: str) -> str:
    if bad := _NOT_XML.search(value):
        raise ValueError(f"contains the control character U+{ord(bad.group()):04X}, which XML cannot hold")
    return value


def _without_spaces(value: Any) -> Any:
    return value.replace(" ", "") if isinstance(value, str) else value


def _iso_text(value: Any) -> Any:
    # pydantic would read a bare number as seconds since 1970: a form service never means that.
    # (ValueError, not TypeError: only the former becomes a validation error.)
    if not isinstance(value, str):
        raise ValueError("must be a date and time as text, e.g. 2026-11-20T14:03:00+01:00")  # noqa: TRY004
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
Fodselsnummer = Annotated[str, BeforeValidator(_without_spaces), StringConstraints(pattern=r"^\d{11}$")]
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


# --- Public entry points ---


def sniff_eform(path: Path) -> Literal["xml", "zip", "json"] | None:
    """Which e-form delivery a file is, judged by its content; None if none.

    Cheap and never raising: reads the start of an XML file, the directory of
    a zip, and a JSON file only when it starts with '{'.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except OSError:
        return None
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip" if _zip_is_eform(path) else None
    if head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"{"):
        return "json" if _json_is_eform(path) else None
    return "xml" if _is_envelope(head) else None


def parse_eform_xml(path: Path, context: IntakeContext) -> list[Submission]:
    """An e-skjema 1.0 envelope on its own: every document inline as base64."""
    data = _read_file(path, context)
    envelope = _read_envelope(data, context.origin_name)
    main = _resolve(envelope.rendering, None, context)
    attachments = [_resolve(ref, None, context) for ref in envelope.attachments]
    data_name = Path(context.origin_name).name
    return [_submission(envelope.metadata, main, attachments, data_name, data, context)]


def parse_eform_zip(path: Path, context: IntakeContext) -> list[Submission]:
    """A zip with `manifest.json`, or with one e-skjema envelope, and the documents.

    Every listed document must be in the zip and match its sha256 where one
    is given. Members nobody listed are not lost: they become attachments
    titled as not listed, after the listed ones.
    """
    what = context.origin_name
    with archive.unpacked(path, context) as unpacked:
        members = {member.name: member.content for member in unpacked}
    if MANIFEST_NAME in members:
        metadata = _metadata_from_json(members[MANIFEST_NAME], f"{what}: {MANIFEST_NAME}")
        rendering, listed = _listed_documents(metadata, f"{what}: {MANIFEST_NAME}")
        data_name, data = DATA_FILENAME, None
        used = {MANIFEST_NAME}
    else:
        data_name = _envelope_member(members, what)
        data = members[data_name]
        envelope = _read_envelope(data, f"{what}: {data_name}")
        metadata, rendering, listed = envelope.metadata, envelope.rendering, envelope.attachments
        used = {data_name}
    main = _resolve(rendering, members, context)
    attachments = [_resolve(ref, members, context) for ref in listed]
    used |= {ref.reference for ref in (rendering, *listed) if ref.reference}
    attachments += [
        _Doc(name, mimetypes.guess_type(name)[0] or "application/octet-stream", _unlisted_title(name), content)
        for name, content in members.items()
        if name not in used
    ]
    return [_submission(metadata, main, attachments, data_name, data, context)]


def parse_eform_pair(json_path: Path, pdf_path: Path, context: IntakeContext) -> list[Submission]:
    """`X.json` (metadata and fields) with the form's PDF rendering `X.pdf` beside it.

    The JSON may leave out `documents`; if it lists one, that is the PDF
    (its sha256 is checked). A pair carries no attachments: those come as a zip.
    """
    metadata = _metadata_from_json(_read_file(json_path, context), json_path.name)
    if any(entry.role is DocumentRole.attachment for entry in metadata.documents) or len(metadata.documents) > 1:
        raise InputFileError(
            f"{json_path.name}: lists documents besides the form's PDF, but a JSON + PDF pair carries only the PDF",
            hint="the form service must deliver forms with attachments as a zip",
        )
    checksum = metadata.documents[0].sha256 if metadata.documents else None
    pdf = _DocRef(pdf_path.name, "application/pdf", None, checksum, _read_file(pdf_path, context), None)
    main = _resolve(pdf, None, context)
    return [_submission(metadata, main, [], DATA_FILENAME, None, context)]


# --- Reading the deliveries ---


@dataclass(frozen=True)
class _DocRef:
    """A document as the delivery describes it: inline content or a path in the zip."""

    filename: str
    media_type: str
    title: str | None
    sha256: str | None
    content: bytes | None
    reference: str | None


@dataclass(frozen=True)
class _Doc:
    filename: str
    media_type: str
    title: str | None
    content: bytes


@dataclass(frozen=True)
class _Envelope:
    metadata: EformMetadata
    rendering: _DocRef
    attachments: list[_DocRef]


def _read_file(path: Path, context: IntakeContext) -> bytes:
    try:
        require_size(path.stat().st_size, context.limits.max_file_bytes, path.name)
        return path.read_bytes()
    except OSError as error:
        raise InputFileError(f"{path.name}: cannot be read ({error.strerror})") from error


def _metadata_from_json(data: bytes, what: str) -> EformMetadata:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputFileError(
            f"{what}: not valid UTF-8 (bad byte at offset {error.start})", hint="JSON deliveries must be UTF-8"
        ) from None
    try:
        value = json.loads(text, object_pairs_hook=_object_without_duplicates, parse_constant=_no_constants)
    except RecursionError:
        raise InputFileError(f"{what}: JSON nested deeper than {MAX_JSON_DEPTH} levels", hint=_HINT) from None
    except ValueError as error:
        raise InputFileError(f"{what}: not valid JSON: {error}", hint=_HINT) from None
    if not isinstance(value, dict):
        raise InputFileError(
            f"{what}: expected a JSON object with the form's metadata, found {_json_kind(value)}", hint=_HINT
        )
    if _json_depth(value) > MAX_JSON_DEPTH:
        raise InputFileError(f"{what}: JSON nested deeper than {MAX_JSON_DEPTH} levels", hint=_HINT)
    metadata = _validated(value, what)
    if _group_depth(metadata.fields) > MAX_GROUP_DEPTH:
        raise InputFileError(f"{what}: field groups nested deeper than {MAX_GROUP_DEPTH} levels", hint=_HINT)
    return metadata


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    keys = Counter(key for key, _ in pairs)
    if duplicated := [key for key, count in keys.items() if count > 1]:
        raise ValueError(f"the key '{duplicated[0]}' appears twice in one object")
    return dict(pairs)


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _json_kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")


def _json_depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_JSON_DEPTH:
            break
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def _group_depth(fields: list[FormField]) -> int:
    return max((1 + _group_depth(f.fields) for f in fields if f.fields is not None), default=0)


def _validated(raw: dict, what: str) -> EformMetadata:
    try:
        return EformMetadata.model_validate(raw)
    except ValidationError as error:
        problems = [f"{_location(e['loc'])}: {e['msg'].removeprefix('Value error, ')}" for e in error.errors()[:8]]
        more = f" (and {error.error_count() - 8} more)" if error.error_count() > 8 else ""
        raise InputFileError(f"{what}: " + "; ".join(problems) + more, hint=_HINT) from None


def _location(loc: tuple) -> str:
    text = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")
    return text or "(top level)"


def _listed_documents(metadata: EformMetadata, what: str) -> tuple[_DocRef, list[_DocRef]]:
    names = Counter(entry.filename for entry in metadata.documents)
    if twice := [name for name, count in names.items() if count > 1]:
        raise InputFileError(f"{what}: '{twice[0]}' is listed twice under documents", hint=_HINT)
    mains = [entry for entry in metadata.documents if entry.role is DocumentRole.main]
    if len(mains) != 1:
        raise InputFileError(
            f"{what}: documents must list exactly one document with role 'main' (the form's PDF), found {len(mains)}",
            hint=_HINT,
        )
    attachments = [entry for entry in metadata.documents if entry.role is DocumentRole.attachment]
    return _listed_ref(mains[0]), [_listed_ref(entry) for entry in attachments]


def _listed_ref(entry: DocumentEntry) -> _DocRef:
    return _DocRef(entry.filename, entry.media_type, entry.title, entry.sha256, None, entry.filename)


def _envelope_member(members: dict[str, bytes], what: str) -> str:
    envelopes = [
        name
        for name, content in members.items()
        if "/" not in name and name.lower().endswith(".xml") and _is_envelope(content[:SNIFF_BYTES])
    ]
    if len(envelopes) == 1:
        return envelopes[0]
    if envelopes:
        raise InputFileError(f"{what}: the zip holds {len(envelopes)} e-skjema envelopes; one form per zip", hint=_HINT)
    raise InputFileError(
        f"{what}: the zip holds neither {MANIFEST_NAME} nor an e-skjema envelope at its top level", hint=_HINT
    )


def _unlisted_title(name: str) -> str:
    return f"{_NOT_XML.sub('_', safe_filename(name, 'vedlegg'))} (ikke oppført i leveransen)"


def _resolve(ref: _DocRef, members: dict[str, bytes] | None, context: IntakeContext) -> _Doc:
    """The document's bytes, checked against its sha256; an inline zip goes through the archive checks."""
    what = context.origin_name
    if ref.content is not None:
        content = ref.content
        if archive.is_archive(content):
            with archive.unpacked(content, replace(context, origin_name=f"{what}: '{ref.filename}'")):
                pass  # only checked: the zip itself is the document
    elif members is None:
        raise InputFileError(
            f"{what}: '{ref.reference}' refers to a file beside the envelope, but the envelope came on its own",
            hint="deliver the envelope and its files in one zip, or put the documents inline",
        )
    elif ref.reference not in members:
        raise InputFileError(f"{what}: the listed document '{ref.reference}' is not in the zip", hint=_HINT)
    else:
        content = members[ref.reference]
    if ref.sha256 and hashlib.sha256(content).hexdigest() != ref.sha256.lower():
        raise InputFileError(
            f"{what}: '{ref.reference or ref.filename}' does not match its SHA-256 checksum; "
            "it was damaged or altered on the way",
            hint=_HINT,
        )
    return _Doc(ref.filename, ref.media_type, ref.title, content)


def _zip_is_eform(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zipped:
            for info in zipped.infolist():
                name = archive.member_name(info)
                if name == MANIFEST_NAME:
                    return True
                if "/" not in name and name.lower().endswith(".xml") and not info.flag_bits & 0x1:
                    with zipped.open(info) as stream:
                        if _is_envelope(stream.read(SNIFF_BYTES)):
                            return True
    except (*archive.ZIP_ERRORS, RuntimeError):
        return False
    return False


def _json_is_eform(path: Path) -> bool:
    try:
        if path.stat().st_size > IntakeLimits().max_file_bytes:
            return False
        value = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(value, dict) and {"formType", "fields"} <= value.keys()


# --- The XML envelope ---


def _q(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _is_envelope(head: bytes) -> bool:
    """Whether the first element is the envelope; a refused DOCTYPE still counts, so parsing can say why."""
    parser = etree.XMLPullParser(events=("start",), resolve_entities=False, no_network=True, load_dtd=False)
    try:
        parser.feed(head)
    except etree.XMLSyntaxError:
        pass
    for _event, element in parser.read_events():
        return element.tag == ENVELOPE_TAG
    return False


@lru_cache(maxsize=1)
def eskjema_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA_PATH), safe_parser()))


def schema_problems(root: etree._Element) -> list[str]:
    """Each way an element tree breaks e-skjema 1.0, as 'line N: message'; empty when valid."""
    schema = eskjema_schema()
    if schema.validate(root):
        return []
    return [f"line {e.line}: {_mask_ids(e.message.replace('{' + NAMESPACE + '}', ''))}" for e in schema.error_log]


def _parse_xml(data: bytes, what: str) -> etree._Element:
    try:
        root = etree.fromstring(data, safe_parser())
    except etree.XMLSyntaxError as error:
        if any(marker in data for marker in _DOCTYPE_MARKERS):
            raise _doctype_refused(what) from None
        if "Text node too long" in str(error):
            raise InputFileError(
                f"{what}: an inline document is too large to embed as base64 (about 7 MB each at most)",
                hint="deliver larger documents in a zip, with <reference> instead of <content>",
            ) from None
        raise InputFileError(f"{what}: not well-formed XML: {error}", hint=_HINT) from None
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None:
        raise _doctype_refused(what)
    return root


_DOCTYPE_MARKERS = tuple("<!DOCTYPE".encode(codec) for codec in ("ascii", "utf-16-le", "utf-16-be"))


def _doctype_refused(what: str) -> InputFileError:
    return InputFileError(
        f"{what}: the XML declares a DOCTYPE; DTDs and entities are refused, never resolved "
        "(they can read local files, reach the network or expand without bound)",
        hint="an e-skjema envelope has no DOCTYPE; ask the form service to leave it out",
    )


def _read_envelope(data: bytes, what: str) -> _Envelope:
    root = _parse_xml(data, what)
    if root.tag != ENVELOPE_TAG:
        raise InputFileError(
            f"{what}: the root element is {root.tag}, not the e-skjema envelope {ENVELOPE_TAG}", hint=_HINT
        )
    if problems := schema_problems(root):
        shown = "; ".join(problems[:5]) + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")
        raise InputFileError(f"{what}: not a valid e-skjema 1.0 envelope: {shown}", hint=_HINT)
    raw = {
        name: _string(element)
        for name in ("formType", "formVersion", "title", "submissionId", "submittedAt", "caseReference", "about")
        if (element := root.find(_q(name))) is not None
    }
    raw["submitter"] = _submitter_from_xml(root.find(_q("submitter")))
    raw["fields"] = _fields_from_xml(root.find(_q("fields")), 0, what)
    metadata = _validated(raw, what)
    rendering = _doc_ref_from_xml(root.find(_q("rendering")), "application/pdf", what)
    attachments = [
        _doc_ref_from_xml(element, element.get("mediaType"), what)
        for element in root.iterfind(f"{_q('attachments')}/{_q('attachment')}")
    ]
    return _Envelope(metadata, rendering, attachments)


def _elements(parent: etree._Element) -> list[etree._Element]:
    return [child for child in parent if isinstance(child.tag, str)]


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _string(element: etree._Element) -> str:
    return element.xpath("string()")


def _submitter_from_xml(submitter: etree._Element) -> dict:
    party = _elements(submitter)[0]
    raw: dict[str, Any] = {"type": _local(party)}
    for child in _elements(party):
        if _local(child) == "address":
            raw["address"] = {_local(line): _string(line) for line in _elements(child)}
        else:
            raw[_local(child)] = _string(child)
    return raw


def _fields_from_xml(parent: etree._Element, depth: int, what: str) -> list[dict]:
    if depth > MAX_GROUP_DEPTH:
        raise InputFileError(
            f"{what}: line {parent.sourceline}: field groups nested deeper than {MAX_GROUP_DEPTH} levels", hint=_HINT
        )
    fields = []
    for element in _elements(parent):
        field: dict[str, Any] = {"name": element.get("name")}
        if (label := element.get("label")) is not None:
            field["label"] = label
        if element.tag == _q("group"):
            field["fields"] = _fields_from_xml(element, depth + 1, what)
        else:
            field["value"] = _typed_value(element, what)
        fields.append(field)
    return fields


_JSON_NUMBER = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?")


def _typed_value(element: etree._Element, what: str) -> str | bool | int | float | None:
    text, kind = _string(element), element.get("type", "string")
    if kind == "string":
        return text
    stripped = text.strip()
    if kind == "null" and not stripped:
        return None
    if kind == "boolean" and stripped in ("true", "false", "1", "0"):
        return stripped in ("true", "1")
    if kind == "number" and (number := _JSON_NUMBER.fullmatch(stripped)):
        return int(stripped) if number.group(2) is None and number.group(3) is None else float(stripped)
    raise InputFileError(
        f"{what}: line {element.sourceline}: field '{element.get('name')}' has type {kind} "
        f"but the value '{_mask_ids(stripped[:40])}'",
        hint=_HINT,
    )


def _doc_ref_from_xml(element: etree._Element, media_type: str, what: str) -> _DocRef:
    filename, checksum = element.get("filename"), element.get("sha256")
    title = element.get("title")
    if (reference := element.find(_q("reference"))) is not None:
        return _DocRef(filename, media_type, title, checksum, None, _string(reference))
    encoded = "".join(_string(element.find(_q("content"))).split())
    try:
        content = base64.b64decode(encoded, validate=True)
    except binascii.Error as error:
        raise InputFileError(f"{what}: the content of '{filename}' is not valid base64 ({error})", hint=_HINT) from None
    return _DocRef(filename, media_type, title, checksum, content, None)


# --- The submission ---


def _submission(
    metadata: EformMetadata,
    main: _Doc,
    attachments: list[_Doc],
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
        subject=_without_national_ids(f"{metadata.title} – {metadata.about or metadata.submitter.name}"),
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
        candidate = _NOT_XML.sub("_", safe_filename(name, fallback))
        stem, dot, suffix = candidate.rpartition(".")
        if not dot:
            stem, suffix = candidate, ""
        number = 1
        while candidate.casefold() in self._taken:
            number += 1
            candidate = f"{stem} ({number}){dot}{suffix}"
        self._taken.add(candidate.casefold())
        return candidate


# Eleven digits, however grouped ("01019012345", "010190 12345", "01.01.90 123-45"): any such
# number is taken out of names and titles, valid check digits or not, because a miss leaks.
_ELEVEN_DIGITS = re.compile(r"(?<!\d)\d(?:[ .\-\u00a0]?\d){10}(?!\d)")


def _without_national_ids(text: str) -> str:
    """Text for a name or title with every 11-digit number (fødselsnummer, D-number) taken out."""
    text = _ELEVEN_DIGITS.sub("", text)
    text = re.sub(r"\(\s*\)|\[\s*\]", "", text)
    text = re.sub(r"\s+([,;:])", r"\1", text)
    return re.sub(r"\s+", " ", text).strip(" ,;:–-")


def _mask_ids(text: str) -> str:
    """A schema message quotes the bad value: a mistyped fødselsnummer must not reach the logs either."""
    return re.sub(r"(?<!\d)\d(?:[ .\-\u00a0]?\d){9,10}(?!\d)", "***********", text)


def _party(submitter: Submitter) -> Party:
    address = submitter.address or Address()
    return Party(
        name=_without_national_ids(submitter.name) or None,
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


# --- Writing the archival XML of a JSON delivery ---


def render_eskjema(
    metadata: EformMetadata,
    rendering: SubmissionDocument,
    attachments: list[SubmissionDocument],
    what: str,
) -> bytes:
    """The form as an e-skjema 1.0 envelope (UTF-8) whose documents are references by file name."""
    root = etree.Element(ENVELOPE_TAG, nsmap={None: NAMESPACE}, version="1.0")
    _add(root, "formType", metadata.form_type)
    _add(root, "formVersion", metadata.form_version)
    _add(root, "title", metadata.title)
    _add(root, "submissionId", metadata.submission_id)
    _add(root, "submittedAt", metadata.submitted_at.isoformat())
    _add(root, "caseReference", metadata.case_reference)
    _add(root, "about", metadata.about)
    _add_submitter(etree.SubElement(root, _q("submitter")), metadata.submitter)
    _add_fields(etree.SubElement(root, _q("fields")), metadata.fields)
    _add_reference(etree.SubElement(root, _q("rendering"), filename=rendering.filename), rendering)
    if attachments:
        listed = etree.SubElement(root, _q("attachments"))
        for document in attachments:
            attributes = {"filename": document.filename, "mediaType": document.media_type, "title": document.title}
            element = etree.SubElement(listed, _q("attachment"), attrib=attributes)
            _add_reference(element, document)
    data = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    if problems := schema_problems(etree.fromstring(data, safe_parser())):
        raise InputFileError(
            f"{what}: the form cannot be written as e-skjema 1.0 XML: " + "; ".join(problems[:5]), hint=_HINT
        )
    return data


def _add(parent: etree._Element, name: str, text: str | None) -> None:
    if text is not None:
        etree.SubElement(parent, _q(name)).text = text


def _add_submitter(parent: etree._Element, submitter: Submitter) -> None:
    party = etree.SubElement(parent, _q(submitter.type))
    _add(party, "name", submitter.name)
    if submitter.type == "person":
        _add(party, "fodselsnummer", submitter.fodselsnummer)
    else:
        _add(party, "organisasjonsnummer", submitter.organisasjonsnummer)
        _add(party, "contactPerson", submitter.contact_person)
    _add(party, "email", submitter.email)
    _add(party, "phone", submitter.phone)
    if submitter.address is not None:
        address = etree.SubElement(party, _q("address"))
        for name in ("street", "postal_code", "city", "country"):
            _add(address, to_camel(name), getattr(submitter.address, name))


def _add_fields(parent: etree._Element, fields: list[FormField]) -> None:
    for field in fields:
        element = etree.SubElement(parent, _q("group" if field.fields is not None else "field"), name=field.name)
        if field.label is not None:
            element.set("label", field.label)
        if field.fields is not None:
            _add_fields(element, field.fields)
        elif isinstance(field.value, str):
            element.text = field.value
        elif field.value is None:
            element.set("type", "null")
        else:
            element.set("type", "boolean" if isinstance(field.value, bool) else "number")
            element.text = json.dumps(field.value)


def _add_reference(element: etree._Element, document: SubmissionDocument) -> None:
    element.set("sha256", hashlib.sha256(document.content).hexdigest())
    etree.SubElement(element, _q("reference")).text = document.filename
