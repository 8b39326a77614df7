"""Which Noark 5 version (v5.0, v4.0, v3.1) an extract is, and which ADDML schema describes it.

All three versions use the same XML namespaces, so the namespace alone
does not tell them apart. The evidence, strongest first:

1. the schemas in the extract: arkivstruktur.xsd with the content of an
   official version's (official.py: any byte form, CRLF or LF, BOM or
   not, else the canonical XML decides), else its `version` attribute;
2. the ADDML description: info/type/version ("5.0", "v5.0", "3.1", ...);
3. the content: dokumentobjekt/systemID, part and arkivnotat exist only in
   v5.0, sakspart only before it.

Each source found is recorded as evidence in the report; sources that
disagree are listed as conflicts (a warning: an extract whose ADDML says
v4.0 but whose schemas are v5.0 was put together carelessly). The official
schema of the detected version is used for validation whatever schema the
extract carries.
"""

from __future__ import annotations

import re

from noarkpipe.validate.addml_reader import AddmlInfo
from noarkpipe.validate.model import DetectedVersion
from noarkpipe.validate.official import recognise
from noarkpipe.xml.schemas import NOARK5_VERSIONS, noark5_version_of

_VERSION_ATTRIBUTE = re.compile(rb"<(?:xs|xsd):schema\b[^>]*?\sversion=\"([^\"]+)\"", re.DOTALL)


def normalise(text: str) -> str | None:
    """'5.0', 'v5.0', 'V5.0', '5', 'Noark 5.0' -> 'v5.0'; None for what is not a known version."""
    match = re.search(r"(\d)\.(\d)", text or "")
    if not match:
        return None
    version = f"v{match.group(1)}.{match.group(2)}"
    return version if version in NOARK5_VERSIONS else None


def detect(
    arkivstruktur_xsd: bytes | None,
    addml_xsd: bytes | None,
    addml: AddmlInfo | None,
    arkivstruktur_head: bytes,
) -> DetectedVersion:
    votes: list[tuple[str, str]] = []
    if arkivstruktur_xsd is not None:
        known = recognise(arkivstruktur_xsd)
        official = known.relative if known else ""
        if official_version := noark5_version_of(official):
            votes.append((official_version, f"arkivstruktur.xsd in the extract is the official {official}"))
        else:
            match = _VERSION_ATTRIBUTE.search(arkivstruktur_xsd[:4096])
            version = normalise(match.group(1).decode("ascii", "replace")) if match else None
            if match and version:
                votes.append((version, f"arkivstruktur.xsd (altered) says version=\"{match.group(1).decode()}\""))
    if addml is not None and addml.noark_version:
        version = normalise(addml.noark_version)
        if version:
            votes.append((version, f"arkivuttrekk.xml states {addml.noark_type or 'Noark 5'} version {addml.noark_version}"))
    content = _content_version(arkivstruktur_head)
    if content:
        votes.append(content)
    if votes:
        noark = votes[0][0]
    else:
        noark = "v5.0"
        votes.append((noark, "nothing in the extract states a version: assumed v5.0, the current one"))
    conflicts = [f"{reason} ({version})" for version, reason in votes if version != noark
                 and not (reason.startswith("content:") and _compatible(version, noark))]
    addml_version = "8.3" if noark == "v5.0" else "8.2"
    if addml_xsd is not None:
        known = recognise(addml_xsd)
        official = known.relative if known else ""
        if official == "addml/addml-8.2.xsd":
            addml_version = "8.2"
        elif official == "addml/addml-8.3.xsd":
            addml_version = "8.3"
    evidence = [f"{'v4.0 or v3.1' if reason.startswith('content:') and version != 'v5.0' else version}: {reason}"
                for version, reason in votes]
    return DetectedVersion(noark=noark, addml=addml_version, evidence=evidence, conflicts=conflicts)


def _compatible(content_version: str, detected: str) -> bool:
    """Content can only tell v5.0 from 'before v5.0'; v4.0 and v3.1 look the same."""
    return content_version == detected or (content_version != "v5.0" and detected != "v5.0")


def _content_version(head: bytes) -> tuple[str, str] | None:
    if re.search(rb"<(?:\w+:)?dokumentobjekt>\s*<(?:\w+:)?systemID>", head) or re.search(
        rb"xsi:type=\"(?:\w+:)?arkivnotat\"|<(?:\w+:)?partRolle>", head
    ):
        return "v5.0", "content: elements that exist only in v5.0 (dokumentobjekt/systemID, part, arkivnotat)"
    if re.search(rb"<(?:\w+:)?dokumentobjekt>\s*<(?:\w+:)?versjonsnummer>|<(?:\w+:)?sakspart>", head):
        return "v4.0", "content: elements of the versions before v5.0 (dokumentobjekt without systemID, sakspart)"
    return None
