"""Journaling: one submission becomes a journalpost in one transaction.

The caller opens the transaction (`Store.write`); everything here runs inside
it, so numbers, entities and the intake item's state commit together or not
at all.

Each document gets two dokumentobjekter in the same dokumentbeskrivelse,
both versjonsnummer 1: the file as received (Produksjonsformat) and its
archival copy (Arkivformat), the latter with a konvertering saying how it
was made. A document received in an archival format (UTF-8 text, XML, a
PDF/A that verifies) is its own archival copy: its Arkivformat row names
the same file and checksum, and has no konvertering, since nothing was
converted. Format is the PRONOM id from identification of the bytes,
formatDetaljer its name and version.

The letter comes first: a document that could not get an archival copy is
still journaled, exactly as received (its Produksjonsformat row, no
Arkivformat), with the reason in `dokumentbeskrivelse.archival_gap`, and
its journalpost goes to the review queue (M) whatever the classification
said. The archivist decides there (journal/review.py).

A bounce or read receipt (`Submission.refers_to_message_id`) joins the case
of the journalpost whose e-mail it is about, found by Message-ID within the
same records creator, and waits for review: it is a notice about a letter,
not a new matter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from noarkpipe.classify.policy import Policy
from noarkpipe.classify.rules import classify
from noarkpipe.classify.screening import PublicField, ScreeningDecision, decide_screening, public_text, screening_input
from noarkpipe.clock import LOCAL_TIME
from noarkpipe.config import ArkivskaperSettings
from noarkpipe.core.arkivmelding import Arkivmelding
from noarkpipe.core.codes import (
    CLOSED_SAKSSTATUS,
    Arkivdelstatus,
    Arkivstatus,
    Dokumentstatus,
    Dokumenttype,
    Journalposttype,
    Journalstatus,
    Korrespondanseparttype,
    Saksstatus,
    TilknyttetRegistreringSom,
    Variantformat,
)
from noarkpipe.core.references import CaseParty, CaseReference, describe_sender, find_case_references, is_party_of_case
from noarkpipe.core.submission import DocumentRole, Submission, SubmissionDocument
from noarkpipe.journal import arkivmelding as fiks
from noarkpipe.store import numbering, tables
from noarkpipe.store.docstore import StoredBlob


@dataclass(frozen=True)
class Structure:
    """Where new cases of one records creator go: its open arkivdel and classes."""

    arkivskaper_id: int
    arkivdel_id: int
    klasse_ids: dict[str, int]
    default_klasse_id: int


@dataclass(frozen=True)
class KonverteringRecord:
    """How an archival copy was made, as the konvertering row records it."""

    konvertertDato: datetime
    konvertertFraFormat: str
    konvertertTilFormat: str
    konverteringsverktoey: str
    konverteringskommentar: str | None = None


@dataclass(frozen=True)
class ArchivalVariant:
    """A document's Arkivformat: its own file, or the original's when that is archival as received."""

    blob: StoredBlob
    filename: str
    format: str
    format_details: str | None
    media_type: str
    konvertering: KonverteringRecord | None
    """None when the original is kept as its own archival copy."""


@dataclass(frozen=True)
class StoredDocument:
    document: SubmissionDocument
    blob: StoredBlob
    media_type: str
    format: str
    format_details: str | None = None
    archival: ArchivalVariant | None = None
    archival_gap: str | None = None
    """Why there is no archival copy (then `archival` is None); None when there is one."""


@dataclass(frozen=True)
class Placement:
    """Where a journalpost goes and with which status, and why.

    Either an existing `saksmappe`, or a new case in `klasse_id` titled `tittel`.
    """

    journalstatus: Journalstatus
    saksmappe: tables.Saksmappe | None
    reason: str
    klasse_id: str | None = None
    tittel: str | None = None


def ensure_structure(session: Session, creator: ArkivskaperSettings, actor: str, now: datetime) -> Structure:
    """Create the records creator's arkiv, arkivdel and classes from the config where missing."""
    arkivskaper = session.scalar(
        select(tables.Arkivskaper).where(tables.Arkivskaper.arkivskaperID == creator.kode)
    )
    if arkivskaper is None:
        arkivskaper = tables.Arkivskaper(arkivskaperID=creator.kode, arkivskaperNavn=creator.navn)
        session.add(arkivskaper)
        session.flush()
    arkivskaper.arkivskaperNavn = creator.navn

    arkiv = session.scalar(select(tables.Arkiv).where(tables.Arkiv.arkivskaper_id == arkivskaper.id))
    if arkiv is None:
        arkiv = tables.Arkiv(
            arkivskaper_id=arkivskaper.id,
            tittel=creator.arkiv.tittel,
            arkivstatus=Arkivstatus.opprettet.value,
            opprettetDato=now,
            opprettetAv=actor,
        )
        session.add(arkiv)
        session.flush()

    arkivdel = session.scalar(
        select(tables.Arkivdel)
        .where(tables.Arkivdel.arkiv_id == arkiv.id)
        .where(tables.Arkivdel.arkivdelstatus == Arkivdelstatus.aktiv_periode.value)
        .order_by(tables.Arkivdel.arkivperiodeStartDato.desc())
    )
    if arkivdel is None:
        arkivdel = tables.Arkivdel(
            arkiv_id=arkiv.id,
            tittel=creator.arkivdel.tittel,
            arkivdelstatus=Arkivdelstatus.aktiv_periode.value,
            arkivperiodeStartDato=creator.arkivdel.start,
            opprettetDato=now,
            opprettetAv=actor,
        )
        session.add(arkivdel)
        session.flush()

    system_settings = creator.klassifikasjonssystem
    system = session.scalar(
        select(tables.Klassifikasjonssystem).where(tables.Klassifikasjonssystem.arkivdel_id == arkivdel.id)
    )
    if system is None:
        system = tables.Klassifikasjonssystem(
            arkivdel_id=arkivdel.id,
            tittel=system_settings.tittel,
            klassifikasjonstype=system_settings.klassifikasjonstype,
            opprettetDato=now,
            opprettetAv=actor,
        )
        session.add(system)
        session.flush()

    existing = {
        k.klasseID: k
        for k in session.scalars(
            select(tables.Klasse).where(tables.Klasse.klassifikasjonssystem_id == system.id)
        )
    }
    for spec in system_settings.klasser:
        klasse = existing.get(spec.klasseID)
        if klasse is None:
            klasse = tables.Klasse(
                klassifikasjonssystem_id=system.id,
                klasseID=spec.klasseID,
                tittel=spec.tittel,
                opprettetDato=now,
                opprettetAv=actor,
            )
            session.add(klasse)
            existing[spec.klasseID] = klasse
        else:
            klasse.tittel = spec.tittel
    session.flush()
    klasse_ids = {klasse_id: k.id for klasse_id, k in existing.items()}
    return Structure(
        arkivskaper_id=arkivskaper.id,
        arkivdel_id=arkivdel.id,
        klasse_ids=klasse_ids,
        default_klasse_id=klasse_ids[system_settings.default_klasse],
    )


def find_saksmappe(session: Session, arkivskaper_id: int, ref: CaseReference) -> tables.Saksmappe | None:
    return session.scalar(
        select(tables.Saksmappe)
        .where(tables.Saksmappe.arkivskaper_id == arkivskaper_id)
        .where(tables.Saksmappe.saksaar == ref.saksaar)
        .where(tables.Saksmappe.sakssekvensnummer == ref.sakssekvensnummer)
    )




def _closed(session: Session, saksmappe: tables.Saksmappe) -> str | None:
    """Why an item may not join this case on its own, or None."""
    if saksmappe.saksstatus in CLOSED_SAKSSTATUS:
        return f"that case is '{saksmappe.saksstatus}'"
    arkivdel = session.get(tables.Arkivdel, saksmappe.arkivdel_id)
    if arkivdel is not None and arkivdel.arkivdelstatus == Arkivdelstatus.avsluttet_periode.value:
        return f"its arkivdel '{arkivdel.tittel}' is closed (Avsluttet periode)"
    return None


def place(session: Session, structure: Structure, submission: Submission, policy: Policy) -> Placement:
    """Where an item goes, in order of certainty.

    1. It quotes an existing case of the same records creator: it joins that case (J); from a sender
       who is no party of that case, awaiting review (M), unless configured otherwise.
    2. A classification rule decides: a new case in the rule's class, J if the rule is confident.
    3. The learned model is confident enough: a new case in its class (J).
    4. Otherwise: a new case in the default class, awaiting review (M).

    Before all of these, a notice about an earlier message (a bounce, a read
    receipt) joins the case of that message's journalpost, awaiting review (M).
    """
    if submission.refers_to_message_id:
        about = find_by_message_id(session, structure.arkivskaper_id, submission.refers_to_message_id)
        if about is not None:
            number = f"{about.journalaar}/{about.journalsekvensnummer}"
            closed = _closed(session, about.saksmappe)
            if not closed:
                return Placement(
                    Journalstatus.midlertidig_registrering, about.saksmappe,
                    f"a notice about the message of journalpost {number} ({submission.refers_to_message_id}): "
                    f"placed in its case {about.saksmappe.mappeID}, awaiting review",
                )
    for ref in find_case_references(f"{submission.subject}\n{submission.body_text}"):
        saksmappe = find_saksmappe(session, structure.arkivskaper_id, ref)
        if saksmappe is not None:
            closed = _closed(session, saksmappe)
            if closed:
                # A closed case, or one in a closed (perhaps deposited) period, is not
                # reopened by a letter: the archivist decides in the review queue.
                return Placement(
                    Journalstatus.midlertidig_registrering, None,
                    f"quotes case {ref} ({ref.quoted!r}), but {closed}: new case in the default class, awaiting review",
                )
            if policy.quoted_case_unknown_sender == "review" and not is_party_of_case(
                submission.sender, case_parties(session, saksmappe)
            ):
                # A case number is public; quoting one proves nothing (core/references.py).
                return Placement(
                    Journalstatus.midlertidig_registrering, saksmappe,
                    f"quotes existing case {ref} ({ref.quoted!r}), but {describe_sender(submission.sender)} is no "
                    "party of that case: placed in it, awaiting review "
                    "(quoted_case_unknown_sender = \"review\", [arkivskaper.klassifikasjonssystem])",
                )
            return Placement(Journalstatus.journalfoert, saksmappe, f"quotes existing case {ref} ({ref.quoted!r})")
    review = Journalstatus.midlertidig_registrering
    if policy.classification_rules is not None:
        decision = classify(submission, policy.classification_rules)
        if decision is not None:
            if not decision.new_case:
                return Placement(
                    review, None, f"rule '{decision.rule}' only joins quoted cases and none was found: review",
                    decision.klasse, decision.saksmappe_tittel,
                )
            status = Journalstatus.journalfoert if decision.confident else review
            certainty = "" if decision.confident else " (not confident: review)"
            return Placement(
                status, None, f"rule '{decision.rule}' → klasse {decision.klasse}{certainty}",
                decision.klasse, decision.saksmappe_tittel,
            )
    if policy.model is not None:
        from noarkpipe.classify.learned import MODEL_DECIDED_NOTE, decide, submission_text  # loaded with the model

        suggestion = policy.model.suggest(submission_text(submission))
        if suggestion.klasse_id in structure.klasse_ids:
            if decide(suggestion, policy.model_threshold):
                return Placement(
                    Journalstatus.journalfoert, None,
                    f"{MODEL_DECIDED_NOTE} klasse {suggestion.klasse_id} ({suggestion.confidence:.0%})",
                    suggestion.klasse_id,
                )
            return Placement(
                review, None,
                f"learned model suggests klasse {suggestion.klasse_id} ({suggestion.confidence:.0%}), below "
                f"{policy.model_threshold:.0%}: new case in the default class, awaiting review",
            )
    return Placement(review, None, "no rule and no confident suggestion: new case in the default class, awaiting review")


def place_arkivmelding(session: Session, structure: Structure, melding: Arkivmelding, policy: Policy) -> Placement:
    """The case an arkivmelding names (`journal/arkivmelding.py`), refused when it is closed like any case."""
    arkivdel = session.get(tables.Arkivdel, structure.arkivdel_id)
    assert arkivdel is not None  # ensure_structure made it
    found = fiks.target(session, structure.arkivskaper_id, structure.klasse_ids, arkivdel, melding, policy.fiks_arkiv)
    if found.saksmappe is not None and (closed := _closed(session, found.saksmappe)):
        raise fiks.refuser(melding)(f"the saksmappe {found.saksmappe.mappeID} takes no new journalposts: {closed}")
    return Placement(found.journalstatus, found.saksmappe, found.reason, found.klasse_id, found.tittel)


def case_parties(session: Session, saksmappe: tables.Saksmappe) -> list[CaseParty]:
    """Every korrespondansepart of the case's journalposts, with its journalpost's status and whether it opened the case."""
    J, K = tables.Journalpost, tables.Korrespondansepart
    first = session.scalar(select(func.min(J.journalpostnummer)).where(J.saksmappe_id == saksmappe.id))
    rows = session.execute(
        select(K.epostadresse, K.organisasjonsnummer, J.journalstatus, J.journalpostnummer)
        .join(J, K.journalpost_id == J.id)
        .where(J.saksmappe_id == saksmappe.id)
    )
    return [CaseParty(email, orgnr, status, number == first) for email, orgnr, status, number in rows]


def find_by_message_id(session: Session, arkivskaper_id: int, message_id: str) -> tables.Journalpost | None:
    """The first journalpost of this records creator made from the e-mail with this Message-ID."""
    return session.scalar(
        select(tables.Journalpost)
        .where(tables.Journalpost.arkivskaper_id == arkivskaper_id)
        .where(tables.Journalpost.message_id == message_id.strip())
        .order_by(tables.Journalpost.id)
        .limit(1)
    )


def gap_reasons(documents: Sequence[StoredDocument]) -> list[str]:
    """One line per document kept without archival copy, in the order they are numbered."""
    return [
        f"{stored.document.filename!r} has no archival copy: {stored.archival_gap}"
        for stored in _numbered(documents)
        if stored.archival_gap
    ]


def _numbered(documents: Sequence[StoredDocument]) -> list[StoredDocument]:
    """The main document first (dokumentnummer 1), the attachments in the order received."""
    return sorted(documents, key=lambda d: d.document.role is not DocumentRole.main)


def _new_saksmappe(
    session: Session, structure: Structure, title: str, klasse_id: int, actor: str, now: datetime, today, **columns
) -> tables.Saksmappe:
    saksaar = today.year
    number = numbering.next_number(session, structure.arkivskaper_id, numbering.SAK, saksaar)
    saksmappe = tables.Saksmappe(
        arkivskaper_id=structure.arkivskaper_id,
        arkivdel_id=structure.arkivdel_id,
        klasse_id=klasse_id,
        mappeID=f"{saksaar}/{number}",
        saksaar=saksaar,
        sakssekvensnummer=number,
        tittel=title,
        saksdato=today,
        saksstatus=Saksstatus.under_behandling.value,
        opprettetDato=now,
        opprettetAv=actor,
        **columns,
    )
    session.add(saksmappe)
    session.flush()
    return saksmappe


def _skjerming_columns(decision: ScreeningDecision) -> dict:
    if not decision.screened:
        return {}
    return {
        "tilgangsrestriksjon": decision.tilgangsrestriksjon,
        "skjermingshjemmel": decision.skjermingshjemmel,
        "skjermingMetadata": "\n".join(m.value for m in decision.skjermingMetadata) or None,
    }


def screen(
    submission: Submission, title: str, klasse_id: str | None, policy: Policy
) -> ScreeningDecision:
    """The screening decision for an item, from everything it holds (subject, text, form data, names)."""
    # A sender with an organisasjonsnummer is an organisation; anyone else may be a private person.
    return decide_screening(screening_input(submission, tittel=title, klasse_id=klasse_id), policy.screening_rules)


def journal_submission(
    session: Session,
    structure: Structure,
    submission: Submission,
    documents: list[StoredDocument],
    *,
    actor: str,
    now: datetime,
    policy: Policy | None = None,
    review_reasons: Sequence[str] = (),
) -> tuple[tables.Journalpost, Placement]:
    """Register an incoming submission: numbers, journalpost, parties, documents, skjerming.

    A document without archival copy, or any of `review_reasons` (e.g. another
    letter of the same scan batch has one), sends the journalpost to review (M)
    with the reasons in its classification note.
    """
    policy = policy or Policy.standard()
    today = now.astimezone(LOCAL_TIME).date()
    melding = submission.arkivmelding
    title = (melding.tittel if melding else submission.subject).strip() or "(uten emne)"
    if melding is not None:
        placement = place_arkivmelding(session, structure, melding, policy)
    else:
        placement = place(session, structure, submission, policy)
    flagged = [*gap_reasons(documents), *review_reasons]
    if flagged:
        placement = Placement(
            Journalstatus.midlertidig_registrering, placement.saksmappe,
            "; ".join([placement.reason, *flagged, "awaiting review"]),
            placement.klasse_id, placement.tittel,
        )
    saksmappe = placement.saksmappe
    if saksmappe is not None:
        klasse_id = saksmappe.klasse.klasseID
    else:
        klasse_id = placement.klasse_id or next(
            k for k, v in structure.klasse_ids.items() if v == structure.default_klasse_id
        )
    decision = screen(submission, title, klasse_id, policy)
    case_decision = decision
    if melding is not None:  # the sender's skjerming on top of ours: whichever screens, screens
        case_decision = fiks.stricter(decision, melding.saksmappe.skjerming, melding.saksmappe.offentlig_tittel)
        decision = fiks.stricter(decision, melding.skjerming, melding.offentlig_tittel)
    if saksmappe is None:
        case_title = placement.tittel or title
        screened = (
            {
                "offentligTittel": public_text(case_decision.offentlig_tittel if melding else case_title, case_decision,
                                               PublicField.tittel_mappe),
                **_skjerming_columns(case_decision),
            }
            if case_decision.screened
            else {}
        )
        saksmappe = _new_saksmappe(
            session, structure, case_title, structure.klasse_ids[klasse_id], actor, now, today, **screened
        )

    journalaar = today.year
    journalsekvensnummer = numbering.next_number(
        session, structure.arkivskaper_id, numbering.JOURNAL, journalaar
    )
    journalpostnummer = numbering.next_number(
        session, structure.arkivskaper_id, numbering.dokument_series(saksmappe.systemID), 0
    )
    received = submission.received or now
    journalpost = tables.Journalpost(
        arkivskaper_id=structure.arkivskaper_id,
        saksmappe_id=saksmappe.id,
        registreringsID=f"{saksmappe.mappeID}-{journalpostnummer}",
        journalaar=journalaar,
        journalsekvensnummer=journalsekvensnummer,
        journalpostnummer=journalpostnummer,
        journalposttype=(fiks.journalposttype(melding) if melding else Journalposttype.inngaaende_dokument).value,
        journalstatus=placement.journalstatus.value,
        journaldato=today,
        mottattDato=(melding.mottatt_dato if melding and melding.mottatt_dato else received),
        dokumentetsDato=(
            melding.dokumentets_dato
            if melding and melding.dokumentets_dato
            else (submission.sent or received).astimezone(LOCAL_TIME).date()
        ),
        tittel=title,
        offentligTittel=(
            public_text(decision.offentlig_tittel if melding else title, decision, PublicField.tittel_registrering)
            if decision.screened
            else None
        ),
        **_skjerming_columns(decision),
        classification_note="; ".join([placement.reason, *decision.reasons]),
        message_id=submission.message_id.strip() if submission.message_id else None,
        opprettetDato=now,
        opprettetAv=actor,
    )
    session.add(journalpost)
    session.flush()

    if melding is not None:
        kind = fiks.journalposttype(melding)
        for part in melding.korrespondanseparter:
            session.add(
                tables.Korrespondansepart(
                    journalpost_id=journalpost.id,
                    korrespondanseparttype=fiks.korrespondanseparttype(part, kind).value,
                    korrespondansepartNavn=part.navn,
                    epostadresse=part.epostadresse,
                    postadresse=part.postadresse,
                    postnummer=part.postnummer,
                    poststed=part.poststed,
                    organisasjonsnummer=part.organisasjonsnummer,
                )
            )
        fiks.record_keys(session, structure.arkivskaper_id, melding, saksmappe, journalpost, now)
        fiks.record_parts(session, melding, saksmappe, now)
    elif submission.sender is not None:
        sender = submission.sender
        session.add(
            tables.Korrespondansepart(
                journalpost_id=journalpost.id,
                korrespondanseparttype=Korrespondanseparttype.avsender.value,
                korrespondansepartNavn=sender.name or sender.email or "(ukjent avsender)",
                epostadresse=sender.email,
                postadresse=sender.postal_address,
                postnummer=sender.postal_code,
                poststed=sender.city,
                organisasjonsnummer=sender.organisasjonsnummer,
            )
        )

    numbered = _numbered(documents)
    beskrivelser = []
    for dokumentnummer, stored in enumerate(numbered, start=1):
        beskrivelse = tables.Dokumentbeskrivelse(
            journalpost_id=journalpost.id,
            dokumenttype=Dokumenttype.brev.value,
            dokumentstatus=Dokumentstatus.ferdigstilt.value,
            tittel=stored.document.title or stored.document.filename,
            tilknyttetRegistreringSom=(
                TilknyttetRegistreringSom.hoveddokument
                if stored.document.role is DocumentRole.main
                else TilknyttetRegistreringSom.vedlegg
            ).value,
            dokumentnummer=dokumentnummer,
            tilknyttetDato=now,
            tilknyttetAv=actor,
            opprettetDato=now,
            opprettetAv=actor,
            archival_gap=stored.archival_gap,
        )
        session.add(beskrivelse)
        beskrivelser.append(beskrivelse)
    # One flush gives every dokumentbeskrivelse its id, one more writes their dokumentobjekter (and konverteringer):
    # the same rows in the same order as a flush per row, in a few statements.
    session.flush()
    for beskrivelse, stored in zip(beskrivelser, numbered, strict=True):
        add_production_variant(session, beskrivelse, stored, actor=actor, now=now)
        if stored.archival is not None:
            add_archival_variant(session, beskrivelse, stored.archival, actor=actor, now=now)
    session.flush()
    return journalpost, placement


def add_production_variant(
    session: Session,
    beskrivelse: tables.Dokumentbeskrivelse,
    stored: StoredDocument,
    *,
    actor: str,
    now: datetime,
    version: int = 1,
) -> None:
    """The document's Produksjonsformat object of `version`: the file as it was received."""
    session.add(
        tables.Dokumentobjekt(
            dokumentbeskrivelse_id=beskrivelse.id,
            versjonsnummer=version,
            variantformat=Variantformat.produksjonsformat.value,
            format=stored.format,
            formatDetaljer=stored.format_details,
            mimeType=stored.media_type,
            filnavn=stored.document.filename,
            sjekksum=stored.blob.sha256,
            sjekksumAlgoritme="SHA-256",
            filstoerrelse=stored.blob.size,
            opprettetDato=now,
            opprettetAv=actor,
        )
    )


def add_archival_variant(
    session: Session,
    beskrivelse: tables.Dokumentbeskrivelse,
    archival: ArchivalVariant,
    *,
    actor: str,
    now: datetime,
    version: int = 1,
) -> None:
    """The document's Arkivformat object of `version`, with its konvertering when it was converted."""
    objekt = tables.Dokumentobjekt(
        dokumentbeskrivelse_id=beskrivelse.id,
        versjonsnummer=version,
        variantformat=Variantformat.arkivformat.value,
        format=archival.format,
        formatDetaljer=archival.format_details,
        mimeType=archival.media_type,
        filnavn=archival.filename,
        sjekksum=archival.blob.sha256,
        sjekksumAlgoritme="SHA-256",
        filstoerrelse=archival.blob.size,
        opprettetDato=now,
        opprettetAv=actor,
    )
    session.add(objekt)
    if archival.konvertering is not None:
        record = archival.konvertering
        session.add(
            tables.Konvertering(
                dokumentobjekt=objekt,  # written with it at the caller's next flush
                konvertertDato=record.konvertertDato,
                konvertertAv=actor,
                konvertertFraFormat=record.konvertertFraFormat,
                konvertertTilFormat=record.konvertertTilFormat,
                konverteringsverktoey=record.konverteringsverktoey,
                konverteringskommentar=record.konverteringskommentar,
            )
        )
