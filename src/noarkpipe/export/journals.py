"""endringslogg.xml, loependeJournal.xml and offentligJournal.xml of an extract.

- endringslogg.xml: every endringslogg row about an entity the extract's
  arkivstruktur.xml holds (arkiv, arkivdel, klassifikasjonssystem, klasse,
  saksmappe, journalpost, dokumentbeskrivelse and the exported
  dokumentobjekter), in the order they were written. A value that was empty
  before or after a change is written as "(ingen verdi)", because the schema
  needs text in both. Changes to korrespondanseparter are not included:
  they have no systemID in arkivstruktur.xml for a change to refer to.
- loependeJournal.xml: the running journal, every journalpost of the
  arkivdeler (as in arkivstruktur.xml, whatever its status), unscreened, by
  journal number; the period is the arkivdeler's, widened to the journal
  dates it holds (a case moved in from the previous period brings its
  earlier journalposter along).
- offentligJournal.xml: the public journal of the same journalposter, made by
  `journal.public` as `noarkpipe journal publish` makes it (screening applied
  twice, leak scan and schema check before the file is kept), but of every
  journalpost the running journal holds, Utgår included. Noark 5 v5.0
  has the extract's public journal list the running journal's entries with
  screened information left out, and the depot's tool (Arkade 5, N5.59)
  reports an error when the two journals' antallJournalposter differ: a
  journalpost rejected as Utgår is still a numbered entry of the journal. The
  review queue ("Midlertidig registrering") and reserved numbers stay out,
  as in the postliste: no person has checked their screening yet. A closed
  period cannot hold them (closing refuses such cases), so only a forced
  test extract (prøveuttrekk) has journals that differ, and the validator
  says so (JRN-06). The postliste `journal publish` makes for the public
  keeps leaving Utgår out; that is a different report.

Both Noark journal schemas need at least one entry; an extract without
journalposter is refused before anything is written.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import IO

from lxml import etree
from sqlalchemy.orm import Session

from noarkpipe import publish as public
from noarkpipe.classify.screening import MASK
from noarkpipe.classify.screenrules import ScreeningRuleSet
from noarkpipe.core.codes import Journalposttype, Journalstatus, Korrespondanseparttype
from noarkpipe.core.progress import Progress
from noarkpipe.export.store_reader import Scope, iter_endringer, iter_journalposter
from noarkpipe.xml.schemas import noark5_schema
from noarkpipe.xml.streaming import StreamCheck, xml_safe

ENDRINGSLOGG_NS = "http://www.arkivverket.no/standarder/noark5/endringslogg"
LOEPENDE_NS = "http://www.arkivverket.no/standarder/noark5/loependeJournal"
NO_VALUE = "(ingen verdi)"
EXTRACT_JOURNALSTATUS = (*public.PUBLISHED_JOURNALSTATUS, Journalstatus.utgaar)
"""The public journal of an extract: the running journal's entries, except those no person has checked."""


def _leaf(xf, namespace: str, name: str, value) -> None:
    if value is None or value == "":
        return
    with xf.element(f"{{{namespace}}}{name}"):
        xf.write(value.isoformat() if isinstance(value, date) else xml_safe(str(value)))


def write_endringslogg(handle: IO[bytes] | StreamCheck, session: Session, scope: Scope) -> int:
    """Write endringslogg.xml; return the number of endring elements."""
    count = 0
    with etree.xmlfile(handle, encoding="UTF-8") as xf:
        xf.write_declaration()
        with xf.element(f"{{{ENDRINGSLOGG_NS}}}endringslogg", nsmap={None: ENDRINGSLOGG_NS}):
            xf.write("\n")
            for row in iter_endringer(session, scope):
                with xf.element(f"{{{ENDRINGSLOGG_NS}}}endring"):
                    _leaf(xf, ENDRINGSLOGG_NS, "referanseArkivenhet", row.referanseArkivenhet)
                    _leaf(xf, ENDRINGSLOGG_NS, "referanseMetadata", row.referanseMetadata)
                    _leaf(xf, ENDRINGSLOGG_NS, "endretDato", row.endretDato.isoformat())
                    _leaf(xf, ENDRINGSLOGG_NS, "endretAv", row.endretAv)
                    _leaf(xf, ENDRINGSLOGG_NS, "tidligereVerdi", row.tidligereVerdi or NO_VALUE)
                    _leaf(xf, ENDRINGSLOGG_NS, "nyVerdi", row.nyVerdi or NO_VALUE)
                xf.write("\n")
                count += 1
    return count


def journal_period(scope: Scope, first: date | None, last: date | None) -> tuple[date, date]:
    """The journal period of the extract: the arkivdeler's, widened to the journal dates it holds."""
    start = min(a.arkivperiodeStartDato for a in scope.arkivdeler)
    ends = [a.arkivperiodeSluttDato for a in scope.arkivdeler if a.arkivperiodeSluttDato]
    end = max(ends) if len(ends) == len(scope.arkivdeler) else (last or start)
    if first:
        start = min(start, first)
    if last:
        end = max(end, last)
    return start, end


def _first_line(text: str | None) -> str | None:
    return next((line.strip() for line in (text or "").splitlines() if line.strip()), None)


def write_loepende_journal(
    handle: IO[bytes] | StreamCheck,
    session: Session,
    scope: Scope,
    *,
    period: tuple[date, date],
    antall: int,
    progress: Progress | None = None,
) -> int:
    """Write loependeJournal.xml with `antall` journalposter (counted beforehand); return how many were written."""
    ns = LOEPENDE_NS
    written = 0
    with etree.xmlfile(handle, encoding="UTF-8") as xf:
        xf.write_declaration()
        with xf.element(f"{{{ns}}}loependeJournal", nsmap={None: ns}):
            xf.write("\n")
            with xf.element(f"{{{ns}}}journalhode"):
                _leaf(xf, ns, "journalStartDato", period[0])
                _leaf(xf, ns, "journalSluttDato", period[1])
                titles = ", ".join(f"'{a.tittel}'" for a in scope.arkivdeler)
                _leaf(xf, ns, "seleksjon", f"Alle journalposter i arkivdel {titles}, ordnet etter journalnummer.")
                _leaf(xf, ns, "antallJournalposter", antall)
                with xf.element(f"{{{ns}}}arkivskaper"):
                    _leaf(xf, ns, "arkivskaperID", scope.kode)
                    _leaf(xf, ns, "arkivskaperNavn", scope.navn)
            xf.write("\n")
            for jp, saksmappe, klasse, parts in iter_journalposter(session, scope):
                with xf.element(f"{{{ns}}}journalregistrering"):
                    with xf.element(f"{{{ns}}}klasse"):
                        _leaf(xf, ns, "klasseID", klasse.klasseID)
                        _leaf(xf, ns, "tittel", klasse.tittel)
                    with xf.element(f"{{{ns}}}saksmappe"):
                        _leaf(xf, ns, "saksaar", saksmappe.saksaar)
                        _leaf(xf, ns, "sakssekvensnummer", saksmappe.sakssekvensnummer)
                        _leaf(xf, ns, "tittel", saksmappe.tittel)
                        _leaf(xf, ns, "offentligTittel", saksmappe.offentligTittel)
                        _leaf(xf, ns, "skjermingMetadata", _first_line(saksmappe.skjermingMetadata))
                    with xf.element(f"{{{ns}}}journalpost"):
                        _leaf(xf, ns, "systemID", jp.systemID)
                        _leaf(xf, ns, "journalaar", jp.journalaar)
                        _leaf(xf, ns, "journalsekvensnummer", jp.journalsekvensnummer)
                        _leaf(xf, ns, "journalpostnummer", jp.journalpostnummer)
                        _leaf(xf, ns, "tittel", jp.tittel)
                        _leaf(xf, ns, "offentligTittel", jp.offentligTittel)
                        _leaf(xf, ns, "skjermingMetadata", _first_line(jp.skjermingMetadata))
                        _leaf(xf, ns, "journaldato", jp.journaldato)
                        _leaf(xf, ns, "dokumentetsDato", jp.dokumentetsDato)
                        _leaf(xf, ns, "tilgangsrestriksjon", jp.tilgangsrestriksjon)
                        _leaf(xf, ns, "skjermingshjemmel", jp.skjermingshjemmel if jp.tilgangsrestriksjon else None)
                        for kind, navn in [(p.korrespondanseparttype, p.korrespondansepartNavn) for p in parts] or [
                            (
                                Korrespondanseparttype.avsender.value
                                if jp.journalposttype == Journalposttype.inngaaende_dokument.value
                                else Korrespondanseparttype.mottaker.value,
                                public.UNKNOWN_PART,
                            )
                        ]:
                            with xf.element(f"{{{ns}}}korrespondansepart"):
                                _leaf(xf, ns, "korrespondanseparttype", kind)
                                _leaf(xf, ns, "korrespondansepartNavn", navn or public.UNKNOWN_PART)
                xf.write("\n")
                written += 1
                if progress:
                    progress("loependeJournal.xml", written, antall)
    return written


def write_offentlig_journal(
    path: Path, session: Session, scope: Scope, *, period: tuple[date, date], rules: ScreeningRuleSet
) -> public.PublicJournalSummary:
    """offentligJournal.xml of the extract through `journal.public` (checked, then moved into place)."""
    header = public.public_journal_header(session, scope.arkivskaper_id, period[0], period[1])
    titles = ", ".join(f"'{a.tittel}'" for a in scope.arkivdeler)
    header = header.model_copy(update={"seleksjon": (
        f"Alle journalposter i arkivdel {titles}, som i loependeJournal.xml, ordnet etter journalnummer. "
        f"Skjermede opplysninger er erstattet med {MASK}.")})
    entries = public.public_entries(
        session, scope.arkivskaper_id, period[0], period[1], rules=rules, arkivdel_ids=scope.arkivdel_ids,
        journalstatus=EXTRACT_JOURNALSTATUS,
    )
    return public.write_offentlig_journal(entries, path, header=header)


def published_count(session: Session, scope: Scope, period: tuple[date, date]) -> int:
    """How many entries offentligJournal.xml of the extract must hold: every journalpost of the period but the
    review queue and reserved numbers (EXTRACT_JOURNALSTATUS)."""
    from sqlalchemy import func, select

    from noarkpipe.store import tables

    J, S = tables.Journalpost, tables.Saksmappe
    return session.scalar(
        select(func.count())
        .select_from(J)
        .join(S, S.id == J.saksmappe_id)
        .where(S.arkivdel_id.in_(scope.arkivdel_ids))
        .where(J.journaldato >= period[0], J.journaldato <= period[1])
        .where(J.journalstatus.in_([status.value for status in EXTRACT_JOURNALSTATUS]))
    ) or 0


def offentlig_journal_job(
    store_url: str, path: Path, scope: Scope, period: tuple[date, date], rules: ScreeningRuleSet,
    counted: tuple[str, ...],
) -> tuple[str, object, str | None]:
    """`write_offentlig_journal` in its own process and read snapshot: screening is CPU-bound, and
    runs beside the arkivstruktur writer on a second core. The written file is then validated
    against its schema, counting `counted`, and hashed, here too. Returns ('ok', (entries,
    (counts, sha256)), None), or ('error', message, hint) with the failure's class name folded
    into the message's kind."""
    from noarkpipe.errors import NoarkpipeError
    from noarkpipe.export.store_reader import snapshot
    from noarkpipe.store.docstore import sha256_file
    from noarkpipe.xml.streaming import validate_and_count

    try:
        with snapshot(store_url) as session:
            summary = write_offentlig_journal(path, session, scope, period=period, rules=rules)
        counts = validate_and_count(path, noark5_schema("offentligJournal"), counted)
        return "ok", (summary.antall, (counts, sha256_file(path)[0])), None
    except public.EmptyPublicJournalError as exc:
        return "empty", exc.message, exc.hint
    except NoarkpipeError as exc:
        return type(exc).__name__, exc.message, exc.hint

