"""winmail.dat (TNEF) streams for tests, written by the published specification [MS-OXTNEF].

tnefparse reads TNEF but cannot write it, and real winmail.dat files carry
real people's mail, so the tests build their own: a stream is the signature,
a key, then attributes (level, id, length, data, checksum); message
properties and attachment properties are MAPI property lists inside
attributes ([MS-OXTNEF] 2.1.3.4). Only what the tests need is covered.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

SIGNATURE = 0x223E9F78
LVL_MESSAGE, LVL_ATTACHMENT = 0x01, 0x02

# [MS-OXTNEF] 2.1.3.3: attribute ids (type in the high word, name in the low word).
ATT_TNEF_VERSION = 0x00089006
ATT_OEM_CODEPAGE = 0x00069007
ATT_MESSAGE_CLASS = 0x00078008
ATT_SUBJECT = 0x00018004
ATT_BODY = 0x0002800C
ATT_MSG_PROPS = 0x00069003
ATT_ATTACH_REND_DATA = 0x00069002
ATT_ATTACH_TITLE = 0x00018010
ATT_ATTACH_DATA = 0x0006800F
ATT_ATTACHMENT = 0x00069005

PT_STRING8, PT_UNICODE, PT_BINARY, PT_OBJECT = 0x001E, 0x001F, 0x0102, 0x000D
PR_BODY, PR_RTF_COMPRESSED, PR_HTML = 0x1000, 0x1009, 0x1013
PR_ATTACH_DATA_OBJ, PR_ATTACH_LONG_FILENAME, PR_ATTACH_MIME_TAG = 0x3701, 0x3707, 0x370E
IMESSAGE_GUID = b"\x07\x03\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"


@dataclass
class File:
    name: str
    data: bytes
    mime_tag: str | None = None
    short_name: bytes | None = None
    """The 8.3 name in the ANSI code page as Outlook writes it (attAttachTitle); default: `name` in cp1252."""


@dataclass
class Tnef:
    subject: str = "Tilbud på brøyting"
    body: str | None = "Hei,\r\n\r\nVedlagt er tilbudet.\r\n\r\nHilsen Per Ås"
    rtf_compressed: bytes | None = None
    html: bytes | None = None
    files: list[File] = field(default_factory=list)
    embedded: list[Tnef] = field(default_factory=list)
    codepage: int = 1252


def _attribute(level: int, attribute: int, data: bytes) -> bytes:
    checksum = sum(data) & 0xFFFF
    return struct.pack("<BII", level, attribute, len(data)) + data + struct.pack("<H", checksum)


def _padded(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _mapi_value(prop_type: int, prop_id: int, value: bytes) -> bytes:
    """One variable-length MAPI property: type, id, one value (count, size, padded bytes)."""
    return struct.pack("<HHII", prop_type, prop_id, 1, len(value)) + _padded(value)


def _mapi_list(values: list[bytes]) -> bytes:
    return struct.pack("<I", len(values)) + b"".join(values)


def tnef_stream(tnef: Tnef) -> bytes:
    """The bytes of a winmail.dat holding `tnef`."""
    codepage = f"cp{tnef.codepage}"
    out = struct.pack("<IH", SIGNATURE, 0x0001)
    out += _attribute(LVL_MESSAGE, ATT_TNEF_VERSION, struct.pack("<I", 0x00010000))
    out += _attribute(LVL_MESSAGE, ATT_OEM_CODEPAGE, struct.pack("<II", tnef.codepage, 0))
    out += _attribute(LVL_MESSAGE, ATT_MESSAGE_CLASS, b"IPM.Microsoft Mail.Note\0")
    out += _attribute(LVL_MESSAGE, ATT_SUBJECT, tnef.subject.encode(codepage) + b"\0")
    props = []
    if tnef.body is not None:
        props.append(_mapi_value(PT_STRING8, PR_BODY, tnef.body.encode(codepage) + b"\0"))
    if tnef.rtf_compressed is not None:
        props.append(_mapi_value(PT_BINARY, PR_RTF_COMPRESSED, tnef.rtf_compressed))
    if tnef.html is not None:
        props.append(_mapi_value(PT_BINARY, PR_HTML, tnef.html))
    if props:
        out += _attribute(LVL_MESSAGE, ATT_MSG_PROPS, _mapi_list(props))
    for file in tnef.files:
        out += _attribute(LVL_ATTACHMENT, ATT_ATTACH_REND_DATA, struct.pack("<HIIHI", 1, 0xFFFFFFFF, 0, 0, 0))
        short = file.short_name if file.short_name is not None else file.name.encode("cp1252", "replace")
        out += _attribute(LVL_ATTACHMENT, ATT_ATTACH_TITLE, short + b"\0")
        out += _attribute(LVL_ATTACHMENT, ATT_ATTACH_DATA, file.data)
        values = [_mapi_value(PT_UNICODE, PR_ATTACH_LONG_FILENAME, (file.name + "\0").encode("utf-16-le"))]
        if file.mime_tag:
            values.append(_mapi_value(PT_STRING8, PR_ATTACH_MIME_TAG, file.mime_tag.encode("ascii") + b"\0"))
        out += _attribute(LVL_ATTACHMENT, ATT_ATTACHMENT, _mapi_list(values))
    for inner in tnef.embedded:
        # An attached Outlook item: its own TNEF stream behind the IMessage GUID in PR_ATTACH_DATA_OBJ.
        out += _attribute(LVL_ATTACHMENT, ATT_ATTACH_REND_DATA, struct.pack("<HIIHI", 1, 0xFFFFFFFF, 0, 0, 0))
        value = _mapi_value(PT_OBJECT, PR_ATTACH_DATA_OBJ, IMESSAGE_GUID + tnef_stream(inner))
        out += _attribute(LVL_ATTACHMENT, ATT_ATTACHMENT, _mapi_list([value]))
    return out
