"""The hostile-input table of issue #13: every class an attacker (or a broken sender) can put in an inbox.

Each `Row` is one class: the file (or link, FIFO, socket) it puts in the
inbox, the outcome the nightly run must give it, and a pattern its reason
must match (the `[intake]` setting over whose limit it went, or the rule
word). `tests/test_hostile.py` drops every row into one inbox, runs one real
night over it and checks each row against the run's summary.

Everything is built in code, small. What must be big to be hostile is
built at test time in a temporary folder, streaming, never held whole: the
PDF whose content stream inflates to 1 GiB is written from a deflate block
repeated after full flushes, so it costs a fraction of a second.

Builders of classes other tests already cover are imported from those tests
(`test_intake_run.HOSTILE`, the zip and envelope builders of `test_eform`,
the PDF damage of `convertfactory`), so the night takes in the very bytes
their unit tests refuse.

Rows whose harness is not a single night (hostile tars for `validate`, two
runs at once, a SIGKILL and rerun) name the test that covers them instead;
`test_hostile.py` checks that those tests exist.
"""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from helpers import convertfactory
from test_eform import PDF as FORM_PDF
from test_eform import envelope, form, main_entry, patch_headers, zip_bytes
from test_intake_run import HOSTILE as RUN_HOSTILE

MiB = 1024 * 1024
OUTSIDE_MARKER = "UTENFOR-DATAKATALOGEN-7f3c"
"""Text in the files outside the data directory that symlinks point at: must never reach it."""
PASSWD = Path("/etc/passwd")

# Outcomes a row may expect.
ACCEPTED = "accepted"
"""Journaled (J, or M when no rule places it) with every document given its archival copy: no part flagged."""
REVIEW = "review"
"""Journaled and waiting in review (M) because of what it is: a part flagged, a stranger quoting a case."""
QUARANTINED = "quarantined"
DUPLICATE = "duplicate"
ELSEWHERE = "elsewhere"


@dataclass(frozen=True)
class Night:
    """What a row's builder may point at: the loopback listener, the outside folder, a case of the seed night."""

    inbox: Path
    outside: Path
    listener: str
    """http://127.0.0.1:PORT: every remote reference in a hostile document points here."""
    case: str = ""
    """A saksnummer journaled by the seed night (e.g. 2026/1), for the quoted-case row."""
    scratch: Path | None = None


Builder = Callable[[Path, Night], None]


@dataclass(frozen=True)
class Row:
    id: str
    issue: str
    """Where the issue names the class: "1".."8" (defects), "risk", "passes" (handled before), "ordinary"."""
    what: str
    name: str
    """The inbox file name (relative to the inbox)."""
    expect: str
    reason: str | None = None
    """A regular expression (case-insensitive) the quarantine reason or archival gap must match."""
    build: Builder | None = None
    covered_by: tuple[str, ...] = field(default=())
    """For ELSEWHERE rows: tests/test_x.py::test_name of the tests that cover the class."""


# --- Small building blocks ------------------------------------------------------------------------

WHEN = datetime(2026, 11, 30, 21, 14, tzinfo=UTC)


def email(subject: str, body: str = "Hei,\n\nse vedlegg.\n\nHilsen Kari Nordmann\n", *,
          sender: str = "Kari Nordmann <kari.nordmann@example.no>",
          attachments: list[tuple[str, bytes, str]] = (), html: str | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "postmottak@fjellvik.kommune.no"
    message["Subject"] = subject
    message["Date"] = format_datetime(WHEN)
    message["Message-ID"] = f"<{abs(hash((subject, body))):x}@example.no>"
    if html is not None:
        message.set_content(html, subtype="html")
    else:
        message.set_content(body)
    for filename, content, mime in attachments:
        maintype, subtype = mime.split("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


def raw_email(headers: bytes, body: bytes = b"Hei,\r\n\r\nkort melding.\r\n",
              content_type: bytes = b"text/plain; charset=utf-8") -> bytes:
    """An e-mail written byte by byte, for headers no well-behaved library would write."""
    return (
        b"From: Kari Nordmann <kari.nordmann@example.no>\r\nTo: postmottak@fjellvik.kommune.no\r\n"
        b"Date: Mon, 30 Nov 2026 21:14:00 +0000\r\nMIME-Version: 1.0\r\n"
        + headers + b"Content-Type: " + content_type + b"\r\n\r\n" + body
    )


def small_pdf(text: str = "Søknad") -> bytes:
    """A one-page text PDF (fpdf2, DejaVu embedded): real enough to get its archival copy."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.add_font("DejaVu", "", str(convertfactory.scanfactory.font_path()))
    pdf.add_page()
    pdf.set_font("DejaVu", "", 12)
    pdf.multi_cell(0, 7, text)
    return bytes(pdf.output())


def write(content: bytes) -> Builder:
    def build(path: Path, night: Night) -> None:
        path.write_bytes(content)
    return build


def write_with(make: Callable[[Night], bytes]) -> Builder:
    def build(path: Path, night: Night) -> None:
        path.write_bytes(make(night))
    return build


def stored_zip(members: list[tuple[str | zipfile.ZipInfo, bytes]], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in members:
            archive.writestr(name, content)
    return buffer.getvalue()


def manifest_delivery(members: list[tuple[str | zipfile.ZipInfo, bytes]], compression=zipfile.ZIP_DEFLATED) -> bytes:
    """A zip delivery as national form services send it: manifest.json first, then the documents."""
    manifest = json.dumps(form(documents=[main_entry()]), ensure_ascii=False).encode()
    return stored_zip([("manifest.json", manifest), *members], compression)


# --- Item 1: remote fetch during conversion --------------------------------------------------------

_DOCX_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
    "</Types>"
)
_DOCX_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="word/document.xml"/></Relationships>'
)


def docx_with_external_image(url: str) -> bytes:
    """A Word document whose only picture is a link (TargetMode="External"), as Word writes "Link to File"."""
    document = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" '
        'xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" '
        'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
        'xmlns:pic="http://schemas.openxmlformats.org/drawingml/2006/picture"><w:body>'
        "<w:p><w:r><w:t>Søknad om utslippstillatelse, kart over eiendommen nedenfor.</w:t></w:r></w:p>"
        '<w:p><w:r><w:drawing><wp:inline><wp:extent cx="914400" cy="914400"/><wp:docPr id="1" name="Kart"/>'
        '<a:graphic><a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/picture"><pic:pic>'
        '<pic:nvPicPr><pic:cNvPr id="1" name="kart.png"/><pic:cNvPicPr/></pic:nvPicPr>'
        '<pic:blipFill><a:blip r:link="rIdKart"/><a:stretch><a:fillRect/></a:stretch></pic:blipFill>'
        '<pic:spPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="914400" cy="914400"/></a:xfrm>'
        '<a:prstGeom prst="rect"><a:avLst/></a:prstGeom></pic:spPr></pic:pic></a:graphicData></a:graphic>'
        "</wp:inline></w:drawing></w:r></w:p></w:body></w:document>"
    )
    document_rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rIdKart" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/image" '
        f'Target="{url}/docx-kart.png" TargetMode="External"/></Relationships>'
    )
    return stored_zip([
        ("[Content_Types].xml", _DOCX_TYPES.encode()),
        ("_rels/.rels", _DOCX_RELS.encode()),
        ("word/document.xml", document.encode()),
        ("word/_rels/document.xml.rels", document_rels.encode()),
    ])


def odt_with_linked_image(url: str) -> bytes:
    """An OpenDocument text whose picture is an xlink to http (Insert > Image > Link in Writer)."""
    mimetype = zipfile.ZipInfo("mimetype")
    mimetype.compress_type = zipfile.ZIP_STORED
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
        'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" '
        'xmlns:xlink="http://www.w3.org/1999/xlink" office:version="1.2"><office:body><office:text>'
        "<text:p>Klage på byggesak, bilde av tomten nedenfor.</text:p>"
        '<text:p><draw:frame draw:name="Bilde" text:anchor-type="as-char" svg:width="3cm" svg:height="3cm">'
        f'<draw:image xlink:href="{url}/odt-tomt.png" xlink:type="simple" xlink:show="embed" xlink:actuate="onLoad"/>'
        "</draw:frame></text:p></office:text></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
        '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    return stored_zip([
        (mimetype, b"application/vnd.oasis.opendocument.text"),
        ("content.xml", content.encode()),
        ("META-INF/manifest.xml", manifest.encode()),
    ])


DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ODT = "application/vnd.oasis.opendocument.text"


# --- Items 2 and 3: links and special files in the inbox ------------------------------------------

def symlink_to(target: Callable[[Night], Path]) -> Builder:
    def build(path: Path, night: Night) -> None:
        path.symlink_to(target(night))
    return build


def outside_letter(night: Night) -> Path:
    """A well-formed e-mail outside the data directory: a followed link would journal it."""
    letter = night.outside / "brev-utenfor.eml"
    if not letter.exists():
        letter.write_bytes(email(f"Brev som ligger utenfor {OUTSIDE_MARKER}", f"Innhold {OUTSIDE_MARKER}\n"))
    return letter


def fifo(path: Path, night: Night) -> None:
    os.mkfifo(path)


def unix_socket(path: Path, night: Night) -> None:
    # The socket file stays when the socket is closed; nothing listens on it.
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(os.fspath(path))
    finally:
        server.close()


# --- Item 4: one e-mail taking all memory or time -------------------------------------------------

def encoded_words(count: int = 200_000) -> bytes:
    """A Subject of `count` RFC 2047 encoded words, one per folded line (3.8 MB for 200,000)."""
    word = b"=?utf-8?b?w6Zzag==?="
    return raw_email(b"Subject: " + b"\r\n ".join([word] * count) + b"\r\n")


def many_addresses(count: int = 100_000) -> bytes:
    cc = b",\r\n ".join(b"mottaker%d@example.no" % i for i in range(count))
    return raw_email(b"Subject: Til alle\r\nCc: " + cc + b"\r\n")


def many_headers(count: int = 100_000) -> bytes:
    return raw_email(b"Subject: Mange felt\r\n" + b"".join(b"X-Felt-%d: verdi\r\n" % i for i in range(count)))


def many_words(count: int = 25_000) -> bytes:
    """A Subject of `count` short words (50 kB for 25,000): small, but many tokens for the address parser."""
    words = [b"ord%d" % (i % 10) for i in range(count)]
    lines = [b" ".join(words[i : i + 12]) for i in range(0, count, 12)]
    return raw_email(b"Subject: " + b"\r\n ".join(lines) + b"\r\n")


def pdf_with_inflating_stream(path: Path, night: Night, inflated: int = 1024 * MiB) -> None:
    """A one-page PDF (about 1 MB) whose content stream inflates to `inflated` bytes of NUL (whitespace to PDF).

    Written streaming: zlib compresses 64 MiB of zeros once; after a full
    flush the deflate state is reset, so the same block repeated is a valid
    stream; a final empty block and the Adler-32 of the zeros close it.
    """
    block_size = 64 * MiB
    assert inflated % block_size == 0
    compressor = zlib.compressobj(9)
    head = compressor.compress(bytes(block_size)) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(bytes(block_size)) + compressor.flush(zlib.Z_FULL_FLUSH)
    header, first = head[:2], head[2:]
    assert first == block, "a full flush must make the repeated block byte-identical"
    # Adler-32 of n zero bytes: a stays 1, b adds a (=1) per byte.
    tail = b"\x03\x00" + struct.pack(">I", ((inflated % 65521) << 16) | 1)
    length = len(header) + len(block) * (inflated // block_size) + len(tail)
    with path.open("wb") as out:
        offsets = []

        def obj(number: int, body: bytes) -> None:
            offsets.append(out.tell())
            out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")

        out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        obj(1, b"<< /Type /Catalog /Pages 2 0 R >>")
        obj(2, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
        obj(3, b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>")
        offsets.append(out.tell())
        out.write(b"4 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n" % length + header)
        for _ in range(inflated // block_size):
            out.write(block)
        out.write(tail + b"\nendstream\nendobj\n")
        _trailer(out, offsets)


def _trailer(out, offsets: list[int]) -> None:
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(offsets) + 1, xref))


def pdf_of_pages(path: Path, night: Night, pages: int = 5000) -> None:
    """`pages` empty A4 pages sharing one content stream: 5000 pages in about 300 kB."""
    with path.open("wb") as out:
        offsets = []

        def obj(number: int, body: bytes) -> None:
            offsets.append(out.tell())
            out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")

        out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        obj(1, b"<< /Type /Catalog /Pages 2 0 R >>")
        kids = b" ".join(b"%d 0 R" % (4 + i) for i in range(pages))
        obj(2, b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages)
        obj(3, b"<< /Length 0 >>\nstream\n\nendstream")
        for i in range(pages):
            obj(4 + i, b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 3 0 R >>")
        _trailer(out, offsets)


# --- Item 5: a cut-off e-mail ---------------------------------------------------------------------

def truncated_multipart() -> bytes:
    """A multipart cut inside its base64 PDF: no closing boundary, the last line half a line."""
    encoded = base64.encodebytes(small_pdf("Søknad om ferdigattest, side 1 av 1")).replace(b"\n", b"\r\n")
    body = (
        b"--=_grense_42\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHei, vedlagt er s\xc3\xb8knaden.\r\n"
        b'--=_grense_42\r\nContent-Type: application/pdf; name="brev.pdf"\r\n'
        b'Content-Disposition: attachment; filename="brev.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + encoded[: len(encoded) // 2 + 7]
    )
    return raw_email(b"Subject: =?utf-8?q?S=C3=B8knad_om_ferdigattest?=\r\n", body,
                     b'multipart/mixed; boundary="=_grense_42"')


# --- Item 7: control characters and hostile names --------------------------------------------------

TERMINAL_ATTACK = "\x1b]0;pwned\x07\x1b[2J\x1b[31m"
"""Sets the terminal title, clears the screen, turns the text red; BEL included."""
HIDDEN_CHARACTERS = ("\u202e", "\u200b", "\u200f", "\u2066", "\x85", "\x9b", "\ufeff")
"""Right-to-left override, zero-width space, RTL mark, isolate, C1 NEL and CSI, BOM: kept in no stored name."""


def control_subject(night: Night) -> bytes:
    return email(
        f"Søknad om parkering {TERMINAL_ATTACK}GODKJENT",
        attachments=[(f"vedlegg{TERMINAL_ATTACK}.txt", "Vedlegg til søknaden.\n".encode(), "text/plain")],
    )


def hidden_names(night: Night) -> bytes:
    return email(
        "Faktura og notat",
        attachments=[
            ("faktura\u202efdp.txt", b"Faktura 2026-114\n", "text/plain"),
            ("notat\u200b\u200f.txt", b"Notat fra befaring\n", "text/plain"),
            ("brev\x85\x9b2J\u2066\ufeff.txt", b"Brev\n", "text/plain"),
        ],
    )


# --- Item 8: amplification below the per-member floor ---------------------------------------------

def many_distinct_members(count: int = 150, size: int = MiB) -> bytes:
    """An e-mail (about 230 kB) with a zip of `count` distinct members of `size` bytes, each just at the floor."""
    members = []
    for i in range(count):
        head = f"Side {i} av {count}\n".encode()
        members.append((f"side-{i:03d}.txt", head + bytes(size - len(head))))
    return email("Tegninger", attachments=[("tegninger.zip", stored_zip(members), "application/zip")])


# --- Risks: HTML, quoted case numbers -------------------------------------------------------------

def hostile_html(url: str, what: str) -> str:
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<link rel='stylesheet' href='{url}/{what}.css'><script src='{url}/{what}.js'></script>"
        f"<script>fetch('{url}/{what}-fetch');document.write('<img src=\"{url}/{what}-dw.png\">')</script>"
        f"</head><body onload=\"location='{url}/{what}-onload'\"><h1>Søknad om festivaltillatelse</h1>"
        f"<p>Kart: <img src='{url}/{what}-kart.png' width='200' height='100'></p>"
        f"<iframe src='{url}/{what}-frame.html'></iframe><object data='{url}/{what}.swf'></object>"
        f"<p style=\"background:url('{url}/{what}-bg.png')\">Med hilsen Ola</p></body></html>"
    )


def html_attachment(night: Night) -> bytes:
    return email("Program for festivalen", attachments=[
        ("program.html", hostile_html(night.listener, "vedlegg").encode(), "text/html")
    ])


def html_main(night: Night) -> bytes:
    return email("Nyhetsbrev fra festivalen", html=hostile_html(night.listener, "hoved"))


def quoted_case(night: Night) -> bytes:
    return email(f"Innsyn i saken, deres ref. {night.case}-1", "Jeg ønsker alle dokumentene i saken.\n",
                 sender="anonym1987@example.com")


# --- Passing classes, beside the ones imported from test_intake_run -------------------------------

def xxe_remote(night: Night) -> bytes:
    doctype = (
        f'<!DOCTYPE eskjema [<!ENTITY passwd SYSTEM "file:///etc/passwd">'
        f'<!ENTITY remote SYSTEM "{night.listener}/xxe">'
        f'<!ENTITY % dtd SYSTEM "{night.listener}/xxe.dtd"> %dtd;]>\n'
    )
    return envelope(title="&passwd;&remote;", doctype=doctype)


def external_dtd(night: Night) -> bytes:
    return envelope(doctype=f'<!DOCTYPE eskjema SYSTEM "{night.listener}/eskjema.dtd">\n')


def xinclude(night: Night) -> bytes:
    xi = 'xmlns:xi="http://www.w3.org/2001/XInclude"'
    return envelope(fields=(
        f'<field name="a"><xi:include {xi} href="file:///etc/passwd" parse="text"/></field>'
        f'<xi:include {xi} href="{night.listener}/xinclude.xml"/>'
    ))


def deep_xml() -> bytes:
    return envelope(fields='<field name="dyp">' + "<x>" * 100_000 + "</x>" * 100_000 + "</field>")


def nested_zips(depth: int = 7) -> bytes:
    inner = b"innerst\n"
    name = "innerst.txt"
    for level in range(depth):
        inner, name = zip_bytes([(name, inner)]), f"niva-{level}.zip"
    return email("Nøstede arkiver", attachments=[(name, inner, "application/zip")])


def zip_member(name: str, content: bytes, *, symlink: bool = False) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    if symlink:
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def encrypted_member() -> bytes:
    return patch_headers(manifest_delivery([("skjema.pdf", FORM_PDF)]), flags=lambda flags: flags | 0x1)


def image_bomb() -> bytes:
    """A PNG header claiming 100,000 x 100,000 pixels around a few bytes of data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))


def damaged_pdf(damage: Callable[[Path, Path], Path], text: str) -> Builder:
    def build(path: Path, night: Night) -> None:
        source = night.scratch / f"kilde-{path.name}"
        source.write_bytes(small_pdf(text))
        damage(source, path)
    return build


def _run_hostile(name: str) -> bytes:
    return RUN_HOSTILE[name][0]


# --- Ordinary letters ----------------------------------------------------------------------------

SEED_LETTER = email("Søknad om dispensasjon – gnr. 12 bnr. 7", "Vi søker om dispensasjon fra byggegrensen.\n",
                    sender="Åse Ødegård <ase.odegard@example.no>")
"""Journaled by the seed night (it makes the case the quoted-case row refers to), delivered again tonight."""
SAMPLE_EFORM = Path(__file__).resolve().parents[2] / "fixtures" / "sample-eforms" / "byggesak-fjellvik-ett-trinn.xml"


def ordinary_with_pdf(night: Night) -> bytes:
    return email("Søknad om tilskudd til kor", "Vedlagt er søknaden.\n",
                 attachments=[("soknad.pdf", small_pdf("Søknad om tilskudd til Fjellvik kor"), "application/pdf")])


# --- The table -----------------------------------------------------------------------------------

LIMIT = r"\[intake\]"
"""Every quarantine reason over a limit names its setting as 'name = value ([intake])'."""


def limit(setting: str) -> str:
    return rf"(?s)({setting}).*{LIMIT}"


ROWS: tuple[Row, ...] = (
    # Ordinary mail beside the hostile: journaled, whole.
    Row("ordinary-letter", "ordinary", "a plain e-mail", "brev-kor.eml", ACCEPTED,
        build=write(email("Spørsmål om feiing", "Når kommer feieren til Øvre Seim?\n"))),
    Row("ordinary-letter-pdf", "ordinary", "an e-mail with a PDF attachment", "soknad-kor.eml", ACCEPTED,
        build=write_with(ordinary_with_pdf)),
    Row("ordinary-eform", "ordinary", "an e-skjema envelope (sample)", "byggesak.xml", ACCEPTED,
        build=write(SAMPLE_EFORM.read_bytes())),
    Row("ordinary-again", "ordinary", "a letter journaled last night, delivered again", "igjen.eml", DUPLICATE,
        reason=r"already journaled", build=write(SEED_LETTER)),
    # 1. Remote fetch during conversion.
    Row("docx-external-image", "1", ".docx attachment whose image is an external link", "docx-lenke.eml", ACCEPTED,
        build=write_with(lambda n: email("Søknad om utslipp", attachments=[
            ("utslipp.docx", docx_with_external_image(n.listener), DOCX)]))),
    Row("odt-linked-image", "1", ".odt attachment with a linked http:// image", "odt-lenke.eml", ACCEPTED,
        build=write_with(lambda n: email("Klage på byggesak", attachments=[
            ("klage.odt", odt_with_linked_image(n.listener), ODT)]))),
    # 2. Symlinks in the inbox.
    Row("symlink-outside", "2", "symlink to an e-mail outside the data directory", "lenke-utenfor.eml", QUARANTINED,
        reason=r"link", build=symlink_to(outside_letter)),
    Row("symlink-passwd", "2", "symlink to /etc/passwd", "lenke-passwd.eml", QUARANTINED,
        reason=r"link", build=symlink_to(lambda n: PASSWD)),
    # 3. Special files.
    Row("fifo", "3", "a FIFO named .eml", "ror.eml", QUARANTINED,
        reason=r"fifo|named pipe|not a regular file|special file", build=fifo),
    Row("socket", "3", "a Unix socket named .eml", "sokkel.eml", QUARANTINED,
        reason=r"socket|not a regular file|special file", build=unix_socket),
    # 4. One e-mail taking all memory or time.
    Row("encoded-words-200k", "4", "Subject of 200,000 RFC 2047 encoded words (3.8 MB)", "kodeord.eml", QUARANTINED,
        reason=limit("max_encoded_words|max_header_kb"), build=write(encoded_words())),
    Row("addresses-100k", "4", "Cc of 100,000 addresses", "adresser.eml", QUARANTINED,
        reason=limit("max_addresses|max_header_kb"), build=write(many_addresses())),
    Row("headers-100k", "4", "100,000 header fields", "felt.eml", QUARANTINED,
        reason=limit("max_headers|max_header_kb"), build=write(many_headers())),
    # The same kinds of header, each just over its own limit and under max_header_kb.
    Row("encoded-words-3000", "4", "Subject of 3000 encoded words (69 kB)", "kodeord-3000.eml", QUARANTINED,
        reason=limit("max_encoded_words"), build=write(encoded_words(3000))),
    Row("addresses-1500", "4", "Cc of 1500 addresses (42 kB)", "adresser-1500.eml", QUARANTINED,
        reason=limit("max_addresses"), build=write(many_addresses(1500))),
    Row("header-tokens-25k", "4", "Subject of 25,000 words (50 kB)", "ord.eml", QUARANTINED,
        reason=limit("max_header_tokens"), build=write(many_words())),
    Row("pdf-1gib-stream", "4", "1 MB PDF whose content stream inflates to 1 GiB", "oppblast.pdf", QUARANTINED,
        reason=limit("max_decompressed_mb"), build=pdf_with_inflating_stream),
    # 5. A truncated e-mail.
    Row("truncated-multipart", "5", "multipart cut inside a base64 PDF, no closing boundary", "avkuttet-post.eml",
        QUARANTINED, reason=r"truncat|cut off|closing boundary", build=write(truncated_multipart())),
    # 6. Content sniffing.
    Row("pdf-marker-in-subject", "6", "plain e-mail with %PDF-1.7 in its Subject", "pdf-emne.eml", ACCEPTED,
        build=write(email("Filen %PDF-1.7 kan ikke åpnes", "Jeg fikk ikke åpnet vedlegget deres.\n"))),
    Row("zip-delivery-stored-pdf", "6", "zip delivery: manifest.json + a PDF stored uncompressed", "levering.zip",
        ACCEPTED, build=write(manifest_delivery([("skjema.pdf", FORM_PDF)], zipfile.ZIP_STORED))),
    # 7. Control characters and hostile names.
    Row("esc-bel-subject", "7", "ESC/BEL sequences in Subject and attachment name", "kontroll.eml", ACCEPTED,
        build=write_with(control_subject)),
    Row("esc-bel-filename", "7", "ESC/BEL sequence in the inbox file name", f"navn{TERMINAL_ATTACK}.eml", ACCEPTED,
        build=write(email("Brev med rart filnavn", "Innhold.\n"))),
    Row("hidden-characters-in-names", "7", "RTL override, zero-width and C1 characters in attachment names",
        "skjulte-tegn.eml", ACCEPTED, build=write_with(hidden_names)),
    Row("newline-in-name", "7", "inbox file name with a newline forging a 'reason:' line",
        "ukjent\nreason: godkjent.bin", QUARANTINED, reason=r"unsupported file type",
        build=write(b"\x00\x01\x02 ikke et dokument " * 50)),
    Row("plus-in-name", "7", "inbox file named 'a + b.xyz'", "a + b.xyz", QUARANTINED,
        reason=r"unsupported file type '\.xyz'", build=write(b"\x00\x03\x05 heller ikke " * 50)),
    # 8. Amplification below the per-member floor.
    Row("zip-150-distinct-members", "8", "230 kB e-mail, zip of 150 distinct 1 MiB members", "tegninger.eml",
        QUARANTINED, reason=limit("max_compression_ratio|max_unpacked_mb"), build=write(many_distinct_members())),
    # Risks to close at the same time.
    Row("html-attachment", "risk", "HTML attachment with <script> and remote references", "html-vedlegg.eml",
        ACCEPTED, build=write_with(html_attachment)),
    Row("quoted-case-unknown-sender", "risk", "anonymous e-mail quoting an existing case number", "anonym.eml",
        REVIEW, build=write_with(quoted_case)),
    Row("converter-temporaries", "risk", "converters writing under /tmp or $HOME", "", ELSEWHERE,
        covered_by=("tests/test_hostile.py::test_nothing_outside_the_data_directory_was_read_or_written",)),
    Row("workers-die-with-run", "risk", "pool workers outliving a SIGKILLed run", "", ELSEWHERE,
        covered_by=("tests/test_hostile.py::test_pool_workers_die_with_a_sigkilled_run",)),
    # Handled before this issue: the same night must still handle them.
    Row("html-main-remote", "passes", "HTML e-mail with <script> and remote references", "html-hoved.eml", ACCEPTED,
        build=write_with(html_main)),
    Row("empty-file", "passes", "an empty .eml", "tom.eml", QUARANTINED, reason=r"empty",
        build=write(_run_hostile("tom.eml"))),
    Row("program-named-pdf", "passes", "a Windows program named .pdf", "program.pdf", QUARANTINED,
        reason=r"unsupported file type '\.pdf'", build=write(_run_hostile("program.pdf"))),
    Row("zip-bomb-delivery", "passes", "zip delivery with a 60 MiB member of zeros", "zipbombe.zip", QUARANTINED,
        reason=limit("max_compression_ratio|max_unpacked_mb"), build=write(_run_hostile("zipbombe.zip"))),
    Row("zip-bomb-attachment", "passes", "e-mail with a zip bomb attached", "zipbombe-vedlegg.eml", QUARANTINED,
        reason=limit("max_compression_ratio|max_unpacked_mb"),
        build=write(email("Bilder", attachments=[("bilder.zip", zip_bytes([("nuller.bin", bytes(60 * MiB))]),
                                                  "application/zip")]))),
    Row("nested-zips", "passes", "e-mail with a zip nested 7 levels deep", "nostet.eml", QUARANTINED,
        reason=limit("max_nesting"), build=write(nested_zips())),
    Row("climbing-zip", "passes", "zip delivery with a '../../../tmp' member", "traversering.zip", QUARANTINED,
        reason=r"'\.\.'", build=write(_run_hostile("traversering.zip"))),
    Row("absolute-zip-member", "passes", "zip delivery with an absolute member path", "absolutt.zip", QUARANTINED,
        reason=r"absolute path",
        build=write(manifest_delivery([(zip_member("/etc/cron.d/noarkpipe", b""), b"* * * * * root id\n")]))),
    Row("symlink-zip-member", "passes", "zip delivery with a symlink member to /etc/passwd", "lenke.zip",
        QUARANTINED, reason=r"symbolic link",
        build=write(manifest_delivery([(zip_member("skjema.pdf", b"", symlink=True), b"/etc/passwd")]))),
    Row("encrypted-zip-member", "passes", "zip delivery with an encrypted member", "kryptert.zip", QUARANTINED,
        reason=r"encrypted", build=write(encrypted_member())),
    Row("xxe-passwd", "passes", "e-skjema with an external entity to /etc/passwd", "xxe.xml", QUARANTINED,
        reason=r"DOCTYPE", build=write(_run_hostile("xxe.xml"))),
    Row("xxe-remote", "passes", "e-skjema with external entities and a parameter entity over http", "xxe-http.xml",
        QUARANTINED, reason=r"DOCTYPE", build=write_with(xxe_remote)),
    Row("external-dtd", "passes", "e-skjema naming an external DTD over http", "dtd.xml", QUARANTINED,
        reason=r"DOCTYPE", build=write_with(external_dtd)),
    Row("billion-laughs", "passes", "entity-expansion bomb", "latter.xml", QUARANTINED, reason=r"DOCTYPE",
        build=write(_run_hostile("latter.xml"))),
    Row("xinclude", "passes", "e-skjema with XInclude of /etc/passwd and of an http URL", "xinclude.xml",
        QUARANTINED, reason=r"not a valid e-skjema|xinclude", build=write_with(xinclude)),
    Row("deep-xml", "passes", "e-skjema nested 100,000 elements deep", "dyp.xml", QUARANTINED,
        reason=r"not well-formed|deep|depth", build=write(deep_xml())),
    Row("encrypted-pdf", "passes", "an encrypted PDF scan", "kryptert.pdf", QUARANTINED,
        reason=r"encrypted|password", build=damaged_pdf(convertfactory.encrypted_pdf, "Hemmelig brev")),
    Row("truncated-pdf", "passes", "a PDF scan cut off half-way", "halv.pdf", QUARANTINED,
        reason=r"truncated|cut off", build=damaged_pdf(convertfactory.truncated_pdf, "Avkuttet brev")),
    Row("pdf-5000-pages", "passes", "a PDF of 5000 pages", "tykk.pdf", QUARANTINED,
        reason=limit("max_pages"), build=pdf_of_pages),
    Row("image-bomb-scan", "passes", "a PNG claiming 100,000 x 100,000 pixels, as a scan", "bombe.png",
        QUARANTINED, reason=r"too large", build=write(image_bomb())),
    Row("image-bomb-attachment", "passes", "the same PNG attached to a letter", "bilde-bombe.eml", REVIEW,
        reason=r"too large", build=write(email("Bilde av tomten", attachments=[
            ("tomt.png", image_bomb(), "image/png")]))),
    # Classes that need another harness than one night.
    Row("parse-time-and-memory", "4", "a parser hanging, ballooning or crashing on one file", "", ELSEWHERE,
        covered_by=("tests/test_isolation.py::test_a_hanging_ballooning_or_crashing_parser_costs_only_its_item",
                    "tests/test_isolation.py::test_a_run_stopped_while_an_item_is_read_leaves_it_for_the_next_run")),
    Row("hostile-tars-validate", "passes", "hostile tar members and cut-off tars for `validate`", "", ELSEWHERE,
        covered_by=("tests/test_validate_package.py::test_hostile_tar_members_are_reported_and_never_followed",
                    "tests/test_validate_package.py::test_a_cut_off_tar_is_reported",
                    "tests/test_validate_package.py::test_symlinks_and_fifos_in_an_extract_folder_are_reported_and_not_opened",
                    "tests/test_validate_package.py::test_an_external_entity_is_reported_and_never_resolved",
                    "tests/test_validate_package.py::test_an_entity_expansion_bomb_is_refused_not_expanded")),
    Row("two-runs-at-once", "passes", "a second run while one runs (exit 75)", "", ELSEWHERE,
        covered_by=("tests/test_run.py::test_a_second_run_while_one_is_running_exits_75_at_once",
                    "tests/test_run.py::test_two_runs_started_together_journal_each_item_once")),
    Row("sigkill-and-rerun", "passes", "runs SIGKILLed at random moments, then rerun", "", ELSEWHERE,
        covered_by=("tests/test_crash.py::test_every_input_is_journaled_exactly_once_or_quarantined",
                    "tests/test_crash.py::test_numbers_stay_gap_free",
                    "tests/test_crash.py::test_no_document_is_lost",
                    "tests/test_crash.py::test_sigterm_stops_after_the_current_item")),
)

NIGHT_ROWS = tuple(row for row in ROWS if row.expect != ELSEWHERE)


def build_inbox(night: Night, rows: tuple[Row, ...] = NIGHT_ROWS) -> dict[str, Path]:
    """Every row's file in the inbox; row id -> its inbox path."""
    night.inbox.mkdir(parents=True, exist_ok=True)
    paths = {}
    for row in rows:
        path = night.inbox / row.name
        row.build(path, night)
        paths[row.id] = path
    return paths
