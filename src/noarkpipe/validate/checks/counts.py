"""Counts: how many of each entity the extract holds, by status, type, class and year.

These are the figures a depot writes into its acceptance letter and
compares with what the records creator said it would deliver: arkiver and
arkivdeler with their status, classification systems and classes, folders
per type, class and year, registrations per type, status and year,
documents, parties, remarks, cross references, screenings, disposal
decisions and conversions. They only inform; the checks that judge are in
the other families, except CODE values: journalposttype, journalstatus
and dokumentstatus are plain strings in the schemas, so a value outside
the Noark 5 code lists (M082, M053, M054) is only found here, where the
values are tallied (CNT-07, a warning: older systems' spellings are
common and do not make the extract unreadable).

Counts Arkade gives per arkivdel (classes, folders per class, remarks,
cross references, precedents, avskrivninger) are kept per arkivdel too.

Small tallies (statuses, types, years) are kept in memory; folders per
class go to the scratch index, since a classification by property number
(gnr/bnr) can have tens of thousands of classes.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from noarkpipe.core.codes import Dokumentstatus, Journalposttype, Journalstatus
from noarkpipe.validate.checks import Family, check
from noarkpipe.validate.messages import Joined, Message, joined, msg
from noarkpipe.validate.model import Severity
from noarkpipe.validate.walker import Frame

if TYPE_CHECKING:
    from noarkpipe.validate.engine import Run

FAMILY = "counts"
ARCHIVES = "CNT-01"
CLASSIFICATION = "CNT-02"
FOLDERS = "CNT-03"
REGISTRATIONS = "CNT-04"
DOCUMENTS = "CNT-05"
OTHER = "CNT-06"
CODES = "CNT-07"
TOP_CLASSES = 25
CODE_LISTS = {
    "journalposttype": frozenset(Journalposttype) | {"Sakskart", "Møteprotokoll", "Møtebok"},
    "journalstatus": frozenset(Journalstatus),
    "dokumentstatus": frozenset(Dokumentstatus),
}
"""The code lists of Noark 5 (all versions) for the values that the schemas leave as free text."""
PER_ARKIVDEL = ("merknad", "kryssreferanse", "presedens", "avskrivning")

OTHER_ENTITIES = (
    "korrespondansepart", "part", "sakspart", "merknad", "kryssreferanse", "skjerming", "kassasjon",
    "utfoertKassasjon", "sletting", "gradering", "konvertering", "presedens", "avskrivning", "elektroniskSignatur",
    "dokumentflyt", "moetedeltaker",
)


def year_of(value: str) -> str:
    """'2021-03-04' or '2021-03-04T10:00:00' -> '2021'; '' when there is no plausible year."""
    year = value.strip()[:4]
    return year if year.isdigit() and len(year) == 4 else ""


def registration_date(frame: Frame) -> str:
    """The date a registration belongs to: journaldato for a journalpost, else opprettetDato."""
    return frame.get("journaldato") or frame.get("opprettetDato")


class CountsFamily(Family):
    name = FAMILY
    title = "Counts"
    checks = (
        check(FAMILY, ARCHIVES, "Arkiv and arkivdel", Severity.info,
              "Number of arkiv, arkivskaper and arkivdel, and arkivdeler per arkivdelstatus.",
              arkade=("N5.04", "N5.05", "N5.06")),
        check(FAMILY, CLASSIFICATION, "Classification", Severity.info,
              "Number of classification systems and classes, classes per level.",
              arkade=("N5.07", "N5.08")),
        check(FAMILY, FOLDERS, "Folders", Severity.info,
              "Number of folders (mappe) per type, per class and per year (opprettetDato).",
              arkade=("N5.10", "N5.11", "N5.13")),
        check(FAMILY, REGISTRATIONS, "Registrations", Severity.info,
              "Number of registrations per type, per journalstatus, per journalposttype and per year "
              "(journaldato, else opprettetDato).",
              arkade=("N5.16", "N5.17", "N5.18", "N5.20", "N5.22")),
        check(FAMILY, DOCUMENTS, "Documents", Severity.info,
              "Number of document descriptions (per tilknyttetRegistreringSom) and document objects (per "
              "variantformat and declared format).",
              arkade=("N5.23", "N5.25", "N5.26")),
        check(FAMILY, OTHER, "Other entities", Severity.info,
              "Number of parties (korrespondansepart, part), remarks, cross references, screenings, disposal "
              "decisions (kassasjon, utført kassasjon), deletions, gradings, conversions and other entities.",
              arkade=tuple(f"N5.{number}" for number in range(35, 47))),
        check(FAMILY, CODES, "Code values", Severity.warning,
              "journalposttype, journalstatus and dokumentstatus hold values of the Noark 5 code lists (M082, M053, "
              "M054); the schemas leave them as free text.", arkade=("N5.17", "N5.22", "N5.25")),
    )

    def __init__(self) -> None:
        self.tally: dict[str, Counter] = {key: Counter() for key in (
            "entities", "arkivdelstatus", "mappe_type", "mappe_year", "registrering_type", "journalstatus",
            "journalposttype", "registrering_year", "tilknytning", "variantformat", "format", "klasse_level",
            "korrespondanseparttype", "tilgangsrestriksjon", "kassasjonsvedtak", "dokumentstatus",
        )}
        self.per_arkivdel: dict[str, Counter] = {}

    def prepare(self, run: Run) -> None:
        run.ledger.table("cnt_mappe", "klasse TEXT, klasse_id TEXT, arkivdel TEXT")
        run.ledger.table("cnt_registrering", "klasse TEXT, klasse_id TEXT")
        subs = run.subscribe("arkivstruktur")
        self._run = run
        # entities that are only counted need no frames: the walker's element counts are enough
        subs.count((*OTHER_ENTITIES, "arkiv", "arkivskaper", "klassifikasjonssystem"))
        for name in PER_ARKIVDEL:
            subs.start(name, lambda frame: self._arkivdel_tally(frame, frame.name))
        subs.end("arkivdel", self._arkivdel)
        subs.start("klasse", self._klasse)
        subs.end("mappe", lambda frame: self._mappe(run, frame))
        subs.end("registrering", self._registrering)
        subs.end("dokumentbeskrivelse", self._dokumentbeskrivelse)
        subs.end("dokumentobjekt", self._dokumentobjekt)
        subs.end("korrespondansepart", lambda frame: self.tally["korrespondanseparttype"].update(
            (frame.get("korrespondanseparttype", "(none)"),)))
        subs.end("skjerming", lambda frame: self.tally["tilgangsrestriksjon"].update(
            (frame.get("tilgangsrestriksjon", "(none)"),)))
        subs.end("kassasjon", lambda frame: self.tally["kassasjonsvedtak"].update(
            (frame.get("kassasjonsvedtak", "(none)"),)))

    def _arkivdel_tally(self, frame: Frame, what: str) -> None:
        arkivdel = frame.ancestor("arkivdel")
        key = (arkivdel.get("tittel") or arkivdel.get("systemID")) if arkivdel is not None else ""
        self.per_arkivdel.setdefault(key, Counter())[what] += 1

    def _code(self, frame: Frame, field: str) -> None:
        value = frame.get(field)
        if value and value not in CODE_LISTS[field]:
            self._run.findings(CODES).add(msg("{field} {value!r} is not in the Noark 5 code list",
                                              field=field, value=value),
                                          file=frame.file, line=frame.line, path=frame.path())

    def _arkivdel(self, frame: Frame) -> None:
        self.tally["entities"]["arkivdel"] += 1
        self.tally["arkivdelstatus"][frame.get("arkivdelstatus", "(none)")] += 1

    def _klasse(self, frame: Frame) -> None:
        self.tally["entities"]["klasse"] += 1
        self._arkivdel_tally(frame, "klasse")
        level = 1
        parent = frame.parent
        while parent is not None and parent.name == "klasse":
            level += 1
            parent = parent.parent
        self.tally["klasse_level"][str(level)] += 1

    def _mappe(self, run: Run, frame: Frame) -> None:
        self.tally["entities"]["mappe"] += 1
        self.tally["mappe_type"][frame.type or "mappe"] += 1
        self.tally["mappe_year"][year_of(frame.get("opprettetDato")) or "(no date)"] += 1
        klasse = frame.ancestor("klasse")
        if klasse is not None:
            arkivdel = frame.ancestor("arkivdel")
            run.ledger.add("cnt_mappe", (klasse.get("systemID"), klasse.get("klasseID"),
                                         arkivdel.get("tittel") or arkivdel.get("systemID") if arkivdel else ""))

    def _registrering(self, frame: Frame) -> None:
        self.tally["entities"]["registrering"] += 1
        self.tally["registrering_type"][frame.type or "registrering"] += 1
        if frame.get("journalstatus"):
            self.tally["journalstatus"][frame.get("journalstatus")] += 1
        if frame.get("journalposttype"):
            self.tally["journalposttype"][frame.get("journalposttype")] += 1
        self.tally["registrering_year"][year_of(registration_date(frame)) or "(no date)"] += 1
        self._code(frame, "journalposttype")
        self._code(frame, "journalstatus")
        klasse = frame.ancestor("klasse")
        if klasse is not None:
            self._run.ledger.add("cnt_registrering", (klasse.get("systemID"), klasse.get("klasseID")))

    def _dokumentbeskrivelse(self, frame: Frame) -> None:
        self.tally["entities"]["dokumentbeskrivelse"] += 1
        self.tally["tilknytning"][frame.get("tilknyttetRegistreringSom", "(none)")] += 1
        self.tally["dokumentstatus"][frame.get("dokumentstatus", "(none)")] += 1
        self._code(frame, "dokumentstatus")

    def _dokumentobjekt(self, frame: Frame) -> None:
        self.tally["entities"]["dokumentobjekt"] += 1
        self.tally["variantformat"][frame.get("variantformat", "(none)")] += 1
        self.tally["format"][frame.get("format", "(none)")] += 1

    def finish(self, run: Run) -> None:
        if "arkivstruktur" not in run.outcomes:
            for check_id in (ARCHIVES, CLASSIFICATION, FOLDERS, REGISTRATIONS, DOCUMENTS, OTHER, CODES):
                run.findings(check_id).not_run(msg("arkivstruktur.xml was not read"))
            return
        entities = self.tally["entities"]
        counted = run.outcomes["arkivstruktur"].counts
        for name in (*OTHER_ENTITIES, "arkiv", "arkivskaper", "klassifikasjonssystem"):
            entities[name] = counted.get(name, 0)
        t = self.tally

        def put(check_id: str, summary: Message, **data) -> None:
            found = run.findings(check_id)
            found.summary = summary
            found.data = {key: dict(sorted(value.items())) if isinstance(value, Counter) else value
                          for key, value in data.items()}

        put(ARCHIVES, msg("{arkiv} arkiv, {arkivskaper} arkivskaper, {arkivdel} arkivdel ({statuses})",
                          arkiv=entities["arkiv"], arkivskaper=entities["arkivskaper"], arkivdel=entities["arkivdel"],
                          statuses=_list(t["arkivdelstatus"])),
            arkiv=entities["arkiv"], arkivskaper=entities["arkivskaper"], arkivdel=entities["arkivdel"],
            arkivdelstatus=t["arkivdelstatus"])
        put(CLASSIFICATION, msg("{systems} klassifikasjonssystem, {klasser} klasser (per level: {levels})",
                                systems=entities["klassifikasjonssystem"], klasser=entities["klasse"],
                                levels=_list(t["klasse_level"])),
            klassifikasjonssystem=entities["klassifikasjonssystem"], klasse=entities["klasse"],
            per_level=t["klasse_level"],
            per_arkivdel={key: tally["klasse"] for key, tally in self.per_arkivdel.items()})
        run.ledger.flush()
        per_class = [
            {"klasseID": klasse_id, "mapper": count}
            for klasse_id, count in run.ledger.query(
                "SELECT klasse_id, count(*) AS n FROM cnt_mappe GROUP BY klasse, klasse_id ORDER BY n DESC, klasse_id "
                f"LIMIT {TOP_CLASSES}"
            )
        ]
        classes_used = run.ledger.scalar("SELECT count(*) FROM (SELECT DISTINCT klasse FROM cnt_mappe)")
        per_arkivdel_class: dict[str, list] = {}
        for arkivdel, klasse_id, count in run.ledger.query(
            "SELECT arkivdel, klasse_id, count(*) AS n FROM cnt_mappe GROUP BY arkivdel, klasse, klasse_id "
            "ORDER BY arkivdel, n DESC, klasse_id"
        ):
            listed = per_arkivdel_class.setdefault(arkivdel, [])
            if len(listed) < TOP_CLASSES:
                listed.append({"klasseID": klasse_id, "mapper": count})
        put(FOLDERS, msg("{mapper} mapper ({types}) in {classes} class(es)", mapper=entities["mappe"],
                         types=_list(t["mappe_type"]), classes=classes_used),
            mappe=entities["mappe"], per_type=t["mappe_type"], per_year=t["mappe_year"],
            per_class_top=per_class, classes_with_folders=classes_used, per_arkivdel_class_top=per_arkivdel_class)
        registrations_per_class = [
            {"klasseID": klasse_id, "registreringer": count}
            for klasse_id, count in run.ledger.query(
                "SELECT klasse_id, count(*) AS n FROM cnt_registrering GROUP BY klasse, klasse_id "
                f"ORDER BY n DESC, klasse_id LIMIT {TOP_CLASSES}"
            )
        ]
        years = t["registrering_year"]
        span = sorted(year for year in years if year.isdigit())
        put(REGISTRATIONS, msg("{registreringer} registreringer ({types}){years}",
                               registreringer=entities["registrering"], types=_list(t["registrering_type"]),
                               years=f", {span[0]}–{span[-1]}" if span else ""),
            registrering=entities["registrering"], per_type=t["registrering_type"],
            per_journalstatus=t["journalstatus"],
            per_journalposttype=t["journalposttype"], per_year=years, per_class_top=registrations_per_class)
        put(DOCUMENTS, msg("{dokumentbeskrivelser} dokumentbeskrivelser, {dokumentobjekter} dokumentobjekter "
                           "({variants})", dokumentbeskrivelser=entities["dokumentbeskrivelse"],
                           dokumentobjekter=entities["dokumentobjekt"], variants=_list(t["variantformat"])),
            dokumentbeskrivelse=entities["dokumentbeskrivelse"], dokumentobjekt=entities["dokumentobjekt"],
            per_tilknytning=t["tilknytning"],
            per_dokumentstatus=t["dokumentstatus"],
            per_variantformat=t["variantformat"], per_declared_format=t["format"])
        others = {name: entities[name] for name in OTHER_ENTITIES}
        put(OTHER, msg("{entities}",
                       entities=joined(", ", (f"{count} {name}" for name, count in others.items() if count)))
        if any(others.values()) else msg("none"),
            counts=others, per_korrespondanseparttype=t["korrespondanseparttype"],
            per_tilgangsrestriksjon=t["tilgangsrestriksjon"], per_kassasjonsvedtak=t["kassasjonsvedtak"],
            per_arkivdel={key: {name: tally[name] for name in PER_ARKIVDEL}
                          for key, tally in self.per_arkivdel.items()})
        codes = run.findings(CODES)
        if not codes.count:
            codes.summary = msg("every journalposttype, journalstatus and dokumentstatus from the code lists")


def _list(counter: Counter) -> Joined | Message:
    """'key: count, ...' of a tally, or 'none' in the report's language."""
    if not counter:
        return msg("none")
    return joined(", ", (f"{key}: {count}" for key, count in sorted(counter.items())))
