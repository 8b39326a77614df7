"""Period closing (periodisering): an arkivdel is closed, its successor opened.

A municipality's journal is divided into archive periods, one arkivdel each,
usually four or five years; a closed period is what goes to the depot. When
a period closes, the cases still being worked on must go somewhere, and
Noark 5 offers two ways (the `method`):

- **sharp** (skarpt skille): the arkivdel gets status `Avsluttet periode` at
  once; every case that is not closed (saksstatus other than `Avsluttet` or
  `Utgår`) moves, with all its journalposter, to the successor. The extract
  of the closed period then holds closed cases only.
- **soft** (mykt skille): the arkivdel gets status `Overlappingsperiode`. New
  cases go to the successor, but documents for the old open cases still join
  them where they are, so they can be finished in the period they began.
  `finish_overlap` later ends the overlap: the cases still open then move to
  the successor and the arkivdel is `Avsluttet periode`.

Either way a case opened after the end date belongs to the successor and is
moved there. The two arkivdeler point at each other (`referanseForloeper` /
`referanseArvtaker`, systemIDs). A move is written to the endringslogg as a
change of the case's `referanseArkivdel` (M208, "the arkivdel this unit
belongs to") from the old arkivdel's systemID to the new one's, explicitly:
the session hook does not log foreign keys, whose values mean nothing
outside this database. Every other change goes to the endringslogg through
the hook. The successor gets its own copy of the klassifikasjonssystem, so a
moved case keeps its klasseID.

Cases are closed by the archive before the period is (`close_cases`): a case
is only closed when every journalpost in it has been checked, so nothing
from the review queue reaches a deposit. Cases that ended up `Utgår`
(rejected intake) without a closing date get the period's closing time when
the period closes, since Noark 5 v5.0 needs avsluttetDato on every deposited
case.

Every function runs inside the caller's transaction (`Store.write(by)`), so a
failure leaves the store as it was.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from noarkpipe.clock import LOCAL_TIME
from noarkpipe.core.codes import Arkivdelstatus, Journalstatus, Saksstatus
from noarkpipe.errors import ExportRefusedError, NoarkpipeError, PeriodError
from noarkpipe.journal.review import parse_number
from noarkpipe.store import tables

CLOSED_SAKSSTATUS = (Saksstatus.avsluttet.value, Saksstatus.utgaar.value)
# Registrations no archivist has finished: a case holding one is not closed.
UNFINISHED_JOURNALSTATUS = (
    Journalstatus.midlertidig_registrering.value,
    Journalstatus.reservert_dokument.value,
)
_TRAILING_YEAR = re.compile(r"(\d{4})\s*[-–]\s*(\d{4})?\s*$")


class PeriodMethod(StrEnum):
    sharp = "sharp"
    """skarpt skille: open cases move to the successor at once."""
    soft = "soft"
    """mykt skille: an overlap period in which open cases are finished where they are."""


class ArkivdelSummary(BaseModel):
    systemID: str
    tittel: str
    arkivdelstatus: str
    arkivperiodeStartDato: date
    arkivperiodeSluttDato: date | None
    avsluttetDato: datetime | None
    referanseForloeper: str | None
    referanseArvtaker: str | None
    saksmapper: int
    open_saksmapper: int
    journalposter: int


class PeriodClosing(BaseModel):
    """What a period closing did."""

    method: PeriodMethod
    closed: ArkivdelSummary
    successor: ArkivdelSummary
    moved: list[str]
    """Case numbers (saksaar/sakssekvensnummer) moved to the successor."""
    left_open: list[str]
    """Open cases that stay in an overlapping period (soft method)."""


class CaseClosing(BaseModel):
    closed: list[str]
    refused: dict[str, str]
    """Case number → why it was not closed."""


# ---------------------------------------------------------------- reading


def _arkiv(session: Session, kode: str) -> tables.Arkiv:
    arkiv = session.scalar(
        select(tables.Arkiv)
        .join(tables.Arkivskaper, tables.Arkivskaper.id == tables.Arkiv.arkivskaper_id)
        .where(tables.Arkivskaper.arkivskaperID == kode)
    )
    if arkiv is None:
        raise PeriodError(
            f"'{kode}' has no archive in the journal store yet",
            hint="the first 'noarkpipe run' creates it from the config",
        )
    return arkiv


def _arkivdeler(session: Session, arkiv: tables.Arkiv) -> list[tables.Arkivdel]:
    return list(
        session.scalars(
            select(tables.Arkivdel)
            .where(tables.Arkivdel.arkiv_id == arkiv.id)
            .order_by(tables.Arkivdel.arkivperiodeStartDato, tables.Arkivdel.id)
        )
    )


def _summary(session: Session, arkivdel: tables.Arkivdel) -> ArkivdelSummary:
    S = tables.Saksmappe
    saksmapper = session.scalar(select(func.count()).where(S.arkivdel_id == arkivdel.id)) or 0
    open_saksmapper = (
        session.scalar(
            select(func.count()).where(S.arkivdel_id == arkivdel.id).where(S.saksstatus.not_in(CLOSED_SAKSSTATUS))
        )
        or 0
    )
    journalposter = (
        session.scalar(
            select(func.count())
            .select_from(tables.Journalpost)
            .join(S, S.id == tables.Journalpost.saksmappe_id)
            .where(S.arkivdel_id == arkivdel.id)
        )
        or 0
    )
    return ArkivdelSummary(
        systemID=arkivdel.systemID,
        tittel=arkivdel.tittel,
        arkivdelstatus=arkivdel.arkivdelstatus,
        arkivperiodeStartDato=arkivdel.arkivperiodeStartDato,
        arkivperiodeSluttDato=arkivdel.arkivperiodeSluttDato,
        avsluttetDato=arkivdel.avsluttetDato,
        referanseForloeper=arkivdel.referanseForloeper,
        referanseArvtaker=arkivdel.referanseArvtaker,
        saksmapper=saksmapper,
        open_saksmapper=open_saksmapper,
        journalposter=journalposter,
    )


def list_arkivdeler(session: Session, kode: str) -> list[ArkivdelSummary]:
    """Every arkivdel of the arkivskaper, oldest period first, with its status and counts."""
    return [_summary(session, arkivdel) for arkivdel in _arkivdeler(session, _arkiv(session, kode))]


def _one_with_status(arkivdeler: list[tables.Arkivdel], status: Arkivdelstatus) -> tables.Arkivdel | None:
    found = [a for a in arkivdeler if a.arkivdelstatus == status.value]
    return found[-1] if found else None


def _saksnummer(saksmappe: tables.Saksmappe) -> str:
    return f"{saksmappe.saksaar}/{saksmappe.sakssekvensnummer}"


# ---------------------------------------------------------------- closing a period


def successor_title(tittel: str, start: date) -> str:
    """'Sakarkiv 2024-' or 'Sakarkiv 2024-2027' → 'Sakarkiv 2028-' for a successor starting in 2028.

    A successor starting in the year its predecessor is named after is named by
    its first day instead ('Sakarkiv 01.07.2025-'), so no two arkivdeler share a title.
    """
    match = _TRAILING_YEAR.search(tittel)
    base = tittel[: match.start()] if match else f"{tittel} "
    candidate = f"{base}{start.year}-"
    if candidate == tittel or (match and int(match.group(1)) == start.year):
        return f"{base}{start:%d.%m.%Y}-"
    return candidate


def _copy_classification(
    session: Session, source: tables.Arkivdel, target: tables.Arkivdel, by: str, now: datetime
) -> dict[int, int]:
    """The source's klassifikasjonssystem and klasser copied to the target: old klasse id → new."""
    mapping: dict[int, int] = {}
    for system in session.scalars(
        select(tables.Klassifikasjonssystem)
        .where(tables.Klassifikasjonssystem.arkivdel_id == source.id)
        .order_by(tables.Klassifikasjonssystem.id)
    ):
        copy = tables.Klassifikasjonssystem(
            arkivdel_id=target.id,
            klassifikasjonstype=system.klassifikasjonstype,
            tittel=system.tittel,
            opprettetDato=now,
            opprettetAv=by,
        )
        session.add(copy)
        session.flush()
        for klasse in session.scalars(
            select(tables.Klasse).where(tables.Klasse.klassifikasjonssystem_id == system.id).order_by(tables.Klasse.id)
        ):
            new = tables.Klasse(
                klassifikasjonssystem_id=copy.id,
                klasseID=klasse.klasseID,
                tittel=klasse.tittel,
                opprettetDato=now,
                opprettetAv=by,
            )
            session.add(new)
            session.flush()
            mapping[klasse.id] = new.id
    return mapping


def _move(
    session: Session,
    cases: list[tables.Saksmappe],
    source: tables.Arkivdel,
    target: tables.Arkivdel,
    klasser: dict[int, int],
    *,
    by: str,
    now: datetime,
) -> list[str]:
    for saksmappe in cases:
        saksmappe.arkivdel_id = target.id
        saksmappe.klasse_id = klasser[saksmappe.klasse_id]
        session.add(
            tables.Endringslogg(
                arkivskaper_id=saksmappe.arkivskaper_id,
                referanseArkivenhet=saksmappe.systemID,
                referanseMetadata="referanseArkivdel",
                endretDato=now,
                endretAv=by,
                tidligereVerdi=source.systemID,
                nyVerdi=target.systemID,
            )
        )
    session.flush()
    return [_saksnummer(s) for s in cases]


def _successor_of(session: Session, arkivdel: tables.Arkivdel) -> tables.Arkivdel:
    successor = session.scalar(select(tables.Arkivdel).where(tables.Arkivdel.systemID == arkivdel.referanseArvtaker))
    if successor is None:
        raise PeriodError(
            f"arkivdel '{arkivdel.tittel}' names a successor ({arkivdel.referanseArvtaker}) that is not in the store"
        )
    return successor


def _klasse_mapping(session: Session, source: tables.Arkivdel, target: tables.Arkivdel) -> dict[int, int]:
    """klasse id in source → the klasse with the same klasseID in target (the successor's copy)."""
    def by_klasse_id(arkivdel):
        return dict(
            session.execute(
                select(tables.Klasse.klasseID, tables.Klasse.id)
                .join(tables.Klassifikasjonssystem)
                .where(tables.Klassifikasjonssystem.arkivdel_id == arkivdel.id)
            ).all()
        )
    wanted, present = by_klasse_id(source), by_klasse_id(target)
    missing = sorted(set(wanted) - set(present))
    if missing:
        raise PeriodError(
            f"the successor '{target.tittel}' lacks the classes {', '.join(missing[:10])} of '{source.tittel}'",
            hint="add them to the K-code list (klasser_csv) and run 'noarkpipe run' once, then try again",
        )
    return {wanted[k]: present[k] for k in wanted}


def _stamp_closed_cases(session: Session, arkivdel: tables.Arkivdel, by: str, now: datetime) -> None:
    """Closed cases without a closing time (rejected intake, `Utgår`) get the period's."""
    for saksmappe in session.scalars(
        select(tables.Saksmappe)
        .where(tables.Saksmappe.arkivdel_id == arkivdel.id)
        .where(tables.Saksmappe.saksstatus.in_(CLOSED_SAKSSTATUS))
        .where(tables.Saksmappe.avsluttetDato.is_(None))
    ):
        saksmappe.avsluttetDato = now
        saksmappe.avsluttetAv = by


def close_period(
    session: Session,
    kode: str,
    *,
    end: date,
    method: PeriodMethod,
    by: str,
    now: datetime,
    title: str | None = None,
) -> PeriodClosing:
    """Close the active arkivdel of `kode` at `end` (its last day) and open its successor."""
    arkiv = _arkiv(session, kode)
    arkivdeler = _arkivdeler(session, arkiv)
    overlapping = _one_with_status(arkivdeler, Arkivdelstatus.overlappingsperiode)
    if overlapping is not None:
        raise PeriodError(
            f"arkivdel '{overlapping.tittel}' is still in its overlap period",
            hint=f"end it first: noarkpipe period finish -a {kode}",
        )
    active = _one_with_status(arkivdeler, Arkivdelstatus.aktiv_periode)
    if active is None:
        raise PeriodError(f"'{kode}' has no arkivdel with status '{Arkivdelstatus.aktiv_periode.value}' to close")
    today = now.astimezone(LOCAL_TIME).date()
    if end < active.arkivperiodeStartDato:
        raise PeriodError(
            f"--end {end} is before the period of '{active.tittel}' starts ({active.arkivperiodeStartDato})"
        )
    if end > today:
        raise PeriodError(
            f"--end {end} is in the future; a period is closed on or after its last day",
            hint=f"close it on {end} or later, or give the last day that has passed (today is {today})",
        )

    start = end + timedelta(days=1)
    successor = tables.Arkivdel(
        arkiv_id=arkiv.id,
        tittel=(title or "").strip() or successor_title(active.tittel, start),
        arkivdelstatus=Arkivdelstatus.aktiv_periode.value,
        arkivperiodeStartDato=start,
        opprettetDato=now,
        opprettetAv=by,
        referanseForloeper=active.systemID,
    )
    session.add(successor)
    session.flush()
    klasser = _copy_classification(session, active, successor, by, now)

    S = tables.Saksmappe
    belongs_later = S.saksdato > end
    to_move = belongs_later if method is PeriodMethod.soft else or_(belongs_later, S.saksstatus.not_in(CLOSED_SAKSSTATUS))
    cases = list(session.scalars(select(S).where(S.arkivdel_id == active.id).where(to_move).order_by(S.id)))
    moved = _move(session, cases, active, successor, klasser, by=by, now=now)

    active.arkivperiodeSluttDato = end
    active.referanseArvtaker = successor.systemID
    if method is PeriodMethod.sharp:
        active.arkivdelstatus = Arkivdelstatus.avsluttet_periode.value
        active.avsluttetDato = now
        active.avsluttetAv = by
        _stamp_closed_cases(session, active, by, now)
    else:
        active.arkivdelstatus = Arkivdelstatus.overlappingsperiode.value
    session.flush()
    left_open = [
        _saksnummer(s)
        for s in session.scalars(
            select(S).where(S.arkivdel_id == active.id).where(S.saksstatus.not_in(CLOSED_SAKSSTATUS)).order_by(S.id)
        )
    ]
    return PeriodClosing(
        method=method,
        closed=_summary(session, active),
        successor=_summary(session, successor),
        moved=moved,
        left_open=left_open,
    )


def finish_overlap(session: Session, kode: str, *, by: str, now: datetime) -> PeriodClosing:
    """End the overlap period: its open cases move to the successor, and it is `Avsluttet periode`."""
    arkivdel = _one_with_status(_arkivdeler(session, _arkiv(session, kode)), Arkivdelstatus.overlappingsperiode)
    if arkivdel is None:
        raise PeriodError(
            f"'{kode}' has no arkivdel in an overlap period",
            hint="an overlap period starts with: noarkpipe period close --method soft",
        )
    successor = _successor_of(session, arkivdel)
    S = tables.Saksmappe
    cases = list(
        session.scalars(
            select(S).where(S.arkivdel_id == arkivdel.id).where(S.saksstatus.not_in(CLOSED_SAKSSTATUS)).order_by(S.id)
        )
    )
    moved = (
        _move(session, cases, arkivdel, successor, _klasse_mapping(session, arkivdel, successor), by=by, now=now)
        if cases
        else []
    )
    arkivdel.arkivdelstatus = Arkivdelstatus.avsluttet_periode.value
    arkivdel.avsluttetDato = now
    arkivdel.avsluttetAv = by
    _stamp_closed_cases(session, arkivdel, by, now)
    session.flush()
    return PeriodClosing(
        method=PeriodMethod.soft,
        closed=_summary(session, arkivdel),
        successor=_summary(session, successor),
        moved=moved,
        left_open=[],
    )


# ---------------------------------------------------------------- closing cases


def close_cases(
    session: Session, kode: str, saksnumre: list[str] | None, *, by: str, now: datetime
) -> CaseClosing:
    """Close cases (saksstatus `Avsluttet`): the named ones, or with None every open case that can be.

    A case with a journalpost still in the review queue or reserved is not
    closed: it is reported with the reason. Cases of a closed period are not touched.
    """
    arkiv = _arkiv(session, kode)
    arkivdel_ids = [
        a.id for a in _arkivdeler(session, arkiv) if a.arkivdelstatus != Arkivdelstatus.avsluttet_periode.value
    ]
    S, J = tables.Saksmappe, tables.Journalpost
    query = select(S).where(S.arkivskaper_id == arkiv.arkivskaper_id)
    refused: dict[str, str] = {}
    if saksnumre is None:
        cases = list(
            session.scalars(
                query.where(S.arkivdel_id.in_(arkivdel_ids)).where(S.saksstatus.not_in(CLOSED_SAKSSTATUS)).order_by(S.id)
            )
        )
    else:
        cases = []
        for text in saksnumre:
            try:
                year, number = parse_number(text)
            except NoarkpipeError as exc:
                raise PeriodError(exc.message, hint=exc.hint) from None
            case = session.scalar(query.where(S.saksaar == year).where(S.sakssekvensnummer == number))
            if case is None:
                raise PeriodError(f"no saksmappe {year}/{number} for '{kode}'", hint="see the case numbers in 'noarkpipe status'")
            if case.arkivdel_id not in arkivdel_ids:
                refused[_saksnummer(case)] = "its period is closed"
            elif case.saksstatus in CLOSED_SAKSSTATUS:
                refused[_saksnummer(case)] = f"already closed ({case.saksstatus})"
            else:
                cases.append(case)
    closed = []
    for case in cases:
        unfinished = session.scalar(
            select(func.count())
            .select_from(J)
            .where(J.saksmappe_id == case.id)
            .where(J.journalstatus.in_(UNFINISHED_JOURNALSTATUS))
        )
        if unfinished:
            refused[_saksnummer(case)] = f"{unfinished} journalpost(er) still in the review queue or reserved"
            continue
        case.saksstatus = Saksstatus.avsluttet.value
        case.avsluttetDato = now
        case.avsluttetAv = by
        closed.append(_saksnummer(case))
    session.flush()
    return CaseClosing(closed=closed, refused=refused)


def require_closed(arkivdel: tables.Arkivdel) -> None:
    """Raise ExportRefusedError unless the arkivdel's period is closed (`Avsluttet periode`)."""
    if arkivdel.arkivdelstatus != Arkivdelstatus.avsluttet_periode.value:
        raise ExportRefusedError(
            f"arkivdel '{arkivdel.tittel}' has status '{arkivdel.arkivdelstatus}', not "
            f"'{Arkivdelstatus.avsluttet_periode.value}': only a closed period is deposited",
            hint="close it with 'noarkpipe period close' (or 'period finish'), "
            "or pass --force for a test extract (prøveuttrekk)",
        )
