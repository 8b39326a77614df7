"""Checking the XML an export writes: against the official schema, as a stream, counting as it goes.

Every XML file of a package is validated before the package is finished.
lxml's iterparse with a schema validates while it reads (libxml2 checks
each event as it comes), and every element is cleared once read, so a
multi-gigabyte arkivstruktur.xml is checked in constant memory. The same
pass counts the elements, so the counts in arkivuttrekk.xml come from the
file actually written, not from what the writer believes it wrote.

A file that fails is reported with its schema problems; line numbers are
found by validating once more in memory when the file is small enough.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from lxml import etree

from ..errors import SchemaValidationError
from ..schemas import safe_parser, validation_problems, xml_schema

# The options of schemas.safe_parser(); iterparse takes them directly (it ignores a parser's schema).
_SAFE = {"resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": False}
_LOCATE_MAX_BYTES = 64 << 20
_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    """Text as XML 1.0 can carry it: characters it cannot hold (control characters) become spaces."""
    return _XML_ILLEGAL.sub(" ", text)


def validate_and_count(path: Path, schema: str) -> Counter:
    """Validate `path` against the shipped `schema` (e.g. 'noark5/v5.0/arkivstruktur.xsd') as a stream.

    Returns the number of elements by local name. Raises SchemaValidationError.
    """
    counts: Counter = Counter()
    try:
        for _, element in etree.iterparse(str(path), events=("end",), schema=xml_schema(schema), **_SAFE):
            counts[etree.QName(element).localname] += 1
            element.clear(keep_tail=True)
            parent = element.getparent()
            if parent is not None:
                while element.getprevious() is not None:
                    del parent[0]
    except etree.XMLSyntaxError as exc:
        raise SchemaValidationError(f"{schema} ({path.name})", _problems(path, schema, exc)) from None
    return counts


def _problems(path: Path, schema: str, error: etree.XMLSyntaxError) -> list[str]:
    if path.stat().st_size <= _LOCATE_MAX_BYTES:
        try:
            located = validation_problems(etree.parse(str(path), safe_parser()), schema)
        except etree.XMLSyntaxError as exc:
            return [f"line {exc.lineno}: {exc.msg}"]
        if located:
            return located
    return list(dict.fromkeys(f"line {e.line}: {e.message}" for e in error.error_log)) or [f"line ?: {error}"]
