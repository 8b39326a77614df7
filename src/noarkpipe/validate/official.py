"""Is a schema in a package the official one? Its content decides, not its bytes.

Arkivverket distributes its schemas with CRLF line endings; copies that went
through git or an editor have LF, some carry a byte-order mark or lose the
final newline. All of these are the official schema (README of schemas/),
and a depot's tool that compares raw checksums only rejects valid extracts.
So a schema is recognised in two steps:

1. its SHA-256 against every known byte form of every shipped schema: the
   shipped bytes and the same text with the other line endings, with and
   without a BOM (computed once, at first use). This is the fast path and
   what almost every extract hits.
2. otherwise its content: the parsed schema in canonical XML (C14N 2.0,
   comments kept: a changed comment is a changed file), with whitespace
   around text stripped, against the same canonical form of each shipped
   schema. Equal content is official. When the content differs, the first
   element that differs is named with its path and line in the package's
   copy, so an auditor can open the file at that line.

Only schemas are treated this way; they are small (at most a few hundred kB).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

from lxml import etree

from noarkpipe.validate.messages import Message, msg
from noarkpipe.xml.schemas import read_manifest, safe_parser, schema_path

BOM = b"\xef\xbb\xbf"
_LINE_END_SPACE = re.compile(r"[ \t\r]+(?=\n)")


@dataclass(frozen=True)
class Recognised:
    relative: str
    """The shipped schema, e.g. 'noark5/v5.0/arkivstruktur.xsd'."""
    how: str
    """'bytes' (a known byte form) or 'content' (same canonical XML, other bytes)."""


def byte_forms(data: bytes) -> set[bytes]:
    """The byte forms an unchanged copy of `data` is found in: CRLF and LF, with and without a BOM."""
    plain = data.removeprefix(BOM)
    lf = plain.replace(b"\r\n", b"\n")
    crlf = lf.replace(b"\n", b"\r\n")
    return {form for text in (lf, crlf) for form in (text, BOM + text)}


def _parse(data: bytes) -> etree._Element | None:
    try:
        root = etree.fromstring(data, safe_parser())
    except etree.XMLSyntaxError:
        return None
    for node in root.iter():
        # text stays text, whatever an editor did at the ends of its lines (comments included)
        if node.text is not None:
            text = _LINE_END_SPACE.sub("", node.text)
            node.text = text if text.strip() or not isinstance(node.tag, str) else None
        if node.tail is not None:
            node.tail = _LINE_END_SPACE.sub("", node.tail) if node.tail.strip() else None
    return root


def canonical(data: bytes) -> bytes | None:
    """C14N 2.0 of the schema, whitespace around text stripped; None when it does not parse.

    C14N 2.0 rather than 1.0: 1.0 refuses relative namespace URIs, which DIAS's info.xsd has."""
    root = _parse(data)
    if root is None:
        return None
    return etree.canonicalize(root.getroottree(), with_comments=True, strip_text=True).encode("utf-8")


@lru_cache(maxsize=1)
def _known() -> tuple[dict[str, str], dict[str, str]]:
    """(sha256 of a byte form -> relative, sha256 of the canonical form -> relative), for every shipped XSD."""
    by_bytes: dict[str, str] = {}
    by_content: dict[str, str] = {}
    for relative in read_manifest():
        if not relative.endswith(".xsd"):
            continue
        data = schema_path(relative).read_bytes()
        for form in byte_forms(data):
            by_bytes.setdefault(hashlib.sha256(form).hexdigest(), relative)
        content = canonical(data)
        if content is not None:
            by_content.setdefault(hashlib.sha256(content).hexdigest(), relative)
    return by_bytes, by_content


def official_byte_checksums() -> dict[str, str]:
    """sha256 -> shipped schema, for every byte form an unchanged copy can have."""
    return dict(_known()[0])


def recognise(data: bytes, digest: str | None = None) -> Recognised | None:
    """Which shipped schema `data` is (by bytes, else by content); None when it is none of them."""
    by_bytes, by_content = _known()
    digest = digest or hashlib.sha256(data).hexdigest()
    if digest in by_bytes:
        return Recognised(by_bytes[digest], "bytes")
    content = canonical(data)
    if content is not None:
        relative = by_content.get(hashlib.sha256(content).hexdigest())
        if relative is not None:
            return Recognised(relative, "content")
    return None


def first_difference(data: bytes, relative: str) -> tuple[int | None, str, Message | str]:
    """(line in `data`, element path, what differs) at the first element whose content differs from the
    shipped `relative`; the line is None when the copy does not parse."""
    theirs = _parse(data)
    if theirs is None:
        return None, "", msg("is not well-formed XML")
    ours = _parse(schema_path(relative).read_bytes())
    return _compare(theirs, ours, "")


def _describe(element) -> str:
    if not isinstance(element.tag, str):
        return "comment" if element.tag is etree.Comment else "processing instruction"
    name = etree.QName(element).localname
    label = element.get("name")
    return f"{name}[@name='{label}']" if label else name


def _compare(theirs, ours, parent: str) -> tuple[int | None, str, Message | str]:
    """(line, element path, what differs) at the first difference; what is '' when there is none."""
    path = f"{parent}/{_describe(theirs)}"
    if theirs.tag != ours.tag:
        return theirs.sourceline, path, msg("is {theirs} here, {ours} in the official schema",
                                            theirs=_describe(theirs), ours=_describe(ours))
    if isinstance(theirs.tag, str) and dict(theirs.attrib) != dict(ours.attrib):
        keys = sorted(set(theirs.attrib) | set(ours.attrib))
        key = next(k for k in keys if theirs.get(k) != ours.get(k))
        return (theirs.sourceline, path,
                msg("attribute {name}={theirs!r} here, {ours!r} in the official schema",
                    name=etree.QName(key).localname, theirs=theirs.get(key), ours=ours.get(key)))
    if (theirs.text or "").strip() != (ours.text or "").strip():
        return theirs.sourceline, path, msg("its text differs from the official schema")
    mine, official = list(theirs), list(ours)
    for a, b in zip(mine, official):
        found = _compare(a, b, path)
        if found[2]:
            return found
        if (a.tail or "").strip() != (b.tail or "").strip():
            return a.sourceline, f"{path}/{_describe(a)}", msg("the text after it differs from the official schema")
    if len(mine) > len(official):
        extra = mine[len(official)]
        return extra.sourceline, f"{path}/{_describe(extra)}", msg("is not in the official schema")
    if len(mine) < len(official):
        gone = official[len(mine)]
        return (mine[-1].sourceline if mine else theirs.sourceline, path,
                msg("lacks {element} (line {line} of the official schema)", element=_describe(gone),
                    line=gone.sourceline))
    return None, "", ""
