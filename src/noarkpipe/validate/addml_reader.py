"""What an extract's ADDML description (arkivuttrekk.xml) says about it.

ADDML is generic: a Noark 5 extract describes itself in nested `property`
elements, the way Arkivverket's template and Arkade lay them out: the
Noark 5 version under info/type/version, the number of document files
under additionalInfo/antallDokumentfiler, and per XML file a dataObject
with its file name and checksum, its schemas with theirs, and the number
of occurrences of elements such as //mappe or //registrering. Systems
differ in details (SHA256 or SHA-256, upper- or lowercase digests, with
or without "v" before the version), so this reader is tolerant and leaves
the judging to the checks.

The file is small (a few kB; it describes the extract, not its records),
so it is read as a tree, with the same safe parser as everything else and
a size limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from noarkpipe.xml.schemas import safe_parser

MAX_ADDML_BYTES = 64 * 1024 * 1024


@dataclass
class DescribedFile:
    """A file an ADDML dataObject describes: name, checksum, and where it was stated."""

    name: str
    algorithm: str
    checksum: str
    line: int | None


@dataclass
class DescribedObject:
    name: str
    file: DescribedFile | None
    schemas: list[DescribedFile] = field(default_factory=list)
    occurrences: list[tuple[str, str, int | None, int | None]] = field(default_factory=list)
    """(element, elementPath, stated count (None if unreadable), line)."""
    line: int | None = None


@dataclass
class AddmlInfo:
    noark_type: str = ""
    noark_version: str = ""
    document_files: int | None = None
    document_files_line: int | None = None
    objects: list[DescribedObject] = field(default_factory=list)
    period: tuple[str, str] | None = None
    separation: tuple[str, str] | None = None
    """(inngaaendeSkille, utgaaendeSkille): 'skarpt'/'mykt' (some systems write 'skarp'/'myk')."""
    flags: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    """additionalInfo's yes/no statements (inneholderSkjermetInformasjon, ...) -> (value, line)."""

    @property
    def sharp(self) -> bool | None:
        """True when both period boundaries are sharp, False when one is soft, None when not stated."""
        if self.separation is None:
            return None
        return all(value.strip().lower().startswith("skarp") for value in self.separation)


def _local(element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _children(element, name: str) -> list:
    return [child for child in element if _local(child) == name]


def _properties(element) -> list:
    """The property elements directly under element/properties."""
    found = []
    for container in _children(element, "properties"):
        found.extend(_children(container, "property"))
    return found


def _value(element) -> str:
    for child in _children(element, "value"):
        return (child.text or "").strip()
    return ""


def _named(element, name: str) -> list:
    return [prop for prop in _properties(element) if prop.get("name") == name]


def _file(prop) -> DescribedFile:
    name = ""
    algorithm = checksum = ""
    for child in _properties(prop):
        key = child.get("name")
        if key == "name":
            name = _value(child)
        elif key == "checksum":
            for part in _properties(child):
                if part.get("name") == "algorithm":
                    algorithm = _value(part)
                elif part.get("name") == "value":
                    checksum = _value(part)
    return DescribedFile(name=name, algorithm=algorithm, checksum=checksum, line=prop.sourceline)


def _integer(text: str) -> int | None:
    try:
        return int(text.strip())
    except (ValueError, AttributeError):
        return None


def read_addml(data: bytes) -> AddmlInfo:
    """Parse arkivuttrekk.xml; raises etree.XMLSyntaxError when it is not well-formed."""
    root = etree.fromstring(data, safe_parser())
    info = AddmlInfo()
    for data_object in root.iter("{*}dataObject"):
        name = data_object.get("name", "")
        own_files = _named(data_object, "file")
        if not own_files:
            for prop in _named(data_object, "info"):
                for kind in _named(prop, "type"):
                    info.noark_type = _value(kind)
                    for version in _named(kind, "version"):
                        info.noark_version = _value(version)
                for extra in _named(prop, "additionalInfo"):
                    for count in _named(extra, "antallDokumentfiler"):
                        info.document_files = _integer(_value(count))
                        info.document_files_line = count.sourceline
                    for period in _named(extra, "periode"):
                        values = {child.get("name"): _value(child) for child in _properties(period)}
                        info.separation = (values.get("inngaaendeSkille", ""), values.get("utgaaendeSkille", ""))
                    for flag in _properties(extra):
                        if flag.get("dataType") == "boolean" or flag.get("name", "").startswith(
                                ("inneholder", "omfatter")):
                            info.flags[flag.get("name", "")] = (_value(flag).lower(), flag.sourceline)
            continue
        described = DescribedObject(name=name, file=_file(own_files[0]), line=data_object.sourceline)
        for schema in _named(data_object, "schema"):
            for schema_file in _named(schema, "file"):
                described.schemas.append(_file(schema_file))
        for prop in _named(data_object, "info"):
            for occurrence in _named(prop, "numberOfOccurrences"):
                element = _value(occurrence)
                path = ""
                count = None
                for part in _properties(occurrence):
                    if part.get("name") == "elementPath":
                        path = _value(part)
                    elif part.get("name") == "value":
                        count = _integer(_value(part))
                described.occurrences.append((element, path, count, occurrence.sourceline))
        info.objects.append(described)
    for period in root.iter("{*}additionalElement"):
        if period.get("name") == "archivalPeriod":
            start = end = ""
            for prop in _properties(period):
                if prop.get("name") == "startDate":
                    start = _value(prop)
                elif prop.get("name") == "endDate":
                    end = _value(prop)
            info.period = (start, end)
    return info
