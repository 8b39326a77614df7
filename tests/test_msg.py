"""Outlook .msg intake, on .msg files written by tests/msgfactory.py."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path

import compressed_rtf
import pytest

from helpers.msgfactory import MINIMAL_PDF, Attachment, Message, Recipient, compound_file, outlook_message
from noarkpipe.errors import InputFileError
from noarkpipe.intake import DocumentRole, IntakeContext, IntakeLimits, Source
from noarkpipe.intake.msg import parse_msg, rtf_to_text, unique_filename

RECEIVED = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def parse(tmp_path: Path, content: bytes | Message, name: str = "brev.msg", **limits):
    path = tmp_path / name
    path.write_bytes(outlook_message(content) if isinstance(content, Message) else content)
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    context = IntakeContext(origin_name=name, received=RECEIVED, scratch=scratch, limits=IntakeLimits(**limits))
    return parse_msg(path, context)


def forwarded() -> Message:
    return Message(
        subject="VS: Nabovarsel gnr. 12 bnr. 7",
        body="Nabovarselet ble sendt til Bjørn Æsøy 1. november.",
        sender_name="Bjørn Æsøy",
        sender_email="bjorn@example.no",
        attachments=[Attachment("kvittering.txt", b"ok")],
    )


def test_norwegian_message_with_attachments(tmp_path):
    big = os.urandom(200_000)  # above the mini-stream cutoff: stored in regular sectors
    message = Message(
        recipients=[
            Recipient("Postmottak Fjellvik kommune", "postmottak@fjellvik.kommune.no"),
            Recipient("Kari Nordmann", "kari.nordmann@fjellvik.kommune.no", kind=2),
            Recipient("Skjult", "hemmelig@example.no", kind=3),
        ],
        attachments=[
            Attachment("Søknad om dispensasjon.pdf", MINIMAL_PDF, "application/pdf"),
            Attachment("../../etc/passwd", b"root:x:0:0\n"),
            Attachment("situasjonsplan.bin", big, "application/octet-stream"),
            forwarded(),
        ],
    )
    [submission] = parse(tmp_path, message)

    assert submission.source is Source.email
    assert submission.origin_name == "brev.msg"
    assert submission.subject == "Søknad om dispensasjon – gnr. 12 bnr. 7"
    assert (submission.sender.name, submission.sender.email) == ("Åse Ødegård", "ase.odegard@example.no")
    assert [(p.name, p.email) for p in submission.recipients] == [
        ("Postmottak Fjellvik kommune", "postmottak@fjellvik.kommune.no"),
        ("Kari Nordmann", "kari.nordmann@fjellvik.kommune.no"),
    ]
    assert submission.sent == datetime(2026, 11, 20, 14, 3, tzinfo=UTC)
    assert submission.received == RECEIVED
    assert submission.message_id == "<20261120140300.4711@example.no>"
    assert submission.body_text.startswith("Hei,\n\nVedlagt følger søknaden.")
    assert submission.body_text.endswith(
        "--- Videresendt melding ---\n"
        "Fra: Bjørn Æsøy <bjorn@example.no>\n"
        "Dato: 20.11.2026 15:03\n"
        "Emne: VS: Nabovarsel gnr. 12 bnr. 7\n"
        "Vedlegg: kvittering.txt\n\n"
        "Nabovarselet ble sendt til Bjørn Æsøy 1. november."
    )

    main, pdf, passwd, plan, inner, receipt = submission.documents
    assert submission.main_document is main
    assert (main.filename, main.media_type, main.role) == ("e-post.txt", "text/plain; charset=utf-8", DocumentRole.main)
    assert main.title == submission.subject
    text = main.content.decode("utf-8")
    # Laid out exactly as the main document of an .eml e-mail.
    assert text == (
        "Fra:   Åse Ødegård <ase.odegard@example.no>\n"
        "Til:   Postmottak Fjellvik kommune <postmottak@fjellvik.kommune.no>\n"
        "Kopi:  Kari Nordmann <kari.nordmann@fjellvik.kommune.no>\n"
        "Dato:  20.11.2026 15:03\n"
        "Emne:  Søknad om dispensasjon – gnr. 12 bnr. 7\n\n"
        "Hei,\n\nVedlagt følger søknaden.\n\nMed vennlig hilsen\nÅse Ødegård\n\n"
        "Vedlegg:\n  - Søknad om dispensasjon.pdf\n  - passwd\n  - situasjonsplan.bin\n"
        "  - VS_ Nabovarsel gnr. 12 bnr. 7.eml\n  - kvittering.txt\n"
    )
    assert "\r" not in text and "hemmelig" not in text and "Nabovarselet" not in text

    assert (pdf.filename, pdf.media_type, pdf.content, pdf.role) == (
        "Søknad om dispensasjon.pdf", "application/pdf", MINIMAL_PDF, DocumentRole.attachment,
    )
    assert pdf.title == "Søknad om dispensasjon.pdf"
    assert (passwd.filename, passwd.content) == ("passwd", b"root:x:0:0\n")
    assert plan.content == big
    # The attached message is kept as the .eml it amounts to (it gets an archival copy; .msg would not),
    # and the file it carried is a document of its own, titled after it.
    assert inner.media_type == "message/rfc822"
    assert inner.title == "Videresendt melding: VS: Nabovarsel gnr. 12 bnr. 7"
    reopened = BytesParser(policy=default_policy).parsebytes(inner.content)
    assert reopened["Subject"] == "VS: Nabovarsel gnr. 12 bnr. 7"
    assert reopened["From"].addresses[0].addr_spec == "bjorn@example.no"
    assert "Nabovarselet ble sendt" in reopened.get_content() and "kvittering.txt" in reopened.get_content()
    assert (receipt.filename, receipt.content) == ("kvittering.txt", b"ok")
    assert receipt.title == "VS: Nabovarsel gnr. 12 bnr. 7: kvittering.txt"


def test_ansi_message_decoded_with_its_code_page(tmp_path):
    [submission] = parse(tmp_path, Message(unicode=False, subject="Klage på vedtak – Ærlig", body="Bør ødelegges"))
    assert submission.subject == "Klage på vedtak – Ærlig"
    assert submission.body_text == "Bør ødelegges"
    assert submission.sender.name == "Åse Ødegård"


def test_html_only_body_becomes_readable_text(tmp_path):
    html = (
        "<html><head><meta charset='utf-8'><title>x</title><style>p {color: red}</style></head>"
        "<body><p class=MsoNormal>Hei på deg,</p><p class=MsoNormal>&nbsp;</p><p>Gnr.&nbsp;12 &amp; bnr. 7</p>"
        "<p>Hilsen<br>Åse</p></body></html>"
    ).encode()
    # The charset the HTML declares wins over the message's code page (1252).
    [submission] = parse(tmp_path, Message(body=None, html=html))
    assert submission.body_text == "Hei på deg,\n\nGnr. 12 & bnr. 7\nHilsen\nÅse"
    assert "Hei på deg," in submission.main_document.content.decode()


def test_rtf_only_body_becomes_readable_text(tmp_path):
    rtf = (
        rb"{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0\fswiss Calibri;}}{\colortbl;\red0\green0\blue0;}"
        rb"{\*\generator Riched20;}\f0 Hei p\'e5 deg,\par S\u248?knad om \u8220?bruksendring\u8221?\par\tab slutt}"
    )
    message = Message(body=None, rtf_compressed=compressed_rtf.compress(rtf, compressed=True))
    [submission] = parse(tmp_path, message)
    assert submission.body_text == "Hei på deg,\nSøknad om \u201cbruksendring\u201d\n\tslutt"


def test_html_wrapped_in_rtf_becomes_readable_text(tmp_path):
    rtf = (
        rb"{\rtf1\ansi\ansicpg1252\fromhtml1 \deff0{\fonttbl{\f0\fswiss Arial;}}"
        rb"{\*\htmltag19 <html>}{\*\htmltag50 <body>}\htmlrtf {\htmlrtf0 Hei p\'e5 deg"
        rb"{\*\htmltag58 </body>}{\*\htmltag27 </html>}\htmlrtf }\htmlrtf0}"
    )
    message = Message(body=None, rtf_compressed=compressed_rtf.compress(rtf, compressed=True))
    [submission] = parse(tmp_path, message)
    assert submission.body_text == "Hei på deg"


def test_missing_date_and_sender_from_internet_headers(tmp_path):
    headers = (
        "Received: from mx.example.no by mail.fjellvik.kommune.no\r\n"
        "From: =?utf-8?q?=C3=98yvind_Bj=C3=B8rnstad?= <oyvind@example.no>\r\n"
        "Subject: test\r\n"
    )
    [submission] = parse(tmp_path, Message(sent=None, transport_headers=headers, message_id=None))
    assert submission.sent is None
    assert (submission.sender.name, submission.sender.email) == ("Øyvind Bjørnstad", "oyvind@example.no")
    assert "Dato:  (ukjent)" in submission.main_document.content.decode()


def test_exchange_internal_sender_address_is_not_an_email(tmp_path):
    [submission] = parse(tmp_path, Message(sender_email="/O=FJELLVIK/OU=EXCHANGE/CN=RECIPIENTS/CN=ASE"))
    assert (submission.sender.name, submission.sender.email) == ("Åse Ødegård", None)


def test_date_from_internet_headers_when_outlook_has_none(tmp_path):
    headers = "From: a@example.no\r\nDate: Fri, 20 Nov 2026 15:03:00 +0100\r\n"
    [submission] = parse(tmp_path, Message(sent=None, transport_headers=headers))
    assert submission.sent == datetime(2026, 11, 20, 14, 3, tzinfo=UTC)


def test_attachment_names_made_unique_and_unnamed_ones_named(tmp_path):
    message = Message(attachments=[
        Attachment("scan.pdf", MINIMAL_PDF, "application/pdf"),
        Attachment("SCAN.pdf", MINIMAL_PDF, "application/pdf"),
        Attachment("e-post.txt", b"x", "text/plain"),
        Attachment("", b"%PDF-1.4", "application/pdf"),
    ])
    [submission] = parse(tmp_path, message)
    assert [d.filename for d in submission.documents] == [
        "e-post.txt", "scan.pdf", "SCAN-2.pdf", "e-post-2.txt", "vedlegg-4.pdf",
    ]


@pytest.mark.parametrize(
    ("message", "limits", "reason"),
    [
        (Message(attachments=[Attachment(f"{n}.txt", b"x") for n in range(3)]), {"max_documents": 3},
         "the message has 3 attachments; at most 2 are taken in"),
        (Message(attachments=[Attachment("stor.bin", b"\0" * 1_200_000)]), {"max_document_mb": 1},
         "the attachment 'stor.bin' is 1.1 MB, over the limit of 1 MB"),
        (Message(attachments=[Message(subject="1", attachments=[Message(subject="2")])]), {"max_nesting": 1},
         "more than 1 levels deep"),
    ],
    ids=["too-many-documents", "too-large-attachment", "too-deep"],
)
def test_limits_quarantine_instead_of_truncating(tmp_path, message, limits, reason):
    with pytest.raises(InputFileError, match=reason):
        parse(tmp_path, message, **limits)


def test_nesting_within_the_limit_is_read(tmp_path):
    message = Message(attachments=[Message(subject="1", body="en", attachments=[Message(subject="2", body="to")])])
    [submission] = parse(tmp_path, message, max_nesting=2)
    assert submission.body_text.index("en") < submission.body_text.index("to")
    # Each attached message is a document of its own (as .eml), the inner one too.
    assert [d.title for d in submission.documents[1:]] == ["Videresendt melding: 1", "Videresendt melding: 2"]


def test_file_over_the_size_limit(tmp_path):
    with pytest.raises(InputFileError, match="over the limit of 1 MB"):
        parse(tmp_path, Message(attachments=[Attachment("a.bin", os.urandom(1_100_000))]), max_file_mb=1)


def _truncated() -> bytes:
    data = outlook_message(Message(attachments=[Attachment("a.bin", os.urandom(20_000))]))
    return data[: len(data) // 2]


def _broken_fat() -> bytes:
    data = bytearray(outlook_message(Message()))
    data[512:1024] = b"\x07" * 512  # every FAT entry points at sector 0x07070707
    return bytes(data)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "is empty"),
        (b"\xd0\xcf", "only 2 bytes"),
        (MINIMAL_PDF, "it is a PDF document"),
        (b"Received: from x\r\nFrom: a@b\r\n\r\nHei", r"looks like an \.eml e-mail file"),
        (b"PK\x03\x04rest", "zip file"),
        (os.urandom(4096), "not an Outlook .msg file"),
        (compound_file({"WordDocument": b"\0" * 100}), "not an Outlook message"),
        (_truncated(), "Outlook message"),
        (_broken_fat(), "Outlook message"),
    ],
    ids=["zero-bytes", "tiny", "pdf", "eml", "zip", "random", "other-ole", "truncated", "broken-fat"],
)
def test_unreadable_files_raise_input_file_error(tmp_path, content, reason):
    with pytest.raises(InputFileError, match=reason) as caught:
        parse(tmp_path, content)
    assert "brev.msg" in caught.value.message


def test_rtf_to_text_skips_destinations_and_unicode_fallbacks():
    rtf = rb"{\rtf1\ansi\uc2{\fonttbl{\f0 Arial;}}{\*\themedata 0102}{\info{\author X}}A\u230\'3f\'3fB\~C\par}"
    assert rtf_to_text(rtf) == "A\u00e6B\xa0C"


def test_unique_filename():
    assert unique_filename("a.pdf", {"e-post.txt"}) == "a.pdf"
    assert unique_filename("A.pdf", {"a.pdf", "a-2.pdf"}) == "A-3.pdf"
    assert unique_filename("README", {"readme"}) == "README-2"
