"""The postliste read from the store: the journalposter of a period, screened a case at a time.

`public_entries` reads the journalposter in pages, with each case's rows
(their pooled secrets, see `rescreening`), and yields every row as a
`PublicEntry`, so memory stays flat however long the period.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from noarkpipe.classify.screenrules import ScreeningRuleSet, default_screening_rules
from noarkpipe.core.codes import Journalstatus
from noarkpipe.errors import PublicJournalLeakError, StoreError
from noarkpipe.publish.entries import PUBLISHED_JOURNALSTATUS, PublicEntry, PublicJournalHeader
from noarkpipe.publish.rescreening import CaseScreening, case_screening, public_entry, row_screening
from noarkpipe.publish.stored import StoredPart, StoredRegistrering, StoredSkjerming, clean
from noarkpipe.store import tables

_PAGE_SIZE = 500
# Cases whose pooled secrets are kept while streaming; a case seen again after
# falling out is simply screened again.
_CASE_CACHE_SIZE = 4096


def _load(session: Session, condition) -> list[StoredRegistrering]:
    """The journalposter matching `condition`, with saksmappe, klasse, parties and document titles."""
    J, S, K = tables.Journalpost, tables.Saksmappe, tables.Klasse
    P, D = tables.Korrespondansepart, tables.Dokumentbeskrivelse
    rows = session.execute(
        select(
            J.id,
            J.saksmappe_id,
            J.systemID,
            J.journalaar,
            J.journalsekvensnummer,
            J.journalpostnummer,
            J.journalposttype,
            J.journaldato,
            J.dokumentetsDato,
            J.tittel,
            J.offentligTittel,
            J.tilgangsrestriksjon,
            J.skjermingshjemmel,
            J.skjermingMetadata,
            S.saksaar,
            S.sakssekvensnummer,
            S.tittel.label("s_tittel"),
            S.offentligTittel.label("s_offentlig"),
            S.tilgangsrestriksjon.label("s_tilgang"),
            S.skjermingshjemmel.label("s_hjemmel"),
            S.skjermingMetadata.label("s_metadata"),
            K.klasseID,
        )
        .join(S, J.saksmappe_id == S.id)
        .outerjoin(K, S.klasse_id == K.id)
        .where(condition)
        .order_by(J.journalaar, J.journalsekvensnummer)
    ).all()
    parts: dict[int, list[StoredPart]] = defaultdict(list)
    for jp_id, kind, navn, orgnr in session.execute(
        select(P.journalpost_id, P.korrespondanseparttype, P.korrespondansepartNavn, P.organisasjonsnummer)
        .join(J, P.journalpost_id == J.id)
        .where(condition)
        .order_by(P.id)
    ):
        parts[jp_id].append(StoredPart(clean(kind), clean(navn), orgnr))
    titles: dict[int, list[str]] = defaultdict(list)
    for jp_id, tittel in session.execute(
        select(D.journalpost_id, D.tittel)
        .join(J, D.journalpost_id == J.id)
        .where(condition)
        .order_by(D.dokumentnummer)
    ):
        titles[jp_id].append(clean(tittel))
    return [
        StoredRegistrering(
            journalpost_id=r.id,
            saksmappe_id=r.saksmappe_id,
            systemID=r.systemID,
            journalaar=r.journalaar,
            journalsekvensnummer=r.journalsekvensnummer,
            journalpostnummer=r.journalpostnummer,
            journalposttype=clean(r.journalposttype),
            journaldato=r.journaldato,
            dokumentetsDato=r.dokumentetsDato,
            tittel=clean(r.tittel),
            offentligTittel=clean(r.offentligTittel),
            skjerming=StoredSkjerming(
                clean(r.tilgangsrestriksjon), clean(r.skjermingshjemmel), r.skjermingMetadata
            ),
            saksaar=r.saksaar,
            sakssekvensnummer=r.sakssekvensnummer,
            saksmappe_tittel=clean(r.s_tittel),
            saksmappe_offentligTittel=clean(r.s_offentlig),
            saksmappe_skjerming=StoredSkjerming(clean(r.s_tilgang), clean(r.s_hjemmel), r.s_metadata),
            klasseID=r.klasseID,
            korrespondanseparter=tuple(parts[r.id]),
            dokument_titler=tuple(titles[r.id]),
        )
        for r in rows
    ]


@contextmanager
def _naming(what: str) -> Iterator[None]:
    """Say which registration a leak was caught in; its number is public, the secret is not named."""
    try:
        yield
    except PublicJournalLeakError as exc:
        raise PublicJournalLeakError(f"{what}: {exc.message}", hint=exc.hint) from exc


def public_entries(
    session: Session,
    arkivskaper_id: int,
    date_from: date,
    date_to: date,
    *,
    rules: ScreeningRuleSet | None = None,
    arkivdel_ids: Sequence[int] | None = None,
    journalstatus: Sequence[Journalstatus] = PUBLISHED_JOURNALSTATUS,
) -> Iterator[PublicEntry]:
    """The postliste of one arkivskaper (table id) for journaldato date_from..date_to, both included.

    Ordered by journalaar and journalsekvensnummer; only PUBLISHED_JOURNALSTATUS.
    `rules` defaults to the bundled standard rules. `arkivdel_ids` limits it to
    the cases of those arkivdeler (an extract's offentligJournal.xml), and
    `journalstatus` widens the statuses (an extract's public journal holds
    every journalpost of its running journal, screened alike). Read in
    pages, so memory stays flat however long the period. Raises
    PublicJournalLeakError if a string would still reveal screened information
    after screening.
    """
    if date_to < date_from:
        raise ValueError(f"the period ends ({date_to}) before it starts ({date_from})")
    rules = rules or default_screening_rules()
    J = tables.Journalpost
    selected = and_(
        J.arkivskaper_id == arkivskaper_id,
        J.journaldato >= date_from,
        J.journaldato <= date_to,
        J.journalstatus.in_([s.value for s in journalstatus]),
    )
    if arkivdel_ids is not None:
        S = tables.Saksmappe
        selected = and_(selected, J.saksmappe_id.in_(select(S.id).where(S.arkivdel_id.in_(list(arkivdel_ids)))))
    cases: OrderedDict[int, CaseScreening] = OrderedDict()
    after: tuple[int, int] | None = None
    while True:
        page = select(J.id).where(selected).order_by(J.journalaar, J.journalsekvensnummer).limit(_PAGE_SIZE)
        if after is not None:
            page = page.where(
                or_(
                    J.journalaar > after[0], and_(J.journalaar == after[0], J.journalsekvensnummer > after[1])
                )
            )
        ids = session.scalars(page).all()
        if not ids:
            return
        rows = _load(session, J.id.in_(ids))
        missing = sorted({row.saksmappe_id for row in rows} - cases.keys())
        if missing:
            by_case: dict[int, list[StoredRegistrering]] = defaultdict(list)
            for row in _load(session, J.saksmappe_id.in_(missing)):
                by_case[row.saksmappe_id].append(row)
            for case_id in missing:
                case_rows = by_case[case_id]
                with _naming(f"saksmappe {case_rows[0].saksaar}/{case_rows[0].sakssekvensnummer}"):
                    cases[case_id] = case_screening(case_rows, rules)
        for row in rows:
            case = cases[row.saksmappe_id]
            cases.move_to_end(row.saksmappe_id)
            # A row journaled after its case was read is screened on its own.
            with _naming(f"journalpost {row.journalaar}/{row.journalsekvensnummer}"):
                own = case.rows.get(row.journalpost_id) or row_screening(row, rules)
                entry = public_entry(row, own, case, rules)
            yield entry
        while len(cases) > _CASE_CACHE_SIZE:
            cases.popitem(last=False)
        after = (rows[-1].journalaar, rows[-1].journalsekvensnummer)


def public_journal_header(
    session: Session, arkivskaper_id: int, date_from: date, date_to: date
) -> PublicJournalHeader:
    """The journalhode data for `write_offentlig_journal` and `write_html`."""
    arkivskaper = session.get(tables.Arkivskaper, arkivskaper_id)
    if arkivskaper is None:
        raise StoreError(f"no arkivskaper with id {arkivskaper_id} in the journal store")
    return PublicJournalHeader(
        arkivskaperID=arkivskaper.arkivskaperID,
        arkivskaperNavn=arkivskaper.arkivskaperNavn,
        journalStartDato=date_from,
        journalSluttDato=date_to,
    )

