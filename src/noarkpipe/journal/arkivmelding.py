"""Where an arkivmelding's journalpost goes, and what of it the journaling takes as asked.

A KS Fiks Arkiv sender says which case its journalpost belongs in, by one or
more of: our systemID of the case, its saksnummer (saksaar/sakssekvensnummer),
or the sender's own key (`referanseEksternNoekkel`, fagsystem + noekkel).
Every reference given must lead to the same existing case; a message giving
a title and no reference that matches opens a new case in the class it names
(`klassifikasjon` in our classification system), and records the sender's
key so that its next message joins that case. A message referring to a case
that does not exist here is answered 'ikkefunnet'; one whose references
disagree, whose class or arkivdel we do not have, is 'ugyldigforespoersel'.

A journalpost key already registered means the message was taken before:
the caller answers with that journalpost and journals nothing (`registered`).

The status follows the trust in the sending system (`[arkivskaper.fiks_arkiv]`):
journaled (J) as asked, or waiting in the review queue (M). Screening is
ours and the sender's together: whichever screens, screens; when both do,
the sender's hjemmel is kept and what either hides is hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from noarkpipe.classify.screening import ScreeningDecision
from noarkpipe.config import FiksArkivSettings
from noarkpipe.core.arkivmelding import Arkivmelding, EksternNoekkel, Part, Skjerming
from noarkpipe.core.codes import Journalposttype, Journalstatus, Korrespondanseparttype, SkjermingMetadata
from noarkpipe.errors import ArkivmeldingRefused
from noarkpipe.store import tables

SAKSMAPPE, JOURNALPOST = "saksmappe", "journalpost"

JOURNALPOSTTYPER = {
    "I": Journalposttype.inngaaende_dokument,
    "U": Journalposttype.utgaaende_dokument,
    "N": Journalposttype.organinternt_dokument_for_oppfoelging,
    "X": Journalposttype.organinternt_dokument_uten_oppfoelging,
    "S": Journalposttype.saksframlegg,
}
"""M082 codes as Fiks Arkiv sends them; the value names are accepted too."""

KORRESPONDANSEPARTTYPER = {
    "EA": Korrespondanseparttype.avsender,
    "EM": Korrespondanseparttype.mottaker,
    "EK": Korrespondanseparttype.kopimottaker,
    "GM": Korrespondanseparttype.gruppemottaker,
    "IA": Korrespondanseparttype.intern_avsender,
    "IM": Korrespondanseparttype.intern_mottaker,
    "IK": Korrespondanseparttype.intern_kopimottaker,
}
"""M087 codes."""


@dataclass(frozen=True)
class Target:
    """The case an arkivmelding's journalpost goes in: an existing one, or a new one to open."""

    saksmappe: tables.Saksmappe | None
    klasse_id: str | None
    tittel: str | None
    journalstatus: Journalstatus
    reason: str


def registered(session: Session, arkivskaper_id: int, key: EksternNoekkel) -> tables.Journalpost | None:
    """The journalpost an earlier message with this registrering key became, or None."""
    row = _key_row(session, arkivskaper_id, JOURNALPOST, key)
    return session.get(tables.Journalpost, row.journalpost_id) if row is not None else None


def target(
    session: Session,
    arkivskaper_id: int,
    klasse_ids: dict[str, int],
    arkivdel: tables.Arkivdel,
    melding: Arkivmelding,
    settings: FiksArkivSettings,
) -> Target:
    """The case for the message's journalpost and its status; `ArkivmeldingRefused` when it cannot be placed."""
    angivelse = melding.saksmappe
    refuse = refuser(melding)
    if angivelse.arkivdel and angivelse.arkivdel.casefold() not in (arkivdel.tittel.casefold(), arkivdel.systemID):
        raise refuse(f"the arkivdel '{angivelse.arkivdel}' is not ours: new cases go in '{arkivdel.tittel}'")
    status, trust = _status(melding.system, settings, refuse)
    found: dict[str, tables.Saksmappe] = {}
    if angivelse.system_id:
        by_id = session.scalar(
            select(tables.Saksmappe)
            .where(tables.Saksmappe.arkivskaper_id == arkivskaper_id)
            .where(tables.Saksmappe.systemID == angivelse.system_id)
        )
        if by_id is None:
            raise refuse(f"no saksmappe has the systemID {angivelse.system_id}", feiltype="ikkefunnet")
        found["systemID"] = by_id
    if angivelse.saksaar is not None and angivelse.sakssekvensnummer is not None:
        number = f"{angivelse.saksaar}/{angivelse.sakssekvensnummer}"
        by_number = session.scalar(
            select(tables.Saksmappe)
            .where(tables.Saksmappe.arkivskaper_id == arkivskaper_id)
            .where(tables.Saksmappe.saksaar == angivelse.saksaar)
            .where(tables.Saksmappe.sakssekvensnummer == angivelse.sakssekvensnummer)
        )
        if by_number is None:
            raise refuse(f"no saksmappe has the saksnummer {number}", feiltype="ikkefunnet")
        found[f"saksnummer {number}"] = by_number
    if angivelse.ekstern_noekkel is not None:
        row = _key_row(session, arkivskaper_id, SAKSMAPPE, angivelse.ekstern_noekkel)
        by_key = session.get(tables.Saksmappe, row.saksmappe_id) if row is not None else None
        if by_key is not None:
            found[f"the key {_key_text(angivelse.ekstern_noekkel)}"] = by_key
    cases = {case.id: case for case in found.values()}
    if len(cases) > 1:
        which = "; ".join(f"{how} is {case.mappeID}" for how, case in found.items())
        raise refuse(f"the references to the case lead to different saksmapper: {which}")
    if cases:
        case = next(iter(cases.values()))
        how = ", ".join(found)
        return Target(case, None, None, status, f"arkivmelding from {melding.system}: joins case {case.mappeID} ({how}){trust}")
    if not angivelse.tittel:
        if angivelse.ekstern_noekkel is not None:
            raise refuse(
                f"no saksmappe has the key {_key_text(angivelse.ekstern_noekkel)}, and the message gives no tittel "
                "to open one with",
                feiltype="ikkefunnet",
            )
        raise refuse("the message names no saksmappe: give a referanseForelderMappe or a mappe with a tittel")
    systems = session.execute(
        select(tables.Klassifikasjonssystem.tittel, tables.Klassifikasjonssystem.systemID)
        .where(tables.Klassifikasjonssystem.arkivdel_id == arkivdel.id)
    ).all()
    ours = _OUR_SYSTEM_NAMES | {name.casefold() for row in systems for name in row}
    klasse_id = _our_class(melding, klasse_ids, ours, refuse)
    how = f"klasse {klasse_id}" if klasse_id else "no class of ours named: the default class"
    return Target(None, klasse_id, angivelse.tittel, status, f"arkivmelding from {melding.system}: new case, {how}{trust}")


def record_keys(
    session: Session, arkivskaper_id: int, melding: Arkivmelding, saksmappe: tables.Saksmappe,
    journalpost: tables.Journalpost, now: datetime,
) -> None:
    """Keep the sender's keys: its case key for the case (unless it has that key already), its registrering key."""
    case_key = melding.saksmappe.ekstern_noekkel
    if case_key is not None and _key_row(session, arkivskaper_id, SAKSMAPPE, case_key) is None:
        session.add(_key(arkivskaper_id, SAKSMAPPE, case_key, now, saksmappe_id=saksmappe.id))
    session.add(_key(arkivskaper_id, JOURNALPOST, melding.ekstern_noekkel, now, journalpost_id=journalpost.id))


def record_parts(session: Session, melding: Arkivmelding, saksmappe: tables.Saksmappe, now: datetime) -> None:
    """The parts the message names for its case, those the case does not have yet (same name and role)."""
    have = set(
        session.execute(
            select(tables.SaksmappePart.partNavn, tables.SaksmappePart.partRolle)
            .where(tables.SaksmappePart.saksmappe_id == saksmappe.id)
        ).tuples()
    )
    for part in melding.saksmappe.parter:
        rolle = (part.partrolle or "Part").strip() or "Part"
        if (part.navn, rolle) in have:
            continue
        have.add((part.navn, rolle))
        session.add(
            tables.SaksmappePart(
                saksmappe_id=saksmappe.id, partNavn=part.navn, partRolle=rolle, postadresse=part.postadresse,
                postnummer=part.postnummer, poststed=part.poststed, epostadresse=part.epostadresse, opprettetDato=now,
            )
        )


def journalposttype(melding: Arkivmelding) -> Journalposttype:
    code = melding.journalposttype.strip()
    found = JOURNALPOSTTYPER.get(code.upper()) or next((t for t in Journalposttype if t.value == code), None)
    if found is None:
        raise refuser(melding)(f"journalposttype '{code}' is not a Noark 5 code (I, U, N, X or S)")
    return found


def korrespondanseparttype(part: Part, journalpost_type: Journalposttype) -> Korrespondanseparttype:
    """The part's M087 type; when none is given, the sender of an incoming and the recipient of an outgoing letter."""
    code = (part.korrespondanseparttype or "").strip()
    found = KORRESPONDANSEPARTTYPER.get(code.upper()) or next((t for t in Korrespondanseparttype if t.value == code), None)
    if found is not None:
        return found
    if journalpost_type is Journalposttype.utgaaende_dokument:
        return Korrespondanseparttype.mottaker
    return Korrespondanseparttype.avsender


def stricter(ours: ScreeningDecision, asked: Skjerming | None, offentlig_tittel: str | None) -> ScreeningDecision:
    """Our screening and the sender's together: screened if either screens, hiding what either hides."""
    if asked is None:
        return ours
    hidden = [m for value in asked.skjerming_metadata if (m := _metadata(value)) is not None]
    metadata = tuple(dict.fromkeys([*ours.skjermingMetadata, *hidden]))
    return ours.model_copy(
        update={
            "screened": True,
            "reasons": (*ours.reasons, f"the sender asked for skjerming: {asked.skjermingshjemmel}"),
            "tilgangsrestriksjon": asked.tilgangsrestriksjon,
            "skjermingshjemmel": asked.skjermingshjemmel,
            "skjermingMetadata": metadata,
            "offentlig_tittel": offentlig_tittel or ours.offentlig_tittel,
        }
    )


def _metadata(value: str) -> SkjermingMetadata | None:
    text = value.strip().casefold()
    return next((m for m in SkjermingMetadata if m.value.casefold() == text or m.name == text), None)


def _status(system: str, settings: FiksArkivSettings, refuse) -> tuple[Journalstatus, str]:
    known = settings.system(system)
    if known is None:
        if settings.unknown_systems == "refuse":
            raise refuse(
                f"the system '{system}' is not one this archive takes arkivmeldinger from",
                hint="add it under [[arkivskaper.fiks_arkiv.systems]] in the config",
            )
        return Journalstatus.midlertidig_registrering, f"; '{system}' is not a known system: awaiting review"
    if known.trust == "journal":
        return Journalstatus.journalfoert, ""
    return Journalstatus.midlertidig_registrering, f"; {system} (trust = \"review\"): awaiting review"


def _our_class(melding: Arkivmelding, klasse_ids: dict[str, int], system_names: frozenset[str], refuse) -> str | None:
    """The first klassifikasjon in a class of ours; a klassifikasjon that claims our system with an unknown class refuses.

    Our system is named by its title or systemID, or by what senders call a municipality's K-koder.
    """
    claimed = [k for k in melding.saksmappe.klassifikasjoner if k.klassifikasjonssystem.casefold() in system_names]
    for klassifikasjon in [*claimed, *melding.saksmappe.klassifikasjoner]:
        if klassifikasjon.klasse_id in klasse_ids:
            return klassifikasjon.klasse_id
    ours = claimed
    if ours:
        raise refuse(f"klasse '{ours[0].klasse_id}' ({ours[0].klassifikasjonssystem}) is not in this archive's classes")
    return None


_OUR_SYSTEM_NAMES = frozenset({"k-koder", "k-kode", "kkode", "arkivnøkkel", "arkivnokkel", "ordnpri", "fagklasse"})
"""How senders name a municipality's primary classification system (secondary ones, GBNR, FNR, are notes)."""


def refuser(melding: Arkivmelding):
    """`refuse(message, feiltype=..., hint=...)`: the `ArkivmeldingRefused` for this message."""

    def refuse(message: str, *, feiltype: str = "ugyldigforespoersel", hint: str | None = None) -> ArkivmeldingRefused:
        return ArkivmeldingRefused(
            f"arkivmelding {melding.melding_id} from {melding.system}: {message}",
            feiltype=feiltype, melding_id=melding.melding_id, hint=hint,
        )

    return refuse


def _key_row(session: Session, arkivskaper_id: int, gjelder: str, key: EksternNoekkel) -> tables.EksternNoekkel | None:
    return session.scalar(
        select(tables.EksternNoekkel)
        .where(tables.EksternNoekkel.arkivskaper_id == arkivskaper_id)
        .where(tables.EksternNoekkel.gjelder == gjelder)
        .where(tables.EksternNoekkel.fagsystem == key.fagsystem)
        .where(tables.EksternNoekkel.noekkel == key.noekkel)
    )


def _key(arkivskaper_id: int, gjelder: str, key: EksternNoekkel, now: datetime, **target: int) -> tables.EksternNoekkel:
    return tables.EksternNoekkel(
        arkivskaper_id=arkivskaper_id, gjelder=gjelder, fagsystem=key.fagsystem, noekkel=key.noekkel,
        opprettetDato=now, **target,
    )


def _key_text(key: EksternNoekkel) -> str:
    return f"{key.fagsystem}:{key.noekkel}"
