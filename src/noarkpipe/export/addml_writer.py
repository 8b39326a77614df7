"""arkivuttrekk.xml: the ADDML 8.3 description of a Noark 5 extract.

The structure follows the Noark 5 template Arkivverket publishes with its
ADDML profile (addml-standard, maler/noark5.xml), which is what Arkade 5
reads: one dataset; context (records creator, system, archive); content (the
archival period); one dataObject "Noark 5-arkivuttrekk" with the extract's
properties (Noark 5 version 5.0, sharp or soft period boundaries, whether
it holds screened information, the number of document files) and, inside it,
one dataObject per XML file with the file's name, format, SHA-256 checksum,
its schemas (each with its own checksum) and the number of occurrences of its
main elements.

Each file's checksum is given twice: as the template's `checksum` property
(with `algorithm` and `value`) that Arkade 5 reads, and as the flat
`checksumAlgorithm`/`checksumValue` properties of the older Noark 5 template
that depot scripts still look for. The ADDML profile allows extra properties.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from lxml import etree

from noarkpipe.xml.streaming import xml_safe

NS = "http://www.arkivverket.no/standarder/addml"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA = "addml/addml-8.3.xsd"


@dataclass(frozen=True)
class FileDigest:
    name: str
    sha256: str


@dataclass(frozen=True)
class XmlFileDescription:
    """One XML file of the extract: its digest, its schemas (main first) and element counts."""

    object_name: str
    file: FileDigest
    schemas: Sequence[FileDigest]
    occurrences: Mapping[str, int]


@dataclass(frozen=True)
class ExtractDescription:
    arkivskaper: str
    system_name: str
    arkiv: str
    start: date
    end: date
    inngaaende_skille: str
    utgaaende_skille: str
    skjermet: bool
    dokumentfiler: int
    files: Sequence[XmlFileDescription]


def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


def _element(parent, tag: str, **attrib):
    return etree.SubElement(parent, _q(tag), {k: v for k, v in attrib.items() if v is not None})


def _value(parent, text) -> None:
    _element(parent, "value").text = xml_safe(str(text))


def _property(properties, name: str, value=None, *, data_type: str | None = None):
    prop = _element(properties, "property", name=name, dataType=data_type)
    if value is not None:
        _value(prop, value)
    return prop


def _properties(parent):
    return _element(parent, "properties")


def _checksum(properties, sha256: str) -> None:
    checksum = _properties(_property(properties, "checksum"))
    _property(checksum, "algorithm", "SHA-256")
    _property(checksum, "value", sha256)
    _property(properties, "checksumAlgorithm", "SHA256")
    _property(properties, "checksumValue", sha256)


def _file(properties, digest: FileDigest) -> None:
    inner = _properties(_property(properties, "file"))
    _property(inner, "name", digest.name)
    version = _properties(_property(inner, "format", "XML"))
    _property(version, "version", "1.0")
    _checksum(inner, digest.sha256)


def _schema(properties, digest: FileDigest, *, main: bool) -> None:
    schema = _property(properties, "schema", "main" if main else None)
    inner = _properties(schema)
    _file(inner, digest)
    kind = _properties(_property(inner, "type", "XML Schema"))
    _property(kind, "version", "1.0")


def _data_object(parent, described: XmlFileDescription) -> None:
    properties = _properties(_element(parent, "dataObject", name=described.object_name))
    _file(properties, described.file)
    for index, schema in enumerate(described.schemas):
        _schema(properties, schema, main=index == 0)
    if described.occurrences:
        info = _properties(_property(properties, "info"))
        for element, count in described.occurrences.items():
            occurrence = _properties(_property(info, "numberOfOccurrences", element))
            _property(occurrence, "elementPath", f"//{element}")
            _property(occurrence, "value", count, data_type="integer")


def arkivuttrekk_bytes(extract: ExtractDescription) -> bytes:
    root = etree.Element(_q("addml"), {"name": "Noark 5-arkivuttrekk"}, nsmap={None: NS, "xsi": XSI})
    root.set(f"{{{XSI}}}schemaLocation", f"{NS} addml.xsd")
    dataset = _element(root, "dataset")
    _element(dataset, "description").text = "Noark 5-arkivuttrekk"
    reference = _element(dataset, "reference")

    context = _element(_element(reference, "context"), "additionalElements")
    creators = _element(_element(context, "additionalElement", name="recordCreators"), "additionalElements")
    _value(_element(creators, "additionalElement", name="recordCreator"), extract.arkivskaper)
    _value(_element(context, "additionalElement", name="systemType"), "Sakarkiv (Noark-5)")
    _value(_element(context, "additionalElement", name="systemName"), extract.system_name)
    _value(_element(context, "additionalElement", name="archive"), extract.arkiv)

    content = _element(_element(reference, "content"), "additionalElements")
    period = _properties(_element(content, "additionalElement", name="archivalPeriod"))
    _property(period, "startDate", extract.start.isoformat())
    _property(period, "endDate", extract.end.isoformat())

    extract_object = _element(_element(dataset, "dataObjects"), "dataObject", name="Noark 5-arkivuttrekk")
    info = _properties(_property(_properties(extract_object), "info"))
    version = _properties(_property(info, "type", "Noark 5"))
    _property(version, "version", "5.0")
    additional = _properties(_property(info, "additionalInfo"))
    boundaries = _properties(_property(additional, "periode"))
    _property(boundaries, "inngaaendeSkille", extract.inngaaende_skille)
    _property(boundaries, "utgaaendeSkille", extract.utgaaende_skille)
    _property(additional, "inneholderSkjermetInformasjon", str(extract.skjermet).lower(), data_type="boolean")
    _property(additional, "omfatterDokumenterSomErKassert", "false", data_type="boolean")
    _property(additional, "inneholderDokumenterSomSkalKasseres", "false", data_type="boolean")
    _property(additional, "inneholderVirksomhetsspesifikkeMetadata", "false", data_type="boolean")
    _property(additional, "antallDokumentfiler", extract.dokumentfiler, data_type="integer")
    files = _element(extract_object, "dataObjects")
    for described in extract.files:
        _data_object(files, described)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
