"""offentligJournal.xml: the public journal as Noark 5 v5.0 XML, written from screened entries and checked.

From the stored fields (v5.0 schema order):
- journalhode: journalStartDato/journalSluttDato = the requested journaldato
  range, seleksjon = a sentence saying which entries are included and that
  screened text is replaced by `*****`, antallJournalposter = the number of
  journalregistrering elements, arkivskaper = arkivskaperID/arkivskaperNavn
  (beskrivelse is optional and left out).
- journalregistrering/klasse is left out: it is optional, the postliste does
  not show it, and a classification may be by person (fødselsnummer as
  klassifikasjonstype).
- saksmappe: saksaar, sakssekvensnummer, offentligTittel = the public case title.
- journalpost: systemID, journalaar, journalsekvensnummer, journalpostnummer,
  offentligTittel (always, also when nothing is screened: it is the title the
  public sees), skjermingMetadata, journaldato, dokumentetsDato,
  tilgangsrestriksjon and skjermingshjemmel for screened entries, and the
  korrespondanseparter (type and public name).
  The schema allows one skjermingMetadata per journalpost, the store keeps
  several (one per line): the one closest to the journalpost is written
  (registrering title, then names); all of them still apply to what is masked. avskrivningsdato, avskrivningsmaate,
  referanseAvskrivesAvJournalpost and grad are not kept in the store and are
  left out. The schema needs at least one korrespondansepart: an entry without
  any gets one named "Ikke registrert".
- The schema needs at least one journalregistrering, so an empty period
  cannot be written as XML (`EmptyPublicJournalError`); the HTML says
  "Ingen journalposter i perioden" instead.

The written file is checked as a stream (`noarkpipe.xml.streaming`): valid
against the official schema, and every element's text and attributes free of
identity numbers, before `checked.publish_checked` puts it in place.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import IO, BinaryIO

from lxml import etree

from noarkpipe.classify.screening import MASK
from noarkpipe.core.codes import Journalposttype, Korrespondanseparttype, SkjermingMetadata
from noarkpipe.errors import EmptyPublicJournalError, InvalidOutputError, SchemaValidationError
from noarkpipe.publish.checked import CHUNK, copy_spooled, header_text, identity_number_leaks, publish_checked, refusal
from noarkpipe.publish.entries import (
    PUBLISHED_JOURNALSTATUS,
    UNKNOWN_PART,
    PublicEntry,
    PublicJournalHeader,
    PublicJournalSummary,
    PublicKorrespondansepart,
)
from noarkpipe.xml.schemas import noark5_schema
from noarkpipe.xml.streaming import SchemaStream, schema_problems

NAMESPACE = "http://www.arkivverket.no/standarder/noark5/offentligJournal"
OFFENTLIG_JOURNAL_SCHEMA = noark5_schema("offentligJournal", "v5.0")
_NSMAP = {None: NAMESPACE}


def _q(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _leaf(xf, name: str, value: object) -> None:
    if value is None:
        return
    with xf.element(_q(name)):
        xf.write(value.isoformat() if isinstance(value, date) else str(value))


def _seleksjon(header: PublicJournalHeader) -> str:
    if header.seleksjon:
        return header.seleksjon
    statuses = ", ".join(s.value for s in PUBLISHED_JOURNALSTATUS)
    return (
        f"Journalposter med journaldato fra og med {header.journalStartDato.isoformat()} "
        f"til og med {header.journalSluttDato.isoformat()} og journalstatus {statuses}. "
        f"Skjermede opplysninger er erstattet med {MASK}."
    )


def _write_journalhode(xf, header: PublicJournalHeader, antall: int) -> None:
    with xf.element(_q("journalhode")):
        _leaf(xf, "journalStartDato", header.journalStartDato)
        _leaf(xf, "journalSluttDato", header.journalSluttDato)
        _leaf(xf, "seleksjon", _seleksjon(header))
        _leaf(xf, "antallJournalposter", antall)
        with xf.element(_q("arkivskaper")):
            _leaf(xf, "arkivskaperID", header_text(header.arkivskaperID))
            _leaf(xf, "arkivskaperNavn", header_text(header.arkivskaperNavn))


# The schema takes one skjermingMetadata per journalpost, so the value closest
# to the journalpost itself is written; the others were applied all the same.
_JOURNALPOST_METADATA_FIRST = (
    SkjermingMetadata.tittel_registrering_unntatt_foerste_linje,
    SkjermingMetadata.tittel_registrering_utvalgte_ord,
    SkjermingMetadata.navn_avsender,
    SkjermingMetadata.navn_mottaker,
    SkjermingMetadata.navn_part,
)


def _journalpost_metadata(values: Sequence[SkjermingMetadata]) -> str:
    return next((m for m in _JOURNALPOST_METADATA_FIRST if m in values), values[0]).value


def _write_journalregistrering(xf, entry: PublicEntry) -> None:
    """One entry, elements in the sequence order of offentligJournal.xsd v5.0."""
    skjerming = entry.skjerming
    with xf.element(_q("journalregistrering")):
        with xf.element(_q("saksmappe")):
            _leaf(xf, "saksaar", entry.saksaar)
            _leaf(xf, "sakssekvensnummer", entry.sakssekvensnummer)
            _leaf(xf, "offentligTittel", entry.saksmappeOffentligTittel)
        with xf.element(_q("journalpost")):
            _leaf(xf, "systemID", entry.systemID)
            _leaf(xf, "journalaar", entry.journalaar)
            _leaf(xf, "journalsekvensnummer", entry.journalsekvensnummer)
            _leaf(xf, "journalpostnummer", entry.journalpostnummer)
            _leaf(xf, "offentligTittel", entry.offentligTittel)
            if skjerming and skjerming.skjermingMetadata:
                _leaf(xf, "skjermingMetadata", _journalpost_metadata(skjerming.skjermingMetadata))
            _leaf(xf, "journaldato", entry.journaldato)
            _leaf(xf, "dokumentetsDato", entry.dokumentetsDato)
            if skjerming:
                _leaf(xf, "tilgangsrestriksjon", skjerming.tilgangsrestriksjon)
                _leaf(xf, "skjermingshjemmel", skjerming.skjermingshjemmel)
            parts = entry.korrespondanseparter or (
                PublicKorrespondansepart(
                    korrespondanseparttype=(
                        Korrespondanseparttype.avsender
                        if entry.journalposttype == Journalposttype.inngaaende_dokument
                        else Korrespondanseparttype.mottaker
                    ),
                    korrespondansepartNavn=UNKNOWN_PART,
                ),
            )
            for part in parts:
                with xf.element(_q("korrespondansepart")):
                    _leaf(xf, "korrespondanseparttype", part.korrespondanseparttype)
                    _leaf(xf, "korrespondansepartNavn", part.korrespondansepartNavn)
    # One entry per line, so a schema error's line number finds the entry.
    xf.write("\n")


def _write_xml(
    entries: Iterable[PublicEntry], handle: IO[bytes], header: PublicJournalHeader
) -> PublicJournalSummary:
    # antallJournalposter comes before the entries, so they are spooled first
    # and counted: memory stays flat however many there are.
    with tempfile.TemporaryFile() as spool:
        antall = skjermet = 0
        with etree.xmlfile(spool, encoding="UTF-8") as xf, xf.element(_q("offentligJournal"), nsmap=_NSMAP):
            xf.flush()
            start = spool.tell()
            for entry in entries:
                _write_journalregistrering(xf, entry)
                antall += 1
                skjermet += entry.skjermet
            xf.flush()
            end = spool.tell()
        if not antall:
            raise EmptyPublicJournalError(
                f"no journalpost of {header.arkivskaperNavn} has a journaldato from "
                f"{header.journalStartDato} to {header.journalSluttDato}; offentligJournal.xml "
                "needs at least one",
                hint="publish a period with entries, or only the HTML postliste",
            )
        spool.seek(start)
        with etree.xmlfile(handle, encoding="UTF-8") as xf:
            xf.write_declaration()
            with xf.element(_q("offentligJournal"), nsmap=_NSMAP):
                xf.write("\n")
                _write_journalhode(xf, header, antall)
                xf.write("\n")
                xf.flush()
                copy_spooled(spool, handle, end - start)
    return PublicJournalSummary(antall=antall, skjermet=skjermet)


class _Scan:
    """What the check reads from the elements of offentligJournal.xml as they end."""

    def __init__(self) -> None:
        self.leaks: list[str] = []
        self.antall = self.skjermet = 0
        self.declared: str | None = None

    def take(self, elements: Iterable[etree._Element]) -> None:
        for element in elements:
            local = etree.QName(element).localname
            # systemID is a UUID (the schema holds it to the pattern); its hex
            # digits can form a valid number by chance without revealing anyone's.
            if local != "systemID":
                for text in (element.text, *element.attrib.values()):
                    self.leaks += [
                        f"{leak} (<{local}>)" for leak in identity_number_leaks(text, element.sourceline or 0)
                    ]
            if local == "antallJournalposter":
                self.declared = element.text
            elif local == "tilgangsrestriksjon":
                self.skjermet += 1
            elif local == "journalregistrering":
                self.antall += 1


def _check_xml(stream: IO[bytes], name: str) -> PublicJournalSummary:
    check = SchemaStream(OFFENTLIG_JOURNAL_SCHEMA)
    scan = _Scan()
    try:
        while chunk := stream.read(CHUNK):
            check.feed(chunk)
            scan.take(check.ended())
        check.close()
        scan.take(check.ended())
    except etree.XMLSyntaxError as exc:
        # What was read before the error is scanned too: a leak is named before a schema problem.
        scan.take(check.ended())
        if scan.leaks:
            raise refusal(name, scan.leaks) from None
        if any(e.domain_name == "SCHEMASV" for e in exc.error_log):
            raise SchemaValidationError(
                OFFENTLIG_JOURNAL_SCHEMA, schema_problems(stream, OFFENTLIG_JOURNAL_SCHEMA, exc)
            ) from None
        raise InvalidOutputError(f"{name} is not well-formed XML: {exc}") from None
    if scan.leaks:
        raise refusal(name, scan.leaks)
    if scan.declared is None or int(scan.declared) != scan.antall:
        raise InvalidOutputError(
            f"{name}: antallJournalposter is {scan.declared}, the file has {scan.antall} entries"
        )
    return PublicJournalSummary(antall=scan.antall, skjermet=scan.skjermet)


def write_offentlig_journal(
    entries: Iterable[PublicEntry], out: BinaryIO | Path | str, *, header: PublicJournalHeader
) -> PublicJournalSummary:
    """Write offentligJournal.xml (Noark 5 v5.0) for `entries` (from `public_entries`).

    The file is checked before it is handed over: valid against the official
    schema (SchemaValidationError with line numbers otherwise) and free of
    identity numbers (PublicJournalLeakError otherwise). A path is written by
    an atomic rename and left untouched when anything fails.
    """
    return publish_checked(out, lambda handle: _write_xml(entries, handle, header), _check_xml)


def check_offentlig_journal(path: Path | str) -> PublicJournalSummary:
    """Check a written offentligJournal.xml as `write_offentlig_journal` does, streaming."""
    with open(path, "rb") as stream:
        return _check_xml(stream, Path(path).name)

