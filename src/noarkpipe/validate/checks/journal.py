"""Journal control: the running and the public journal against arkivstruktur.

loependeJournal.xml and offentligJournal.xml repeat, per journal entry,
the journalpost's systemID and key data (journal year, sequence number,
document number, journal date) and its case (case year and sequence
number). Each entry must exist in arkivstruktur.xml as a journalpost with
the same key data in a case with the same number; the header's
antallJournalposter must equal the entries; and every journalpost whose
journaldato falls in the running journal's period should be in it.

Both sides go to the scratch index and are compared by systemID.

The public journal of an extract holds the same journalposter as the
running journal, with screened information left out (Noark 5 v5.0 on
offentligJournal.xml in an extract; Arkade 5's N5.59 reports an error when
the two journals state different numbers). With a sharp period separation
(arkivuttrekk.xml: inngaaendeSkille and utgaaendeSkille "skarpt") the
extract's journalposter are exactly the journals' entries, so all three
numbers must agree (JRN-06), and no journalpost may be dated outside the
journals' common period (JRN-07). With a soft separation cases move in
from the previous period with their journalposter, so only the two
journals are compared with each other.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, TypedDict

from noarkpipe.validate.checks import Family, check
from noarkpipe.validate.messages import joined, msg
from noarkpipe.validate.model import Severity
from noarkpipe.validate.walker import Frame

if TYPE_CHECKING:
    from noarkpipe.validate.engine import Run

FAMILY = "journal"
RUNNING_EXISTS = "JRN-01"
RUNNING_MATCHES = "JRN-02"
PUBLIC = "JRN-03"
HEADER = "JRN-04"
COMPLETE = "JRN-05"
COUNTS = "JRN-06"
PERIODS = "JRN-07"
JOURNALS = ("loependeJournal", "offentligJournal")
KEYS = ("journalaar", "journalsekvensnummer", "journalpostnummer", "journaldato")


class _Header(TypedDict):
    """What a journal's journalhode states (dates cut to the day), and where."""

    stated: str
    start: str
    end: str
    line: int | None


class JournalFamily(Family):
    name = FAMILY
    title = "Journal control"
    checks = (
        check(FAMILY, RUNNING_EXISTS, "Running journal entries in arkivstruktur", Severity.error,
              "Every entry of loependeJournal.xml is a journalpost in arkivstruktur.xml (same systemID)."),
        check(FAMILY, RUNNING_MATCHES, "Running journal key data", Severity.error,
              "Each loependeJournal entry has the journalpost's journalaar, journalsekvensnummer, journalpostnummer "
              "and journaldato, and its case's saksaar and sakssekvensnummer."),
        check(FAMILY, PUBLIC, "Public journal entries", Severity.error,
              "Every entry of offentligJournal.xml is a journalpost in arkivstruktur.xml with the same key data."),
        check(FAMILY, HEADER, "Journal headers", Severity.error,
              "antallJournalposter in each journal's header equals its number of entries."),
        check(FAMILY, COMPLETE, "Running journal complete", Severity.warning,
              "Every journalpost in arkivstruktur.xml dated within the running journal's period "
              "(journalStartDato–journalSluttDato) is in loependeJournal.xml."),
        check(FAMILY, COUNTS, "Journalposter in the journals and the structure", Severity.error,
              "offentligJournal.xml and loependeJournal.xml state the same antallJournalposter; with a sharp "
              "period separation (arkivuttrekk.xml) that is also the number of journalposter in arkivstruktur.xml.",
              arkade=("N5.59",)),
        check(FAMILY, PERIODS, "Journal periods", Severity.error,
              "Both journals state the same journalStartDato and journalSluttDato; with a sharp period separation no "
              "journalpost of arkivstruktur.xml is dated outside that period. First and last registration dates "
              "are reported.", arkade=("N5.60",)),
    )

    def __init__(self) -> None:
        self.case: dict[str, tuple[str, str]] = {}
        self.headers: dict[str, _Header] = {}

    def prepare(self, run: Run) -> None:
        self._run = run
        ledger = run.ledger
        ledger.table("jrn_post", "system_id TEXT, mappe TEXT, kind TEXT, journalaar TEXT, journalsekvensnummer TEXT, "
                                 "journalpostnummer TEXT, journaldato TEXT, line INTEGER, path TEXT")
        ledger.table("jrn_case", "system_id TEXT, saksaar TEXT, sakssekvensnummer TEXT")
        ledger.table("jrn_entry", "journal TEXT, system_id TEXT, journalaar TEXT, journalsekvensnummer TEXT, "
                                  "journalpostnummer TEXT, journaldato TEXT, saksaar TEXT, sakssekvensnummer TEXT, "
                                  "line INTEGER, path TEXT")
        structure = run.subscribe("arkivstruktur")
        structure.end("registrering", self._registrering)
        structure.end("mappe", self._mappe)
        for journal in JOURNALS:
            subs = run.subscribe(journal)
            subs.end("journalhode", partial(self._header, journal))
            subs.end("saksmappe", partial(self._case, journal))
            subs.end("journalpost", partial(self._entry, journal))
            subs.track(["journalregistrering", "klasse", "korrespondansepart"])

    def _registrering(self, frame: Frame) -> None:
        mappe = frame.ancestor("mappe")
        self._run.ledger.add("jrn_post", (
            frame.get("systemID"), mappe.get("systemID") if mappe is not None else "", frame.type or "",
            *(frame.get(key) for key in KEYS), frame.line, frame.path(),
        ))

    def _mappe(self, frame: Frame) -> None:
        self._run.ledger.add("jrn_case", (frame.get("systemID"), frame.get("saksaar"), frame.get("sakssekvensnummer")))

    def _header(self, journal: str, frame: Frame) -> None:
        self.headers[journal] = {
            "stated": frame.get("antallJournalposter"), "start": frame.get("journalStartDato")[:10],
            "end": frame.get("journalSluttDato")[:10], "line": frame.line,
        }

    def _case(self, journal: str, frame: Frame) -> None:
        self.case[journal] = (frame.get("saksaar"), frame.get("sakssekvensnummer"))

    def _entry(self, journal: str, frame: Frame) -> None:
        saksaar, sekvens = self.case.pop(journal, ("", ""))
        self._run.ledger.add("jrn_entry", (
            journal, frame.get("systemID"), *(frame.get(key) for key in KEYS), saksaar, sekvens, frame.line,
            frame.path(),
        ))

    def finish(self, run: Run) -> None:
        db = run.ledger
        db.flush()
        db.index("jrn_post_id", "jrn_post", "system_id")
        db.index("jrn_case_id", "jrn_case", "system_id")
        db.index("jrn_entry_id", "jrn_entry", "system_id")
        read = {journal: journal in run.outcomes for journal in JOURNALS}
        if "arkivstruktur" not in run.outcomes:
            for definition in self.checks:
                run.findings(definition.id).not_run(msg("arkivstruktur.xml was not read"))
            return
        if read["loependeJournal"]:
            self._compare(run, "loependeJournal", run.findings(RUNNING_EXISTS), run.findings(RUNNING_MATCHES))
            self._complete(run)
        else:
            for check_id in (RUNNING_EXISTS, RUNNING_MATCHES, COMPLETE):
                run.findings(check_id).not_run(msg("no readable loependeJournal.xml (see STR-01, STR-02)"))
        if read["offentligJournal"]:
            public = run.findings(PUBLIC)
            self._compare(run, "offentligJournal", public, public)
        else:
            run.findings(PUBLIC).not_run(msg("no readable offentligJournal.xml (see STR-01, STR-02)"))
        self._headers(run)
        self._counts(run)
        self._periods(run)

    def _read_headers(self, run: Run) -> dict[str, _Header]:
        """The headers of the journals that were read, in JOURNALS order."""
        return {
            journal: header
            for journal in JOURNALS
            if journal in run.outcomes and (header := self.headers.get(journal)) is not None
        }

    def _separation(self, run: Run) -> tuple[bool | None, str]:
        sharp = run.addml.sharp if run.addml is not None else None
        if sharp is None:
            return None, "period separation not stated in arkivuttrekk.xml"
        return sharp, "sharp period separation" if sharp else "soft period separation"

    def _counts(self, run: Run) -> None:
        found = run.findings(COUNTS)
        headers = self._read_headers(run)
        if len(headers) < 2:
            found.not_run(msg("both journals are needed (see STR-01, STR-02)"))
            return
        sharp, separation = self._separation(run)
        structure = run.ledger.scalar("SELECT count(*) FROM jrn_post WHERE kind = 'journalpost'")
        running = headers["loependeJournal"]["stated"]
        public = headers["offentligJournal"]["stated"]
        found.data = {"arkivstruktur": structure, "loependeJournal": running, "offentligJournal": public,
                      "sharp": sharp}
        if running != public:
            found.add(msg("offentligJournal.xml states {public} journalposter, loependeJournal.xml {running}: the "
                          "public journal of an extract holds every journalpost of the running journal, screened",
                          public=public, running=running),
                      file=run.content_path("offentligJournal.xml"), line=headers["offentligJournal"]["line"])
        if sharp and (str(structure) != running or str(structure) != public):
            found.add(msg("arkivstruktur.xml holds {structure} journalposter, loependeJournal.xml states {running} "
                          "and offentligJournal.xml {public}; with a sharp period separation they must agree",
                          structure=structure, running=running, public=public),
                      file=run.content_path("arkivstruktur.xml"))
        found.summary = (msg("{structure} journalposter in arkivstruktur.xml, {running} in loependeJournal.xml, "
                             "{public} in offentligJournal.xml ({separation})",
                             structure=structure, running=running, public=public, separation=separation))

    def _periods(self, run: Run) -> None:
        found = run.findings(PERIODS)
        headers = self._read_headers(run)
        first, last = run.ledger.db.execute(
            "SELECT min(substr(journaldato, 1, 10)), max(substr(journaldato, 1, 10)) FROM jrn_post "
            "WHERE kind = 'journalpost' AND journaldato != ''").fetchone()
        found.data = {"journalposter": [first, last], **{
            journal: [header["start"], header["end"]] for journal, header in headers.items()}}
        if len(headers) < 2:
            found.not_run(msg("both journals are needed (see STR-01, STR-02)"))
            return
        running, public = headers["loependeJournal"], headers["offentligJournal"]
        if (running["start"], running["end"]) != (public["start"], public["end"]):
            found.add(msg("offentligJournal.xml covers {public_start} – {public_end}, loependeJournal.xml "
                          "{running_start} – {running_end}",
                          public_start=public['start'], public_end=public['end'], running_start=running['start'],
                          running_end=running['end']), file=run.content_path("offentligJournal.xml"),
                      line=public["line"])
        sharp, separation = self._separation(run)
        if sharp and running["start"] and running["end"]:
            structure = run.content_path("arkivstruktur.xml")
            for system_id, number, sequence, day, line, path in run.ledger.query(
                "SELECT system_id, journalaar, journalsekvensnummer, journaldato, line, path FROM jrn_post "
                "WHERE kind = 'journalpost' AND journaldato != '' AND substr(journaldato, 1, 10) NOT BETWEEN ? AND ? "
                "ORDER BY rowid", (running["start"], running["end"])
            ):
                found.add(msg("journalpost {number}/{sequence} ({system_id}) is dated {day}, outside the journals' "
                              "period {running_start} – {running_end} (sharp period separation)",
                              number=number, sequence=sequence, system_id=system_id, day=day[:10],
                              running_start=running['start'], running_end=running['end']),
                          file=structure, line=line, path=path)
        found.summary = (msg("journals {running_start} – {running_end}; journalposter {first} – {last} "
                             "({separation})",
                             running_start=running['start'], running_end=running['end'], first=first or '…',
                             last=last or '…', separation=separation))

    def _compare(self, run: Run, journal: str, exists, matches) -> None:
        file = run.content_path(f"{journal}.xml")
        entries = 0
        for row in run.ledger.query(
            "SELECT e.system_id, e.journalaar, e.journalsekvensnummer, e.journalpostnummer, e.journaldato, "
            "e.saksaar, e.sakssekvensnummer, e.line, e.path, p.system_id, p.kind, p.journalaar, "
            "p.journalsekvensnummer, p.journalpostnummer, p.journaldato, c.saksaar, c.sakssekvensnummer "
            "FROM jrn_entry e LEFT JOIN jrn_post p ON p.system_id = e.system_id "
            "LEFT JOIN jrn_case c ON c.system_id = p.mappe WHERE e.journal = ? ORDER BY e.rowid", (journal,)
        ):
            entries += 1
            (system_id, *entry_keys, saksaar, sekvens, line, path, found_id, kind) = row[:11]
            post_keys = row[11:15]
            case_keys = row[15:17]
            number = f"{entry_keys[0]}/{entry_keys[1]}"
            if found_id is None:
                exists.add(msg("journal entry {number} (systemID {system_id}) is not in arkivstruktur.xml",
                               number=number, system_id=system_id),
                           file=file, line=line, path=path)
                continue
            if kind and kind != "journalpost":
                exists.add(msg("journal entry {number} (systemID {system_id}) is a {kind} in arkivstruktur.xml, not "
                               "a journalpost",
                               number=number, system_id=system_id, kind=kind), file=file, line=line, path=path)
            differences = [
                msg("{key} {mine!r} here, {theirs!r} in arkivstruktur.xml", key=key, mine=mine, theirs=theirs)
                for key, mine, theirs in zip(KEYS, entry_keys, post_keys)
                if _normal(key, mine) != _normal(key, theirs)
            ]
            if case_keys[0] is not None:
                differences += [
                    msg("{key} {mine!r} here, {theirs!r} in arkivstruktur.xml", key=key, mine=mine, theirs=theirs)
                    for key, mine, theirs in zip(("saksaar", "sakssekvensnummer"), (saksaar, sekvens), case_keys)
                    if mine and theirs and mine != theirs
                ]
            if differences:
                matches.add(msg("journal entry {number} (systemID {system_id}): {differences}", number=number,
                                system_id=system_id, differences=joined("; ", differences)),
                            file=file, line=line, path=path)
        for target in {id(exists): exists, id(matches): matches}.values():
            target.data["entries"] = entries
            if not target.count:
                target.summary = msg("{entries} {journal} entries, all in arkivstruktur.xml with matching key data",
                                     entries=entries, journal=journal)

    def _complete(self, run: Run) -> None:
        found = run.findings(COMPLETE)
        header = self.headers.get("loependeJournal")
        if not header or not header["start"] or not header["end"]:
            found.not_run(msg("loependeJournal.xml states no period"))
            return
        structure = run.content_path("arkivstruktur.xml")
        for system_id, number, sequence, day, line, path in run.ledger.query(
            "SELECT p.system_id, p.journalaar, p.journalsekvensnummer, p.journaldato, p.line, p.path FROM jrn_post p "
            "WHERE p.kind = 'journalpost' AND substr(p.journaldato, 1, 10) BETWEEN ? AND ? AND NOT EXISTS "
            "(SELECT 1 FROM jrn_entry e WHERE e.system_id = p.system_id AND e.journal = 'loependeJournal') "
            "ORDER BY p.rowid", (header["start"], header["end"])
        ):
            found.add(msg("journalpost {number}/{sequence} ({system_id}) of {day} is not in loependeJournal.xml",
                          number=number, sequence=sequence, system_id=system_id, day=day[:10]),
                      file=structure, line=line, path=path)
        if not found.count:
            found.summary = msg("every journalpost of {header_start} – {header_end} is in the running journal",
                                header_start=header['start'], header_end=header['end'])

    def _headers(self, run: Run) -> None:
        found = run.findings(HEADER)
        checked = []
        for journal in JOURNALS:
            outcome = run.outcomes.get(journal)
            header = self.headers.get(journal)
            if outcome is None or header is None:
                continue
            counted = outcome.counts.get("journalregistrering", 0)
            checked.append(journal)
            if header["stated"] != str(counted):
                found.add(msg("antallJournalposter is {header_stated!r}, the journal has {counted} entries",
                              header_stated=header['stated'], counted=counted),
                          file=run.content_path(f"{journal}.xml"), line=header["line"])
        if not checked:
            found.not_run(msg("no journal was read"))
        elif not found.count:
            found.summary = msg("header counts match in {journals}", journals=", ".join(checked))


def _normal(key: str, value: str | None) -> str:
    value = (value or "").strip()
    return value[:10] if key == "journaldato" else value.lstrip("0") or value
