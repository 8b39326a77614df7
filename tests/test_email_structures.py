"""E-mail intake of the structures a post room meets besides letters: each with the outcome it must have.

Signed and encrypted mail, bounces and read receipts, winmail.dat, attached
Outlook messages, forwarded chains, odd names and declared types that lie,
and the CPython e-mail test corpus (real-world MIME written by others).
Messages are built here with Python's email package, the .msg writer in
msgfactory and the TNEF writer in tneffactory.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import compressed_rtf
import pytest

from helpers.msgfactory import MINIMAL_PDF, Attachment, outlook_message
from helpers.msgfactory import Message as OutlookMessage
from helpers.tneffactory import File, Tnef, tnef_stream
from noarkpipe.core.context import IntakeContext, IntakeLimits
from noarkpipe.core.submission import Source
from noarkpipe.errors import InputFileError
from noarkpipe.files.identify import identify
from noarkpipe.intake import invitation, notices
from noarkpipe.intake.dispatch import choose_parser
from noarkpipe.intake.email import parse_eml

RECEIVED = datetime(2026, 11, 21, 1, 0, tzinfo=UTC)
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
OUR_MESSAGE_ID = "<20261118.4711@fjellvik.kommune.no>"


def _context(tmp_path: Path, **limits) -> IntakeContext:
    return IntakeContext(origin_name="post.eml", received=RECEIVED, scratch=tmp_path / "s", limits=IntakeLimits(**limits))


def _parse(tmp_path: Path, message: EmailMessage | bytes, **limits):
    path = tmp_path / "post.eml"
    path.write_bytes(message if isinstance(message, bytes) else message.as_bytes())
    [submission] = parse_eml(path, _context(tmp_path, **limits))
    return submission


def _letter(subject: str = "Søknad om ferdigattest, gnr. 4 bnr. 17", sender: str = "Kari Nordmann <kari@example.no>",
            text: str = "Hei,\n\nvedlagt er søknaden om ferdigattest for Bryggevegen 4.\n\nKari") -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "postmottak@fjellvik.kommune.no"
    message["Subject"] = subject
    message["Date"] = "Fri, 20 Nov 2026 14:03:00 +0100"
    message["Message-ID"] = "<kari.1@example.no>"
    message.set_content(text)
    return message


def _main_text(submission) -> str:
    return submission.documents[0].content.decode("utf-8")


def _names(submission) -> list[str]:
    return [d.filename for d in submission.documents[1:]]


def _part(content_type: str, payload: bytes | str, **params) -> EmailMessage:
    part = EmailMessage()
    maintype, subtype = content_type.split("/")
    if isinstance(payload, str):
        part.set_content(payload, subtype=subtype)
        if maintype != "text":
            part.replace_header("Content-Type", content_type)
    else:
        part.set_content(payload, maintype=maintype, subtype=subtype, **params)
    return part


def _multipart(subtype: str, parts: list[EmailMessage], headers: EmailMessage | None = None, **params) -> EmailMessage:
    message = headers or EmailMessage()
    message.set_type(f"multipart/{subtype}")
    for key, value in params.items():
        message.set_param(key.replace("_", "-"), value)
    message.set_payload(parts)
    message.set_boundary(f"=={subtype}-{len(parts)}==")
    return message


def _headers(subject: str, sender: str = "Kari Nordmann <kari@example.no>") -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "postmottak@fjellvik.kommune.no"
    message["Subject"] = subject
    message["Date"] = "Fri, 20 Nov 2026 14:03:00 +0100"
    message["MIME-Version"] = "1.0"
    return message


def _text(text: str) -> EmailMessage:
    part = EmailMessage()
    part.set_content(text)
    return part


# --- signatures and encryption -------------------------------------------------------------


SIGNATURE = b"-----BEGIN PGP SIGNATURE-----\n\niQEzBAEBCAAdFiEE\n=abcd\n-----END PGP SIGNATURE-----\n"


@pytest.mark.parametrize(
    ("content_type", "filename"),
    [("application/pgp-signature", "signature.asc"), ("application/octet-stream", "brev.txt.sig")],
    ids=["pgp-signature", "sig-by-name"],
)
def test_a_pgp_mime_signature_is_no_document_and_is_noted_in_the_text(tmp_path, content_type, filename):
    maintype, subtype = content_type.split("/")
    signature = EmailMessage()
    signature.set_content(SIGNATURE, maintype=maintype, subtype=subtype, filename=filename)
    message = _multipart(
        "signed", [_text("Klage på vedtak i sak 2026/48.\n"), signature], _headers("Klage"),
        protocol="application/pgp-signature", micalg="pgp-sha256",
    )
    submission = _parse(tmp_path, message)
    assert _names(submission) == []
    assert "Klage på vedtak i sak 2026/48." in submission.body_text
    assert "signert med PGP/MIME" in submission.body_text and "signert med PGP/MIME" in _main_text(submission)


def test_inline_pgp_signed_text_is_kept_and_noted(tmp_path):
    text = (
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nJeg trekker søknaden.\n"
        "-----BEGIN PGP SIGNATURE-----\n\niQEz\n-----END PGP SIGNATURE-----\n"
    )
    submission = _parse(tmp_path, _letter(subject="Trekker søknad", text=text))
    assert "Jeg trekker søknaden." in submission.body_text
    assert "signert med PGP i selve teksten" in submission.body_text


def test_pgp_mime_encrypted_mail_is_journaled_saying_so_and_keeps_the_encrypted_part(tmp_path):
    control = _part("application/pgp-encrypted", b"Version: 1\n")
    armored = b"-----BEGIN PGP MESSAGE-----\n\nhQEMA+secret\n-----END PGP MESSAGE-----\n"
    data = EmailMessage()
    data.set_content(armored, maintype="application", subtype="octet-stream", filename="encrypted.asc")
    message = _multipart("encrypted", [control, data], _headers("Fortrolig"), protocol="application/pgp-encrypted")
    submission = _parse(tmp_path, message)
    [encrypted] = submission.documents[1:]
    assert encrypted.content == armored and encrypted.filename == "encrypted.asc"
    assert encrypted.title == "Kryptert innhold: encrypted.asc"
    # Kept as received; it can get no archival copy, and intake says why.
    assert "encrypted (PGP/MIME)" in encrypted.archival_gap
    assert "kryptert (PGP/MIME)" in submission.body_text and "kan ikke leses" in _main_text(submission)


def test_smime_encrypted_mail_is_journaled_saying_so_and_keeps_the_encrypted_part(tmp_path):
    message = _headers("Taushetsbelagt")
    envelope = b"0\x82\x01\x00\x06\x09*\x86H\x86\xf7\r\x01\x07\x03" + bytes(64)
    message.set_content(envelope, maintype="application", subtype="pkcs7-mime", filename="smime.p7m")
    message.set_param("smime-type", "enveloped-data")
    submission = _parse(tmp_path, message)
    [encrypted] = submission.documents[1:]
    assert (encrypted.filename, encrypted.content) == ("smime.p7m", envelope)
    assert "encrypted (S/MIME)" in encrypted.archival_gap
    assert "kryptert (S/MIME)" in submission.body_text


# --- bounces and read receipts -------------------------------------------------------------


def _returned_headers() -> bytes:
    return (
        "From: Postmottak Fjellvik kommune <postmottak@fjellvik.kommune.no>\r\n"
        "To: ukjent@example.no\r\n"
        "Subject: Vedtak om byggetillatelse, gnr. 12 bnr. 7\r\n"
        "Date: Wed, 18 Nov 2026 09:00:00 +0100\r\n"
        f"Message-ID: {OUR_MESSAGE_ID}\r\n"
    ).encode()


STATUS = (
    "Reporting-MTA: dns; smtp.fjellvik.kommune.no\r\nArrival-Date: Wed, 18 Nov 2026 09:00:01 +0100\r\n\r\n"
    "Final-Recipient: rfc822; ukjent@example.no\r\nOriginal-Recipient: rfc822;ukjent@example.no\r\n"
    "Action: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx.example.no\r\n"
    "Diagnostic-Code: smtp; 550 5.1.1 <ukjent@example.no>: Recipient address rejected: User unknown\r\n"
)


def _status_part() -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(
        b"Content-Type: message/delivery-status\r\n\r\n" + STATUS.encode()
    )


def _headers_part() -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(
        b"Content-Type: text/rfc822-headers\r\n\r\n" + _returned_headers()
    )


def _returned_message() -> EmailMessage:
    original = BytesParser(policy=policy.default).parsebytes(_returned_headers() + b"\r\n")
    original.set_content("Vedtaket følger vedlagt.")
    original.add_attachment(MINIMAL_PDF, maintype="application", subtype="pdf", filename="vedtak.pdf")
    part = EmailMessage()
    part.set_content(original)
    return part


def _assert_bounce_of_our_letter(submission):
    assert submission.subject == "Returnert e-post: Vedtak om byggetillatelse, gnr. 12 bnr. 7"
    assert submission.documents[0].title == submission.subject
    assert submission.refers_to_message_id == OUR_MESSAGE_ID
    text = _main_text(submission)
    assert "Final-Recipient: ukjent@example.no" in text and "Status: 5.1.1" in text
    assert "Action: failed (kunne ikke leveres)" in text
    assert "Emne: Vedtak om byggetillatelse, gnr. 12 bnr. 7" in text
    assert submission.body_text.count("Status: 5.1.1") == 1


def test_an_rfc_3464_bounce_with_quoted_headers_is_journaled_as_a_bounce(tmp_path):
    message = _multipart(
        "report",
        [_text("Your message could not be delivered to one or more recipients."), _status_part(), _headers_part()],
        _headers("Delivery Status Notification (Failure)", "Mail Delivery Subsystem <mailer-daemon@example.no>"),
        report_type="delivery-status",
    )
    submission = _parse(tmp_path, message)
    _assert_bounce_of_our_letter(submission)
    # Neither the status nor the headers part is a document, let alone one parsed as an e-mail.
    assert _names(submission) == []
    assert "Diagnostic-Code: smtp; 550 5.1.1" in _main_text(submission)


def test_a_postfix_bounce_returning_the_whole_message_keeps_it_as_one_document(tmp_path):
    message = _multipart(
        "report",
        [_text("This is the mail system at host smtp.fjellvik.kommune.no.\n\nI'm sorry to have to inform you "
               "that your message could not be delivered."), _status_part(), _returned_message()],
        _headers("Undelivered Mail Returned to Sender", "MAILER-DAEMON@smtp.fjellvik.kommune.no (Mail Delivery System)"),
        report_type="delivery-status",
    )
    submission = _parse(tmp_path, message)
    _assert_bounce_of_our_letter(submission)
    # Our own letter, returned: one document; its PDF is already journaled with the outgoing letter.
    [returned] = submission.documents[1:]
    assert returned.media_type == "message/rfc822"
    assert returned.title == "Returnert melding: Vedtak om byggetillatelse, gnr. 12 bnr. 7"
    assert b"vedtak.pdf" in returned.content


def test_an_exchange_bounce_with_html_and_headers_is_journaled_as_a_bounce(tmp_path):
    alternative = _multipart("alternative", [
        _text("Delivery has failed to these recipients or groups:\n\nukjent@example.no"),
        _part("text/html", "<html><body><p>Delivery has failed to these recipients or groups:</p></body></html>"),
    ])
    message = _multipart(
        "report", [alternative, _status_part(), _headers_part()],
        _headers("Undeliverable: Vedtak om byggetillatelse, gnr. 12 bnr. 7",
                 "Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@example.no>"),
        report_type="delivery-status",
    )
    submission = _parse(tmp_path, message)
    _assert_bounce_of_our_letter(submission)
    assert "Delivery has failed to these recipients" in submission.body_text
    assert submission.documents[0].filename == "e-post.txt"


def test_a_non_standard_bounce_with_the_message_attached_is_journaled_as_a_bounce(tmp_path):
    message = _multipart(
        "mixed",
        [_text("This message was created automatically by mail delivery software.\n\n"
               "A message that you sent could not be delivered to one or more of its recipients.\n\n"
               "  ukjent@example.no\n    Unrouteable address"), _returned_message()],
        _headers("Mail delivery failed: returning message to sender", "Mail Delivery System <Mailer-Daemon@example.no>"),
    )
    submission = _parse(tmp_path, message)
    assert submission.subject == "Returnert e-post: Vedtak om byggetillatelse, gnr. 12 bnr. 7"
    assert submission.refers_to_message_id == OUR_MESSAGE_ID
    assert "Unrouteable address" in submission.body_text
    assert [d.title for d in submission.documents[1:]] == ["Returnert melding: Vedtak om byggetillatelse, gnr. 12 bnr. 7"]


def test_a_read_receipt_is_journaled_as_a_receipt_for_our_message(tmp_path):
    notification = BytesParser(policy=policy.default).parsebytes(
        b"Content-Type: message/disposition-notification\r\n\r\n"
        b"Reporting-UA: kari-pc; Microsoft Outlook 16.0\r\nFinal-Recipient: rfc822;kari@example.no\r\n"
        + f"Original-Message-ID: {OUR_MESSAGE_ID}\r\n".encode()
        + b"Disposition: manual-action/MDN-sent-manually; displayed\r\n"
    )
    message = _multipart(
        "report",
        [_text("Meldingen ble lest 20.11.2026 kl. 14:03."), notification],
        _headers("Lest: Vedtak om byggetillatelse, gnr. 12 bnr. 7"),
        report_type="disposition-notification",
    )
    submission = _parse(tmp_path, message)
    assert submission.subject == "Lesebekreftelse: Vedtak om byggetillatelse, gnr. 12 bnr. 7"
    assert submission.refers_to_message_id == OUR_MESSAGE_ID
    assert "Disposition: manual-action/MDN-sent-manually; displayed" in _main_text(submission)
    assert _names(submission) == []


def _delivery_status(*actions: str) -> EmailMessage:
    """A message/delivery-status part with one recipient group per action."""
    groups = "".join(
        f"\r\nFinal-Recipient: rfc822; mottaker{n}@example.no\r\nAction: {action}\r\n"
        f"Status: {'5.1.1' if action == 'failed' else '4.4.7' if action == 'delayed' else '2.0.0'}\r\n"
        for n, action in enumerate(actions, start=1)
    )
    return BytesParser(policy=policy.default).parsebytes(
        b"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; smtp.fjellvik.kommune.no\r\n"
        + groups.encode()
    )


def _dsn(*actions: str, subject: str = "Delivery Status Notification") -> EmailMessage:
    return _multipart(
        "report", [_text("This is an automatically generated Delivery Status Notification."),
                   _delivery_status(*actions), _headers_part()],
        _headers(subject, "Mail Delivery Subsystem <mailer-daemon@example.no>"),
        report_type="delivery-status",
    )


def test_a_delay_notice_is_journaled_as_a_delay_not_as_a_bounce(tmp_path):
    submission = _parse(tmp_path, _dsn("delayed", subject="Delivery Status Notification (Delay)"))
    assert submission.subject == "Forsinket levering: Vedtak om byggetillatelse, gnr. 12 bnr. 7"
    assert submission.documents[0].title == submission.subject
    assert submission.refers_to_message_id == OUR_MESSAGE_ID
    text = _main_text(submission)
    assert "Returnert" not in text and "ikke kunne leveres" not in text
    assert "ennå ikke er levert" in text and "fortsetter å forsøke" in text
    assert "Action: delayed (forsinket, forsøkes igjen)" in text
    assert _names(submission) == []


@pytest.mark.parametrize("action", ["delivered", "relayed", "expanded"])
def test_a_delivery_confirmation_is_journaled_as_one(tmp_path, action):
    submission = _parse(tmp_path, _dsn(action, subject="Delivery Status Notification (Success)"))
    assert submission.subject == "Leveringsbekreftelse: Vedtak om byggetillatelse, gnr. 12 bnr. 7"
    assert submission.refers_to_message_id == OUR_MESSAGE_ID
    text = _main_text(submission)
    assert "er levert" in text and f"Action: {action} (" in text
    assert "Returnert" not in text and "ikke er levert" not in text


def test_a_failed_recipient_makes_a_bounce_whatever_the_others_say(tmp_path):
    submission = _parse(tmp_path, _dsn("delivered", "failed"))
    assert submission.subject == "Returnert e-post: Vedtak om byggetillatelse, gnr. 12 bnr. 7"
    assert "Action: failed (kunne ikke leveres)" in _main_text(submission)
    assert "Action: delivered (levert)" in _main_text(submission)


@pytest.mark.parametrize(
    ("actions", "kind"),
    [(["failed"], "bounce"), (["delayed"], "delay"), (["delivered"], "delivery"), (["relayed"], "delivery"),
     (["expanded"], "delivery"), (["delivered", "delayed"], "delay"), (["delayed", "failed", "delivered"], "bounce"),
     (["Delayed "], "delay"), ([], "bounce"), (["unknown-action"], "bounce")],
)
def test_the_worst_recipient_action_names_the_notice(actions, kind):
    assert notices.delivery_kind(actions) == kind


def test_a_notice_without_the_returned_headers_is_titled_after_its_own_subject_once(tmp_path):
    message = _multipart(
        "report", [_text("Levering er forsinket."), _delivery_status("delayed")],
        _headers("Forsinket levering: Oversendelse av klage", "Microsoft Outlook <postmaster@example.no>"),
        report_type="delivery-status",
    )
    assert _parse(tmp_path, message).subject == "Forsinket levering: Oversendelse av klage"


def test_an_ordinary_letter_with_a_forwarded_message_is_no_bounce(tmp_path):
    message = _multipart("mixed", [_text("Se videresendt melding."), _returned_message()], _headers("VS: vedtak"))
    submission = _parse(tmp_path, message)
    assert submission.subject == "VS: vedtak" and submission.refers_to_message_id is None
    assert _names(submission) == ["Vedtak om byggetillatelse, gnr. 12 bnr. 7.eml", "vedtak.pdf"]


# --- winmail.dat ---------------------------------------------------------------------------


def _with_winmail(stream: bytes, text: str | None = None) -> EmailMessage:
    parts = [_text(text)] if text is not None else []
    winmail = EmailMessage()
    winmail.set_content(stream, maintype="application", subtype="ms-tnef", filename="winmail.dat")
    return _multipart("mixed", [*parts, winmail], _headers("Tilbud på brøyting"))


def test_winmail_dat_is_unwrapped_into_its_text_and_files(tmp_path):
    stream = tnef_stream(Tnef(files=[
        File("Tilbud brøyting 2027.pdf", MINIMAL_PDF, "application/pdf", short_name=b"TILBUD~1.PDF"),
        File("kart", PNG),
    ]))
    submission = _parse(tmp_path, _with_winmail(stream))
    assert "Vedlagt er tilbudet." in submission.body_text
    assert _names(submission) == ["Tilbud brøyting 2027.pdf", "kart.png"]
    pdf, image = submission.documents[1:]
    assert pdf.archival_gap is None and image.archival_gap is None
    assert (pdf.content, pdf.media_type) == (MINIMAL_PDF, "application/pdf")
    # A name without an extension and no declared type: the bytes say what it is.
    assert (image.content, image.media_type) == (PNG, "image/png")
    assert "winmail.dat" not in _main_text(submission)


def test_winmail_dat_with_only_an_rtf_body_gives_its_text_and_a_mime_text_wins_over_it(tmp_path):
    rtf = compressed_rtf.compress(rb"{\rtf1\ansi\ansicpg1252{\fonttbl{\f0 Calibri;}}\f0 Br\'f8yting av Sk\'f8levegen\par Hilsen Per}")
    stream = tnef_stream(Tnef(body=None, rtf_compressed=rtf))
    alone = _parse(tmp_path, _with_winmail(stream))
    assert "Brøyting av Skølevegen\nHilsen Per" in alone.body_text and "Calibri" not in alone.body_text
    beside = _parse(tmp_path, _with_winmail(stream, text="Brøyting av Skølevegen (ren tekst)"))
    assert "(ren tekst)" in beside.body_text and "Hilsen Per" not in beside.body_text


def test_an_outlook_item_inside_winmail_dat_gives_its_text_and_files(tmp_path):
    stream = tnef_stream(Tnef(files=[File("a.pdf", MINIMAL_PDF)], embedded=[
        Tnef(subject="Opprinnelig tilbud", body="Første tilbud", files=[File("gammelt.pdf", MINIMAL_PDF)]),
    ]))
    submission = _parse(tmp_path, _with_winmail(stream))
    assert _names(submission) == ["a.pdf", "gammelt.pdf"]
    assert submission.documents[2].title == "Opprinnelig tilbud: gammelt.pdf"
    assert "Første tilbud" in submission.body_text


@pytest.mark.parametrize(
    "stream",
    [b"\x78\x9f\x3e\x22" + bytes(60), b"\x78\x9f\x3e\x22\x01\x00\x01\x06\x90\x08\x00\xff\xff\xff\x7f"],
    ids=["holds-nothing", "cut-off"],
)
def test_a_winmail_dat_that_cannot_be_read_is_kept_as_it_came_with_a_note(tmp_path, stream):
    submission = _parse(tmp_path, _with_winmail(stream, text="Se vedlegg."))
    [kept] = submission.documents[1:]
    assert (kept.filename, kept.content) == ("winmail.dat", stream)
    assert "could not be unwrapped" in kept.archival_gap
    assert "kunne ikke pakkes ut" in submission.body_text


def test_winmail_dat_obeys_the_document_limit(tmp_path):
    stream = tnef_stream(Tnef(files=[File(f"{n}.pdf", MINIMAL_PDF) for n in range(5)]))
    with pytest.raises(InputFileError, match="winmail.dat carries more than 3 files"):
        _parse(tmp_path, _with_winmail(stream), max_documents=4)


# --- attached Outlook messages and forwarded chains ----------------------------------------


def _with_msg(data: bytes, filename: str = "Nabovarsel.msg", content_type: str = "application/vnd.ms-outlook"):
    maintype, subtype = content_type.split("/")
    message = _letter(subject="VS: nabovarsel", text="Videresender nabovarselet.")
    message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message


@pytest.mark.parametrize(
    ("filename", "content_type"),
    [("Nabovarsel.msg", "application/vnd.ms-outlook"), ("Nabovarsel.msg", "application/octet-stream")],
    ids=["declared", "by-name-and-magic"],
)
def test_an_attached_msg_becomes_a_forwarded_message_with_its_own_attachments(tmp_path, filename, content_type):
    inner = OutlookMessage(
        subject="Nabovarsel gnr. 12 bnr. 7", body="Nabovarsel om tilbygg sendt 1. november.",
        attachments=[Attachment("situasjonsplan.pdf", MINIMAL_PDF, "application/pdf"),
                     OutlookMessage(subject="Kvittering", body="Mottatt.", attachments=[Attachment("k.txt", b"ok")])],
    )
    submission = _parse(tmp_path, _with_msg(outlook_message(inner), filename, content_type))
    assert _names(submission) == ["Nabovarsel.eml", "situasjonsplan.pdf", "Kvittering.eml", "k.txt"]
    forwarded, plan, receipt, receipt_file = submission.documents[1:]
    assert forwarded.title == "Videresendt melding: Nabovarsel gnr. 12 bnr. 7"
    assert plan.title == "Nabovarsel gnr. 12 bnr. 7: situasjonsplan.pdf" and plan.content == MINIMAL_PDF
    assert receipt.title == "Videresendt melding: Kvittering" and receipt_file.title == "Kvittering: k.txt"
    # The forwarded message is an e-mail the conversion typesets like any forwarded .eml.
    eml = BytesParser(policy=policy.default).parsebytes(forwarded.content)
    assert (forwarded.media_type, eml["Subject"]) == ("message/rfc822", "Nabovarsel gnr. 12 bnr. 7")
    assert forwarded.content.startswith(b"From: ")
    assert submission.body_text.index("Videresender") < submission.body_text.index("Nabovarsel om tilbygg")
    assert "Mottatt." in submission.body_text


@pytest.mark.parametrize(
    "recipients", [None, []], ids=["with-recipients", "saved-without-recipients"],
)
def test_the_eml_written_for_an_attached_msg_is_identified_as_mime_email(tmp_path, recipients):
    inner = OutlookMessage(subject="Søknad om dispensasjon for levegg", body="Vi søker om dispensasjon.")
    if recipients is not None:
        inner.recipients = recipients
    submission = _parse(tmp_path, _with_msg(outlook_message(inner)))
    [forwarded] = submission.documents[1:]
    written = tmp_path / forwarded.filename
    written.write_bytes(forwarded.content)
    found = identify(written)
    # PRONOM's MIME Email, as every other forwarded .eml: so it gets its archival copy.
    assert (found.puid, found.basis) == ("fmt/950", "signature"), found
    head = forwarded.content.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert b"\n" not in b"".join(head)  # CRLF line endings throughout the header block
    names = [line.split(b":", 1)[0] for line in head]
    assert {b"MIME-Version", b"Content-Type", b"Date", b"From", b"To", b"Subject"} <= set(names)


def test_an_attached_msg_that_cannot_be_read_is_kept_with_a_note(tmp_path):
    damaged = bytes.fromhex("D0CF11E0A1B11AE1") + bytes(600)
    submission = _parse(tmp_path, _with_msg(damaged))
    [kept] = submission.documents[1:]
    assert (kept.filename, kept.content) == ("Nabovarsel.msg", damaged)
    assert "cannot be read" in kept.archival_gap
    assert "kunne ikke leses" in submission.body_text


def test_attached_msg_nesting_obeys_the_limit(tmp_path):
    deep = OutlookMessage(subject="1", attachments=[OutlookMessage(subject="2", attachments=[OutlookMessage(subject="3")])])
    with pytest.raises(InputFileError, match="levels deep"):
        _parse(tmp_path, _with_msg(outlook_message(deep)), max_nesting=2)


def _forward(inner: EmailMessage, subject: str, text: str, extra: tuple[str, bytes] | None = None) -> EmailMessage:
    outer = _letter(subject=subject, text=text)
    if extra:
        outer.add_attachment(extra[1], maintype="application", subtype="pdf", filename=extra[0])
    outer.add_attachment(inner)
    return outer


def test_a_forwarded_chain_two_deep_gives_every_level_its_documents_and_text(tmp_path):
    first = _letter(subject="Søknad", text="Selve søknaden om tilskudd.")
    first.add_attachment(MINIMAL_PDF, maintype="application", subtype="pdf", filename="søknad.pdf")
    second = _forward(first, "VS: Søknad", "Til behandling.", ("notat.pdf", MINIMAL_PDF))
    third = _forward(second, "VS: VS: Søknad", "Se nedenfor.")
    submission = _parse(tmp_path, third)
    titles = [d.title for d in submission.documents[1:]]
    assert titles == [
        "Videresendt melding: VS: Søknad",
        "VS: Søknad: notat.pdf",
        "Videresendt melding: Søknad",
        "Søknad: søknad.pdf",
    ]
    text = submission.body_text
    assert text.index("Se nedenfor.") < text.index("Til behandling.") < text.index("Selve søknaden")
    with pytest.raises(InputFileError, match="nested deeper than 1 levels"):
        _parse(tmp_path, third, max_nesting=1)


# --- names, types and broken structure ----------------------------------------------------


# --- calendar invitations ------------------------------------------------------------------


def _invitation(uid: str = "befaring-7@google.com", start: str = "DTSTART;TZID=W. Europe Standard Time:20261125T130000",
                end: str = "DTEND;TZID=W. Europe Standard Time:20261125T140000", crlf: bool = True) -> bytes:
    lines = [
        "BEGIN:VCALENDAR", "PRODID:-//Google Inc//Google Calendar 70.9054//EN", "VERSION:2.0", "METHOD:REQUEST",
        "BEGIN:VEVENT", "ORGANIZER;CN=Ola Sæter:mailto:ola.sater@gmail.com",
        "ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION:mailto:postmottak@fjellvik.kommune.no",
        "SUMMARY;LANGUAGE=nb-NO:Befaring på Sæter", start, end, f"UID:{uid}",
        "DTSTAMP:20261117T080000Z", "LOCATION:Kommunestyresalen\\, rådhuset", "SEQUENCE:0",
        "END:VEVENT", "END:VCALENDAR", "",
    ]
    return ("\r\n" if crlf else "\n").join(lines).encode("utf-8")


def _invitation_mail(rendering: bytes, attached: bytes | None) -> EmailMessage:
    calendar = EmailMessage()
    calendar.set_content(rendering.decode("utf-8"), subtype="calendar", charset="utf-8", params={"method": "REQUEST"})
    alternative = _multipart("alternative", [
        _text("Du er invitert til befaring på Sæter."),
        _part("text/html", "<html><body><h3>Befaring på Sæter</h3></body></html>"),
        calendar,
    ])
    parts = [alternative]
    if attached is not None:
        attachment = EmailMessage()
        attachment.set_content(attached, maintype="application", subtype="ics", filename="invite.ics")
        parts.append(attachment)
    return _multipart("mixed", parts, _headers("Invitasjon: Befaring på Sæter", "Ola Sæter <ola.sater@gmail.com>"))


@pytest.mark.parametrize(
    "attached",
    [_invitation(), _invitation(crlf=False)],
    ids=["same-bytes", "same-invitation-other-line-endings"],
)
def test_an_invitation_in_the_alternative_and_attached_is_one_document(tmp_path, attached):
    submission = _parse(tmp_path, _invitation_mail(_invitation(), attached))
    # The attachment, under the sender's name, is the document; the alternative was a rendering of it.
    assert _names(submission) == ["invite.ics"]
    assert submission.documents[1].content == attached
    assert submission.body_text.count("Befaring på Sæter. Tid:") == 1


def test_the_same_uid_and_start_is_the_same_invitation_and_another_start_is_not(tmp_path):
    reworded = _invitation().replace(b"SEQUENCE:0", b"SEQUENCE:0\r\nDESCRIPTION:Ta med kart")
    assert invitation.same_invitation(_invitation(), reworded)
    moved = _invitation(start="DTSTART;TZID=W. Europe Standard Time:20261126T130000")
    assert not invitation.same_invitation(_invitation(), moved)
    submission = _parse(tmp_path, _invitation_mail(_invitation(), moved))
    # Two invitations, two documents: the rendering stays when the attachment holds another one.
    assert _names(submission) == ["vedlegg-1.ics", "invite.ics"]


def test_the_invitation_is_said_in_the_letter_in_oslo_time(tmp_path):
    submission = _parse(tmp_path, _invitation_mail(_invitation(), _invitation()))
    expected = ("[Møteinnkalling: Befaring på Sæter. Tid: onsdag 25.11.2026 kl. 13:00–14:00 (norsk tid). "
                "Sted: Kommunestyresalen, rådhuset. Arrangør: Ola Sæter <ola.sater@gmail.com>.]")
    assert expected in submission.body_text
    # The HTML letter is the main document here: its archival copy is rendered from it, note included.
    main = submission.documents[0]
    assert main.filename == "e-post.html"
    assert "kl. 13:00–14:00 (norsk tid)" in main.content.decode("utf-8")
    assert "Kommunestyresalen, rådhuset" in main.content.decode("utf-8")


@pytest.mark.parametrize(
    ("start", "end", "shown"),
    [
        ("DTSTART:20261125T120000Z", "DTEND:20261125T130000Z", "onsdag 25.11.2026 kl. 13:00–14:00 (norsk tid)"),
        ("DTSTART:20260615T080000Z", "DTEND:20260615T090000Z", "mandag 15.06.2026 kl. 10:00–11:00 (norsk tid)"),
        ("DTSTART;TZID=Europe/London:20261125T120000", "DTEND;TZID=Europe/London:20261125T130000",
         "onsdag 25.11.2026 kl. 13:00–14:00 (norsk tid)"),
        ("DTSTART;VALUE=DATE:20261125", "DTEND;VALUE=DATE:20261127",
         "onsdag 25.11.2026–torsdag 26.11.2026 (hele dagen)"),
        ("DTSTART;TZID=Mars/Olympus:20261125T120000", "DTEND;TZID=Mars/Olympus:20261125T130000",
         "onsdag 25.11.2026 kl. 12:00–13:00 (tidssone Mars/Olympus)"),
    ],
    ids=["utc-winter", "utc-summer", "iana-zone", "all-day", "unknown-zone-as-written"],
)
def test_invitation_times_are_shown_in_oslo_time(start, end, shown):
    [line] = invitation.describe(invitation.read(_invitation(start=start, end=end)))
    assert f"Tid: {shown}." in line


def test_a_part_that_is_no_calendar_reads_as_none():
    assert invitation.read(b"%PDF-1.4 not a calendar") is None
    assert invitation.read(b"") is None


def _inline_png_with_raw_name(name: str) -> bytes:
    return (
        "--b\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n"
        f'Content-Disposition: inline; filename="{name}"\r\n\r\n'
    ).encode() + __import__("base64").b64encode(PNG) + b"\r\n"


def test_windows_paths_and_duplicate_names_give_distinct_stable_names(tmp_path):
    raw = (
        b"From: kari@example.no\r\nSubject: Bilder\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/related; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nFire bilder.\r\n"
        + _inline_png_with_raw_name(r"C:\TEMP\nsmailEG.png")
        + _inline_png_with_raw_name(r"C:\TEMP\nsmail39.png")
        + _inline_png_with_raw_name("bilde.png")
        + _inline_png_with_raw_name("Bilde.PNG")
        + b"--b--\r\n"
    )
    names = _names(_parse(tmp_path, raw))
    assert names == ["nsmailEG.png", "nsmail39.png", "bilde.png", "Bilde-2.PNG"]
    assert _names(_parse(tmp_path, raw)) == names


def test_octet_stream_is_named_by_its_bytes_and_an_empty_attachment_is_kept(tmp_path):
    message = _letter()
    message.add_attachment(MINIMAL_PDF, maintype="application", subtype="octet-stream", filename="dokument")
    message.add_attachment(PNG, maintype="application", subtype="octet-stream", filename="scan.bin")
    message.add_attachment(b"", maintype="application", subtype="pdf", filename="tom.pdf")
    submission = _parse(tmp_path, message)
    assert [(d.filename, d.media_type, len(d.content)) for d in submission.documents[1:]] == [
        ("dokument.pdf", "application/pdf", len(MINIMAL_PDF)),
        ("scan.png", "image/png", len(PNG)),
        ("tom.pdf", "application/pdf", 0),
    ]


def test_a_report_whose_boundary_parameter_was_cut_off_is_still_read(tmp_path):
    raw = (
        "From: Mail Delivery Subsystem <MAILER-DAEMON@example.no>\r\nTo: postmottak@fjellvik.kommune.no\r\n"
        "Subject: Returned mail: User unknown\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status;\r\n\tbo\r\n\r\n"
        "--XYZ.1/host\r\n\r\nThe original message could not be delivered.\r\n\r\n"
        "--XYZ.1/host\r\nContent-Type: message/delivery-status\r\n\r\n" + STATUS + "\r\n"
        "--XYZ.1/host\r\nContent-Type: text/rfc822-headers\r\n\r\n"
    ).encode() + _returned_headers() + b"\r\n--XYZ.1/host--\r\n"
    submission = _parse(tmp_path, raw)
    _assert_bounce_of_our_letter(submission)
    assert "could not be delivered" in submission.body_text


def test_a_message_without_sender_is_read_and_a_file_without_headers_is_not_an_email(tmp_path):
    headless = tmp_path / "anonym.txt"
    headless.write_bytes(b"Subject: Tips om ulovlig bygging\r\nMIME-Version: 1.0\r\n\r\nDet bygges ved Nausta.\r\n")
    source, parser = choose_parser(headless, headless.name)
    [submission] = parser(headless, _context(tmp_path))
    assert (source, submission.sender, submission.subject) == (Source.email, None, "Tips om ulovlig bygging")
    text = tmp_path / "notat.txt"
    text.write_bytes(b"Send Ppp mailing list submissions to\r\n\tppp@zzz.org\r\n\r\nFrom: nobody\r\n")
    with pytest.raises(InputFileError, match="unsupported file type"):
        choose_parser(text, text.name)


@pytest.mark.parametrize(
    "head",
    [b"From MAILER-DAEMON Fri Apr 06 16:46:09 2001\nReceived: from x\nFrom: a@b\n\nx",
     b"Content-Type: multipart/mixed; boundary=X\nMIME-Version: 1.0\nSubject: s\n\n--X--\n"],
    ids=["mbox-from-line", "mime-headers-first"],
)
def test_mail_saved_by_unix_programs_or_starting_with_mime_headers_is_read_as_email(tmp_path, head):
    path = tmp_path / "melding.txt"
    path.write_bytes(head)
    assert choose_parser(path, path.name)[0] is Source.email


# --- the CPython e-mail test corpus --------------------------------------------------------


def _cpython_corpus() -> Path:
    try:
        import test.test_email
    except ImportError:
        pytest.skip("this Python has no test package (test.test_email)")
    folder = Path(test.test_email.__file__).parent / "data"
    if not any(folder.glob("msg_*.txt")):
        pytest.skip(f"no CPython e-mail corpus in {folder}")
    return folder


# Not e-mail, for the reason given; every other message of the corpus must be read.
NOT_EMAIL = {
    "msg_19.txt": "a mailing-list digest body with no header block at all",
    "msg_37.txt": "a MIME body with only Content-Type: no From, To, Subject, Date or Message-ID",
}


def test_the_cpython_email_corpus_is_read_but_for_the_files_that_are_no_email(tmp_path):
    folder = _cpython_corpus()
    files = sorted(folder.glob("msg_*.txt"))
    assert len(files) >= 45
    refused, read = {}, {}
    for number, path in enumerate(files):
        scratch = tmp_path / str(number)
        context = IntakeContext(origin_name=path.name, received=RECEIVED, scratch=scratch)
        try:
            source, parser = choose_parser(path, path.name)
            [submission] = parser(path, context)
        except InputFileError as exc:
            refused[path.name] = exc.message
            continue
        assert source is Source.email
        read[path.name] = submission
    assert set(refused) == set(NOT_EMAIL), refused
    assert "no e-mail headers" in refused["msg_37.txt"]
    # Shapes met in the corpus, each with the outcome it must have.
    assert read["msg_25.txt"].subject == "Returnert e-post: [LinuxUser] bulletin no. 45"
    assert read["msg_25.txt"].refers_to_message_id == "<01040616033903.00962@server>"
    assert _names(read["msg_45.txt"]) == [] and "PGP/MIME" in read["msg_45.txt"].body_text
    assert _names(read["msg_26.txt"]) == ["clock.bmp"] and read["msg_26.txt"].documents[1].media_type == "image/bmp"
    assert _names(read["msg_15.txt"]) == ["xx.gif"]
    assert "dingus fish" in read["msg_17.txt"].body_text
    for name, submission in read.items():
        names = [d.filename.lower() for d in submission.documents]
        assert len(names) == len(set(names)), name
