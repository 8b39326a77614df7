"""Noark 5 entities as XML text, built as strings: the bytes lxml's incremental writer makes, several times faster.

arkivstruktur.xml is most of an export's XML (about 3.6 kB per
journalpost). Turning each model into lxml elements and then feeding them
one by one to `etree.xmlfile` cost a Python call per element and two per
value; here each value is one f-string. The output is byte for byte what
`model.xml.write_entity` writes through `etree.xmlfile` (a test keeps the
two in step): fields in model declaration order (the XSD sequence order),
nested entities with their `xsi:type`, text escaped as libxml2 escapes it
(`&`, `<`, `>` and carriage return), no indentation. Correctness stays with
the model (which checks every value when it is built) and with the schema
validation of the file as it is written (noarkpipe.xml.streaming.StreamCheck).
"""

from __future__ import annotations

from datetime import date
from functools import cache

from noarkpipe.core.noark import (
    NoarkModel,
)
from noarkpipe.xml.entity_xml import NAMESPACE, XSI, field_layout


def escape(text: str) -> str:
    """Text content as libxml2 serialises it."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    return text


@cache
def _start_tag(cls: type[NoarkModel]) -> str:
    return f'<{cls.tag} xsi:type="{cls.xsi_type}">' if cls.xsi_type else f"<{cls.tag}>"


def _fields(entity: NoarkModel, names: tuple[str, ...], out: list[str]) -> None:
    for name in names:
        value = getattr(entity, name, None)
        if value is None:
            continue
        for item in value if isinstance(value, list) else (value,):
            if isinstance(item, NoarkModel):
                cls = type(item)
                out.append(_start_tag(cls))
                _fields(item, tuple(cls.model_fields), out)
                out.append(f"</{cls.tag}>")
            elif item is not None:
                text = item.isoformat() if isinstance(item, date) else str(item)
                out.append(f"<{name}>{escape(text)}</{name}>")


def entity_text(entity: NoarkModel) -> str:
    """The whole entity with all it holds, as `write_entity` writes it."""
    cls = type(entity)
    out = [_start_tag(cls)]
    _fields(entity, tuple(cls.model_fields), out)
    out.append(f"</{cls.tag}>")
    return "".join(out)


def opening_text(entity: NoarkModel, *, root: bool = False) -> str:
    """The entity's start tag and the fields before its children (the root declares the namespaces)."""
    cls = type(entity)
    if root:
        xsi_type = f' xsi:type="{cls.xsi_type}"' if cls.xsi_type else ""
        out = [f'<{cls.tag} xmlns="{NAMESPACE}" xmlns:xsi="{XSI}"{xsi_type}>']
    else:
        out = [_start_tag(cls)]
    _fields(entity, field_layout(cls)[0], out)
    return "".join(out)


def closing_text(entity: NoarkModel) -> str:
    """The fields after the entity's children and its end tag."""
    cls = type(entity)
    out: list[str] = []
    _fields(entity, field_layout(cls)[2], out)
    out.append(f"</{cls.tag}>")
    return "".join(out)
