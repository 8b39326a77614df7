"""arkivstruktur.xml from the model: whole trees in memory, or streamed.

Elements are written in model field declaration order, which is the XSD
sequence order (see arkivstruktur.py); this is the only place that turns
fields into elements, for both paths below.

Streaming. Each entity's content splits in three around its structural
children (`children_fields`): the fields before them, the children, the
fields after them. Most types have nothing after their children, but the XSD
extensions do: a saksmappe's saksaar ... referanseSekundaerKlassifikasjon
follow its registreringer, and a registrering's tittel, korrespondansepart
and (for a journalpost) journalaar ... journalenhet follow its
dokumentbeskrivelser. `stream_entity` therefore writes the leading fields
when entered and the trailing ones when left, so an exporter streams the
children in between and cannot put a field on the wrong side:

    with stream_arkivstruktur(path, arkiv) as xf:
        with stream_entity(xf, arkivdel):
            with stream_entity(xf, klassifikasjonssystem):
                with stream_entity(xf, klasse):
                    for saksmappe in cases_of(klasse):   # one at a time
                        write_entity(xf, saksmappe)

The streamed file is not indented; its canonical form equals the in-memory one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from functools import cache
from typing import IO

from lxml import etree

from noarkpipe.core.noark import Arkiv, NoarkModel
from noarkpipe.xml.schemas import assert_valid, noark5_schema, safe_parser

NAMESPACE = "http://www.arkivverket.no/standarder/noark5/arkivstruktur"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NSMAP = {None: NAMESPACE, "xsi": XSI}
ARKIVSTRUKTUR_SCHEMA = noark5_schema("arkivstruktur", "v5.0")


def _qname(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _start(entity: NoarkModel) -> tuple[str, dict[str, str]]:
    attrib = {f"{{{XSI}}}type": entity.xsi_type} if entity.xsi_type else {}
    return _qname(entity.tag), attrib


@cache
def field_layout(cls: type[NoarkModel]) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Field names before, of and after the structural children."""
    names = tuple(cls.model_fields)
    if not cls.children_fields:
        return names, (), ()
    start = names.index(cls.children_fields[0])
    end = start + len(cls.children_fields)
    if names[start:end] != cls.children_fields:
        raise TypeError(f"{cls.__name__}.children_fields must be consecutive fields")
    return names[:start], names[start:end], names[end:]


def _text(value: object) -> str:
    # date covers datetime: isoformat gives xs:date / xs:dateTime (with offset, as
    # the model only takes aware datetimes); str() of a code-list StrEnum is its Noark text.
    return value.isoformat() if isinstance(value, date) else str(value)


def _append(parent: etree._Element, entity: NoarkModel, names: Iterable[str]) -> None:
    for name in names:
        # model_construct() may leave required fields unset: write what is there
        # and let schema validation name what is missing.
        value = getattr(entity, name, None)
        for item in value if isinstance(value, list) else (value,):
            if isinstance(item, NoarkModel):
                _append(etree.SubElement(parent, *_start(item)), item, type(item).model_fields)
            elif item is not None:
                etree.SubElement(parent, _qname(name)).text = _text(item)


def _fields(entity: NoarkModel, names: Iterable[str]) -> list[etree._Element]:
    holder = etree.Element(*_start(entity), nsmap=NSMAP)
    _append(holder, entity, names)
    return list(holder)


def to_element(entity: NoarkModel, *, with_children: bool = True) -> etree._Element:
    """The entity as an element; without its structural children if asked."""
    before, children, after = field_layout(type(entity))
    element = etree.Element(*_start(entity), nsmap=NSMAP)
    _append(element, entity, before + children + after if with_children else before + after)
    return element


def open_tag_fields(entity: NoarkModel) -> list[etree._Element]:
    """The entity's own elements that precede its structural children."""
    return _fields(entity, field_layout(type(entity))[0])


def close_tag_fields(entity: NoarkModel) -> list[etree._Element]:
    """The entity's own elements that follow its structural children (see module doc)."""
    return _fields(entity, field_layout(type(entity))[2])


def _write(xf, element: etree._Element) -> None:
    # xf.write(element) would repeat the namespace declarations on every element;
    # xf.element() reuses those already open.
    with xf.element(element.tag, element.attrib):
        if element.text:
            xf.write(element.text)
        for child in element:
            _write(xf, child)


@contextmanager
def _streamed(xf, entity: NoarkModel, nsmap: dict | None) -> Iterator[None]:
    tag, attrib = _start(entity)
    with xf.element(tag, attrib, nsmap=nsmap):
        for element in open_tag_fields(entity):
            _write(xf, element)
        yield
        for element in close_tag_fields(entity):
            _write(xf, element)


def stream_entity(xf, entity: NoarkModel):
    """Context manager on an `etree.xmlfile` writer: the entity's element, open for its children.

    The entity's own children lists are ignored; write the children inside the block.
    """
    return _streamed(xf, entity, None)


def write_entity(xf, entity: NoarkModel) -> None:
    """Write the entity with all its children to an `etree.xmlfile` writer."""
    _write(xf, to_element(entity))


@contextmanager
def stream_arkivstruktur(file: str | IO[bytes], arkiv: Arkiv) -> Iterator:
    """An arkivstruktur.xml writer with the root arkiv open; yields the xmlfile writer."""
    with etree.xmlfile(file, encoding="UTF-8") as xf:
        xf.write_declaration()
        with _streamed(xf, arkiv, NSMAP):
            yield xf


def arkivstruktur_tree(arkiv: Arkiv) -> etree._ElementTree:
    return etree.ElementTree(to_element(arkiv))


def arkivstruktur_bytes(arkiv: Arkiv) -> bytes:
    """arkivstruktur.xml: UTF-8 with an XML declaration, indented."""
    return etree.tostring(
        arkivstruktur_tree(arkiv), xml_declaration=True, encoding="UTF-8", pretty_print=True
    )


def validate_arkivstruktur(doc: Arkiv | etree._ElementTree | etree._Element) -> None:
    """Raise SchemaValidationError unless `doc` is valid against arkivstruktur.xsd v5.0.

    An Arkiv is checked as the bytes `arkivstruktur_bytes` writes, so the reported
    line numbers point into that file; a tree built in memory has no line numbers.
    """
    if isinstance(doc, Arkiv):
        doc = etree.fromstring(arkivstruktur_bytes(doc), safe_parser())
    assert_valid(doc, ARKIVSTRUKTUR_SCHEMA)
