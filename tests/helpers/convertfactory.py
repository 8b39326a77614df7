"""Documents of every kind the post room receives, generated for the conversion tests.

Born-digital PDFs are typeset with fpdf2: one with DejaVu Sans embedded,
one in the standard Helvetica, which PDF files may name without embedding.
Scans reuse `scanfactory`: Norwegian letters typeset with Pillow and
roughened like a post-room scanner makes them, as a JPEG-page PDF, a JPEG,
a PNG and a multi-page G4 TIFF. Office documents are made by LibreOffice
itself from a UTF-8 text and a CSV file (no python-docx or openpyxl): a
.docx, .odt and .doc from the text, an .xlsx and .ods from the CSV; the RTF
is written by hand with its \\uN escapes for æøå.

A forwarded e-mail (message/rfc822, as the e-mail intake keeps it), a
calendar invitation (text depots do not accept) and a PDF that claims to be
PDF/A in its XMP metadata without being one are built with the standard
library and pikepdf.

The failure samples are real too: encryption by pypdf (PDF) and
msoffcrypto-tool (docx, installed with extract-msg), a PDF cut off
half-way, bytes that only start like a PDF, a ZIP and a Windows executable
header.
"""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pikepdf
import pypdf
from fpdf import FPDF
from msoffcrypto.format.ooxml import OOXMLFile
from PIL import Image, ImageDraw

from helpers import scanfactory
from noarkpipe.run.execution_local import LocalExecutor

LETTER_PAGES = (
    (
        "Søknad om midlertidig brukstillatelse for bolig i Bjørkeveien 7",
        ("Vi viser til ferdigmelding av 14. november og søker om midlertidig brukstillatelse. "
        "Gjenstående arbeid gjelder utvendig trapp og beplantning mot nabotomten, som blir "
        "ferdigstilt før 1. mai neste år."),
    ),
    (
        "Redegjørelse for gjenstående arbeid",
        ("Trappen mot hagen mangler rekkverk på nordsiden. Entreprenøren har bestilt materialer, "
        "og arbeidet utføres så snart været tillater det. Øvrige krav i tillatelsen er oppfylt."),
    ),
    (
        "Vedlegg og kontaktinformasjon",
        ("Vedlagt følger samsvarserklæring for våtrom og tegninger av trappen. Spørsmål kan rettes "
        "til ansvarlig søker, Ærlig Bygg AS, på telefon 55 12 34 56."),
    ),
)
"""Three pages of a building-permit letter; the headings are what tests look for."""

NOTICE = "Melding om vedtak: Søknaden om skjenkebevilling er innvilget for perioden 2026-2028."
"""Latin-1 text, which the standard fonts' WinAnsi encoding can show."""

OFFICE_TEXT = (
    "Søknad om tilskudd til kulturtiltak\n\n"
    "Fjellvik skolekorps søker om tilskudd til innkjøp av nye uniformer. "
    "Korpset har førtito medlemmer og øver hver tirsdag i gymsalen på Øvre Seim skole.\n"
)
OFFICE_CSV = (
    "Tiltak;Beløp;Ansvarlig\n"
    "Uniformer;48000;Åse Ødegård\n"
    "Noter og rekvisita;6500;Øystein Løvås\n"
)
RTF = (
    r"{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0 Times New Roman;}}\f0\fs24 "
    r"Klage p\u229? vedtak om eiendomsskatt\par "
    r"Eiendommen i \u216?vre Fjellvei 3 har f\u230?rre kvadratmeter enn takstgrunnlaget viser.\par}"
)
XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<melding xmlns="urn:example:skjema"><avsender>Åse Ødegård</avsender>'
    "<emne>Søknad om dispensasjon</emne></melding>\n"
)
TEXT = "Referat fra møte i eldrerådet.\nSaker: budsjett, trafikksikkerhet på Øvre Seim.\n"


def text_pdf(path: Path) -> Path:
    """Three A4 pages of Norwegian text in DejaVu Sans, embedded as a subset."""
    pdf = FPDF(format="A4")
    pdf.add_font("DejaVu", "", str(scanfactory.font_path()))
    pdf.add_font("DejaVu", "B", str(scanfactory.font_path(bold=True)))
    for heading, paragraph in LETTER_PAGES:
        pdf.add_page()
        pdf.set_font("DejaVu", "B", 14)
        pdf.multi_cell(0, 8, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 11)
        pdf.multi_cell(0, 6, paragraph, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def standard_font_pdf(path: Path) -> Path:
    """One page in Helvetica, named but not embedded, as many older generators write."""
    pdf = FPDF(format="A4")
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 7, NOTICE)
    pdf.output(str(path))
    return path


def scanned_pdf(path: Path) -> Path:
    """The two-page letter from Åse Ødegård, scanned: JPEG pages, no text layer."""
    pages = [scanfactory.scanned(page, 200 + n) for n, page in enumerate(scanfactory.render_letter(scanfactory.ODEGARD))]
    return scanfactory.write_pdf(pages, path)


def long_scanned_pdf(path: Path, copies: int = 4) -> Path:
    """The same letter several times over: long enough that OCR is still running after a few seconds."""
    pages = scanfactory.render_letter(scanfactory.ODEGARD) * copies
    return scanfactory.write_pdf([scanfactory.scanned(page, 300 + n) for n, page in enumerate(pages)], path)


def jpeg_scan(path: Path) -> Path:
    return scanfactory.write_image(scanfactory.scanned(scanfactory.render_letter(scanfactory.RORLEGGER)[0], 210), path)


def png_scan(path: Path) -> Path:
    return scanfactory.write_image(scanfactory.scanned(scanfactory.render_letter(scanfactory.MILJO)[0], 220), path)


def tiff_scan(path: Path) -> Path:
    pages = [scanfactory.scanned(page, 230 + n) for n, page in enumerate(scanfactory.render_letter(scanfactory.ODEGARD))]
    return scanfactory.write_tiff(pages, path)


def transparent_png(path: Path) -> Path:
    """A screenshot-like PNG: black Norwegian text on a fully transparent background."""
    image = Image.new("RGBA", (scanfactory.mm(150), scanfactory.mm(40)), (255, 255, 255, 0))
    ImageDraw.Draw(image).text((40, 60), "Kvittering for innsendt søknad", font=scanfactory.font(14), fill=(0, 0, 0, 255))
    image.save(path, format="PNG", dpi=(scanfactory.DPI, scanfactory.DPI))
    return path


def office_documents(folder: Path) -> dict[str, Path]:
    """.docx, .odt, .doc, .xlsx, .ods made by LibreOffice, and a hand-written .rtf, by suffix."""
    folder.mkdir(parents=True, exist_ok=True)
    text = folder / "soknad.txt"
    text.write_text(OFFICE_TEXT, encoding="utf-8")
    table = folder / "budsjett.csv"
    table.write_text(OFFICE_CSV, encoding="utf-8")
    profile = folder / "profile"
    made = {}
    for suffix in ("docx", "odt", "doc"):
        made[suffix] = _soffice(text, suffix, "Text (encoded):UTF8,LF,,", folder, profile)
    for suffix in ("xlsx", "ods"):
        # Separator ';' (59), quote '"' (34), UTF-8 (76), from line 1.
        made[suffix] = _soffice(table, suffix, "CSV:59,34,76,1", folder, profile)
    rtf = folder / "klage.rtf"
    rtf.write_text(RTF, encoding="ascii")
    made["rtf"] = rtf
    shutil.rmtree(profile, ignore_errors=True)
    return made


def _soffice(source: Path, suffix: str, infilter: str, folder: Path, profile: Path) -> Path:
    out = folder / suffix
    subprocess.run(
        [
            "soffice", f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore",
            f"--infilter={infilter}", "--convert-to", suffix, "--outdir", str(out), str(source),
        ],
        capture_output=True, timeout=120, check=True,
    )
    made = out / f"{source.stem}.{suffix}"
    if not made.is_file():
        raise RuntimeError(f"LibreOffice made no {suffix} from {source.name}")
    return made


def email_text() -> str:
    """An e-mail main document as intake writes it: header block, a long body (two pages), attachments."""
    paragraph = (
        "Vi søker om dispensasjon fra reguleringsplanen for å bygge en garasje på 48 kvadratmeter "
        "nær nabogrensen. Naboene i Øvre Fjellvei 5 og 7 har gitt skriftlig samtykke, og garasjen "
        "blir liggende minst fire meter fra kommunal vei."
    )
    body = "Hei,\n\n" + "\n\n".join([paragraph] * 14) + "\n\nMed vennlig hilsen\nÅse Ødegård\nTlf. 900 12 345"
    return (
        "Fra:   Åse Ødegård <ase.odegard@example.no>\n"
        "Til:   postmottak@fjellvik.kommune.no\n"
        "Kopi:  Bjørn Ærø <bjorn.aero@example.no>\n"
        "Dato:  20.11.2026 15:03\n"
        "Emne:  Søknad om dispensasjon – gnr. 12 bnr. 7\n"
        "\n"
        f"{body}\n"
        "\n"
        "Vedlegg:\n"
        "  - situasjonsplan.pdf\n"
        "  - nabosamtykke.jpg\n"
    )


def encrypted_pdf(source: Path, path: Path, *, user_password: str = "hemmelig") -> Path:
    """`source` encrypted by pypdf; an empty user password leaves only the owner's restrictions."""
    writer = pypdf.PdfWriter(clone_from=source)
    writer.encrypt(user_password=user_password, owner_password="eier")
    with open(path, "wb") as handle:
        writer.write(handle)
    return path


def password_docx(source: Path, path: Path) -> Path:
    """`source` (a .docx) encrypted with a password as Word does it, by msoffcrypto-tool."""
    with open(source, "rb") as plain, open(path, "wb") as encrypted:
        OOXMLFile(plain).encrypt("hemmelig", encrypted)
    return path


def truncated_pdf(source: Path, path: Path) -> Path:
    """The first half of `source`, as an interrupted transfer leaves it."""
    content = source.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    return path


def corrupt_pdf(path: Path) -> Path:
    """A PDF header and end marker around bytes that are no PDF structure at all."""
    path.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + bytes(range(256)) * 16 + b"\n%%EOF\n")
    return path


def zip_file(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("brev.txt", TEXT)
    return path


def windows_executable(path: Path) -> Path:
    """The headers of a 32-bit Windows program: 'MZ', the PE signature at offset 0x80, a COFF header."""
    header = bytearray(0x200)
    header[0:2] = b"MZ"
    header[0x3C:0x40] = (0x80).to_bytes(4, "little")
    header[0x80:0x84] = b"PE\0\0"
    header[0x84:0x86] = (0x14C).to_bytes(2, "little")  # i386
    header[0x86:0x88] = (1).to_bytes(2, "little")  # one section
    header[0x94:0x96] = (0xE0).to_bytes(2, "little")  # optional header size
    header[0x96:0x98] = (0x0102).to_bytes(2, "little")  # executable, 32-bit
    header[0x98:0x9A] = (0x10B).to_bytes(2, "little")  # PE32 optional header magic
    path.write_bytes(bytes(header))
    return path


FORWARDED_BODY = (
    "Hei,\n\nDet renner vann fra kummen ved Fjellvegen 4, og asfalten har sprukket. "
    "Kan kommunen se på det før frosten kommer?\n\nHilsen Øyvind Ærø\n"
)


def forwarded_email(path: Path) -> Path:
    """A message as it is forwarded inside another one: headers, Norwegian text, one attachment."""
    message = EmailMessage()
    message["From"] = "Øyvind Ærø <oyvind.aero@example.no>"
    message["To"] = "postmottak@fjellvik.kommune.no"
    message["Subject"] = "Vannlekkasje i Fjellvegen"
    message["Date"] = format_datetime(datetime(2026, 11, 18, 7, 45, tzinfo=UTC))
    message["Message-ID"] = "<vannlekkasje-4@example.no>"
    message.set_content(FORWARDED_BODY)
    message.add_attachment(b"\xff\xd8\xff\xe0 not really a photo", maintype="image", subtype="jpeg",
                           filename="kummen.jpg")
    path.write_bytes(message.as_bytes())
    return path


CALENDAR = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Fjellvik kommune//Møtebooking//NO\r\n"
    "BEGIN:VEVENT\r\nUID:befaring-12-7@fjellvik.kommune.no\r\nDTSTART:20261125T090000Z\r\n"
    "DTEND:20261125T100000Z\r\nSUMMARY:Befaring på Øvre Seim\r\n"
    "LOCATION:Gnr. 12 bnr. 7\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def calendar_invitation(path: Path) -> Path:
    path.write_bytes(CALENDAR.encode("utf-8"))
    return path


PDFA_2B_XMP = (
    b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">'
    b"<pdfaid:part>2</pdfaid:part><pdfaid:conformance>B</pdfaid:conformance>"
    b'</rdf:Description></rdf:RDF></x:xmpmeta>\n<?xpacket end="w"?>'
)


def claims_pdfa(source: Path, path: Path) -> Path:
    """`source` with XMP metadata claiming PDF/A-2b, as some generators write it whatever the content is."""
    with pikepdf.open(source) as pdf:
        pdf.Root.Metadata = pdf.make_stream(PDFA_2B_XMP, Type=pikepdf.Name.Metadata, Subtype=pikepdf.Name.XML)
        pdf.save(path)
    return path


def corrupt_docx(source: Path, path: Path) -> Path:
    """`source` (a .docx) with its text part replaced by bytes no word processor can read: still a docx by its container."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(path, "w") as damaged:
        for member in original.infolist():
            data = original.read(member.filename)
            if member.filename == "word/document.xml":
                data = data[:200] + bytes(range(256)) * 4
            damaged.writestr(member, data)
    return path


class CountingExecutor:
    """A LocalExecutor that remembers what it was asked to convert."""

    def __init__(self) -> None:
        self.inner = LocalExecutor(2, preload=("noarkpipe.convert",))
        self.workers = self.inner.workers
        self.jobs = []

    def submit(self, function, job):
        self.jobs.append(job)
        return self.inner.submit(function, job)

    def close(self, *, cancel: bool = False) -> None:
        self.inner.close(cancel=cancel)
