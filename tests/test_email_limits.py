"""One e-mail can neither take all memory or time nor be journaled when it is cut off (issue #13, items 4 and 5).

Every hostile message is built here, byte by byte, and read by `parse_eml` (or
`parse_msg`) in a child process of its own with its address space capped, so
a regression shows as a failure rather than as a machine out of memory; the
child reports the outcome, the time of the parse and its peak RSS. Before
these limits the 200,000 encoded words peaked at 5.65 GB and the Cc of
100,000 addresses took 131 s; each must now be quarantined with its
`[intake]` setting named, within loose bounds (300 MB, 10 s). A letter just
under every limit is journaled whole, and the quirks of real senders (a
missing closing boundary after a whole last part, junk in base64 that still
decodes, short padding) stay accepted.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
from email.message import EmailMessage
from pathlib import Path

import pytest

from helpers.msgfactory import Message, Recipient, outlook_message
from noarkpipe.core.context import IntakeLimits
from noarkpipe.errors import InputFileError
from noarkpipe.intake.email_guard import address_count, check_head

PEAK_MB = 300
SECONDS = 10
ADDRESS_SPACE = 1536 * 1024 * 1024
"""The child's RLIMIT_AS: far above what a bounded parse needs, far below what the unbounded one took."""

_CHILD = textwrap.dedent("""
    import json, resource, sys, time
    from datetime import UTC, datetime
    from pathlib import Path
    resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[3]),) * 2)
    from noarkpipe.errors import InputFileError
    from noarkpipe.core.context import IntakeContext, IntakeLimits
    from noarkpipe.intake.email import parse_eml
    from noarkpipe.intake.msg import parse_msg
    path = Path(sys.argv[1])
    context = IntakeContext(path.name, datetime.now(UTC), path.parent, limits=IntakeLimits(**json.loads(sys.argv[2])))
    started = time.monotonic()
    try:
        [submission] = (parse_msg if path.suffix == ".msg" else parse_eml)(path, context)
        result = {"outcome": "journaled", "documents": [[d.filename, d.content.hex()] for d in submission.documents],
                  "recipients": len(submission.recipients), "subject": submission.subject}
    except InputFileError as exc:
        result = {"outcome": "quarantined", "reason": str(exc)}
    result["seconds"] = time.monotonic() - started
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec, so it would count the parent pytest.
    status = Path("/proc/self/status").read_text()
    result["peak_mb"] = int(status.split("VmHWM:")[1].split()[0]) / 1024
    print(json.dumps(result))
""")


def _read(tmp_path: Path, content: bytes, name: str = "brev.eml", **limits) -> dict:
    path = tmp_path / name
    path.write_bytes(content)
    done = subprocess.run([sys.executable, "-c", _CHILD, str(path), json.dumps(limits), str(ADDRESS_SPACE)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["seconds"] < SECONDS and result["peak_mb"] < PEAK_MB, result
    return result


def _quarantined(result: dict, *words: str) -> str:
    assert result["outcome"] == "quarantined", result
    for word in words:
        assert word in result["reason"], result["reason"]
    return result["reason"]


def _eml(headers: bytes = b"Subject: Soknad\r\n", body: bytes = b"Hei,\r\n\r\nkort melding.\r\n",
         content_type: bytes = b"text/plain; charset=utf-8") -> bytes:
    return (b"From: Kari Nordmann <kari@example.no>\r\nTo: postmottak@fjellvik.kommune.no\r\n"
            b"Date: Mon, 30 Nov 2026 21:14:00 +0000\r\nMessage-ID: <1@example.no>\r\nMIME-Version: 1.0\r\n"
            + headers + b"Content-Type: " + content_type + b"\r\n\r\n" + body)


def _words(count: int) -> bytes:
    return b"Subject: " + b"\r\n ".join([b"=?utf-8?b?w6Zzag==?="] * count) + b"\r\n"


def _cc(count: int) -> bytes:
    return b"Cc: " + b",\r\n ".join(b"mottaker%d@example.no" % i for i in range(count)) + b"\r\n"


def _mixed(*parts: bytes, close: bool = True) -> bytes:
    body = b"".join(b"--grense\r\n" + part + b"\r\n" for part in parts) + (b"--grense--\r\n" if close else b"")
    return _eml(body=body, content_type=b'multipart/mixed; boundary="grense"')


TEXT_PART = b"Content-Type: text/plain; charset=utf-8\r\n\r\nHei, vedlagt er s\xc3\xb8knaden.\r\n"


def _pdf() -> bytes:
    """A small whole PDF (pypdf writes header, xref and %%EOF)."""
    from io import BytesIO

    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def _base64_part(content: bytes, name: str = "brev.pdf", media_type: bytes = b"application/pdf") -> bytes:
    return (b"Content-Type: " + media_type + b'; name="' + name.encode() + b'"\r\n'
            b'Content-Disposition: attachment; filename="' + name.encode() + b'"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(content).replace(b"\n", b"\r\n"))


# --- Item 4: headers that would take all memory or time ------------------------------------------------

HOSTILE_HEADERS = [
    # (id, the message, the setting its reason must name)
    ("encoded-words-200k", _eml(_words(200_000)), "max_header_kb"),  # 3.8 MB: 5.65 GB before
    ("encoded-words-3000", _eml(_words(3000)), "max_encoded_words"),  # 69 KB: within max_header_kb
    ("cc-100k", _eml(b"Subject: Til alle\r\n" + _cc(100_000)), "max_header_kb"),  # 131 s before
    ("cc-1500", _eml(b"Subject: Til alle\r\n" + _cc(1500)), "max_addresses"),
    ("cc-groups", _eml(b"Subject: x\r\nCc: " + b"g:;" * 5000 + b"\r\n"), "max_addresses"),
    ("fields-100k", _eml(b"".join(b"X-Felt-%d: verdi\r\n" % i for i in range(100_000))), "max_headers"),
    ("one-huge-subject", _eml(b"Subject: " + b"a " * 2_000_000 + b"\r\n"), "max_header_kb"),
    ("huge-header-no-body", b"Subject: " + b"a" * 3_000_000, "max_header_kb"),
    ("content-type-comments", _eml(content_type=b"text/plain " + b"(a)" * 12_000), "max_header_tokens"),
    ("address-phrase", _eml(b"Subject: x\r\nCc: " + b"a " * 40_000 + b"<p@example.no>\r\n"), "max_header_tokens"),
    ("nested-words", _mixed(TEXT_PART, b"Content-Type: message/rfc822\r\n\r\n" + _eml(_words(3000))),
     "max_encoded_words"),
    ("nested-huge", _mixed(TEXT_PART, b"Content-Type: message/rfc822\r\n\r\n" + _eml(_words(200_000))),
     "max_header_kb"),
    ("part-fields", _mixed(TEXT_PART, b"".join(b"X-Felt-%d: v\r\n" % i for i in range(2000)) + TEXT_PART),
     "max_headers"),
    ("part-content-type-params", _mixed(b"Content-Type: text/plain" + b";\r\n a=1" * 20_000 + b"\r\n\r\nx\r\n"),
     "max_header_kb"),
]


@pytest.mark.parametrize(("message", "setting"), [(m, s) for _, m, s in HOSTILE_HEADERS],
                         ids=[i for i, _, _ in HOSTILE_HEADERS])
def test_a_header_over_a_limit_is_quarantined_with_the_setting_named_in_bounded_time_and_memory(
        tmp_path, message, setting):
    reason = _quarantined(_read(tmp_path, message), setting, "[intake]")
    assert "raise" in reason  # says what to do if such mail is really expected


def test_where_the_header_is_is_said(tmp_path):
    top = _quarantined(_read(tmp_path, _eml(_words(3000))), "max_encoded_words")
    nested = _quarantined(
        _read(tmp_path, _mixed(TEXT_PART, b"Content-Type: message/rfc822\r\n\r\n" + _eml(_words(3000)))))
    assert top.startswith("the e-mail's header") and nested.startswith("the header of a part or attached message")


def test_comments_nested_too_deep_for_the_parser_are_quarantined_with_the_rule(tmp_path):
    deep = _eml(b"Subject: x\r\n", content_type=b"text/plain " + b"(" * 3000 + b")" * 3000)
    _quarantined(_read(tmp_path, deep), "nests parentheses")


def test_the_setting_decides(tmp_path):
    """The same 1500-address Cc is journaled, every address kept, once max_addresses allows it."""
    message = _eml(b"Subject: Til alle\r\n" + _cc(1500))
    _quarantined(_read(tmp_path, message, max_addresses=1000), "max_addresses = 1000")
    journaled = _read(tmp_path, message, max_addresses=2000)
    assert journaled["outcome"] == "journaled" and journaled["recipients"] == 1 + 1500


def test_a_letter_just_under_every_limit_is_journaled_whole(tmp_path):
    """1000 named recipients (in encoded words), a subject of 900 more, 450 fields: all of it kept."""
    to = b"To: " + b",\r\n ".join(b"=?utf-8?q?Ola_N=C3=B8rdmann_%d?= <ola%d@fjellvik.kommune.no>" % (i, i)
                                  for i in range(1000)) + b"\r\n"
    subject = b"Subject: " + b"\r\n ".join([b"=?utf-8?q?S=C3=B8knad?="] * 900) + b"\r\n"
    fields = b"".join(b"Received: from relay%d.example.no by mx.example.no; Mon, 30 Nov 2026 21:14:00 +0000\r\n" % i
                      for i in range(440))
    message = (b"From: Kari Nordmann <kari@example.no>\r\n" + to + subject + fields
               + b"Date: Mon, 30 Nov 2026 21:14:00 +0000\r\nMIME-Version: 1.0\r\n"
               b"Content-Type: text/plain; charset=utf-8\r\n\r\nHei.\r\n")
    head = message.split(b"\r\n\r\n")[0]
    fields = [line for line in head.split(b"\r\n") if not line.startswith(b" ")]
    assert 100 * 1024 < len(head) < 128 * 1024 and head.count(b"=?") < 2000 and len(fields) < 500
    result = _read(tmp_path, message)
    assert result["outcome"] == "journaled", result
    assert result["recipients"] == 1000 and result["subject"] == "Søknad" * 900


@pytest.mark.parametrize("arrangement", ["comments", "phrase"])
def test_the_costliest_headers_just_under_max_header_tokens_stay_bounded(tmp_path, arrangement):
    """Comments and long phrases are what the stdlib parses slowest per token: at the default they still pass."""
    if arrangement == "comments":
        message = _eml(content_type=b"text/plain " + b"(a)" * 6500)  # 19,500 tokens + the type's own
    else:
        message = _eml(b"Subject: x\r\nCc: " + b"a " * 19_500 + b"<p@example.no>\r\n")
    assert _read(tmp_path, message)["outcome"] == "journaled"


@pytest.mark.parametrize("newline", [b"\r\n", b"\n", b"\r"])
def test_the_header_block_is_found_whatever_the_line_ends(newline):
    """A big body after a small header is no big header, with CRLF, LF or old Mac CR line ends alike."""
    head = newline.join([b"From: a@example.no", b"Subject: x", b" fortsatt", b"", b""])
    check_head(head + b"x" * 400_000, IntakeLimits())
    check_head(head.rstrip(newline) + newline, IntakeLimits())  # a header-only file ends with the file
    with pytest.raises(InputFileError, match="max_header_kb"):
        check_head(b"Subject: " + b"a" * 200_000 + newline + newline + b"hei", IntakeLimits())


def test_addresses_are_counted_generously():
    assert address_count('"Nordmann, Ola" <ola@example.no>, kari@example.no') == 2
    assert address_count("undisclosed-recipients:;") == 1
    assert address_count('"ola@example.no" <ola@example.no>') == 2  # never fewer than there are
    assert address_count("a, b, c") == 3


def test_an_outlook_message_is_held_to_the_same_limits(tmp_path):
    words = "\r\n ".join(["=?utf-8?b?w6Zzag==?="] * 3000)
    headers = f"From: Kari <kari@example.no>\r\nSubject: {words}\r\n\r\n"
    _quarantined(_read(tmp_path, outlook_message(Message(transport_headers=headers)), "brev.msg"), "max_encoded_words",
                 "Internet headers kept in the Outlook message")
    many = [Recipient(f"Mottaker {i}", f"m{i}@example.no", kind=2) for i in range(40)]
    _quarantined(_read(tmp_path, outlook_message(Message(recipients=many)), "mange.msg", max_addresses=30),
                 "max_addresses = 30", "Cc")
    assert _read(tmp_path, outlook_message(Message(recipients=many)), "mange.msg")["outcome"] == "journaled"


# --- Item 5: an e-mail cut off on the way ---------------------------------------------------------------

def test_a_multipart_cut_inside_its_base64_pdf_is_quarantined_as_truncated(tmp_path):
    part = _base64_part(_pdf())
    cut = _mixed(TEXT_PART, part[: len(part) // 2 + 7], close=False)  # half a line: not whole groups of four
    reason = _quarantined(_read(tmp_path, cut), "the e-mail is truncated", "brev.pdf", "closing MIME boundary")
    assert "send" in reason  # the hint: ask the sender to send it again


def test_a_cut_at_a_line_end_is_seen_by_the_pdf_lacking_its_end(tmp_path):
    part = _base64_part(_pdf())
    lines = part.split(b"\r\n")
    cut = _mixed(TEXT_PART, b"\r\n".join(lines[: len(lines) // 2]) + b"\r\n", close=False)
    _quarantined(_read(tmp_path, cut), "the e-mail is truncated", "%%EOF")


def test_a_forwarded_message_cut_with_the_letter_is_truncated(tmp_path):
    inner_part = _base64_part(_pdf(), "vedtak.pdf")
    inner = _eml(b"Subject: Vedtak\r\n", b"--indre\r\n" + TEXT_PART + b"\r\n--indre\r\n" + inner_part[:400],
                 b'multipart/mixed; boundary="indre"')
    cut = _mixed(TEXT_PART, b"Content-Type: message/rfc822\r\n\r\n" + inner, close=False)
    _quarantined(_read(tmp_path, cut), "the e-mail is truncated", "vedtak.pdf")


def test_base64_that_does_not_decode_is_quarantined_even_when_the_boundaries_close(tmp_path):
    encoded = base64.b64encode(_pdf())
    broken = encoded[: (len(encoded) // 4) * 4 - 3]  # one character into a group of four: undecodable
    part = (b'Content-Type: application/pdf; name="brev.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
            + broken + b"\r\n")
    _quarantined(_read(tmp_path, _mixed(TEXT_PART, part)), "truncated or damaged", "does not decode", "brev.pdf")


def test_a_declared_pdf_that_holds_no_pdf_is_quarantined(tmp_path):
    part = _base64_part(b"Dette er ingen PDF, bare tekst som ble merket feil.\n" * 20)
    _quarantined(_read(tmp_path, _mixed(TEXT_PART, part)), "declared a PDF but holds no PDF", "brev.pdf")


def test_a_mislabelled_attachment_in_another_real_format_is_kept(tmp_path):
    """A PNG sent as application/pdf is a sender's mislabel, not damage: conversion goes by the bytes."""
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
    result = _read(tmp_path, _mixed(TEXT_PART, _base64_part(png, "kart.pdf")))
    assert result["outcome"] == "journaled", result
    assert [bytes.fromhex(c) for n, c in result["documents"] if n.startswith("kart")] == [png]


@pytest.mark.parametrize("last", ["pdf", "text"])
def test_a_missing_closing_boundary_after_a_whole_last_part_is_a_quirk_and_accepted(tmp_path, last):
    """Lenient senders (scripts writing MIME by hand) leave the closing boundary out: every part is whole."""
    pdf = _pdf()
    parts = (TEXT_PART, _base64_part(pdf)) if last == "pdf" else (_base64_part(pdf), TEXT_PART)
    result = _read(tmp_path, _mixed(*parts, close=False))
    assert result["outcome"] == "journaled", result
    assert [bytes.fromhex(c) for n, c in result["documents"] if n == "brev.pdf"] == [pdf]


def test_base64_with_junk_or_short_padding_that_decodes_is_accepted(tmp_path):
    """As CPython's msg_39 (padding) and fixtures/email-corpus c13 (junk after the padding)."""
    text = "Søknad om kommunalt tilskudd".encode()
    junk = _eml(b"Subject: Rotete\r\nContent-Transfer-Encoding: base64\r\n",
                base64.b64encode(text) + b"!!\r\n")
    short = _mixed(TEXT_PART, b"Content-Type: application/octet-stream; name=\"x.bin\"\r\n"
                   b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(b"abcd").rstrip(b"=") + b"\r\n")
    for message in (junk, short):
        assert _read(tmp_path, message)["outcome"] == "journaled"


def test_an_ordinary_letter_with_a_pdf_is_journaled(tmp_path):
    letter = EmailMessage()
    letter["From"], letter["To"], letter["Subject"] = "kari@example.no", "postmottak@fjellvik.kommune.no", "Søknad"
    letter.set_content("Hei, vedlagt er søknaden.\n")
    pdf = _pdf()
    letter.add_attachment(pdf, maintype="application", subtype="pdf", filename="søknad.pdf")
    result = _read(tmp_path, letter.as_bytes())
    assert result["outcome"] == "journaled"
    assert [bytes.fromhex(c) for n, c in result["documents"] if n.endswith(".pdf")] == [pdf]
