"""E-mail intake: the MIME shapes and encodings a post mailbox really receives."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from helpers.inbox import SAMPLE_INBOX, make_eml
from noarkpipe.core.context import IntakeContext, IntakeLimits
from noarkpipe.core.submission import DocumentRole
from noarkpipe.errors import InputFileError
from noarkpipe.intake.email import parse_eml

RECEIVED = datetime(2026, 11, 21, 1, 0, tzinfo=UTC)


def _parse(tmp_path: Path, raw: bytes, limits: IntakeLimits = IntakeLimits(), name: str = "post.eml"):
    path = tmp_path / name
    path.write_bytes(raw)
    context = IntakeContext(origin_name=name, received=RECEIVED, scratch=tmp_path / "scratch", limits=limits)
    [submission] = parse_eml(path, context)
    return submission


def _crlf(text: str, charset: str = "utf-8") -> bytes:
    return text.lstrip("\n").replace("\n", "\r\n").encode(charset)


def test_attachments_keep_names_bytes_and_order_and_the_body_is_the_main_document(tmp_path):
    pdf = "%PDF-1.4\n% søknad\n%%EOF\n".encode()
    raw = make_eml(attachments=[("Søknad gnr 12.pdf", pdf, "application/pdf"), ("kart.png", b"\x89PNG....", "image/png")])
    submission = _parse(tmp_path, raw)
    assert [d.role for d in submission.documents] == [DocumentRole.main, DocumentRole.attachment, DocumentRole.attachment]
    main, first, second = submission.documents
    assert (first.filename, first.content, first.media_type) == ("Søknad gnr 12.pdf", pdf, "application/pdf")
    assert second.filename == "kart.png"
    text = main.content.decode("utf-8")
    assert "Fra:   Åse Ødegård <ase.odegard@example.no>" in text
    assert "Emne:  Søknad om dispensasjon – gnr. 12 bnr. 7" in text
    assert "Vedlagt følger søknaden." in text and "  - Søknad gnr 12.pdf" in text
    assert submission.sender.name == "Åse Ødegård" and submission.sender.email == "ase.odegard@example.no"
    assert submission.sent == datetime(2026, 11, 20, 14, 3, tzinfo=UTC)
    assert submission.received == RECEIVED


@pytest.mark.parametrize("charset", ["utf-8", "iso-8859-1", "windows-1252"])
@pytest.mark.parametrize("transfer", ["quoted-printable", "base64", "8bit"])
def test_body_charsets_and_transfer_encodings_decode_to_the_same_text(tmp_path, charset, transfer):
    body = "Søknad om støtte til bålplass ved Ørnevågen – «snarest»"
    if charset != "windows-1252":
        body = body.replace("–", "-").replace("«", '"').replace("»", '"') if charset == "iso-8859-1" else body
    message = EmailMessage()
    message["From"] = "kari@example.no"
    message["Subject"] = "Test"
    message.set_content(body, charset=charset, cte=transfer)
    assert _parse(tmp_path, message.as_bytes()).body_text == body


def test_rfc2047_headers_in_q_and_b_encoding_and_raw_8bit_headers(tmp_path):
    raw = _crlf("""
From: =?iso-8859-1?q?Bj=F8rn_=C5sheim?= <bjorn@example.no>
To: =?utf-8?b?UG9zdG1vdHRhayBGasO4bGx2aWs=?= <postmottak@fjellvik.kommune.no>
Cc: Ærlig Øyvind <oyvind@example.no>
Subject: =?utf-8?b?U8O4a25hZCBvbQ==?= =?utf-8?q?_fradeling_av_tomt?=
Date: Fri, 20 Nov 2026 12:00:00 +0100

Tekst.
""")
    submission = _parse(tmp_path, raw)
    assert submission.subject == "Søknad om fradeling av tomt"
    assert submission.sender.name == "Bjørn Åsheim"
    assert [p.name for p in submission.recipients] == ["Postmottak Fjøllvik", "Ærlig Øyvind"]


def test_raw_windows_1252_subject_without_any_declaration_is_read_right(tmp_path):
    raw = _crlf("From: hob@example.no\nSubject: Fakturaspørsmål – renovasjon\n\nHei på deg\n", "cp1252")
    submission = _parse(tmp_path, raw)
    assert submission.subject == "Fakturaspørsmål – renovasjon"
    assert submission.body_text == "Hei på deg"


def test_rfc2231_continued_filename_and_hostile_names_are_made_safe(tmp_path):
    raw = _crlf("""
From: a@example.no
Subject: Planer
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="x"

--x
Content-Type: text/plain; charset=utf-8

Se vedlegg.
--x
Content-Type: application/pdf
Content-Disposition: attachment;
 filename*0*=utf-8''Planbeskrivelse%20B%C3%A5;
 filename*1*=thavna.pdf

JVBERi0=
--x
Content-Type: application/pdf
Content-Disposition: attachment; filename="../../../etc/cron.d/evil.pdf"

JVBERi0=
--x
Content-Type: application/pdf
Content-Disposition: attachment; filename="C:\\\\Users\\\\x\\\\plan.pdf"

JVBERi0=
--x
Content-Type: application/octet-stream
Content-Disposition: attachment; filename="ny\x01linje.pdf"

JVBERi0=
--x--
""")
    names = [d.filename for d in _parse(tmp_path, raw).documents[1:]]
    assert names == ["Planbeskrivelse Båthavna.pdf", "evil.pdf", "plan.pdf", "ny_linje.pdf"]
    for name in names:
        assert "/" not in name and "\\" not in name and ".." not in name


def test_html_only_mail_gives_readable_text_without_scripts_or_remote_content(tmp_path):
    message = EmailMessage()
    message["From"] = "bhg@example.no"
    message["Subject"] = "Opptak"
    message.set_content(
        "<html><head><script>steal()</script><style>p{}</style></head><body><p>Ledige plasser i"
        " <b>Fjellstue</b> barnehage.</p><img src='https://tracker.example.com/p.gif'></body></html>",
        subtype="html",
    )
    text = _parse(tmp_path, message.as_bytes()).body_text
    assert text == "Ledige plasser i Fjellstue barnehage."


def test_alternative_is_shown_as_html_with_its_tiny_inline_image_in_place_and_searched_as_text(tmp_path):
    # The HTML version is the main document (tests/test_email_html.py); the text still goes to body_text.
    submission = _parse(tmp_path, (SAMPLE_INBOX / "fjellvik" / "05-alternative-med-innebygd-bilde.eml").read_bytes())
    assert "rotter i kjelleren" in submission.body_text and "<p>" not in submission.body_text
    [main] = submission.documents  # the 24x12 image is tiny: part of the letter, not a document of its own
    assert main.filename == "e-post.html" and b'<img src="data:image/png;base64,' in main.content


def test_a_forwarded_message_keeps_its_own_structure_and_its_text_is_searchable(tmp_path):
    submission = _parse(tmp_path, (SAMPLE_INBOX / "fjellvik" / "06-videresendt-vannlekkasje.eml").read_bytes())
    [forwarded] = submission.documents[1:]
    assert forwarded.media_type == "message/rfc822" and forwarded.filename.endswith(".eml")
    inner = parse_eml(_write(tmp_path, "inner.eml", forwarded.content), _context(tmp_path))[0]
    assert inner.sender.email == "ola.hansen@example.net"
    assert inner.subject == "Vannlekkasje i Fjellvegen – haster"
    assert "Fjellvegen 22" in submission.body_text  # classification sees the forwarded text


def _write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def _context(tmp_path: Path, limits: IntakeLimits = IntakeLimits()) -> IntakeContext:
    return IntakeContext(origin_name="x.eml", received=RECEIVED, scratch=tmp_path / "s", limits=limits)


@pytest.mark.parametrize(
    "date_header, expected",
    [
        (None, None),
        ("neste fredag en gang", None),
        ("Fri, 20 Nov 2026 12:00:00", datetime(2026, 11, 20, 11, 0, tzinfo=UTC)),  # no zone: Oslo time
        ("Fri, 20 Nov 2026 12:00:00 +0000", datetime(2026, 11, 20, 12, 0, tzinfo=UTC)),
        ("Tue, 1 Jan 1901 00:00:00 +0000", None),  # implausible: the sender's clock was wrong
    ],
)
def test_missing_or_broken_date_headers_do_not_stop_intake(tmp_path, date_header, expected):
    header = f"Date: {date_header}\n" if date_header else ""
    submission = _parse(tmp_path, _crlf(f"From: a@example.no\nSubject: Hei\n{header}\nTekst\n"))
    assert submission.sent == expected
    assert submission.subject == "Hei"


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "empty file"),
        (bytes(range(256)) * 40, "binary data"),
        (b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n", "no e-mail headers"),
        (b"Dette er bare tekst uten noen e-posthoder.\n", "no e-mail headers"),
    ],
)
def test_files_that_are_not_email_are_refused_with_a_reason(tmp_path, content, reason):
    with pytest.raises(InputFileError, match=reason):
        _parse(tmp_path, content)


def test_limits_on_size_and_count_are_enforced(tmp_path):
    many = make_eml(attachments=[(f"v{i}.txt", b"x", "text/plain") for i in range(5)])
    with pytest.raises(InputFileError, match="more than 3 attachments"):
        _parse(tmp_path, many, IntakeLimits(max_documents=4))
    big = make_eml(attachments=[("stor.pdf", b"%PDF" + b"0" * (2 * 1024 * 1024), "application/pdf")])
    with pytest.raises(InputFileError, match="over the limit of 1 MB"):
        _parse(tmp_path, big, IntakeLimits(max_document_mb=1))
    with pytest.raises(InputFileError, match="the e-mail file is"):
        _parse(tmp_path, big, IntakeLimits(max_file_mb=1))


def test_forwarding_nested_deeper_than_the_limit_is_refused(tmp_path):
    inner = EmailMessage()
    inner["From"], inner["Subject"] = "a@example.no", "innerst"
    inner.set_content("kjerne")
    for level in range(4):
        outer = EmailMessage()
        outer["From"], outer["Subject"] = "b@example.no", f"VS nivå {level}"
        outer.set_content("se vedlagt")
        outer.add_attachment(inner)
        inner = outer
    assert "kjerne" in _parse(tmp_path, inner.as_bytes()).body_text
    with pytest.raises(InputFileError, match="nested deeper than 2"):
        _parse(tmp_path, inner.as_bytes(), IntakeLimits(max_nesting=2))


def test_every_sample_inbox_mail_parses_with_norwegian_text_intact(tmp_path):
    files = sorted(SAMPLE_INBOX.rglob("*.eml"))
    assert len(files) >= 15
    subjects = {}
    for path in files:
        [submission] = parse_eml(path, _context(tmp_path))
        assert submission.subject and "\ufffd" not in submission.subject + submission.body_text, path.name
        assert submission.documents[0].role is DocumentRole.main
        subjects[path.name] = submission.subject
    assert subjects["04-windows-1252-uten-charset.eml"] == "Fakturaspørsmål kommunale avgifter"
    assert subjects["02-deres-ref-svar.eml"] == "Svar på varsel om tilsyn (Deres ref. 2026/48-3)"


CORPUS = SAMPLE_INBOX.parent / "email-corpus"
# file → (subject, sender e-mail, attachment names, words the body text must hold)
CORPUS_EXPECTED = {
    # The detached signature is no document: the text says the message was signed.
    "c01-smime-signert.eml": ("Signert melding om tilsyn", "sikker@example.no", [], ["Bryggevegen 4", "signert (S/MIME)"]),
    "c02-kalenderinvitasjon.eml": ("Møte om kommunesammenslåing", "ordforer@fjellvik.kommune.no", ["vedlegg-1.ics"], ["3. desember"]),
    "c03-bare-vedlegg.eml": ("Skannet dokument", "skanner@fjellvik.kommune.no", ["skann-0001.pdf"], []),
    "c04-winmail-dat.eml": ("Vedlegg fra Outlook", "bruker@example.no", ["winmail.dat"], ["See attached."]),
    "c05-lang-brettet-emne.eml": (
        "Søknad om fritak fra eiendomsskatt for frivillig organisasjon - Fjellvik skigårdlag - årsmøte",
        "solvi@example.no", [], ["klubbhuset"],
    ),
    "c06-vedlagt-msg.eml": ("Videresender Outlook-melding", "saksbehandler@example.no", ["Opprinnelig melding.msg"], []),
    "c07-svar-med-sitat.eml": ("Re: Vedtak om startlån", "gunnar.braten@example.no", [], ["Deres ref: 2026/3-1"]),
    # HTML with a tiny cid: logo: the logo is drawn in e-post.html, not a document of its own.
    "c08-nestet-multipart.eml": ("Nestet struktur", "nestet@example.no", ["Rapport.pdf"], ["Hei fra Øyvind"]),
    "c09-navn-kun-i-content-type.eml": ("Vedtak om avkjørsel", "post@statens-vegvesen.example.no", ["Vedtak avkjørsel.pdf"], []),
    "c10-lf-og-smaa-bokstaver.eml": ("små bokstaver og LF-linjeskift", "liten@example.no", [], ["bare LF"]),
    # A bounce: titled as what it is, its status as text, no status part as a document.
    "c11-leveringsfeil.eml": (
        "Returnert e-post: Undelivered Mail Returned to Sender", "MAILER-DAEMON@fjellvik.kommune.no", [],
        ["could not be delivered", "Final-Recipient: ukjent@example.no", "Status: 5.1.1"],
    ),
    "c12-ukjent-tegnsett.eml": ("Gammel e-postklient", "gammel@example.no", [], ["Søknad om bevilling til servering på Kaikanten."]),
    "c13-ødelagt-base64.eml": ("Rotete koding", "rotete@example.no", [], ["Søknad om kommunalt tilskudd"]),
    "c14-uten-emne.eml": ("", "stille@example.no", [], ["Skolebakken 2"]),
    # A zip attachment is unpacked: its files are the documents.
    "c15-zip-vedlegg.eml": ("Tegninger til rammesøknad, gnr. 8 bnr. 114", "post@arkitekt.example.no", ["fasade-nord.pdf"], ["976 543 210"]),
}


@pytest.mark.parametrize("name", sorted(CORPUS_EXPECTED))
def test_corpus_mail_gives_the_expected_fields_and_document_split(tmp_path, name):
    subject, sender, attachments, words = CORPUS_EXPECTED[name]
    [submission] = parse_eml(CORPUS / name, _context(tmp_path))
    assert submission.subject == subject
    assert submission.sender.email == sender
    assert [d.filename for d in submission.documents[1:]] == attachments
    assert all(d.role is DocumentRole.attachment for d in submission.documents[1:])
    for word in words:
        assert word in submission.body_text
    main = submission.documents[0].content.decode("utf-8")
    if submission.documents[0].filename == "e-post.html":
        assert "<th>Fra:</th>" in main and f"<th>Emne:</th><td>{subject}</td>" in main
    else:
        assert main.startswith("Fra:") and (subject in main)


def test_the_corpus_and_sample_inbox_hold_at_least_30_mails():
    assert set(CORPUS_EXPECTED) == {p.name for p in CORPUS.glob("*.eml")}
    assert len(CORPUS_EXPECTED) + len(list(SAMPLE_INBOX.rglob("*.eml"))) >= 30


def _zip(members: dict[str, bytes]) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_zip_attachments_are_unpacked_into_their_files_nested_ones_too(tmp_path):
    from helpers.inbox import make_eml

    inner = _zip({"snitt.txt": "Snitt A–A, æøå".encode()})
    raw = make_eml(subject="Tegninger", attachments=[
        ("tegninger.zip", _zip({"plan/første etasje.txt": b"Plan 1. etasje", "snitt.zip": inner}), "application/zip"),
        ("brev.txt", b"Hei", "text/plain"),
    ])
    path = tmp_path / "z.eml"
    path.write_bytes(raw)
    [submission] = parse_eml(path, _context(tmp_path))
    names = [d.filename for d in submission.documents[1:]]
    assert names == ["plan - første etasje.txt", "snitt.zip - snitt.txt", "brev.txt"]
    assert submission.documents[2].content == "Snitt A–A, æøå".encode()
    main = submission.documents[0].content.decode()
    assert "plan - første etasje.txt" in main and "tegninger.zip" not in main.split("Vedlegg:")[1]


@pytest.mark.parametrize("member", ["../../etc/passwd", "/abs/fil.txt"])
def test_a_zip_attachment_with_an_escaping_member_is_refused(tmp_path, member):
    from helpers.inbox import make_eml

    raw = make_eml(subject="Farlig", attachments=[("x.zip", _zip({member: b"x"}), "application/zip")])
    path = tmp_path / "z.eml"
    path.write_bytes(raw)
    with pytest.raises(InputFileError) as refused:
        parse_eml(path, _context(tmp_path))
    assert "x.zip" in str(refused.value)
