"""The e-skjema 1.0 XML envelope (`eskjema-1.0.xsd` next to this module): reading one, and writing one.

An envelope is parsed without DTDs, entities or network and validated
against the schema before any value is read; schema messages quote values,
so numbers that could be identity numbers are masked in them. A JSON
delivery gets an envelope written here (`render_eskjema`) as the archival
form data, its documents referenced by file name.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from lxml import etree
from pydantic.alias_generators import to_camel

from noarkpipe.core.submission import SubmissionDocument
from noarkpipe.errors import InputFileError
from noarkpipe.intake.eform_fields import (
    HINT,
    MAX_GROUP_DEPTH,
    DocRef,
    EformMetadata,
    FormField,
    Submitter,
    mask_numbers,
    validated_metadata,
)
from noarkpipe.xml.schemas import safe_parser

NAMESPACE = "urn:noarkpipe:eskjema:1.0"
ENVELOPE_TAG = f"{{{NAMESPACE}}}eskjema"
SCHEMA_PATH = Path(__file__).with_name("eskjema-1.0.xsd")


@dataclass(frozen=True)
class Envelope:
    metadata: EformMetadata
    rendering: DocRef
    attachments: list[DocRef]


def _q(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def is_envelope(head: bytes) -> bool:
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
    return [f"line {e.line}: {mask_numbers(e.message.replace('{' + NAMESPACE + '}', ''))}" for e in schema.error_log]


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
        raise InputFileError(f"{what}: not well-formed XML: {error}", hint=HINT) from None
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


def read_envelope(data: bytes, what: str) -> Envelope:
    root = _parse_xml(data, what)
    if root.tag != ENVELOPE_TAG:
        raise InputFileError(
            f"{what}: the root element is {root.tag}, not the e-skjema envelope {ENVELOPE_TAG}", hint=HINT
        )
    if problems := schema_problems(root):
        shown = "; ".join(problems[:5]) + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")
        raise InputFileError(f"{what}: not a valid e-skjema 1.0 envelope: {shown}", hint=HINT)
    raw = {
        name: _string(element)
        for name in ("formType", "formVersion", "title", "submissionId", "submittedAt", "caseReference", "about")
        if (element := root.find(_q(name))) is not None
    }
    raw["submitter"] = _submitter_from_xml(root.find(_q("submitter")))
    raw["fields"] = _fields_from_xml(root.find(_q("fields")), 0, what)
    metadata = validated_metadata(raw, what)
    rendering = _doc_ref_from_xml(root.find(_q("rendering")), "application/pdf", what)
    attachments = [
        _doc_ref_from_xml(element, element.get("mediaType"), what)
        for element in root.iterfind(f"{_q('attachments')}/{_q('attachment')}")
    ]
    return Envelope(metadata, rendering, attachments)


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
            f"{what}: line {parent.sourceline}: field groups nested deeper than {MAX_GROUP_DEPTH} levels", hint=HINT
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
        f"but the value '{mask_numbers(stripped[:40])}'",
        hint=HINT,
    )


def _doc_ref_from_xml(element: etree._Element, media_type: str, what: str) -> DocRef:
    filename, checksum = element.get("filename"), element.get("sha256")
    title = element.get("title")
    if (reference := element.find(_q("reference"))) is not None:
        return DocRef(filename, media_type, title, checksum, None, _string(reference))
    encoded = "".join(_string(element.find(_q("content"))).split())
    try:
        content = base64.b64decode(encoded, validate=True)
    except binascii.Error as error:
        raise InputFileError(f"{what}: the content of '{filename}' is not valid base64 ({error})", hint=HINT) from None
    return DocRef(filename, media_type, title, checksum, content, None)


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
            f"{what}: the form cannot be written as e-skjema 1.0 XML: " + "; ".join(problems[:5]), hint=HINT
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
