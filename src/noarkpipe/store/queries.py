"""Read-only questions the operations ask the journal store, each one query.

The journaling, review and export code have their own queries beside their
writes; these are the ones status, explain, publish and training ask of an
installation, named so the SQL sits in the store layer, not in the API.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from noarkpipe.store import tables
from noarkpipe.store.tables import ItemState


def arkivskaper_id(session: Session, kode: str) -> int | None:
    """The row id of arkivskaper `kode`; None until it has journaled something."""
    return session.scalar(select(tables.Arkivskaper.id).where(tables.Arkivskaper.arkivskaperID == kode))


def journalposter_by_status(session: Session, arkivskaper_id: int | None) -> dict[str, int]:
    """How many journalposter the arkivskaper has in each journalstatus."""
    return dict(
        session.execute(
            select(tables.Journalpost.journalstatus, func.count())
            .where(tables.Journalpost.arkivskaper_id == arkivskaper_id)
            .group_by(tables.Journalpost.journalstatus)
        ).all()
    )


def saksmappe_count(session: Session, arkivskaper_id: int | None) -> int:
    return session.scalar(select(func.count()).where(tables.Saksmappe.arkivskaper_id == arkivskaper_id)) or 0


def quarantined_count(session: Session, arkivskaper_id: int | None) -> int:
    """Intake items of the arkivskaper that went to quarantine."""
    return (
        session.scalar(
            select(func.count())
            .where(tables.IntakeItem.arkivskaper_id == arkivskaper_id)
            .where(tables.IntakeItem.state == ItemState.quarantined)
        )
        or 0
    )


def last_run(session: Session) -> tables.Run | None:
    return session.scalar(select(tables.Run).order_by(tables.Run.id.desc()).limit(1))


def case_exists(session: Session, arkivskaper_id: int, saksaar: int, sakssekvensnummer: int) -> bool:
    """Whether the arkivskaper has the saksmappe saksaar/sakssekvensnummer."""
    return bool(
        session.scalar(
            select(tables.Saksmappe.mappeID)
            .where(tables.Saksmappe.arkivskaper_id == arkivskaper_id)
            .where(tables.Saksmappe.saksaar == saksaar)
            .where(tables.Saksmappe.sakssekvensnummer == sakssekvensnummer)
        )
    )
