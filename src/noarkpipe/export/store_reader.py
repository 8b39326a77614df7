"""Reading what an export needs from the journal store, a page at a time.

Nothing here holds more than one page of cases or journalposter in memory:
every reader is a generator over keyset-paged queries, so an arkivdel of a
million registrations reads like one of ten. The scope of an export (one
arkivskaper, one or more of its arkivdeler) is settled once, by
`resolve_scope`, and every later query filters on it.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import (
    and_,
    create_engine,
    event,
    exists,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, aliased

from noarkpipe.core.codes import Arkivdelstatus, Variantformat
from noarkpipe.errors import ExportRefusedError
from noarkpipe.export.documents import StoredObject, extract_names, selected
from noarkpipe.journal.period import require_closed
from noarkpipe.store import tables
from noarkpipe.store.docstore import DocumentStore

PAGE = 500


@contextmanager
def snapshot(url: str) -> Iterator[Session]:
    """A read-only session that sees one state of the store for as long as it is open.

    The whole export reads through one transaction, so its files agree with
    each other even while a nightly run journals new items. Unlike
    `Store.read()` on SQLite (whose transactions begin IMMEDIATE, taking the
    write lock), this one begins DEFERRED: in WAL mode a reader holds a
    snapshot without keeping any writer waiting, however long the export runs.
    """
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection, _record):
            dbapi_connection.isolation_level = None
            dbapi_connection.execute("PRAGMA busy_timeout = 60000")

        @event.listens_for(engine, "begin")
        def _begin(connection):
            connection.exec_driver_sql("BEGIN")

    else:
        engine = create_engine(url, isolation_level="REPEATABLE READ", pool_pre_ping=True)
    session = Session(engine)
    try:
        yield session
    finally:
        session.close()
        engine.dispose()


@dataclass(frozen=True, slots=True)
class ArkivdelRow:
    id: int
    systemID: str
    tittel: str
    arkivdelstatus: str
    arkivperiodeStartDato: date
    arkivperiodeSluttDato: date | None
    opprettetDato: datetime
    opprettetAv: str
    avsluttetDato: datetime | None
    avsluttetAv: str | None
    referanseForloeper: str | None
    referanseArvtaker: str | None

    @property
    def closed(self) -> bool:
        return self.arkivdelstatus == Arkivdelstatus.avsluttet_periode.value


@dataclass(frozen=True, slots=True)
class ArkivRow:
    systemID: str
    tittel: str
    arkivstatus: str
    opprettetDato: datetime
    opprettetAv: str


@dataclass(frozen=True, slots=True)
class Scope:
    """One arkivskaper and the arkivdeler being exported, oldest period first."""

    arkivskaper_id: int
    kode: str
    navn: str
    arkiv: ArkivRow
    arkivdeler: tuple[ArkivdelRow, ...]

    @property
    def arkivdel_ids(self) -> list[int]:
        return [a.id for a in self.arkivdeler]

    @property
    def test_extract(self) -> bool:
        """Some arkivdel is not closed: a test extract (prøveuttrekk), made with --force."""
        return not all(a.closed for a in self.arkivdeler)


def _arkivdel_row(a: tables.Arkivdel) -> ArkivdelRow:
    return ArkivdelRow(
        a.id, a.systemID, a.tittel, a.arkivdelstatus, a.arkivperiodeStartDato, a.arkivperiodeSluttDato,
        a.opprettetDato, a.opprettetAv, a.avsluttetDato, a.avsluttetAv, a.referanseForloeper, a.referanseArvtaker,
    )


def resolve_scope(session: Session, kode: str, selectors: Sequence[str], *, force: bool) -> Scope:
    """The arkivdeler to export: those named (systemID or title), else the latest closed one.

    Raises ExportRefusedError for an unknown name, or an arkivdel that is not
    closed unless `force`.
    """
    arkivskaper = session.scalar(select(tables.Arkivskaper).where(tables.Arkivskaper.arkivskaperID == kode))
    arkiv = None if arkivskaper is None else session.scalar(
        select(tables.Arkiv).where(tables.Arkiv.arkivskaper_id == arkivskaper.id)
    )
    if arkivskaper is None or arkiv is None:
        raise ExportRefusedError(f"'{kode}' has journaled nothing yet: there is nothing to export")
    candidates = list(
        session.scalars(
            select(tables.Arkivdel)
            .where(tables.Arkivdel.arkiv_id == arkiv.id)
            .order_by(tables.Arkivdel.arkivperiodeStartDato, tables.Arkivdel.id)
        )
    )
    listing = "; ".join(f"'{a.tittel}' ({a.arkivdelstatus}, {a.systemID})" for a in candidates)
    chosen: list[tables.Arkivdel] = []
    for selector in selectors:
        wanted = selector.strip()
        match = [a for a in candidates if a.systemID == wanted.lower() or a.tittel.casefold() == wanted.casefold()]
        if not match:
            raise ExportRefusedError(
                f"'{kode}' has no arkivdel '{selector}'",
                hint=f"name one by systemID or title: {listing} (noarkpipe period list)",
            )
        if len(match) > 1:
            raise ExportRefusedError(
                f"several arkivdeler of '{kode}' are titled '{selector}'", hint=f"name it by systemID: {listing}"
            )
        if match[0] not in chosen:
            chosen.append(match[0])
    if not chosen:
        closed = [a for a in candidates if a.arkivdelstatus == Arkivdelstatus.avsluttet_periode.value]
        if closed:
            chosen = [max(closed, key=lambda a: (a.arkivperiodeSluttDato or date.min, a.id))]
        elif force:
            chosen = [a for a in candidates if a.arkivdelstatus != Arkivdelstatus.avsluttet_periode.value][-1:]
        else:
            raise ExportRefusedError(
                f"'{kode}' has no closed arkivdel (arkivdelstatus '{Arkivdelstatus.avsluttet_periode.value}') to export",
                hint="close the period first (noarkpipe period close), or pass --force for a test extract "
                "(prøveuttrekk) of the active one",
            )
    if not force:
        for arkivdel in chosen:
            require_closed(arkivdel)
    chosen.sort(key=lambda a: (a.arkivperiodeStartDato, a.id))
    return Scope(
        arkivskaper.id,
        kode,
        arkivskaper.arkivskaperNavn,
        ArkivRow(arkiv.systemID, arkiv.tittel, arkiv.arkivstatus, arkiv.opprettetDato, arkiv.opprettetAv),
        tuple(_arkivdel_row(a) for a in chosen),
    )


# ---------------------------------------------------------------- what is in scope

S, J, K = tables.Saksmappe, tables.Journalpost, tables.Klasse
DB, DO = tables.Dokumentbeskrivelse, tables.Dokumentobjekt
KP, KV, E = tables.Korrespondansepart, tables.Konvertering, tables.Endringslogg
KS, SP = tables.Klassifikasjonssystem, tables.SaksmappePart


def _in_scope(scope: Scope):
    return S.arkivdel_id.in_(scope.arkivdel_ids)


def _exported_object():
    """SQL form of `documents.selected`: not a Produksjonsformat original with an Arkivformat of its or a later version."""
    sibling = aliased(DO)
    return ~and_(
        DO.variantformat == Variantformat.produksjonsformat.value,
        exists().where(
            sibling.dokumentbeskrivelse_id == DO.dokumentbeskrivelse_id,
            sibling.versjonsnummer >= DO.versjonsnummer,
            sibling.variantformat == Variantformat.arkivformat.value,
        ),
    )


def exported_system_ids(scope: Scope):
    """A subquery of every systemID the extract's arkivstruktur.xml holds (for the endringslogg)."""
    return union_all(
        select(literal(scope.arkiv.systemID)),
        *(select(literal(a.systemID)) for a in scope.arkivdeler),
        select(KS.systemID).where(KS.arkivdel_id.in_(scope.arkivdel_ids)),
        select(K.systemID).join(KS, KS.id == K.klassifikasjonssystem_id).where(KS.arkivdel_id.in_(scope.arkivdel_ids)),
        select(S.systemID).where(_in_scope(scope)),
        select(J.systemID).join(S, S.id == J.saksmappe_id).where(_in_scope(scope)),
        select(DB.systemID).join(J, J.id == DB.journalpost_id).join(S, S.id == J.saksmappe_id).where(_in_scope(scope)),
        select(DO.systemID)
        .join(DB, DB.id == DO.dokumentbeskrivelse_id)
        .join(J, J.id == DB.journalpost_id)
        .join(S, S.id == J.saksmappe_id)
        .where(_in_scope(scope), _exported_object()),
    ).subquery()


def endringer_condition(scope: Scope):
    ids = exported_system_ids(scope)
    return E.referanseArkivenhet.in_(select(ids.c[0]))


@dataclass
class Inventory:
    """What the export will hold, counted before anything is written."""

    saksmapper: int = 0
    journalposter: int = 0
    endringer: int = 0
    documents: int = 0
    document_bytes: int = 0
    skjermet: bool = False
    first_journaldato: date | None = None
    last_journaldato: date | None = None
    missing: list[str] = field(default_factory=list)
    fingerprint: str = ""


def take_inventory(session: Session, scope: Scope, documents_root: Path) -> Inventory:
    """Count everything and look at every document file (exists, right size); digest the content in scope."""
    inventory = Inventory()
    inventory.saksmapper = session.scalar(select(func.count()).select_from(S).where(_in_scope(scope))) or 0
    jp_count, first, last, screened = session.execute(
        select(func.count(J.id), func.min(J.journaldato), func.max(J.journaldato), func.count(J.tilgangsrestriksjon))
        .join(S, S.id == J.saksmappe_id)
        .where(_in_scope(scope))
    ).one()
    inventory.journalposter, inventory.first_journaldato, inventory.last_journaldato = jp_count, first, last
    screened_cases = session.scalar(
        select(func.count(S.tilgangsrestriksjon)).where(_in_scope(scope))
    )
    inventory.skjermet = bool(screened or screened_cases)
    endringer, last_change = session.execute(
        select(func.count(E.id), func.max(E.id)).where(endringer_condition(scope))
    ).one()
    inventory.endringer = endringer

    digest = hashlib.sha256()
    for a in scope.arkivdeler:
        digest.update(f"{a.systemID}|{a.arkivdelstatus}|{a.arkivperiodeSluttDato}|{a.avsluttetDato}\n".encode())
    digest.update(f"{inventory.saksmapper}|{jp_count}|{endringer}|{last_change}\n".encode())
    for obj, name in iter_documents(session, scope):
        inventory.documents += 1
        inventory.document_bytes += obj.filstoerrelse
        digest.update(f"{obj.systemID}|{obj.sjekksum}|{name}\n".encode())
        path = document_path(documents_root, obj.sjekksum)
        try:
            size = os.stat(path).st_size
        except OSError:
            inventory.missing.append(
                f"journalpost {obj.journalaar}/{obj.journalsekvensnummer} dokument {obj.dokumentnummer} "
                f"'{obj.filnavn}' (sha256 {obj.sjekksum}): no file {path}"
            )
            continue
        if size != obj.filstoerrelse:
            inventory.missing.append(
                f"journalpost {obj.journalaar}/{obj.journalsekvensnummer} dokument {obj.dokumentnummer} "
                f"'{obj.filnavn}': {path} has {size} bytes, the store says {obj.filstoerrelse}"
            )
    inventory.fingerprint = digest.hexdigest()
    return inventory


def data_time(session: Session, scope: Scope) -> datetime:
    """The package's time when none is given: a moment the data itself fixes, so the same store gives the same package.

    For closed arkivdeler that is the latest closing (avsluttetDato); a test
    extract of an open one takes the newest time recorded in what it holds
    (an endringslogg row, a journalpost registered, a closing), which moves
    only when the content does. Whole seconds, UTC.
    """
    times: list[datetime | None] = [a.avsluttetDato for a in scope.arkivdeler if a.avsluttetDato]
    if scope.test_extract or not times:
        times += [
            session.scalar(select(func.max(E.endretDato)).where(endringer_condition(scope))),
            session.scalar(select(func.max(J.opprettetDato)).join(S, S.id == J.saksmappe_id).where(_in_scope(scope))),
            *(a.opprettetDato for a in scope.arkivdeler),
        ]
    latest = max(t for t in times if t is not None)
    return (latest if latest.tzinfo else latest.replace(tzinfo=UTC)).astimezone(UTC).replace(microsecond=0)


def document_path(root: Path, sha256: str) -> Path:
    """Where the document store keeps the bytes with this checksum."""
    return DocumentStore(root).path_for(sha256)


# ---------------------------------------------------------------- documents, in tar order


def _objects_of(session: Session, journalpost_ids: Sequence[int]) -> dict[int, list[StoredObject]]:
    """dokumentbeskrivelse id → its dokumentobjekter, for the given journalposter."""
    rows = session.execute(
        select(
            DO.id, DO.dokumentbeskrivelse_id, DO.systemID, DO.versjonsnummer, DO.variantformat, DO.format,
            DO.mimeType, DO.filnavn, DO.sjekksum, DO.filstoerrelse, J.journalaar, J.journalsekvensnummer,
            DB.dokumentnummer, DO.sjekksumAlgoritme, DO.opprettetDato, DO.opprettetAv,
        )
        .join(DB, DB.id == DO.dokumentbeskrivelse_id)
        .join(J, J.id == DB.journalpost_id)
        .where(DB.journalpost_id.in_(journalpost_ids))
        .order_by(J.journalaar, J.journalsekvensnummer, DB.dokumentnummer, DB.id, DO.id)
    )
    grouped: dict[int, list[StoredObject]] = defaultdict(list)
    for row in rows:
        grouped[row.dokumentbeskrivelse_id].append(StoredObject(**row._mapping))
    return grouped


def iter_documents(session: Session, scope: Scope) -> Iterator[tuple[StoredObject, str]]:
    """Every document file of the extract with its path under content/, by journal number."""
    after: tuple[int, int] | None = None
    while True:
        page = (
            select(J.id, J.journalaar, J.journalsekvensnummer)
            .join(S, S.id == J.saksmappe_id)
            .where(_in_scope(scope))
            .order_by(J.journalaar, J.journalsekvensnummer)
            .limit(PAGE)
        )
        if after is not None:
            page = page.where(
                or_(J.journalaar > after[0], and_(J.journalaar == after[0], J.journalsekvensnummer > after[1]))
            )
        rows = session.execute(page).all()
        if not rows:
            return
        for objects in _objects_of(session, [r.id for r in rows]).values():
            chosen = selected(objects)
            names = extract_names(chosen)
            for obj in chosen:
                yield obj, names[obj.id]
        after = (rows[-1].journalaar, rows[-1].journalsekvensnummer)


# ---------------------------------------------------------------- cases with everything in them


# The rows below are SQLAlchemy Rows of one table's columns (not ORM objects:
# no identity map to fill for a million registrations). These protocols name
# the columns the writers read, typed as in store/tables.py.


class Screened(Protocol):
    tilgangsrestriksjon: str | None
    skjermingshjemmel: str | None
    skjermingMetadata: str | None


class SaksmappeRow(Screened, Protocol):
    id: int
    systemID: str
    mappeID: str
    saksaar: int
    sakssekvensnummer: int
    tittel: str
    offentligTittel: str | None
    saksdato: date
    saksstatus: str
    administrativEnhet: str | None
    saksansvarlig: str | None
    opprettetDato: datetime
    opprettetAv: str
    avsluttetDato: datetime | None
    avsluttetAv: str | None


class JournalpostRow(Screened, Protocol):
    id: int
    saksmappe_id: int
    systemID: str
    registreringsID: str
    journalaar: int
    journalsekvensnummer: int
    journalpostnummer: int
    journalposttype: str
    journalstatus: str
    journaldato: date
    mottattDato: datetime | None
    dokumentetsDato: date | None
    tittel: str
    offentligTittel: str | None
    opprettetDato: datetime
    opprettetAv: str


class KorrespondansepartRow(Protocol):
    journalpost_id: int
    korrespondanseparttype: str
    korrespondansepartNavn: str
    epostadresse: str | None
    postadresse: str | None
    postnummer: str | None
    poststed: str | None


class PartRow(Protocol):
    saksmappe_id: int
    partNavn: str
    partRolle: str
    postadresse: str | None
    postnummer: str | None
    poststed: str | None
    epostadresse: str | None


class DokumentbeskrivelseRow(Protocol):
    id: int
    journalpost_id: int
    systemID: str
    dokumenttype: str
    dokumentstatus: str
    tittel: str
    tilknyttetRegistreringSom: str
    dokumentnummer: int
    tilknyttetDato: datetime
    tilknyttetAv: str
    opprettetDato: datetime
    opprettetAv: str
    archival_gap: str | None


class KonverteringRow(Protocol):
    dokumentobjekt_id: int
    konvertertDato: datetime
    konvertertAv: str
    konvertertFraFormat: str
    konvertertTilFormat: str
    konverteringsverktoey: str | None
    konverteringskommentar: str | None


class KlassifikasjonssystemRow(Protocol):
    id: int
    systemID: str
    klassifikasjonstype: str | None
    tittel: str
    opprettetDato: datetime
    opprettetAv: str


class KlasseRow(Protocol):
    id: int
    systemID: str
    klasseID: str
    tittel: str
    opprettetDato: datetime
    opprettetAv: str


class EndringRow(Protocol):
    id: int
    referanseArkivenhet: str
    referanseMetadata: str
    endretDato: datetime
    endretAv: str
    tidligereVerdi: str | None
    nyVerdi: str | None


@dataclass(slots=True)
class DocumentBundle:
    row: DokumentbeskrivelseRow
    objects: list[tuple[StoredObject, str, list[KonverteringRow]]]  # object, path in extract, konverteringer


@dataclass(slots=True)
class RegistrationBundle:
    row: JournalpostRow
    parts: list[KorrespondansepartRow]
    documents: list[DocumentBundle]


@dataclass(slots=True)
class CaseBundle:
    row: SaksmappeRow
    registrations: list[RegistrationBundle]
    parts: list[PartRow] = field(default_factory=list)


def iter_cases(session: Session, arkivdel_id: int, klasse_id: int) -> Iterator[CaseBundle]:
    """The saksmapper of one klasse in one arkivdel, by case number, each with all it holds."""
    after: tuple[int, int] | None = None
    while True:
        page = (
            select(*S.__table__.columns)
            .where(S.arkivdel_id == arkivdel_id, S.klasse_id == klasse_id)
            .order_by(S.saksaar, S.sakssekvensnummer)
            .limit(PAGE // 2)
        )
        if after is not None:
            page = page.where(or_(S.saksaar > after[0], and_(S.saksaar == after[0], S.sakssekvensnummer > after[1])))
        cases = session.execute(page).all()
        if not cases:
            return
        yield from _bundles(session, cases)
        after = (cases[-1].saksaar, cases[-1].sakssekvensnummer)


def _bundles(session: Session, cases: Sequence[SaksmappeRow]) -> Iterator[CaseBundle]:
    journalposter: Sequence[JournalpostRow] = session.execute(
        select(*J.__table__.columns)
        .where(J.saksmappe_id.in_([c.id for c in cases]))
        .order_by(J.saksmappe_id, J.journalpostnummer)
    ).all()
    jp_ids = [j.id for j in journalposter]
    parts: dict[int, list[KorrespondansepartRow]] = defaultdict(list)
    for part in session.execute(select(*KP.__table__.columns).where(KP.journalpost_id.in_(jp_ids)).order_by(KP.id)):
        parts[part.journalpost_id].append(part)
    beskrivelser: dict[int, list[DokumentbeskrivelseRow]] = defaultdict(list)
    for db in session.execute(
        select(*DB.__table__.columns).where(DB.journalpost_id.in_(jp_ids)).order_by(DB.dokumentnummer, DB.id)
    ):
        beskrivelser[db.journalpost_id].append(db)
    objects = _objects_of(session, jp_ids)
    chosen_ids: list[int] = []
    chosen: dict[int, list[tuple[StoredObject, str]]] = {}
    for db_id, group in objects.items():
        picked = selected(group)
        names = extract_names(picked)
        chosen[db_id] = [(o, names[o.id]) for o in picked]
        chosen_ids += [o.id for o in picked]
    konverteringer: dict[int, list[KonverteringRow]] = defaultdict(list)
    if chosen_ids:
        for kv in session.execute(
            select(*KV.__table__.columns).where(KV.dokumentobjekt_id.in_(chosen_ids)).order_by(KV.id)
        ):
            konverteringer[kv.dokumentobjekt_id].append(kv)
    by_case: dict[int, list[RegistrationBundle]] = defaultdict(list)
    for jp in journalposter:
        documents = [
            DocumentBundle(db, [(o, name, konverteringer.get(o.id, [])) for o, name in chosen.get(db.id, [])])
            for db in beskrivelser.get(jp.id, [])
        ]
        by_case[jp.saksmappe_id].append(RegistrationBundle(jp, parts.get(jp.id, []), documents))
    case_parts: dict[int, list[PartRow]] = defaultdict(list)
    for part in session.execute(
        select(*SP.__table__.columns).where(SP.saksmappe_id.in_([c.id for c in cases])).order_by(SP.id)
    ):
        case_parts[part.saksmappe_id].append(part)
    for case in cases:
        yield CaseBundle(case, by_case.get(case.id, []), case_parts.get(case.id, []))


def classification(
    session: Session, arkivdel_id: int
) -> list[tuple[KlassifikasjonssystemRow, Sequence[KlasseRow]]]:
    """The arkivdel's klassifikasjonssystemer, each with its klasser in the order they were created."""
    systems = session.execute(
        select(*KS.__table__.columns).where(KS.arkivdel_id == arkivdel_id).order_by(KS.id)
    ).all()
    return [
        (
            system,
            session.execute(select(*K.__table__.columns).where(K.klassifikasjonssystem_id == system.id).order_by(K.id)).all(),
        )
        for system in systems
    ]


def count_cases(session: Session, arkivdel_id: int) -> int:
    return session.scalar(select(func.count()).select_from(S).where(S.arkivdel_id == arkivdel_id)) or 0


def iter_journalposter(
    session: Session, scope: Scope
) -> Iterator[tuple[tables.Journalpost, tables.Saksmappe, tables.Klasse, list[KorrespondansepartRow]]]:
    """(journalpost, saksmappe, klasse, korrespondanseparter) for every journalpost in scope, by journal number."""
    after: tuple[int, int] | None = None
    while True:
        page = (
            select(J, S, K)
            .join(S, S.id == J.saksmappe_id)
            .join(K, K.id == S.klasse_id)
            .where(_in_scope(scope))
            .order_by(J.journalaar, J.journalsekvensnummer)
            .limit(PAGE)
        )
        if after is not None:
            page = page.where(
                or_(J.journalaar > after[0], and_(J.journalaar == after[0], J.journalsekvensnummer > after[1]))
            )
        rows = session.execute(page).all()
        if not rows:
            return
        parts: dict[int, list[KorrespondansepartRow]] = defaultdict(list)
        for part in session.execute(
            select(*KP.__table__.columns).where(KP.journalpost_id.in_([r[0].id for r in rows])).order_by(KP.id)
        ):
            parts[part.journalpost_id].append(part)
        for jp, saksmappe, klasse in rows:
            yield jp, saksmappe, klasse, parts.get(jp.id, [])
        after = (rows[-1][0].journalaar, rows[-1][0].journalsekvensnummer)
        session.expunge_all()


def iter_endringer(session: Session, scope: Scope) -> Iterator[EndringRow]:
    """The endringslogg rows about what the extract holds, in the order they were written."""
    condition = endringer_condition(scope)
    after = 0
    while True:
        rows = session.execute(
            select(*E.__table__.columns).where(condition, E.id > after).order_by(E.id).limit(PAGE * 4)
        ).all()
        if not rows:
            return
        yield from rows
        after = rows[-1].id
