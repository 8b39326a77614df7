"""The DIAS package metadata: METS, PREMIS, the submission description and info.xml.

What each file says follows the packages Arkade 5 makes (see
/docs/package-anatomy.md): the same agents, altRecordIDs, labels and file
inventory, written against the official schemas shipped in schemas/dias/.
Two METS documents share one header:

- dias-mets.xml, inside the tar, in the DIAS METS namespace
  (http://arkivverket.no/standarder/METS): every other file of the package
  with size, SHA-256, MIME type and creation time. It can list hundreds of
  thousands of files, so it is written with lxml's incremental writer from
  the inventory the tar writer kept on disk;
- the submission description <UUID>.xml beside the tar, in the LOC METS
  namespace (submissionDescription.xsd): the tar itself with its SHA-256, and
  the package's dias-mets.xml.

Agents whose notes have several values say which are given with a
"notescontent:" note, as Arkade does, so a missing phone number does not shift
an e-mail address into its place.

MIME types. dias-mets.xsd takes MIMETYPE from a DIAS value list of archival
types only (image/pdf, image/jpg, image/tiff, text/plain, application/xml,
audio/mp3, video/mpg, ...; even application/pdf is not on it). `dias_mime`
maps a file's real type to that list: PDF to image/pdf, JPEG to image/jpg,
other raster images to image/tiff, XML to application/xml, any text (also
e-mail and JSON) to text/plain. A type with no place on the list (an office
document that was never converted) is listed as text/plain too and counted
in the export's warnings; its real format is in documentfile-formatinfo.csv.

dias-premis.xml describes the package as one PREMIS object; log.xml holds the
PREMIS events of its making (creation, schema validation, checksums).
info.xml is the older submission description (info.xsd) some depots still ask for.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO

from lxml import etree

from noarkpipe.xml.streaming import xml_safe

METS_DIAS = "http://arkivverket.no/standarder/METS"
METS_LOC = "http://www.loc.gov/METS/"
PREMIS = "http://arkivverket.no/standarder/PREMIS"
INFO = "www.arkivverket.no/standarder/info"
XLINK = "http://www.w3.org/1999/xlink"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
PROFILE = "http://xml.ra.se/METS/RA_METS_eARD.xml"
EVENT_NAMESPACE = uuid.UUID("0f8d3c2e-6b1a-5f7e-9c44-6e6f61726b70")

DIAS_METS_SCHEMA = "dias/dias-mets.xsd"
DIAS_PREMIS_SCHEMA = "dias/dias-premis.xsd"
SUBMISSION_SCHEMA = "dias/submissionDescription.xsd"
INFO_SCHEMA = "dias/info.xsd"


@dataclass(frozen=True)
class Contact:
    name: str
    address: str | None = None
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class PackageFacts:
    """Everything the package metadata says about the delivery."""

    uuid: str
    created: datetime
    archivist: str
    contact: Contact | None
    depot: str
    agreement: str | None
    delivery: str
    system_name: str
    system_version: str
    start: date
    end: date

    @property
    def label(self) -> str:
        return f"{self.system_name} ({self.start.year} - {self.end.year})"

    @property
    def objid(self) -> str:
        return f"UUID:{self.uuid}"


@dataclass(frozen=True)
class PackageFile:
    """A file of the package: `path` relative to the package folder (or, for the tar, its name)."""

    path: str
    size: int
    sha256: str
    mime: str


_DIAS_MIME = {
    "application/pdf": "image/pdf",
    "image/pdf": "image/pdf",
    "image/jpeg": "image/jpg",
    "image/jpg": "image/jpg",
    "image/tiff": "image/tiff",
    "audio/mpeg": "audio/mp3",
    "audio/mp3": "audio/mp3",
    "video/mpeg": "video/mpg",
    "application/xml": "application/xml",
    "text/xml": "application/xml",
    "application/x-tar": "application/x-tar",
}
_TEXTUAL = ("text/", "message/", "application/json", "application/csv")


def dias_mime(mime: str | None) -> tuple[str, bool]:
    """The DIAS METS MIMETYPE for a file's MIME type, and whether the list had a place for it."""
    bare = (mime or "").split(";")[0].strip().lower()
    if bare in _DIAS_MIME:
        return _DIAS_MIME[bare], True
    if bare.endswith("+xml"):
        return "application/xml", True
    if bare.startswith("image/"):
        return "image/tiff", True
    if bare.startswith("audio/"):
        return "audio/mp3", True
    if bare.startswith("video/"):
        return "video/mpg", True
    if bare.startswith(_TEXTUAL) or bare.endswith("+json"):
        return "text/plain", True
    return "text/plain", False


class _Writer:
    """Qualified names in one METS namespace (dias-mets.xml and the submission description differ)."""

    def __init__(self, namespace: str) -> None:
        self.ns = namespace

    def q(self, name: str) -> str:
        return f"{{{self.ns}}}{name}"


def _agents(facts: PackageFacts) -> list[tuple[dict[str, str], str, list[str]]]:
    """(attributes, name, notes) for every METS agent, in Arkade's order."""
    contact = facts.contact
    person: list[tuple[dict, str, list[str]]] = []

    def with_person(attrib: dict[str, str]) -> list[tuple[dict, str, list[str]]]:
        organisation = [({**attrib, "TYPE": "ORGANIZATION"}, facts.archivist, [])]
        if contact is None:
            return organisation
        given = [("Address", contact.address), ("Telephone", contact.phone), ("Email", contact.email)]
        notes = [value for _, value in given if value]
        if notes:
            notes.append("notescontent:" + ",".join(label for label, value in given if value))
        return [*organisation, ({**attrib, "TYPE": "INDIVIDUAL"}, contact.name, notes)]

    person += with_person({"ROLE": "ARCHIVIST"})
    person += with_person({"ROLE": "OTHER", "OTHERROLE": "SUBMITTER"})
    person += with_person({"ROLE": "OTHER", "OTHERROLE": "PRODUCER"})
    person += [({"ROLE": "IPOWNER", "TYPE": "ORGANIZATION"}, facts.archivist, [])]
    person += [({"ROLE": "CREATOR", "TYPE": "ORGANIZATION"}, facts.archivist, [])]
    person += [
        (
            {"ROLE": "CREATOR", "TYPE": "OTHER", "OTHERTYPE": "SOFTWARE"},
            facts.system_name,
            [facts.system_version, "notescontent:Version"],
        ),
        ({"ROLE": "PRESERVATION", "TYPE": "ORGANIZATION"}, facts.depot, []),
        (
            {"ROLE": "ARCHIVIST", "TYPE": "OTHER", "OTHERTYPE": "SOFTWARE"},
            facts.system_name,
            [facts.system_version, "Noark5", "v5.0", "notescontent:Version,Type,TypeVersion"],
        ),
        (
            {"ROLE": "OTHER", "OTHERROLE": "PRODUCER", "TYPE": "OTHER", "OTHERTYPE": "SOFTWARE"},
            facts.system_name,
            [facts.system_version, "Noark5", "notescontent:Version,Type"],
        ),
    ]
    return person


def _alt_record_ids(facts: PackageFacts) -> list[tuple[str, str]]:
    ids = [("DELIVERYSPECIFICATION", facts.delivery)]
    if facts.agreement:
        ids.append(("SUBMISSIONAGREEMENT", facts.agreement))
    ids += [
        ("DELIVERYTYPE", "Sak-/Arkivsystem"),
        ("STARTDATE", facts.start.isoformat()),
        ("ENDDATE", facts.end.isoformat()),
    ]
    return ids


def _write_header(xf, w: _Writer, facts: PackageFacts, *, document_id: str | None) -> None:
    with xf.element(w.q("metsHdr"), {"CREATEDATE": facts.created.isoformat(), "RECORDSTATUS": "NEW"}):
        for attrib, name, notes in _agents(facts):
            with xf.element(w.q("agent"), attrib):
                with xf.element(w.q("name")):
                    xf.write(xml_safe(name))
                for note in notes:
                    with xf.element(w.q("note")):
                        xf.write(xml_safe(note))
        for kind, value in _alt_record_ids(facts):
            with xf.element(w.q("altRecordID"), {"TYPE": kind}):
                xf.write(xml_safe(value))
        if document_id:
            with xf.element(w.q("metsDocumentID")):
                xf.write(document_id)


def _write_files(xf, w: _Writer, facts: PackageFacts, files: Iterable[PackageFile]) -> int:
    count = 0
    with xf.element(w.q("fileSec")), xf.element(w.q("fileGrp"), {"ID": "fileGroup001", "USE": "FILES"}):
        xf.write("\n")
        for count, entry in enumerate(files, start=1):
            attrib = {
                "ID": f"fileId_{count}",
                "MIMETYPE": entry.mime,
                "SIZE": str(entry.size),
                "CREATED": facts.created.isoformat(),
                "CHECKSUM": entry.sha256,
                "CHECKSUMTYPE": "SHA-256",
                "USE": "Datafile",
            }
            location = {"LOCTYPE": "URL", f"{{{XLINK}}}type": "simple", f"{{{XLINK}}}href": f"file:{entry.path}"}
            with xf.element(w.q("file"), attrib), xf.element(w.q("FLocat"), location):
                pass
            xf.write("\n")
    with xf.element(w.q("structMap")), xf.element(w.q("div")):
        pass
    return count


def _mets(handle: IO[bytes], namespace: str, schema_location: str, facts: PackageFacts, files, *, document_id):
    w = _Writer(namespace)
    nsmap = {"mets": namespace, "xlink": XLINK, "xsi": XSI}
    attrib = {
        "OBJID": facts.objid,
        "LABEL": facts.label,
        "TYPE": "SIP",
        "PROFILE": PROFILE,
        f"{{{XSI}}}schemaLocation": f"{namespace} {schema_location}",
    }
    with etree.xmlfile(handle, encoding="UTF-8") as xf:
        xf.write_declaration()
        with xf.element(w.q("mets"), attrib, nsmap=nsmap):
            xf.write("\n")
            _write_header(xf, w, facts, document_id=document_id)
            xf.write("\n")
            count = _write_files(xf, w, facts, files)
            xf.write("\n")
    return count


def write_dias_mets(handle: IO[bytes], facts: PackageFacts, files: Iterable[PackageFile]) -> int:
    """dias-mets.xml listing `files` (paths relative to the package folder); returns how many."""
    return _mets(handle, METS_DIAS, "dias-mets.xsd", facts, files, document_id="dias-mets.xml")


def submission_description(handle: IO[bytes], facts: PackageFacts, tar: PackageFile, mets: PackageFile) -> None:
    """<UUID>.xml: the tar (name, size, SHA-256) and its dias-mets.xml."""
    _mets(
        handle,
        METS_LOC,
        "https://schema.arkivverket.no/INFOFIL/latest/submissionDescription.xsd",
        facts,
        [tar, mets],
        document_id=None,
    )


# ---------------------------------------------------------------- PREMIS


def _p(name: str) -> str:
    return f"{{{PREMIS}}}{name}"


def _sub(parent, name: str, text: str | None = None):
    element = etree.SubElement(parent, _p(name))
    if text is not None:
        element.text = xml_safe(text)
    return element


def _premis_root() -> etree._Element:
    root = etree.Element(_p("premis"), {"version": "2.0"}, nsmap={"premis": PREMIS, "xsi": XSI})
    root.set(f"{{{XSI}}}schemaLocation", f"{PREMIS} dias-premis.xsd")
    return root


def _identifier(parent, kind: str, value: str) -> None:
    identifier = _sub(parent, f"{kind}Identifier")
    _sub(identifier, f"{kind}IdentifierType", "NO/RA")
    _sub(identifier, f"{kind}IdentifierValue", value)


def _package_object(root, facts: PackageFacts) -> None:
    obj = _sub(root, "object")
    obj.set(f"{{{XSI}}}type", "premis:representation")
    _identifier(obj, "object", facts.uuid)
    level = _sub(obj, "preservationLevel")
    _sub(level, "preservationLevelValue", "full")
    for kind, value in (
        ("label", facts.label),
        ("iptype", "SIP"),
        ("system", f"{facts.system_name} {facts.system_version} (Noark5 v5.0)"),
        ("archivist", facts.archivist),
    ):
        properties = _sub(obj, "significantProperties")
        _sub(properties, "significantPropertiesType", kind)
        _sub(properties, "significantPropertiesValue", value)
    _sub(obj, "originalName", f"{facts.uuid}.tar")


def dias_premis_bytes(facts: PackageFacts) -> bytes:
    root = _premis_root()
    _package_object(root, facts)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


@dataclass(frozen=True)
class Event:
    """A PREMIS event; dias-premis.xsd allows the eventTypes Creation, Ingestion, Migration,
    Adjustment, Deletion and Disposal, so checks made while creating are Creation events."""

    kind: str
    detail: str
    outcome: str


def log_bytes(facts: PackageFacts, events: Iterable[Event]) -> bytes:
    """log.xml: the package object and the PREMIS events of its making, all at the package's time."""
    root = _premis_root()
    _package_object(root, facts)
    agent = f"{facts.system_name} {facts.system_version}"
    for number, event in enumerate(events, start=1):
        element = _sub(root, "event")
        _identifier(element, "event", str(uuid.uuid5(EVENT_NAMESPACE, f"{facts.uuid}/{number}")))
        _sub(element, "eventType", event.kind)
        _sub(element, "eventDateTime", facts.created.isoformat())
        _sub(element, "eventDetail", event.detail)
        _sub(_sub(element, "eventOutcomeInformation"), "eventOutcome", event.outcome)
        linked = _sub(element, "linkingAgentIdentifier")
        _sub(linked, "linkingAgentIdentifierType", "NO/RA")
        _sub(linked, "linkingAgentIdentifierValue", agent)
        linked = _sub(element, "linkingObjectIdentifier")
        _sub(linked, "linkingObjectIdentifierType", "NO/RA")
        _sub(linked, "linkingObjectIdentifierValue", facts.uuid)
    agent_element = _sub(root, "agent")
    _identifier(agent_element, "agent", agent)
    _sub(agent_element, "agentName", facts.system_name)
    _sub(agent_element, "agentType", "software")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


# ---------------------------------------------------------------- info.xml


def info_xml_bytes(facts: PackageFacts, tar: PackageFile, conversions: str) -> bytes:
    """The older submission description (info.xsd): actor, extract type, system, the tar's checksum."""

    def q(name: str) -> str:
        return f"{{{INFO}}}{name}"

    root = etree.Element(q("info"), {"pakkeID": facts.uuid}, nsmap={None: INFO})
    aktor_type = etree.SubElement(etree.SubElement(root, q("aktor")), q("aktorType"))
    etree.SubElement(aktor_type, q("rolle"), {"navn": xml_safe(facts.archivist)})
    if facts.contact is not None:
        person = etree.SubElement(aktor_type, q("kontaktperson"), {"navn": xml_safe(facts.contact.name)})
        if facts.contact.phone:
            etree.SubElement(person, q("telefon")).text = xml_safe(facts.contact.phone)
        if facts.contact.email:
            etree.SubElement(person, q("ePost")).text = xml_safe(facts.contact.email)
    extract = etree.SubElement(root, q("uttrekk"))
    etree.SubElement(extract, q("type")).text = "Noark 5"
    etree.SubElement(extract, q("typeVersjon")).text = "5.0"
    system = etree.SubElement(root, q("system"))
    etree.SubElement(system, q("systemType")).text = "Noark 5"
    etree.SubElement(system, q("systemNavn")).text = facts.system_name
    etree.SubElement(system, q("versjon")).text = facts.system_version
    checksum = etree.SubElement(etree.SubElement(root, q("sjekksummer")), q("fil"), {"filnavn": tar.path})
    etree.SubElement(checksum, q("sjekksum")).text = tar.sha256
    etree.SubElement(checksum, q("algoritme")).text = "SHA256"
    integrity = etree.SubElement(root, q("integritetsInfo"))
    etree.SubElement(integrity, q("konverteringsHistorikk")).text = xml_safe(conversions)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
