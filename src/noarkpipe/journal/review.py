"""The review queue: the archivist's morning decisions on temporary registrations.

Every item the nightly run could not place with confidence is journaled with
status M (`Midlertidig registrering av innkommet dokument`) in a new case.
Here an archivist approves it (status J), moves its case to another class,
attaches it to an existing case, or rejects it (status `Utgår`). Each decision
runs in the caller's transaction and leaves endringslogg rows: column changes
through the session hook, class and case moves explicitly (the hook does not
log foreign keys, whose values mean nothing outside this database).

Numbers are never allocated twice: approving changes only the status; attaching
takes the next document number of the target case, and the emptied case is
marked `Utgår` rather than deleted, so its number is not reused.

A journalpost with a document that has no archival copy (its
`archival_gap`, see journal/journaling.py) cannot be journaled by accident:
approve and attach refuse it unless the archivist says `accept_gap`, and
then each such document gets a change-log row saying it was journaled
without archival copy and why (the gap itself stays on the document, and
the export states it in a merknad). The other ways out are to drop the
part (`drop_part`: the document leaves the journalpost, the reason is in
the change log, the caller keeps the file in quarantine) or to attach the
replacement the sender sent (`replace_part`: a new version of the document
with its own archival copy, which closes the gap). The original as received
always stays in the document store.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from noarkpipe.clock import utcnow
from noarkpipe.core.codes import Journalstatus, Saksstatus, Variantformat
from noarkpipe.errors import ReviewError
from noarkpipe.journal.journaling import StoredDocument, add_archival_variant, add_production_variant
from noarkpipe.store import numbering, tables

REVIEWABLE = Journalstatus.midlertidig_registrering.value
_NUMBER = re.compile(r"^\s*(\d{2}|\d{4})\s*/\s*(\d{1,7})\s*$")


class ReviewItem(BaseModel):
    arkivskaper: str
    journalnummer: str
    registreringsID: str
    journaldato: date
    tittel: str
    avsender: str | None
    klasse: str
    journalstatus: str
    skjermet: bool
    note: str | None
    archival_gaps: list[str] = []
    """One line per document without archival copy: 'NUMBER. file name: reason'."""


class ReviewDetail(ReviewItem):
    saksmappe_tittel: str
    offentligTittel: str | None
    skjermingshjemmel: str | None
    mottattDato: datetime | None
    dokumenter: list[str]
    endringer: list[str]


def parse_number(text: str) -> tuple[int, int]:
    """'2026/345' or '26/345' → (2026, 345)."""
    match = _NUMBER.match(text)
    if not match:
        raise ReviewError(f"'{text}' is not a journal or case number", hint="write it as YEAR/NUMBER, e.g. 2026/345")
    year = int(match.group(1))
    return (year if year > 99 else 2000 + year), int(match.group(2))


def _arkivskaper_id(session: Session, kode: str) -> int:
    found = session.scalar(select(tables.Arkivskaper.id).where(tables.Arkivskaper.arkivskaperID == kode))
    if found is None:
        raise ReviewError(f"no arkivskaper '{kode}' in the journal store", hint="see 'noarkpipe status' for the codes")
    return found


def find_journalpost(session: Session, kode: str, journalnummer: str) -> tables.Journalpost:
    year, number = parse_number(journalnummer)
    post = session.scalar(
        select(tables.Journalpost)
        .where(tables.Journalpost.arkivskaper_id == _arkivskaper_id(session, kode))
        .where(tables.Journalpost.journalaar == year)
        .where(tables.Journalpost.journalsekvensnummer == number)
    )
    if post is None:
        raise ReviewError(f"{kode}: no journalpost {year}/{number}")
    return post


def find_saksmappe(session: Session, arkivskaper_id: int, saksnummer: str) -> tables.Saksmappe:
    year, number = parse_number(saksnummer)
    saksmappe = session.scalar(
        select(tables.Saksmappe)
        .where(tables.Saksmappe.arkivskaper_id == arkivskaper_id)
        .where(tables.Saksmappe.saksaar == year)
        .where(tables.Saksmappe.sakssekvensnummer == number)
    )
    if saksmappe is None:
        raise ReviewError(f"no saksmappe {year}/{number} in this arkivskaper")
    return saksmappe


def _require_reviewable(post: tables.Journalpost) -> None:
    if post.journalstatus != REVIEWABLE:
        raise ReviewError(
            f"journalpost {post.journalaar}/{post.journalsekvensnummer} has status '{post.journalstatus}', "
            "not a temporary registration awaiting review"
        )


def _item(post: tables.Journalpost, kode: str) -> ReviewItem:
    sender = next((p.korrespondansepartNavn for p in post.korrespondanseparter), None)
    return ReviewItem(
        arkivskaper=kode,
        journalnummer=f"{post.journalaar}/{post.journalsekvensnummer}",
        registreringsID=post.registreringsID,
        journaldato=post.journaldato,
        tittel=post.tittel,
        avsender=sender,
        klasse=post.saksmappe.klasse.klasseID,
        journalstatus=post.journalstatus,
        skjermet=post.tilgangsrestriksjon is not None,
        note=post.classification_note,
        archival_gaps=[f"{d.dokumentnummer}. {_filename(d)}: {d.archival_gap}" for d in open_gaps(post)],
    )


def open_gaps(post: tables.Journalpost) -> list[tables.Dokumentbeskrivelse]:
    """The documents of the journalpost that have no archival copy."""
    return [d for d in post.dokumentbeskrivelser if d.archival_gap]


def _filename(document: tables.Dokumentbeskrivelse) -> str:
    """The name the document was received under (its first Produksjonsformat)."""
    originals = [o for o in document.dokumentobjekter if o.variantformat == Variantformat.produksjonsformat.value]
    return originals[0].filnavn if originals else document.tittel


def queue(session: Session, kode: str) -> list[ReviewItem]:
    posts = session.scalars(
        select(tables.Journalpost)
        .where(tables.Journalpost.arkivskaper_id == _arkivskaper_id(session, kode))
        .where(tables.Journalpost.journalstatus == REVIEWABLE)
        .order_by(tables.Journalpost.journalaar, tables.Journalpost.journalsekvensnummer)
    )
    return [_item(post, kode) for post in posts]


def detail(session: Session, kode: str, journalnummer: str) -> ReviewDetail:
    post = find_journalpost(session, kode, journalnummer)
    changes = session.scalars(
        select(tables.Endringslogg)
        .where(tables.Endringslogg.referanseArkivenhet.in_([post.systemID, post.saksmappe.systemID]))
        .order_by(tables.Endringslogg.id)
    )
    return ReviewDetail(
        **_item(post, kode).model_dump(),
        saksmappe_tittel=post.saksmappe.tittel,
        offentligTittel=post.offentligTittel,
        skjermingshjemmel=post.skjermingshjemmel,
        mottattDato=post.mottattDato,
        dokumenter=[
            f"{d.dokumentnummer}. {d.tilknyttetRegistreringSom}: {d.tittel}"
            + "".join(
                f" [v{o.versjonsnummer} {o.variantformat}: {o.filnavn}, {o.format or o.mimeType}, {o.filstoerrelse} bytes]"
                for o in d.dokumentobjekter
            )
            + (f" NO ARCHIVAL COPY: {d.archival_gap}" if d.archival_gap else "")
            for d in post.dokumentbeskrivelser
        ],
        endringer=[
            f"{c.endretDato:%Y-%m-%d %H:%M} {c.endretAv}: {c.referanseMetadata} "
            f"{c.tidligereVerdi!r} → {c.nyVerdi!r}"
            for c in changes
        ],
    )


def _log(session: Session, entity, field: str, before: str | None, after: str | None, actor: str) -> None:
    session.add(
        tables.Endringslogg(
            arkivskaper_id=getattr(entity, "arkivskaper_id", None),
            referanseArkivenhet=entity.systemID,
            referanseMetadata=field,
            endretDato=utcnow(),
            endretAv=actor,
            tidligereVerdi=before,
            nyVerdi=after,
        )
    )


def approve(
    session: Session, kode: str, journalnummer: str, *, accept_gap: bool = False, actor: str = "noarkpipe"
) -> ReviewItem:
    """M → J. Only the status changes: every number stays as allocated at intake.

    A document without archival copy needs `accept_gap`, and its acceptance is logged.
    """
    post = find_journalpost(session, kode, journalnummer)
    _require_reviewable(post)
    _settle_gaps(session, post, accept_gap, actor)
    post.journalstatus = Journalstatus.journalfoert.value
    session.flush()
    return _item(post, kode)


def _settle_gaps(session: Session, post: tables.Journalpost, accept_gap: bool, actor: str) -> None:
    """Refuse to journal a post with a document lacking its archival copy, unless the archivist accepts it."""
    gaps = open_gaps(post)
    if not gaps:
        return
    number = f"{post.journalaar}/{post.journalsekvensnummer}"
    if not accept_gap:
        listed = "; ".join(f"document {d.dokumentnummer} {_filename(d)!r}: {d.archival_gap}" for d in gaps)
        raise ReviewError(
            f"journalpost {number} has {len(gaps)} document(s) without archival copy ({listed})",
            hint=f"journal it as it is with --accept-gap (recorded in the change log and the export), "
            f"drop the part ('review drop-part {number} NUMBER --reason ...') or attach the sender's "
            f"replacement ('review replace-part {number} NUMBER FILE')",
        )
    for document in gaps:
        _log(session, document, "arkivformat", None,
             f"journalført uten arkivformat (godkjent): {_filename(document)}: {document.archival_gap}", actor)


def _document(post: tables.Journalpost, dokumentnummer: int) -> tables.Dokumentbeskrivelse:
    found = next((d for d in post.dokumentbeskrivelser if d.dokumentnummer == dokumentnummer), None)
    if found is None:
        numbers = ", ".join(str(d.dokumentnummer) for d in post.dokumentbeskrivelser)
        raise ReviewError(
            f"journalpost {post.journalaar}/{post.journalsekvensnummer} has no document {dokumentnummer}",
            hint=f"its documents are numbered {numbers}; see 'noarkpipe review show'",
        )
    return found


class DroppedPart(BaseModel):
    """A document taken out of a journalpost: what the caller keeps in quarantine."""

    item: ReviewItem
    filename: str
    sha256: str
    reason: str


def drop_part(
    session: Session, kode: str, journalnummer: str, dokumentnummer: int, reason: str, actor: str
) -> DroppedPart:
    """Take one document out of a journalpost awaiting review; the reason goes into the change log.

    The rows of the document go; its original stays in the document store,
    and the caller keeps a copy in quarantine. The other documents keep
    their numbers, so nothing that refers to them changes.
    """
    if not reason.strip():
        raise ReviewError("dropping a document needs a reason", hint="e.g. --reason 'tom fil, avsender varslet'")
    post = find_journalpost(session, kode, journalnummer)
    _require_reviewable(post)
    document = _document(post, dokumentnummer)
    if len(post.dokumentbeskrivelser) == 1:
        raise ReviewError(
            f"document {dokumentnummer} is the only document of journalpost {journalnummer}",
            hint="reject the journalpost instead ('review reject ... --reason ...')",
        )
    originals = [o for o in document.dokumentobjekter if o.variantformat == Variantformat.produksjonsformat.value]
    original = originals[0] if originals else document.dokumentobjekter[0]
    gap = f" (no archival copy: {document.archival_gap})" if document.archival_gap else ""
    _log(session, post, "dokumentbeskrivelse",
         f"{document.dokumentnummer}. {document.tittel} [{original.filnavn}, sha256 {original.sjekksum}]{gap}",
         None, actor)
    _log(session, post, "dokument fjernet", None, reason.strip(), actor)
    for objekt in document.dokumentobjekter:
        for konvertering in objekt.konverteringer:
            session.delete(konvertering)
        session.delete(objekt)
    session.delete(document)
    session.flush()
    session.expire(post, ["dokumentbeskrivelser"])
    return DroppedPart(
        item=_item(post, kode), filename=original.filnavn, sha256=original.sjekksum, reason=reason.strip()
    )


def replace_part(
    session: Session, kode: str, journalnummer: str, dokumentnummer: int, replacement: StoredDocument, actor: str
) -> ReviewItem:
    """The sender's replacement as the document's next version, with its archival copy: the gap is closed.

    The version received first stays (Produksjonsformat, versjonsnummer 1),
    so what came in is never lost; the replacement and its archival copy are
    the next version, which the export takes.
    """
    if replacement.archival is None:
        raise ReviewError(
            f"the replacement {replacement.document.filename!r} has no archival copy either",
            hint="ask the sender for the document in PDF or another format noarkpipe can convert",
        )
    post = find_journalpost(session, kode, journalnummer)
    _require_reviewable(post)
    document = _document(post, dokumentnummer)
    version = max((o.versjonsnummer for o in document.dokumentobjekter), default=0) + 1
    now = utcnow()
    add_production_variant(session, document, replacement, actor=actor, now=now, version=version)
    add_archival_variant(session, document, replacement.archival, actor=actor, now=now, version=version)
    _log(session, document, "dokumentobjekt", None,
         f"versjon {version}: {replacement.document.filename} (erstatning fra avsender, sha256 {replacement.blob.sha256})",
         actor)
    document.archival_gap = None  # the session hook logs the reason it had
    session.flush()
    session.expire(post, ["dokumentbeskrivelser"])
    return _item(post, kode)


def reclassify(session: Session, kode: str, journalnummer: str, klasse_id: str, actor: str) -> ReviewItem:
    """Move the item's case to another class of the same classification system."""
    post = find_journalpost(session, kode, journalnummer)
    _require_reviewable(post)
    saksmappe = post.saksmappe
    current = saksmappe.klasse
    target = session.scalar(
        select(tables.Klasse)
        .where(tables.Klasse.klassifikasjonssystem_id == current.klassifikasjonssystem_id)
        .where(tables.Klasse.klasseID == klasse_id)
    )
    if target is None:
        raise ReviewError(
            f"no class '{klasse_id}' in the classification system of case {saksmappe.mappeID}",
            hint="add it to the K-code list (klasser_csv) and run 'noarkpipe run' once to load it",
        )
    if target.id != current.id:
        saksmappe.klasse_id = target.id
        _log(session, saksmappe, "klasse", current.klasseID, target.klasseID, actor)
        session.flush()
        session.refresh(saksmappe)
    return _item(post, kode)


def attach(
    session: Session, kode: str, journalnummer: str, saksnummer: str, actor: str, *, accept_gap: bool = False
) -> ReviewItem:
    """Move the item into an existing case of the same arkivskaper and journal it; its own new case is closed as `Utgår`."""
    post = find_journalpost(session, kode, journalnummer)
    _require_reviewable(post)
    _settle_gaps(session, post, accept_gap, actor)
    source = post.saksmappe
    target = find_saksmappe(session, post.arkivskaper_id, saksnummer)
    if target.id == source.id:
        raise ReviewError(f"journalpost {journalnummer} is already in case {target.mappeID}")
    if target.saksstatus == Saksstatus.utgaar.value:
        raise ReviewError(f"case {target.mappeID} has status 'Utgår' and takes no new documents")
    number = numbering.next_number(
        session, post.arkivskaper_id, numbering.dokument_series(target.systemID), 0
    )
    _log(session, post, "saksmappe", source.mappeID, target.mappeID, actor)
    post.saksmappe_id = target.id
    post.journalpostnummer = number
    post.registreringsID = f"{target.mappeID}-{number}"
    post.journalstatus = Journalstatus.journalfoert.value
    session.flush()
    remaining = session.scalar(
        select(func.count()).select_from(tables.Journalpost).where(tables.Journalpost.saksmappe_id == source.id)
    )
    if not remaining:
        source.saksstatus = Saksstatus.utgaar.value
    session.flush()
    session.refresh(post)
    return _item(post, kode)


def reject(session: Session, kode: str, journalnummer: str, reason: str, actor: str) -> ReviewItem:
    """Not a document to keep (spam, a duplicate sent twice): status `Utgår`, with the reason logged."""
    if not reason.strip():
        raise ReviewError("a rejection needs a reason", hint="e.g. --reason 'reklame, ikke arkivverdig'")
    post = find_journalpost(session, kode, journalnummer)
    _require_reviewable(post)
    post.journalstatus = Journalstatus.utgaar.value
    _log(session, post, "avvist", None, reason.strip(), actor)
    remaining = session.scalar(
        select(func.count())
        .select_from(tables.Journalpost)
        .where(tables.Journalpost.saksmappe_id == post.saksmappe_id)
        .where(tables.Journalpost.journalstatus != Journalstatus.utgaar.value)
    )
    if not remaining:
        post.saksmappe.saksstatus = Saksstatus.utgaar.value
    session.flush()
    return _item(post, kode)
