"""arkivstruktur.xml of an extract: the store's rows as Noark 5 entities, streamed.

Arkiv, arkivdel, klassifikasjonssystem and klasse are opened as elements
and each saksmappe is built as a model with its journalposter, documents
and parties (the model checks every value), written as text by `xmltext`
(the bytes the model's own lxml streaming helpers make, without a Python
call per element), and dropped. Memory holds one page of cases, whatever
the size of the arkivdel. A line break follows every saksmappe, so a schema
error's line number points at a case.

Where the store has no value for an element Noark 5 v5.0 requires in an
extract:

- avsluttetDato/avsluttetAv of a saksmappe: the case's own, else the closing
  of its arkivdel (a closed period has closed every case it holds, see
  journal/period.py); of the arkiv, which stays open across periods: the
  closing of the latest arkivdel exported;
- arkivertDato/arkivertAv of a journalpost: when its case was closed (the
  registrations of a case are archived when the case is), or its own
  opprettetDato if it was registered later;
- referanseArkivdel of a saksmappe (M208: every mappe refers to its
  arkivdel): its arkivdel's systemID; a case moved there when a period
  closed has the move in the endringslogg;
- administrativEnhet of a saksmappe: the configured
  `deponering.administrativ_enhet` (cases opened by intake have none);
  saksansvarlig: the case's, else who registered it (opprettetAv);
- in a test extract (--force, an arkivdel not closed yet) whatever is not
  closed gets the export's time and "<actor> (prøveuttrekk)" as avsluttet-
  values, while arkivdelstatus and saksstatus stay as they are, so no one
  mistakes it for a closed period.

A document journaled without an archival copy (`archival_gap` in the
store, see journal/journaling.py) carries a merknad saying so and why,
dated and signed as the document was registered; its original is exported
as its only dokumentobjekt (Produksjonsformat), which the depot's
validator will report as not an archival format. No gap is silent.

Stored text is checked by the model: a value the schema would reject (an
empty title, a code that is not a Noark 5 value) stops the export with the
entity named, instead of producing a file that fails validation. Characters
XML 1.0 cannot carry at all (control characters that came in with mail)
become spaces, since no XML file can hold them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import IO, TypeVar

from pydantic import ValidationError
from sqlalchemy.orm import Session

from noarkpipe.core.noark import (
    Arkiv,
    Arkivdel,
    Arkivskaper,
    Dokumentbeskrivelse,
    Dokumentobjekt,
    Journalpost,
    Klasse,
    Klassifikasjonssystem,
    Konvertering,
    Korrespondansepart,
    Merknad,
    NoarkModel,
    Part,
    Saksmappe,
    Skjerming,
)
from noarkpipe.core.progress import Progress
from noarkpipe.errors import ExportRefusedError
from noarkpipe.export.documents import StoredObject
from noarkpipe.export.store_reader import (
    ArkivdelRow,
    CaseBundle,
    DokumentbeskrivelseRow,
    KlasseRow,
    KlassifikasjonssystemRow,
    KonverteringRow,
    KorrespondansepartRow,
    PartRow,
    Scope,
    Screened,
    classification,
    count_cases,
    iter_cases,
)
from noarkpipe.export.xmltext import closing_text, entity_text, opening_text
from noarkpipe.xml.streaming import StreamCheck, xml_safe

XML_DECLARATION = "<?xml version='1.0' encoding='UTF-8'?>"

Model = TypeVar("Model", bound=NoarkModel)


@dataclass(frozen=True)
class Closing:
    """Who and when, for closing data the store lacks (see module doc)."""

    when: datetime
    by: str


def _safe(value):
    if isinstance(value, str):
        return xml_safe(value)
    if isinstance(value, list):
        return [_safe(item) for item in value]
    return value


def _build(cls: type[Model], where: str, **fields: object) -> Model:
    try:
        return cls(**{name: _safe(value) for name, value in fields.items()})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()[:5]
        )
        raise ExportRefusedError(
            f"{where} cannot be exported as Noark 5 v5.0: {problems}",
            hint="correct the value in the journal store (or report it if noarkpipe wrote it)",
        ) from None


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _skjerming(row: Screened, where: str) -> Skjerming | None:
    if not row.tilgangsrestriksjon:
        return None
    return _build(
        Skjerming,
        f"{where} (skjerming)",
        tilgangsrestriksjon=row.tilgangsrestriksjon,
        skjermingshjemmel=row.skjermingshjemmel,
        skjermingMetadata=_lines(row.skjermingMetadata),
    )


def arkiv_entity(scope: Scope, closing: Closing) -> Arkiv:
    return _build(
        Arkiv,
        f"arkiv '{scope.arkiv.tittel}'",
        systemID=scope.arkiv.systemID,
        tittel=scope.arkiv.tittel,
        arkivstatus=scope.arkiv.arkivstatus,
        opprettetDato=scope.arkiv.opprettetDato,
        opprettetAv=scope.arkiv.opprettetAv,
        avsluttetDato=closing.when,
        avsluttetAv=closing.by,
        arkivskaper=[Arkivskaper(arkivskaperID=scope.kode, arkivskaperNavn=scope.navn)],
    )


def arkivdel_closing(arkivdel: ArkivdelRow, fallback: Closing) -> Closing:
    if arkivdel.avsluttetDato and arkivdel.avsluttetAv:
        return Closing(arkivdel.avsluttetDato, arkivdel.avsluttetAv)
    return fallback


def _arkivdel_entity(arkivdel: ArkivdelRow, closing: Closing) -> Arkivdel:
    return _build(
        Arkivdel,
        f"arkivdel '{arkivdel.tittel}'",
        systemID=arkivdel.systemID,
        tittel=arkivdel.tittel,
        arkivdelstatus=arkivdel.arkivdelstatus,
        opprettetDato=arkivdel.opprettetDato,
        opprettetAv=arkivdel.opprettetAv,
        avsluttetDato=closing.when,
        avsluttetAv=closing.by,
        arkivperiodeStartDato=arkivdel.arkivperiodeStartDato,
        arkivperiodeSluttDato=arkivdel.arkivperiodeSluttDato,
        referanseForloeper=arkivdel.referanseForloeper,
        referanseArvtaker=arkivdel.referanseArvtaker,
    )


def _system_entity(system: KlassifikasjonssystemRow) -> Klassifikasjonssystem:
    entity = _build(
        Klassifikasjonssystem,
        f"klassifikasjonssystem '{system.tittel}'",
        systemID=system.systemID,
        tittel=system.tittel,
        opprettetDato=system.opprettetDato,
        opprettetAv=system.opprettetAv,
    )
    # The model's code list holds the standard's examples only; the schema takes
    # any text, and the configured type is kept as the archive used it.
    if system.klassifikasjonstype:
        entity = Klassifikasjonssystem.model_construct(
            **{**dict(entity), "klassifikasjonstype": xml_safe(system.klassifikasjonstype)}
        )
    return entity


def _klasse_entity(klasse: KlasseRow) -> Klasse:
    return _build(
        Klasse,
        f"klasse {klasse.klasseID}",
        systemID=klasse.systemID,
        klasseID=klasse.klasseID,
        tittel=klasse.tittel,
        opprettetDato=klasse.opprettetDato,
        opprettetAv=klasse.opprettetAv,
    )


def _korrespondansepart(part: KorrespondansepartRow, where: str) -> Korrespondansepart:
    return _build(
        Korrespondansepart,
        f"{where} (korrespondansepart)",
        korrespondanseparttype=part.korrespondanseparttype,
        korrespondansepartNavn=part.korrespondansepartNavn,
        postadresse=_lines(part.postadresse),
        postnummer=part.postnummer or None,
        poststed=part.poststed or None,
        epostadresse=part.epostadresse or None,
    )


def _part(part: PartRow, where: str) -> Part:
    return _build(
        Part,
        f"{where} (part)",
        partNavn=part.partNavn,
        partRolle=part.partRolle,
        postadresse=_lines(part.postadresse),
        postnummer=part.postnummer or None,
        poststed=part.poststed or None,
        epostadresse=part.epostadresse or None,
    )


def _dokumentobjekt(obj: StoredObject, name: str, konverteringer: list[KonverteringRow], where: str) -> Dokumentobjekt:
    return _build(
        Dokumentobjekt,
        f"{where} (dokumentobjekt {obj.systemID})",
        systemID=obj.systemID,
        versjonsnummer=obj.versjonsnummer,
        variantformat=obj.variantformat,
        format=obj.format or obj.mimeType or "ukjent",
        opprettetDato=obj.opprettetDato,
        opprettetAv=obj.opprettetAv,
        referanseDokumentfil=name,
        sjekksum=obj.sjekksum,
        sjekksumAlgoritme=obj.sjekksumAlgoritme,
        filstoerrelse=obj.filstoerrelse,
        konvertering=[
            Konvertering(
                konvertertDato=k.konvertertDato,
                konvertertAv=k.konvertertAv,
                konvertertFraFormat=k.konvertertFraFormat,
                konvertertTilFormat=k.konvertertTilFormat,
                konverteringsverktoey=k.konverteringsverktoey or None,
                konverteringskommentar=k.konverteringskommentar or None,
            )
            for k in konverteringer
        ],
    )


GAP_MERKNADSTYPE = "Mangler arkivformat"


def _gap_merknad(row: DokumentbeskrivelseRow) -> list[Merknad]:
    """The merknad of a document kept without archival copy (none for a document that has one)."""
    if not getattr(row, "archival_gap", None):
        return []
    return [
        Merknad(
            merknadstekst=xml_safe(
                "Dokumentet har ikke arkivformat: det er bevart slik det ble mottatt (produksjonsformat), "
                f"uten arkivversjon. Årsak: {row.archival_gap}"
            ),
            merknadstype=GAP_MERKNADSTYPE,
            merknadsdato=row.opprettetDato,
            merknadRegistrertAv=row.opprettetAv,
        )
    ]


def saksmappe_entity(
    bundle: CaseBundle, closing: Closing, administrativ_enhet: str, arkivdel_system_id: str
) -> Saksmappe:
    case = bundle.row
    where = f"saksmappe {case.saksaar}/{case.sakssekvensnummer}"
    closed = Closing(case.avsluttetDato, case.avsluttetAv) if case.avsluttetDato and case.avsluttetAv else closing
    registreringer = []
    for registration in bundle.registrations:
        jp = registration.row
        jp_where = f"journalpost {jp.journalaar}/{jp.journalsekvensnummer}"
        archived = max(closed.when, jp.opprettetDato)
        dokumentbeskrivelser = [
            _build(
                Dokumentbeskrivelse,
                f"{jp_where} dokument {document.row.dokumentnummer}",
                systemID=document.row.systemID,
                dokumenttype=document.row.dokumenttype,
                dokumentstatus=document.row.dokumentstatus,
                tittel=document.row.tittel,
                opprettetDato=document.row.opprettetDato,
                opprettetAv=document.row.opprettetAv,
                tilknyttetRegistreringSom=document.row.tilknyttetRegistreringSom,
                dokumentnummer=document.row.dokumentnummer,
                tilknyttetDato=document.row.tilknyttetDato,
                tilknyttetAv=document.row.tilknyttetAv,
                merknad=_gap_merknad(document.row),
                dokumentobjekt=[
                    _dokumentobjekt(obj, name, konverteringer, jp_where)
                    for obj, name, konverteringer in document.objects
                ],
            )
            for document in registration.documents
        ]
        registreringer.append(
            _build(
                Journalpost,
                jp_where,
                systemID=jp.systemID,
                opprettetDato=jp.opprettetDato,
                opprettetAv=jp.opprettetAv,
                arkivertDato=archived,
                arkivertAv=closed.by if archived == closed.when else jp.opprettetAv,
                skjerming=_skjerming(jp, jp_where),
                dokumentbeskrivelse=dokumentbeskrivelser,
                registreringsID=jp.registreringsID,
                tittel=jp.tittel,
                offentligTittel=jp.offentligTittel or None,
                korrespondansepart=[_korrespondansepart(p, jp_where) for p in registration.parts],
                journalaar=jp.journalaar,
                journalsekvensnummer=jp.journalsekvensnummer,
                journalpostnummer=jp.journalpostnummer,
                journalposttype=jp.journalposttype,
                journalstatus=jp.journalstatus,
                journaldato=jp.journaldato,
                dokumentetsDato=jp.dokumentetsDato,
                mottattDato=jp.mottattDato,
                antallVedlegg=max(0, len(dokumentbeskrivelser) - 1),
            )
        )
    return _build(
        Saksmappe,
        where,
        systemID=case.systemID,
        mappeID=case.mappeID,
        tittel=case.tittel,
        offentligTittel=case.offentligTittel or None,
        opprettetDato=case.opprettetDato,
        opprettetAv=case.opprettetAv,
        avsluttetDato=closed.when,
        avsluttetAv=closed.by,
        referanseArkivdel=[arkivdel_system_id],
        part=[_part(p, where) for p in bundle.parts],
        skjerming=_skjerming(case, where),
        registrering=registreringer,
        saksaar=case.saksaar,
        sakssekvensnummer=case.sakssekvensnummer,
        saksdato=case.saksdato,
        administrativEnhet=case.administrativEnhet or administrativ_enhet,
        saksansvarlig=case.saksansvarlig or case.opprettetAv,
        saksstatus=case.saksstatus,
    )


def _count(counts: Counter, saksmappe: Saksmappe) -> None:
    counts["mappe"] += 1
    for registrering in saksmappe.registrering:
        counts["registrering"] += 1
        counts["korrespondansepart"] += len(registrering.korrespondansepart)
        for beskrivelse in registrering.dokumentbeskrivelse:
            counts["dokumentbeskrivelse"] += 1
            counts["dokumentobjekt"] += len(beskrivelse.dokumentobjekt)


def write_arkivstruktur(
    out: IO[bytes] | StreamCheck,
    session: Session,
    scope: Scope,
    *,
    fallback: Closing,
    administrativ_enhet: str,
    journalposter: int | None = None,
    progress: Progress | None = None,
) -> Counter:
    """Write arkivstruktur.xml for the scope to `out`; return the number of each element written.

    `progress` is told the journalposter written so far, of `journalposter`
    (the scope's, counted beforehand; None if not counted).

    Text is built by `xmltext` (the bytes lxml's writer would make) and handed
    to `out` a saksmappe at a time: a file, or a StreamCheck that validates it
    as it is written.
    """
    closings = [arkivdel_closing(a, fallback) for a in scope.arkivdeler]
    latest = max(closings, key=lambda c: c.when)
    counts: Counter = Counter(arkiv=1)
    arkiv = arkiv_entity(scope, latest)
    out.write(f"{XML_DECLARATION}\n{opening_text(arkiv, root=True)}\n".encode())
    for arkivdel, closing in zip(scope.arkivdeler, closings, strict=True):
        written = 0
        arkivdel_entity = _arkivdel_entity(arkivdel, closing)
        out.write(opening_text(arkivdel_entity).encode())
        counts["arkivdel"] += 1
        for system, klasser in classification(session, arkivdel.id):
            if not klasser:
                continue
            system_entity = _system_entity(system)
            out.write(opening_text(system_entity).encode())
            counts["klassifikasjonssystem"] += 1
            for klasse in klasser:
                klasse_entity = _klasse_entity(klasse)
                out.write(f"{opening_text(klasse_entity)}\n".encode())
                counts["klasse"] += 1
                page: list[str] = []
                for bundle in iter_cases(session, arkivdel.id, klasse.id):
                    saksmappe = saksmappe_entity(bundle, closing, administrativ_enhet, arkivdel.systemID)
                    page.append(entity_text(saksmappe))
                    page.append("\n")
                    _count(counts, saksmappe)
                    written += 1
                    if progress:
                        progress("arkivstruktur.xml", counts["registrering"], journalposter)
                    if len(page) >= 64:
                        out.write("".join(page).encode())
                        page.clear()
                page.append(closing_text(klasse_entity))
                out.write("".join(page).encode())
            out.write(closing_text(system_entity).encode())
        out.write(closing_text(arkivdel_entity).encode())
        expected = count_cases(session, arkivdel.id)
        if written != expected:
            raise ExportRefusedError(
                f"arkivdel '{arkivdel.tittel}' holds {expected} saksmapper, but only {written} are in classes "
                "of its own klassifikasjonssystem",
                hint="a case whose klasse belongs to another arkivdel cannot be placed; move it with "
                "'noarkpipe review reclassify' or report it",
            )
    out.write(closing_text(arkiv).encode())
    return counts
