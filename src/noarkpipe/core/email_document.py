"""The e-mail's main document: the names intake writes it under and the text layout it has.

The e-mail intake (and the Outlook intake) writes a letter's main document
as `e-post.txt`, or as `e-post.html` when the letter is best shown by its
HTML; conversion recognises those two names as the one document it typesets
or renders rather than keeps. The text version has one layout, written by
`render_main_document` and read back by the typesetting (`convert/typeset.py`):
the header block (Fra, Til, Kopi, Dato, Emne), an empty line, the text, and
a closing 'Vedlegg:' list. The HTML version shows the same header block
(`header_block`) as a table.
"""

from __future__ import annotations

from datetime import datetime

from noarkpipe.clock import LOCAL_TIME
from noarkpipe.core.submission import Party, SubmissionDocument

MAIN_FILENAME = "e-post.txt"
TEXT_MEDIA_TYPE = "text/plain; charset=utf-8"
HTML_MAIN_FILENAME = "e-post.html"
HTML_MEDIA_TYPE = "text/html; charset=utf-8"
_LABEL_WIDTH = 7
"""'Fra:' and its value start columns apart as in a mail program: 'Kopi:  ' is the longest label."""


def header_block(
    sender: list[Party], to: list[Party], cc: list[Party], sent: datetime | None, subject: str
) -> list[tuple[str, str]]:
    """The header block as label/value pairs, in the same fields and formats for the text and the HTML version."""
    rows = [("Fra", _parties(sender)), ("Til", _parties(to))]
    if cc:
        rows.append(("Kopi", _parties(cc)))
    rows.append(("Dato", f"{sent.astimezone(LOCAL_TIME):%d.%m.%Y %H:%M}" if sent else "(ukjent)"))
    rows.append(("Emne", subject))
    return rows


def render_main_document(
    sender: list[Party], to: list[Party], cc: list[Party], sent: datetime | None, subject: str,
    body: str, attachments: list[SubmissionDocument],
) -> str:
    """The e-mail as a readable document: header block, text, list of attachments."""
    lines = [f"{label}:".ljust(_LABEL_WIDTH) + value for label, value in header_block(sender, to, cc, sent, subject)]
    lines += ["", body or "(ingen tekst)", ""]
    if attachments:
        lines.append("Vedlegg:")
        lines += [f"  - {a.filename}" for a in attachments]
    return "\n".join(line.rstrip() for line in lines).strip() + "\n"


def _parties(parties: list[Party]) -> str:
    return ", ".join(f"{p.name} <{p.email}>" if p.name and p.email else (p.name or p.email or "") for p in parties)
