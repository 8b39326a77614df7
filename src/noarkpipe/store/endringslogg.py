"""Writes an endringslogg row for every changed field of a journaled entity.

Hooked into the session's flush, so no code path that edits journaled
metadata can forget it. New entities are not logged: their creation is
recorded by opprettetDato/opprettetAv, and Noark's endring needs a
previous value.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from noarkpipe.clock import utcnow
from noarkpipe.store import tables


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _arkivskaper_id(entity) -> int | None:
    return getattr(entity, "arkivskaper_id", None)


def record_changes(session: Session, _context, _instances) -> None:
    actor = session.info.get("actor", "noarkpipe")
    now = utcnow()
    for entity in list(session.dirty):
        if not isinstance(entity, tables.NoarkEntity) or not session.is_modified(entity):
            continue
        state = inspect(entity)
        for attribute in state.mapper.column_attrs:
            history = state.attrs[attribute.key].history
            if not history.has_changes() or attribute.key.endswith("_id") or attribute.key == "id":
                continue
            before = history.deleted[0] if history.deleted else None
            after = history.added[0] if history.added else None
            if _text(before) == _text(after):
                continue
            session.add(
                tables.Endringslogg(
                    arkivskaper_id=_arkivskaper_id(entity),
                    referanseArkivenhet=entity.systemID,
                    referanseMetadata=attribute.key,
                    endretDato=now,
                    endretAv=actor,
                    tidligereVerdi=_text(before),
                    nyVerdi=_text(after),
                )
            )
