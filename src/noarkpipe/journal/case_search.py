"""Finding the case to attach a letter to: by saksnummer, or by words of its title.

The review desk's attach field asks as the archivist types. Open cases come
first (a letter is rarely put into a closed one), newest first; a closed
case is still found by its number, marked as closed.
"""

from __future__ import annotations

import re

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from noarkpipe.core.codes import CLOSED_SAKSSTATUS
from noarkpipe.errors import ReviewError
from noarkpipe.journal.review import parse_number
from noarkpipe.store import tables

_WORDS = re.compile(r"\w{2,}")


class FoundCase(BaseModel):
    saksnummer: str
    tittel: str
    klasse: str
    saksstatus: str
    open: bool


def find_cases(session: Session, kode: str, text: str, limit: int = 10) -> list[FoundCase]:
    """Cases of one arkivskaper whose number is `text` or whose title holds every word of it."""
    query = (
        select(tables.Saksmappe)
        .join(tables.Arkivskaper, tables.Saksmappe.arkivskaper_id == tables.Arkivskaper.id)
        .where(tables.Arkivskaper.arkivskaperID == kode)
    )
    try:
        year, number = parse_number(text)
    except ReviewError:  # not a number: every word in the title, open cases only
        words = _WORDS.findall(text)[:6]
        if not words:
            return []
        for word in words:
            escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(tables.Saksmappe.tittel.ilike(f"%{escaped}%", escape="\\"))
        query = query.where(tables.Saksmappe.saksstatus.not_in(CLOSED_SAKSSTATUS))
    else:
        query = query.where(tables.Saksmappe.saksaar == year).where(tables.Saksmappe.sakssekvensnummer == number)
    query = query.order_by(tables.Saksmappe.saksaar.desc(), tables.Saksmappe.sakssekvensnummer.desc()).limit(limit)
    return [
        FoundCase(
            saksnummer=f"{case.saksaar}/{case.sakssekvensnummer}", tittel=case.tittel, klasse=case.klasse.klasseID,
            saksstatus=case.saksstatus, open=case.saksstatus not in CLOSED_SAKSSTATUS,
        )
        for case in session.scalars(query)
    ]
