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
then the attachments. docs/eskjema.md describes the formats. The pieces:
`eform_fields.py` (the metadata and fields, validated), `eform_envelope.py`
(the XML envelope, read and written), `eform_submission.py` (the Submission);
this module reads the three delivery shapes.

Form data is untrusted: XML is parsed without DTDs, entities or network and
validated against the schema; JSON must be UTF-8, an object, shallow and
valid against the models in `eform_fields.py`; zips are read through `archive.read_zip`.
A national identity number may sit in the fields and the submitter; it is
kept in `form_data` and the data document, never in the party name or subject.
A submitter's `fodselsnummer` must be a valid one (check digits and date, as
`core/identity.py` judges it; spaces allowed): a delivery with a wrong one is
refused and goes to quarantine rather than keep a number screening cannot
recognise.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import zipfile
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from noarkpipe.core.context import IntakeContext, IntakeLimits
from noarkpipe.core.submission import DocumentRole, Submission
from noarkpipe.errors import InputFileError
from noarkpipe.files.safety import require_size, safe_filename
from noarkpipe.intake import archive
from noarkpipe.intake.eform_envelope import is_envelope, read_envelope
from noarkpipe.intake.eform_fields import (
    HINT,
    MAX_GROUP_DEPTH,
    NOT_XML,
    Doc,
    DocRef,
    DocumentEntry,
    EformMetadata,
    FormField,
    validated_metadata,
)
from noarkpipe.intake.eform_submission import DATA_FILENAME, build_submission

MANIFEST_NAME = "manifest.json"
MAX_JSON_DEPTH = 32
SNIFF_BYTES = 64 * 1024


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
    return "xml" if is_envelope(head) else None


def parse_eform_xml(path: Path, context: IntakeContext) -> list[Submission]:
    """An e-skjema 1.0 envelope on its own: every document inline as base64."""
    data = _read_file(path, context)
    envelope = read_envelope(data, context.origin_name)
    main = _resolve(envelope.rendering, None, context)
    attachments = [_resolve(ref, None, context) for ref in envelope.attachments]
    data_name = Path(context.origin_name).name
    return [build_submission(envelope.metadata, main, attachments, data_name, data, context)]


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
        envelope = read_envelope(data, f"{what}: {data_name}")
        metadata, rendering, listed = envelope.metadata, envelope.rendering, envelope.attachments
        used = {data_name}
    main = _resolve(rendering, members, context)
    attachments = [_resolve(ref, members, context) for ref in listed]
    used |= {ref.reference for ref in (rendering, *listed) if ref.reference}
    attachments += [
        Doc(name, mimetypes.guess_type(name)[0] or "application/octet-stream", _unlisted_title(name), content)
        for name, content in members.items()
        if name not in used
    ]
    return [build_submission(metadata, main, attachments, data_name, data, context)]


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
    pdf = DocRef(pdf_path.name, "application/pdf", None, checksum, _read_file(pdf_path, context), None)
    main = _resolve(pdf, None, context)
    return [build_submission(metadata, main, [], DATA_FILENAME, None, context)]


# --- Reading the deliveries ---


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
        raise InputFileError(f"{what}: JSON nested deeper than {MAX_JSON_DEPTH} levels", hint=HINT) from None
    except ValueError as error:
        raise InputFileError(f"{what}: not valid JSON: {error}", hint=HINT) from None
    if not isinstance(value, dict):
        raise InputFileError(
            f"{what}: expected a JSON object with the form's metadata, found {_json_kind(value)}", hint=HINT
        )
    if _json_depth(value) > MAX_JSON_DEPTH:
        raise InputFileError(f"{what}: JSON nested deeper than {MAX_JSON_DEPTH} levels", hint=HINT)
    metadata = validated_metadata(value, what)
    if _group_depth(metadata.fields) > MAX_GROUP_DEPTH:
        raise InputFileError(f"{what}: field groups nested deeper than {MAX_GROUP_DEPTH} levels", hint=HINT)
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


def _listed_documents(metadata: EformMetadata, what: str) -> tuple[DocRef, list[DocRef]]:
    names = Counter(entry.filename for entry in metadata.documents)
    if twice := [name for name, count in names.items() if count > 1]:
        raise InputFileError(f"{what}: '{twice[0]}' is listed twice under documents", hint=HINT)
    mains = [entry for entry in metadata.documents if entry.role is DocumentRole.main]
    if len(mains) != 1:
        raise InputFileError(
            f"{what}: documents must list exactly one document with role 'main' (the form's PDF), found {len(mains)}",
            hint=HINT,
        )
    attachments = [entry for entry in metadata.documents if entry.role is DocumentRole.attachment]
    return _listed_ref(mains[0]), [_listed_ref(entry) for entry in attachments]


def _listed_ref(entry: DocumentEntry) -> DocRef:
    return DocRef(entry.filename, entry.media_type, entry.title, entry.sha256, None, entry.filename)


def _envelope_member(members: dict[str, bytes], what: str) -> str:
    envelopes = [
        name
        for name, content in members.items()
        if "/" not in name and name.lower().endswith(".xml") and is_envelope(content[:SNIFF_BYTES])
    ]
    if len(envelopes) == 1:
        return envelopes[0]
    if envelopes:
        raise InputFileError(f"{what}: the zip holds {len(envelopes)} e-skjema envelopes; one form per zip", hint=HINT)
    raise InputFileError(
        f"{what}: the zip holds neither {MANIFEST_NAME} nor an e-skjema envelope at its top level", hint=HINT
    )


def _unlisted_title(name: str) -> str:
    return f"{NOT_XML.sub('_', safe_filename(name, 'vedlegg'))} (ikke oppført i leveransen)"


def _resolve(ref: DocRef, members: dict[str, bytes] | None, context: IntakeContext) -> Doc:
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
        raise InputFileError(f"{what}: the listed document '{ref.reference}' is not in the zip", hint=HINT)
    else:
        content = members[ref.reference]
    if ref.sha256 and hashlib.sha256(content).hexdigest() != ref.sha256.lower():
        raise InputFileError(
            f"{what}: '{ref.reference or ref.filename}' does not match its SHA-256 checksum; "
            "it was damaged or altered on the way",
            hint=HINT,
        )
    return Doc(ref.filename, ref.media_type, ref.title, content)


def _zip_is_eform(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zipped:
            for info in zipped.infolist():
                name = archive.member_name(info)
                if name == MANIFEST_NAME:
                    return True
                if "/" not in name and name.lower().endswith(".xml") and not info.flag_bits & 0x1:
                    with zipped.open(info) as stream:
                        if is_envelope(stream.read(SNIFF_BYTES)):
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
