"""Outlook .msg files for tests, built from the published specifications.

extract-msg reads .msg files but cannot create them, and real Outlook files
carry real people's mail, so the tests build their own: `compound_file`
writes a version 3 compound file ([MS-CFB]) from a tree of storages and
streams, and `outlook_message` lays out a Message object as [MS-OXMSG]
describes it (property stream, one stream per variable-length property,
recipient and attachment storages, embedded messages as PT_OBJECT storages).

Only what the tests need is covered: at most 109 FAT sectors (about 7 MB),
no DIFAT sectors, no named properties.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime

# [MS-CFB] 2.1: special sector numbers and sizes of a version 3 file.
SECTOR = 512
MINI_SECTOR = 64
MINI_STREAM_CUTOFF = 4096
FATSECT = 0xFFFFFFFD
ENDOFCHAIN = 0xFFFFFFFE
FREESECT = 0xFFFFFFFF
NOSTREAM = 0xFFFFFFFF
SIGNATURE = bytes.fromhex("D0CF11E0A1B11AE1")
HEADER_DIFAT_SLOTS = 109

Tree = dict[str, "Tree | bytes"]
"""A storage: names mapping to sub-storages (dicts) or stream contents (bytes)."""


def _cfb_order(name: str) -> tuple[int, str]:
    # [MS-CFB] 2.6.4: shorter names first, then code point by code point upper-cased.
    return (len(name.encode("utf-16-le")), name.upper())


@dataclass
class _Entry:
    name: str
    kind: int  # 1 storage, 2 stream, 5 root
    data: bytes = b""
    left: int = NOSTREAM
    right: int = NOSTREAM
    child: int = NOSTREAM
    start: int = ENDOFCHAIN
    children: list[int] = field(default_factory=list)


def _flatten(tree: Tree) -> list[_Entry]:
    entries = [_Entry("Root Entry", 5)]

    def add(storage_index: int, storage: Tree) -> None:
        ids = []
        for name in sorted(storage, key=_cfb_order):
            if len(name) > 31:
                raise ValueError(f"compound-file names have at most 31 characters: {name!r}")
            value = storage[name]
            entries.append(_Entry(name, 1 if isinstance(value, dict) else 2,
                                  b"" if isinstance(value, dict) else bytes(value)))
            ids.append(len(entries) - 1)
            if isinstance(value, dict):
                add(ids[-1], value)
        entries[storage_index].child = _balanced(entries, ids)

    add(0, tree)
    return entries


def _balanced(entries: list[_Entry], ids: list[int]) -> int:
    """Link sorted siblings as a balanced binary tree; all nodes black is a valid red-black tree."""
    if not ids:
        return NOSTREAM
    middle = len(ids) // 2
    root = ids[middle]
    entries[root].left = _balanced(entries, ids[:middle])
    entries[root].right = _balanced(entries, ids[middle + 1:])
    return root


def _chain(fat: list[int], first: int, count: int) -> None:
    for offset in range(count):
        fat[first + offset] = first + offset + 1 if offset < count - 1 else ENDOFCHAIN


def _sectors(size: int, unit: int) -> int:
    return -(-size // unit)


def _pad(data: bytes, unit: int) -> bytes:
    return data + b"\0" * (-len(data) % unit)


def compound_file(tree: Tree) -> bytes:
    """A version 3 compound file holding `tree`, laid out FAT, directory, mini FAT, mini stream, big streams."""
    entries = _flatten(tree)
    streams = [e for e in entries if e.kind == 2]

    mini_stream = b""
    mini_fat: list[int] = []
    for entry in (e for e in streams if 0 < len(e.data) < MINI_STREAM_CUTOFF):
        entry.start = len(mini_stream) // MINI_SECTOR
        count = _sectors(len(entry.data), MINI_SECTOR)
        mini_fat.extend([FREESECT] * count)
        _chain(mini_fat, entry.start, count)
        mini_stream += _pad(entry.data, MINI_SECTOR)
    big = [e for e in streams if len(e.data) >= MINI_STREAM_CUTOFF]

    directory_count = _sectors(len(entries) * 128, SECTOR)
    mini_fat_count = _sectors(len(mini_fat) * 4, SECTOR)
    mini_stream_count = _sectors(len(mini_stream), SECTOR)
    data_count = directory_count + mini_fat_count + mini_stream_count + sum(
        _sectors(len(e.data), SECTOR) for e in big
    )
    fat_count = 1
    while fat_count * (SECTOR // 4) < fat_count + data_count:
        fat_count += 1
    if fat_count > HEADER_DIFAT_SLOTS:
        raise ValueError("this test writer has no DIFAT sectors: keep the file under about 7 MB")

    fat = [FREESECT] * (fat_count * SECTOR // 4)
    for index in range(fat_count):
        fat[index] = FATSECT
    next_sector = fat_count

    def allocate(count: int) -> int:
        nonlocal next_sector
        first = next_sector
        if count:
            _chain(fat, first, count)
        next_sector += count
        return first if count else ENDOFCHAIN

    directory_start = allocate(directory_count)
    mini_fat_start = allocate(mini_fat_count)
    entries[0].start = allocate(mini_stream_count)
    entries[0].data = mini_stream  # the root entry's size is the mini stream's size
    for entry in big:
        entry.start = allocate(_sectors(len(entry.data), SECTOR))

    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII",
        SIGNATURE, b"\0" * 16, 0x003E, 0x0003, 0xFFFE, 9, 6, b"\0" * 6,
        0,  # number of directory sectors: must be 0 in version 3
        fat_count, directory_start, 0, MINI_STREAM_CUTOFF,
        mini_fat_start if mini_fat_count else ENDOFCHAIN, mini_fat_count,
        ENDOFCHAIN, 0,
    )
    difat = list(range(fat_count)) + [FREESECT] * (HEADER_DIFAT_SLOTS - fat_count)
    header += struct.pack(f"<{HEADER_DIFAT_SLOTS}I", *difat)

    directory = b"".join(_directory_entry(e) for e in entries)
    body = (
        struct.pack(f"<{len(fat)}I", *fat)
        + _pad(directory, SECTOR)
        + _pad(struct.pack(f"<{len(mini_fat)}I", *mini_fat), SECTOR)
        + _pad(mini_stream, SECTOR)
        + b"".join(_pad(e.data, SECTOR) for e in big)
    )
    return header + body


def _directory_entry(entry: _Entry) -> bytes:
    name = entry.name.encode("utf-16-le") + b"\0\0"
    # Storages have no data; empty streams start at ENDOFCHAIN ([MS-CFB] 2.6.3).
    size, start = (0, 0) if entry.kind == 1 else (len(entry.data), entry.start)
    return struct.pack(
        "<64sHBBIII16sIQQIQ",
        name, len(name), entry.kind, 1, entry.left, entry.right, entry.child,
        b"\0" * 16, 0, 0, 0, start, size,
    )


# [MS-OXCDATA] 2.11.1 property types used here.
PT_LONG = 0x0003
PT_OBJECT = 0x000D
PT_STRING8 = 0x001E
PT_UNICODE = 0x001F
PT_SYSTIME = 0x0040
PT_BINARY = 0x0102

# Property ids ([MS-OXPROPS]).
PR_MESSAGE_CLASS = 0x001A
PR_SUBJECT = 0x0037
PR_CLIENT_SUBMIT_TIME = 0x0039
PR_TRANSPORT_MESSAGE_HEADERS = 0x007D
PR_SENDER_NAME = 0x0C1A
PR_SENDER_EMAIL_ADDRESS = 0x0C1F
PR_RECIPIENT_TYPE = 0x0C15
PR_DISPLAY_CC = 0x0E03
PR_DISPLAY_TO = 0x0E04
PR_MESSAGE_DELIVERY_TIME = 0x0E06
PR_MESSAGE_FLAGS = 0x0E07
PR_ATTACH_NUM = 0x0E21
PR_BODY = 0x1000
PR_RTF_COMPRESSED = 0x1009
PR_HTML = 0x1013
PR_INTERNET_MESSAGE_ID = 0x1035
PR_DISPLAY_NAME = 0x3001
PR_ADDRTYPE = 0x3002
PR_EMAIL_ADDRESS = 0x3003
PR_STORE_SUPPORT_MASK = 0x340D
PR_ATTACH_DATA = 0x3701
PR_ATTACH_EXTENSION = 0x3703
PR_ATTACH_FILENAME = 0x3704
PR_ATTACH_METHOD = 0x3705
PR_ATTACH_LONG_FILENAME = 0x3707
PR_ATTACH_MIME_TAG = 0x370E
PR_SMTP_ADDRESS = 0x39FE
PR_INTERNET_CPID = 0x3FDE
PR_MESSAGE_CODEPAGE = 0x3FFD
PR_SENDER_SMTP_ADDRESS = 0x5D01

STORE_UNICODE_OK = 0x00040000
MSGFLAG_READ = 0x1
AF_BY_VALUE = 1
AF_EMBEDDED_MESSAGE = 5
READABLE_WRITABLE = 0x6
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)


@dataclass
class Recipient:
    name: str
    email: str
    kind: int = 1  # 1 To, 2 Cc, 3 Bcc


@dataclass
class Attachment:
    filename: str
    data: bytes
    mime_type: str | None = None


@dataclass
class Message:
    """The parts of an Outlook e-mail the intake looks at; None leaves a property out."""

    subject: str | None = "Søknad om dispensasjon – gnr. 12 bnr. 7"
    body: str | None = "Hei,\r\n\r\nVedlagt følger søknaden.\r\n\r\nMed vennlig hilsen\r\nÅse Ødegård"
    html: bytes | None = None
    rtf_compressed: bytes | None = None
    sender_name: str | None = "Åse Ødegård"
    sender_email: str | None = "ase.odegard@example.no"
    recipients: list[Recipient] = field(
        default_factory=lambda: [Recipient("Postmottak Fjellvik kommune", "postmottak@fjellvik.kommune.no")]
    )
    sent: datetime | None = datetime(2026, 11, 20, 14, 3, tzinfo=UTC)
    message_id: str | None = "<20261120140300.4711@example.no>"
    transport_headers: str | None = None
    attachments: list[Attachment | Message] = field(default_factory=list)
    unicode: bool = True
    codepage: int = 1252


def _filetime(moment: datetime) -> int:
    delta = moment - _FILETIME_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


class _Properties:
    """Collects one object's properties into its property stream and value streams."""

    def __init__(self, unicode: bool, codepage: int) -> None:
        self.unicode, self.codepage = unicode, codepage
        self.entries: list[bytes] = []
        self.streams: Tree = {}

    def _entry(self, prop_id: int, prop_type: int, value: bytes) -> None:
        self.entries.append(struct.pack("<II", (prop_id << 16) | prop_type, READABLE_WRITABLE) + value)

    def long(self, prop_id: int, value: int) -> None:
        self._entry(prop_id, PT_LONG, struct.pack("<I4x", value))

    def time(self, prop_id: int, value: datetime) -> None:
        self._entry(prop_id, PT_SYSTIME, struct.pack("<Q", _filetime(value)))

    def string(self, prop_id: int, value: str | None) -> None:
        if value is None:
            return
        if self.unicode:
            data, prop_type, terminator = value.encode("utf-16-le"), PT_UNICODE, 2
        else:
            data, prop_type, terminator = value.encode(f"cp{self.codepage}"), PT_STRING8, 1
        self._stream(prop_id, prop_type, data, len(data) + terminator)

    def binary(self, prop_id: int, value: bytes | None) -> None:
        if value is not None:
            self._stream(prop_id, PT_BINARY, value, len(value))

    def object(self, prop_id: int, storage: Tree) -> None:
        self._entry(prop_id, PT_OBJECT, struct.pack("<II", 0xFFFFFFFF, 0))
        self.streams[f"__substg1.0_{prop_id:04X}{PT_OBJECT:04X}"] = storage

    def _stream(self, prop_id: int, prop_type: int, data: bytes, size: int) -> None:
        self._entry(prop_id, prop_type, struct.pack("<II", size, 0))
        self.streams[f"__substg1.0_{prop_id:04X}{prop_type:04X}"] = data

    def storage(self, header: bytes) -> Tree:
        return {"__properties_version1.0": header + b"".join(self.entries), **self.streams}


def _message_storage(message: Message, *, top_level: bool) -> Tree:
    props = _Properties(message.unicode, message.codepage)
    props.string(PR_MESSAGE_CLASS, "IPM.Note")
    props.string(PR_SUBJECT, message.subject)
    props.string(PR_BODY, message.body)
    props.binary(PR_HTML, message.html)
    props.binary(PR_RTF_COMPRESSED, message.rtf_compressed)
    props.string(PR_SENDER_NAME, message.sender_name)
    props.string(PR_SENDER_EMAIL_ADDRESS, message.sender_email)
    props.string(PR_SENDER_SMTP_ADDRESS, message.sender_email)
    props.string(PR_INTERNET_MESSAGE_ID, message.message_id)
    props.string(PR_TRANSPORT_MESSAGE_HEADERS, message.transport_headers)
    props.string(PR_DISPLAY_TO, "; ".join(r.name for r in message.recipients if r.kind == 1))
    props.string(PR_DISPLAY_CC, "; ".join(r.name for r in message.recipients if r.kind == 2) or None)
    props.long(PR_MESSAGE_FLAGS, MSGFLAG_READ)
    props.long(PR_STORE_SUPPORT_MASK, STORE_UNICODE_OK if message.unicode else 0)
    props.long(PR_MESSAGE_CODEPAGE, message.codepage)
    props.long(PR_INTERNET_CPID, message.codepage)
    if message.sent is not None:
        props.time(PR_CLIENT_SUBMIT_TIME, message.sent)
        props.time(PR_MESSAGE_DELIVERY_TIME, message.sent)

    storage = {}
    for number, recipient in enumerate(message.recipients):
        rprops = _Properties(message.unicode, message.codepage)
        rprops.long(PR_RECIPIENT_TYPE, recipient.kind)
        rprops.string(PR_DISPLAY_NAME, recipient.name)
        rprops.string(PR_ADDRTYPE, "SMTP")
        rprops.string(PR_EMAIL_ADDRESS, recipient.email)
        rprops.string(PR_SMTP_ADDRESS, recipient.email)
        storage[f"__recip_version1.0_#{number:08X}"] = rprops.storage(b"\0" * 8)
    for number, attachment in enumerate(message.attachments):
        aprops = _Properties(message.unicode, message.codepage)
        aprops.long(PR_ATTACH_NUM, number)
        if isinstance(attachment, Message):
            aprops.long(PR_ATTACH_METHOD, AF_EMBEDDED_MESSAGE)
            aprops.string(PR_DISPLAY_NAME, attachment.subject)
            aprops.object(PR_ATTACH_DATA, _message_storage(attachment, top_level=False))
        else:
            aprops.long(PR_ATTACH_METHOD, AF_BY_VALUE)
            aprops.string(PR_ATTACH_LONG_FILENAME, attachment.filename)
            aprops.string(PR_ATTACH_FILENAME, attachment.filename[-12:])
            aprops.string(PR_DISPLAY_NAME, attachment.filename)
            if "." in attachment.filename:
                aprops.string(PR_ATTACH_EXTENSION, "." + attachment.filename.rsplit(".", 1)[1])
            aprops.string(PR_ATTACH_MIME_TAG, attachment.mime_type)
            aprops.binary(PR_ATTACH_DATA, attachment.data)
        storage[f"__attach_version1.0_#{number:08X}"] = aprops.storage(b"\0" * 8)

    # [MS-OXMSG] 2.4.1: reserved, next recipient id, next attachment id, counts (+8 reserved at top level).
    counts = len(message.recipients), len(message.attachments)
    header = struct.pack("<8xIIII", counts[0], counts[1], *counts) + (b"\0" * 8 if top_level else b"")
    storage |= props.storage(header)
    if top_level:
        storage["__nameid_version1.0"] = {
            "__substg1.0_00020102": b"",
            "__substg1.0_00030102": b"",
            "__substg1.0_00040102": b"",
        }
    return storage


def outlook_message(message: Message) -> bytes:
    """The bytes of a .msg file holding `message`."""
    return compound_file(_message_storage(message, top_level=True))


MINIMAL_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
