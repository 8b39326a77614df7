"""The run's answers to KS Fiks Arkiv senders: a kvittering for each arkivmelding journaled, a feilmelding for each refused.

Answers go into the creator's outbox (`[[arkivskaper]] outbox`) as
`<meldingId>.<meldingstype>.xml` (`journal/kvittering.py`), where a Fiks IO
client (or any integration) picks them up. A kvittering is read back from
the store after the journaling transaction committed, so it never reports
what was rolled back; the same message delivered again gets the same bytes.
An answer that cannot be written is a note in the run's summary: the
message is journaled (or quarantined) all the same, and the next delivery
of it is answered again.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from noarkpipe.core.arkivmelding import EksternNoekkel
from noarkpipe.core.codes import Journalposttype, Journalstatus, Variantformat
from noarkpipe.errors import ArkivmeldingRefused, NoarkpipeError
from noarkpipe.journal import kvittering
from noarkpipe.journal.arkivmelding import JOURNALPOST, SAKSMAPPE
from noarkpipe.store import tables
from noarkpipe.store.engine import Store


def answer_registered(store: Store, outbox: Path, journalpost_id: int, melding_id: str, *, opprettet: bool) -> Path:
    """Write the kvittering for the journalpost an arkivmelding became (`opprettet`: in this delivery)."""
    with store.read() as session:
        registrert = _registrert(session, journalpost_id, melding_id, opprettet)
    content = kvittering.kvittering_xml(registrert)
    return kvittering.write_answer(outbox, kvittering.answer_name(melding_id, kvittering.KVITTERING), content)


def answer_refused(outbox: Path, error: NoarkpipeError, origin: str, sha256: str | None) -> Path:
    """Write the feilmelding for a message that was not journaled; `origin` names it when its meldingId is unknown."""
    feiltype = error.feiltype if isinstance(error, ArkivmeldingRefused) else "ugyldigforespoersel"
    melding_id = error.melding_id if isinstance(error, ArkivmeldingRefused) else None
    reason = error.message if error.hint is None else f"{error.message} ({error.hint})"
    content = kvittering.feilmelding_xml(feiltype, reason, melding_id=melding_id, received=sha256 or origin)
    name = kvittering.answer_name(melding_id or Path(origin).stem, kvittering.feilmelding_meldingstype(feiltype))
    return kvittering.write_answer(outbox, name, content)


def remove_stale_temporaries(outbox: Path) -> list[Path]:
    """Hidden half-written answers a killed run left (`.<name>.<pid>-<hex>.part`); only this run writes here now."""
    if not outbox.is_dir():
        return []
    stale = [path for path in outbox.glob(".*.part") if path.is_file() and not path.is_symlink()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def _registrert(session: Session, journalpost_id: int, melding_id: str, opprettet: bool) -> kvittering.Registrert:
    journalpost = session.get(tables.Journalpost, journalpost_id)
    assert journalpost is not None  # the id is of the journalpost just committed, or of an intake item's
    saksmappe = journalpost.saksmappe
    keys = {
        row.gjelder: EksternNoekkel(fagsystem=row.fagsystem, noekkel=row.noekkel)
        for row in session.query(tables.EksternNoekkel).filter(
            (tables.EksternNoekkel.journalpost_id == journalpost.id)
            | (tables.EksternNoekkel.saksmappe_id == saksmappe.id)
        )
    }
    return kvittering.Registrert(
        melding_id=melding_id,
        saksmappe=kvittering.RegistrertSaksmappe(
            system_id=saksmappe.systemID,
            mappe_id=saksmappe.mappeID,
            saksaar=saksmappe.saksaar,
            sakssekvensnummer=saksmappe.sakssekvensnummer,
            saksdato=saksmappe.saksdato,
            opprettet_dato=saksmappe.opprettetDato,
            opprettet_av=saksmappe.opprettetAv,
            # Deterministic, so that a message answered again gets the same bytes: the case
            # was made for this message exactly when its journalpost is the case's first.
            opprettet=opprettet and journalpost.journalpostnummer == 1,
            ekstern_noekkel=keys.get(SAKSMAPPE),
        ),
        journalpost=kvittering.RegistrertJournalpost(
            system_id=journalpost.systemID,
            registrerings_id=journalpost.registreringsID,
            journalaar=journalpost.journalaar,
            journalsekvensnummer=journalpost.journalsekvensnummer,
            journalpostnummer=journalpost.journalpostnummer,
            journalposttype=Journalposttype(journalpost.journalposttype),
            journalstatus=Journalstatus(journalpost.journalstatus),
            journaldato=journalpost.journaldato,
            opprettet_dato=journalpost.opprettetDato,
            opprettet_av=journalpost.opprettetAv,
            opprettet=opprettet,
            ekstern_noekkel=keys.get(JOURNALPOST),
            dokumentbeskrivelser=tuple(
                kvittering.Dokumentbeskrivelse(
                    system_id=beskrivelse.systemID,
                    dokumentnummer=beskrivelse.dokumentnummer,
                    opprettet_dato=beskrivelse.opprettetDato,
                    opprettet_av=beskrivelse.opprettetAv,
                    dokumentobjekter=tuple(
                        kvittering.Dokumentobjekt(
                            system_id=objekt.systemID,
                            versjonsnummer=objekt.versjonsnummer,
                            variantformat=Variantformat(objekt.variantformat),
                            opprettet_dato=objekt.opprettetDato,
                        )
                        for objekt in beskrivelse.dokumentobjekter
                    ),
                )
                for beskrivelse in journalpost.dokumentbeskrivelser
            ),
        ),
    )
