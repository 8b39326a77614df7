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

The review desk reads here too: `documents` lists each document's variants
(the file as received, its archival copy, later versions), and
`similar_cases` suggests the open case a letter probably belongs to when
intake could not know it (no case reference quoted): the same sender writing
about the same property (gnr./bnr. in the titles), the same sender with a
look-alike title, or the same property from anyone.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from datetime import date, datetime
from difflib import SequenceMatcher
from typing import Any, Literal

from pydantic import BaseModel, computed_field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from noarkpipe.clock import utcnow
from noarkpipe.core.codes import (
    CLOSED_SAKSSTATUS,
    Arkivdelstatus,
    Journalstatus,
    Korrespondanseparttype,
    Saksstatus,
    SkjermingMetadata,
    Variantformat,
)
from noarkpipe.core.references import DERES, VAAR, find_case_references
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


class PartyView(BaseModel):
    id: int
    korrespondanseparttype: str
    navn: str
    epost: str | None


class ReviewDetail(ReviewItem):
    saksmappe_tittel: str
    offentligTittel: str | None
    skjermingshjemmel: str | None
    mottattDato: datetime | None
    dokumenter: list[str]
    endringer: list[str]
    parter: list[PartyView] = []
    tilgangsrestriksjon: str | None = None


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
        tilgangsrestriksjon=post.tilgangsrestriksjon,
        parter=[
            PartyView(id=p.id, korrespondanseparttype=p.korrespondanseparttype, navn=p.korrespondansepartNavn,
                      epost=p.epostadresse)
            for p in post.korrespondanseparter
        ],
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


# --- What the review desk shows beside a letter --------------------------------


class DocumentVariant(BaseModel):
    """One dokumentobjekt: a version of a document in one variant format, as the document store holds it."""

    versjonsnummer: int
    variantformat: str
    filnavn: str
    mime: str | None
    format: str | None
    """The PRONOM id ('fmt/477'); what the sender declared when the bytes could not be identified."""
    sha256: str
    size: int


class DocumentView(BaseModel):
    dokumentnummer: int
    tittel: str
    tilknyttetRegistreringSom: str
    archival_gap: str | None
    variants: list[DocumentVariant]
    """Oldest version first; within a version, in the order registered (the file as received first)."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def archival_copy(self) -> DocumentVariant | None:
        """The newest Arkivformat variant; None when the document has no archival copy."""
        copies = sorted(
            (v for v in self.variants if v.variantformat == Variantformat.arkivformat.value),
            key=lambda v: v.versjonsnummer,
        )
        return copies[-1] if copies else None


def documents(session: Session, kode: str, journalnummer: str) -> list[DocumentView]:
    """The journalpost's documents in number order, each with every variant the store holds."""
    post = find_journalpost(session, kode, journalnummer)
    return [_document_view(document) for document in post.dokumentbeskrivelser]


def _document_view(document: tables.Dokumentbeskrivelse) -> DocumentView:
    objekter = sorted(document.dokumentobjekter, key=lambda o: (o.versjonsnummer, o.id))
    return DocumentView(
        dokumentnummer=document.dokumentnummer,
        tittel=document.tittel,
        tilknyttetRegistreringSom=document.tilknyttetRegistreringSom,
        archival_gap=document.archival_gap,
        variants=[
            DocumentVariant(
                versjonsnummer=o.versjonsnummer, variantformat=o.variantformat, filnavn=o.filnavn,
                mime=o.mimeType, format=o.format, sha256=o.sjekksum, size=o.filstoerrelse,
            )
            for o in objekter
        ],
    )


class CaseSuggestion(BaseModel):
    """An open case the letter may belong to, and why the desk thinks so (bokmål, shown as it is)."""

    saksnummer: str
    tittel: str
    """The public title (offentligTittel) when the case is screened: a suggestion may be shown to anyone."""
    klasse: str
    saksstatus: str
    why: str
    skjermet: bool = False
    """The case, or a journalpost in it, is screened: that this sender or property has such a case is itself
    screened, so a user not cleared for screened content should not be shown the suggestion."""


SIMILAR_TITLE = 0.85
"""Share of matching letters (difflib's ratio) from which two title keys count as the same title."""

_NO_SENDER = "(ukjent avsender)"
"""The name journaling gives a sender with neither name nor address: the same for every such letter."""

_GNR = r"(?:gnr|g\.\s?nr|g[åa]rdsnr|g[åa]rdsnummer)"
_BNR = r"(?:bnr|b\.\s?nr|bruksnr|bruksnummer)"
_PROPERTY = re.compile(
    # gnr. 41 bnr. 12, gnr 41, bnr 12, Gnr. 41/bnr. 12, gårdsnummer 41 og bruksnummer 12
    rf"(?<!\w){_GNR}\.?\s*:?\s*(?P<gnr>\d{{1,5}})\s*(?:[,/]|og\b)?\s*{_BNR}\.?\s*:?\s*(?P<bnr>\d{{1,5}})(?!\d)"
    # gnr/bnr 41/12, gnr./bnr. 41/12, g/bnr 41/12, gbnr 41/12 (a further /fnr/snr is left alone)
    rf"|(?<!\w)(?:{_GNR}\.?\s*(?:[/,-]|og\b)?\s*{_BNR}|g/?bnr)\.?\s*:?\s*"
    r"(?P<pair_gnr>\d{1,5})\s*/\s*(?P<pair_bnr>\d{1,5})(?!\d)",
    re.IGNORECASE,
)
_REPLY_PREFIX = re.compile(r"^(?:\s*(?:sv|svar|re|aw|fw|fwd|vs|wg|videresendt?)\s*:)+", re.IGNORECASE)
# What is left of a reference once find_case_references took its number, or one that quotes no case number.
_REFERENCE_LABEL = re.compile(rf"(?<!\w)(?:{DERES}|{VAAR})\s+ref(?:eranse)?\b\.?\s*(?:nr\b\.?)?\s*:?", re.IGNORECASE)
_LETTERS = re.compile(r"[^\W\d_]+")


def find_properties(text: str) -> list[tuple[int, int]]:
    """Every (gnr, bnr) written in the text, in order, without repeats.

    'gnr. 41 bnr. 12', 'gnr 41 bnr 12', 'gnr. 41, bnr. 12' and 'gnr/bnr 41/12'
    are all (41, 12). A bare '41/12' is not: without the words it may as
    well be a case number.
    """
    found: dict[tuple[int, int], None] = {}
    for match in _PROPERTY.finditer(unicodedata.normalize("NFKC", text)):
        gnr = match.group("gnr") or match.group("pair_gnr")
        bnr = match.group("bnr") or match.group("pair_bnr")
        found.setdefault((int(gnr), int(bnr)), None)
    return list(found)


def title_key(title: str) -> str:
    """A title as compared with others: case-folded words, without numbers, references and reply prefixes.

    'Sv: Spørsmål om feiing, Deres ref. 2026/14' and 'Spørsmål om feiing 2026'
    both give 'spørsmål om feiing'.
    """
    text = unicodedata.normalize("NFKC", title).casefold()
    for reference in find_case_references(text):
        text = text.replace(reference.quoted, " ")
    text = _REFERENCE_LABEL.sub(" ", _REPLY_PREFIX.sub(" ", text))
    return " ".join(_LETTERS.findall(text))


def _title_similarity(ours: set[str], theirs: set[str]) -> float:
    best = 0.0
    for mine in ours:
        for other in theirs:
            if mine == other:
                return 1.0
            best = max(best, SequenceMatcher(None, mine, other, autojunk=False).ratio())
    return best


def _party_keys(name: str | None, email: str | None) -> set[str]:
    """A korrespondansepart as senders are compared: its name and its e-mail address, case-folded."""
    keys = set()
    cleaned = " ".join(unicodedata.normalize("NFKC", name or "").split()).casefold()
    if cleaned and cleaned != _NO_SENDER:
        keys.add(cleaned)
    if email and "@" in email:
        keys.add(email.strip().casefold())
    return keys


def _sender_keys(post: tables.Journalpost) -> set[str]:
    """The journalpost's sender (its Avsender parts); a post without one: its parts that are not internal."""
    parties = [p for p in post.korrespondanseparter if p.korrespondanseparttype == Korrespondanseparttype.avsender.value]
    if not parties:
        parties = [p for p in post.korrespondanseparter if not p.korrespondanseparttype.startswith("Intern")]
    return set().union(*(_party_keys(p.korrespondansepartNavn, p.epostadresse) for p in parties))


def _describe(properties: list[tuple[int, int]]) -> str:
    return " og ".join(f"gnr. {gnr} bnr. {bnr}" for gnr, bnr in properties)


def similar_cases(session: Session, kode: str, journalnummer: str, limit: int = 5) -> list[CaseSuggestion]:
    """Open cases of the same arkivskaper the journalpost may belong to, the likeliest first.

    In order: the same sender (a korrespondansepart of the case with the
    same name or e-mail address) and the same property (a gnr./bnr. in the
    titles of the case and its journalposts); the same sender and a title
    that is the same or nearly (`title_key`, `SIMILAR_TITLE`); the same
    property from anyone. Within each, the title most alike first, then the
    oldest case. The journalpost's own case, closed cases (Avsluttet, Utgår),
    cases in a closed period, and journalposts rejected as Utgår are left out.
    A suggestion that rests on screened entries says so (`skjermet`); the
    caller knows who is looking and whether they may see it.
    Every open case of the arkivskaper is read once; they are a small part of
    any archive, since cases are closed before their period is.
    """
    post = find_journalpost(session, kode, journalnummer)
    own = post.saksmappe
    senders = _sender_keys(post)
    ours = [post.tittel, own.tittel]
    properties = find_properties("\n".join(ours))
    keys = {key for key in map(title_key, ours) if key}
    if limit <= 0 or not (senders or properties):
        return []
    S, J, K = tables.Saksmappe, tables.Journalpost, tables.Korrespondansepart
    open_cases = (
        select(S.id)
        .join(tables.Arkivdel, S.arkivdel_id == tables.Arkivdel.id)
        .where(S.arkivskaper_id == post.arkivskaper_id)
        .where(S.id != own.id)
        .where(S.saksstatus.not_in(CLOSED_SAKSSTATUS))
        .where(tables.Arkivdel.arkivdelstatus != Arkivdelstatus.avsluttet_periode.value)
    )
    cases = session.execute(
        select(S.id, S.saksaar, S.sakssekvensnummer, S.tittel, S.offentligTittel, S.tilgangsrestriksjon, S.saksstatus,
               tables.Klasse.klasseID)
        .join(tables.Klasse, S.klasse_id == tables.Klasse.id)
        .where(S.id.in_(open_cases))
    ).all()
    live = J.journalstatus != Journalstatus.utgaar.value
    titles: dict[int, list[str]] = defaultdict(list)
    screened = {case.id for case in cases if case.tilgangsrestriksjon}
    for case in cases:
        titles[case.id].append(case.tittel)
    for saksmappe_id, tittel, restriction in session.execute(
        select(J.saksmappe_id, J.tittel, J.tilgangsrestriksjon).where(J.saksmappe_id.in_(open_cases), live)
    ):
        titles[saksmappe_id].append(tittel)
        if restriction:
            screened.add(saksmappe_id)
    parties: dict[int, set[str]] = defaultdict(set)
    for saksmappe_id, navn, epost in session.execute(
        select(J.saksmappe_id, K.korrespondansepartNavn, K.epostadresse)
        .join(J, K.journalpost_id == J.id)
        .where(J.saksmappe_id.in_(open_cases), live)
    ):
        parties[saksmappe_id] |= _party_keys(navn, epost)

    ranked = []
    for case in cases:
        same_sender = bool(senders & parties[case.id])
        shared = [p for p in properties if p in find_properties("\n".join(titles[case.id]))] if properties else []
        if not (same_sender or shared):
            continue
        alike = _title_similarity(keys, {key for key in map(title_key, titles[case.id]) if key})
        if same_sender and shared:
            tier, why = 0, f"samme avsender og {_describe(shared)}"
        elif same_sender and alike >= SIMILAR_TITLE:
            tier, why = 1, "samme avsender og lik tittel"
        elif shared:
            tier, why = 2, f"samme eiendom, {_describe(shared)}"
        else:
            continue
        suggestion = CaseSuggestion(
            saksnummer=f"{case.saksaar}/{case.sakssekvensnummer}",
            tittel=(case.offentligTittel or "(skjermet sak)") if case.tilgangsrestriksjon else case.tittel,
            klasse=case.klasseID, saksstatus=case.saksstatus, why=why, skjermet=case.id in screened,
        )
        ranked.append(((tier, -alike, case.saksaar, case.sakssekvensnummer), suggestion))
    ranked.sort(key=lambda pair: pair[0])
    return [suggestion for _, suggestion in ranked[:limit]]


# ---------------------------------------------------------------- corrections before approval


class PartyEdit(BaseModel):
    """One korrespondansepart as the archivist leaves it: `id` None adds one, `remove` takes one out."""

    id: int | None = None
    korrespondanseparttype: str = Korrespondanseparttype.avsender.value
    navn: str = ""
    epost: str | None = None
    remove: bool = False


class RegistrationEdit(BaseModel):
    """What the archivist corrects on a journalpost in review; None and 'keep' leave a field as it is.

    Setting skjerming takes the three values of one screening rule (its
    tilgangsrestriksjon, skjermingshjemmel and skjermingMetadata) and a public
    title; lifting it takes a reason, which goes into the change log.
    """

    tittel: str | None = None
    offentligTittel: str | None = None
    skjerming: Literal["keep", "set", "lift"] = "keep"
    tilgangsrestriksjon: str | None = None
    skjermingshjemmel: str | None = None
    skjermingMetadata: tuple[str, ...] = ()
    reason: str | None = None
    parties: tuple[PartyEdit, ...] = ()


def edit(session: Session, kode: str, journalnummer: str, change: RegistrationEdit, actor: str) -> ReviewItem:
    """Correct the title, the public title, the parties or the skjerming of a journalpost awaiting review.

    Each changed column is logged by the store's change-log hook; lifting
    skjerming is logged with its reason. A case made for this letter alone
    (its only journalpost) follows the corrected titles and skjerming, as
    intake made them equal.
    """
    post = find_journalpost(session, kode, journalnummer)
    _require_reviewable(post)
    own_case = len(post.saksmappe.journalposter) == 1
    targets: list[Any] = [post, post.saksmappe] if own_case else [post]
    if change.tittel is not None:
        title = change.tittel.strip()
        if not title:
            raise ReviewError("the title cannot be empty")
        for target in targets:
            target.tittel = title
    screened = post.tilgangsrestriksjon is not None
    if change.skjerming == "set":
        if not (change.tilgangsrestriksjon and change.skjermingshjemmel and change.skjermingMetadata):
            raise ReviewError("skjerming needs a tilgangsrestriksjon, a skjermingshjemmel and what it hides",
                              hint="choose one of the screening rules' hjemler")
        unknown = [value for value in change.skjermingMetadata if value not in _SKJERMING_METADATA]
        if unknown:
            raise ReviewError(f"unknown skjermingMetadata {unknown[0]!r}")
        for target in targets:
            target.tilgangsrestriksjon = change.tilgangsrestriksjon
            target.skjermingshjemmel = change.skjermingshjemmel
            target.skjermingMetadata = "\n".join(change.skjermingMetadata)
        screened = True
    elif change.skjerming == "lift" and screened:
        reason = (change.reason or "").strip()
        if not reason:
            raise ReviewError("say why the skjerming is lifted", hint="the reason is kept in the change log")
        _log(session, post, "skjerming", post.skjermingshjemmel, f"opphevet: {reason}", actor)
        for target in targets:
            target.tilgangsrestriksjon = target.skjermingshjemmel = target.skjermingMetadata = None
        screened = False
    if change.offentligTittel is not None or change.skjerming != "keep":
        public = (change.offentligTittel or "").strip() or None
        if screened and not public:
            raise ReviewError("a screened journalpost needs a public title (offentligTittel) without what is screened")
        for target in targets:
            target.offentligTittel = public
    for party in change.parties:
        _edit_party(session, post, party, actor)
    session.flush()
    return _item(post, kode)


_SKJERMING_METADATA = frozenset(value.value for value in SkjermingMetadata)
_PARTY_TYPES = frozenset(value.value for value in Korrespondanseparttype)


def _edit_party(session: Session, post: tables.Journalpost, party: PartyEdit, actor: str) -> None:
    if party.korrespondanseparttype not in _PARTY_TYPES:
        raise ReviewError(f"unknown korrespondanseparttype {party.korrespondanseparttype!r}")
    name, address = party.navn.strip(), (party.epost or "").strip() or None
    if party.id is None:
        if party.remove or not name:
            return  # the empty row of the form
        session.add(tables.Korrespondansepart(
            journalpost=post, korrespondanseparttype=party.korrespondanseparttype,
            korrespondansepartNavn=name, epostadresse=address,
        ))
        return
    existing = next((p for p in post.korrespondanseparter if p.id == party.id), None)
    if existing is None:
        raise ReviewError(f"journalpost {post.journalaar}/{post.journalsekvensnummer} has no party {party.id}")
    if party.remove:
        _log(session, post, "korrespondansepart", existing.korrespondansepartNavn, None, actor)
        session.delete(existing)
        return
    if not name:
        raise ReviewError("a party needs a name", hint="tick 'remove' to take the party out")
    existing.korrespondanseparttype = party.korrespondanseparttype
    existing.korrespondansepartNavn = name
    existing.epostadresse = address
