"""Hierarchy: classes, folders, registrations and documents that are empty, mixed or out of period.

All of these are decided when an entity ends in the stream: by then its
child entities have been counted (`Frame.children`), and the arkivdel's
period is known because arkivperiodeStartDato/SluttDato come before the
classification in the XML. Nothing is kept after the entity ends except
the per-arkivdel first and last dates, and for empty classes a row in the
scratch index: a class is empty only if it is empty everywhere it is
written (a shared classification system appears under several arkivdeler),
and only in a classification system that holds folders or registrations:
a secondary classification system (referanseSekundaerKlassifikasjon points
into it) has no content of its own by design.

Registrations and document descriptions without documents are not
reported when they are Utgår (cancelled) or on paper (dokumentmedium
Fysisk): there is nothing to deliver. In v5.0 a registration's
journalstatus comes after its documents, so a document description
without objects is decided when its registration ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from noarkpipe.validate.checks import Family, check
from noarkpipe.validate.checks.counts import registration_date
from noarkpipe.validate.messages import joined, msg
from noarkpipe.validate.model import Severity
from noarkpipe.validate.walker import Frame

if TYPE_CHECKING:
    from noarkpipe.validate.engine import Run

FAMILY = "hierarchy"
MIXED_CLASS = "HIER-01"
EMPTY_CLASS = "HIER-02"
EMPTY_FOLDER = "HIER-03"
NO_DOCUMENTS = "HIER-04"
NO_OBJECTS = "HIER-05"
PERIOD = "HIER-06"
OPEN_CASES = "HIER-07"
FINAL_SAKSSTATUS = ("Avsluttet", "Utgår")
CANCELLED = "Utgår"


def physical(*frames: Frame | None) -> bool:
    """True when an entity or one of the given ancestors is on paper only (dokumentmedium Fysisk ...)."""
    return any(frame is not None and frame.get("dokumentmedium").lower().startswith("fysisk") for frame in frames)


class HierarchyFamily(Family):
    name = FAMILY
    title = "Hierarchy"
    checks = (
        check(FAMILY, MIXED_CLASS, "Classes with subclasses and content", Severity.error,
              "No class holds both subclasses and folders or registrations.", arkade=("N5.12", "N5.19")),
        check(FAMILY, EMPTY_CLASS, "Empty classes", Severity.warning,
              "Classes without subclasses, folders or registrations, in the classification systems that hold "
              "folders or registrations (not in a secondary one), empty wherever the class is written.",
              arkade=("N5.09",)),
        check(FAMILY, EMPTY_FOLDER, "Empty folders", Severity.warning,
              "Folders (mappe) without subfolders or registrations.", arkade=("N5.14",)),
        check(FAMILY, NO_DOCUMENTS, "Registrations without documents", Severity.warning,
              "Registrations without any dokumentbeskrivelse (or, before v5.0, dokumentobjekt), leaving out those "
              "that are Utgår or on paper (dokumentmedium Fysisk).", arkade=("N5.21",)),
        check(FAMILY, NO_OBJECTS, "Document descriptions without document objects", Severity.warning,
              "dokumentbeskrivelse without any dokumentobjekt: metadata whose document is not in the extract; "
              "leaving out those that are Utgår or on paper.", arkade=("N5.24",)),
        check(FAMILY, PERIOD, "Registrations within the arkivdel's period", Severity.warning,
              "First and last registration date of each arkivdel, against its arkivperiodeStartDato and "
              "arkivperiodeSluttDato; registrations dated outside the period are listed.", arkade=("N5.27",)),
        check(FAMILY, OPEN_CASES, "Cases not closed", Severity.warning,
              "Number of saksmapper per saksstatus in each arkivdel; cases not in a final status (Avsluttet, "
              "Utgår) are listed: an extract of a closed period should hold closed cases.", arkade=("N5.15",)),
    )

    def __init__(self) -> None:
        self.periods: dict[str, dict] = {}
        self.content: dict[str, int] = {}
        """klassifikasjonssystem (systemID or path) -> folders and registrations directly in its classes."""
        self.pending: dict[int, list[Frame]] = {}
        """registrering frame -> its document descriptions without objects, decided when it ends."""
        self.saksstatus: dict[str, dict[str, int]] = {}

    def prepare(self, run: Run) -> None:
        self._run = run
        run.ledger.table("hier_class", "system_id TEXT, system TEXT, empty INTEGER, label TEXT, line INTEGER, "
                                       "path TEXT")
        subs = run.subscribe("arkivstruktur")
        subs.end("klasse", self._klasse)
        subs.end("mappe", self._mappe)
        subs.end("registrering", self._registrering)
        subs.end("dokumentbeskrivelse", self._dokumentbeskrivelse)
        subs.track(["arkiv", "arkivdel", "klassifikasjonssystem", "dokumentobjekt"])

    def _klasse(self, frame: Frame) -> None:
        children = frame.children
        subclasses = children["klasse"]
        content = children["mappe"] + children["registrering"]
        name = f"klasse {frame.get('klasseID') or '?'} «{frame.get('tittel')}» (systemID {frame.get('systemID')})"
        system = _system_key(frame.ancestor("klassifikasjonssystem"))
        if content:
            self.content[system] = self.content.get(system, 0) + content
        if subclasses and content:
            self._run.findings(MIXED_CLASS).add(
                msg("{name} has {subclasses} subclass(es) and {content} folder(s)/registration(s)",
                    name=name, subclasses=subclasses, content=content),
                file=frame.file, line=frame.line, path=frame.path())
        self._run.ledger.add("hier_class", (frame.get("systemID") or frame.path(), system,
                                            int(not subclasses and not content), name, frame.line, frame.path()))

    def _mappe(self, frame: Frame) -> None:
        if frame.type == "saksmappe" or frame.get("saksstatus"):
            arkivdel = frame.ancestor("arkivdel")
            key = arkivdel.get("tittel") or arkivdel.get("systemID") if arkivdel is not None else ""
            status = frame.get("saksstatus", "(none)")
            tally = self.saksstatus.setdefault(key, {})
            tally[status] = tally.get(status, 0) + 1
            if status not in FINAL_SAKSSTATUS:
                self._run.findings(OPEN_CASES).add(
                    msg("saksmappe {mappeID} «{tittel}» has saksstatus {status!r}",
                        mappeID=frame.get('mappeID'), tittel=frame.get('tittel'), status=status),
                    file=frame.file, line=frame.line, path=frame.path())
        if not frame.children["mappe"] and not frame.children["registrering"]:
            self._run.findings(EMPTY_FOLDER).add(
                msg("mappe {mappeID} «{tittel}» (systemID {systemID}) has no registrations",
                    mappeID=frame.get('mappeID'), tittel=frame.get('tittel'), systemID=frame.get('systemID')),
                file=frame.file, line=frame.line, path=frame.path())

    def _registrering(self, frame: Frame) -> None:
        mappe = frame.ancestor("mappe")
        left_out = frame.get("journalstatus") == CANCELLED or physical(frame, mappe)
        for description in self.pending.pop(id(frame), ()):
            if not left_out:
                self._report_no_objects(description)
        if not left_out and not frame.children["dokumentbeskrivelse"] and not frame.children["dokumentobjekt"]:
            self._run.findings(NO_DOCUMENTS).add(
                msg("{kind} «{tittel}» (systemID {systemID}) has no documents",
                    kind=frame.type or 'registrering', tittel=frame.get('tittel'), systemID=frame.get('systemID')),
                file=frame.file, line=frame.line, path=frame.path())
        arkivdel = frame.ancestor("arkivdel")
        if arkivdel is None:
            return
        when = registration_date(frame)[:10]
        if not when:
            return
        key = arkivdel.get("systemID") or arkivdel.path()
        period = self.periods.get(key)
        if period is None:
            period = self.periods[key] = {
                "arkivdel": arkivdel.get("tittel"), "systemID": arkivdel.get("systemID"),
                "start": arkivdel.get("arkivperiodeStartDato")[:10], "end": arkivdel.get("arkivperiodeSluttDato")[:10],
                "first": when, "last": when, "outside": 0,
            }
        period["first"] = min(period["first"], when)
        period["last"] = max(period["last"], when)
        start, end = period["start"], period["end"]
        if (start and when < start) or (end and when > end):
            period["outside"] += 1
            self._run.findings(PERIOD).add(
                msg("{kind} {systemID} is dated {when}, outside the arkivdel's period {start} – {end}",
                    kind=frame.type or 'registrering', systemID=frame.get('systemID'), when=when, start=start or '…',
                    end=end or '…'),
                file=frame.file, line=frame.line, path=frame.path())

    def _dokumentbeskrivelse(self, frame: Frame) -> None:
        if frame.children["dokumentobjekt"] or physical(frame) or frame.get("dokumentstatus") == CANCELLED:
            return
        registrering = frame.ancestor("registrering")
        if registrering is None:
            self._report_no_objects(frame)
        else:
            self.pending.setdefault(id(registrering), []).append(frame)

    def _report_no_objects(self, frame: Frame) -> None:
        self._run.findings(NO_OBJECTS).add(
                msg("dokumentbeskrivelse «{tittel}» (systemID {systemID}) has no dokumentobjekt",
                    tittel=frame.get('tittel'), systemID=frame.get('systemID')),
                file=frame.file, line=frame.line, path=frame.path())

    def finish(self, run: Run) -> None:
        if "arkivstruktur" not in run.outcomes:
            for definition in self.checks:
                run.findings(definition.id).not_run(msg("arkivstruktur.xml was not read"))
            return
        self._empty_classes(run)
        for definition in self.checks[:5]:
            found = run.findings(definition.id)
            if not found.count:
                found.summary = msg("none")
        found = run.findings(OPEN_CASES)
        found.data["per_arkivdel"] = self.saksstatus
        found.summary = msg("{per_arkivdel}", per_arkivdel=joined("; ", (
            f"{arkivdel or 'arkivdel'}: " + ", ".join(f"{status}: {count}" for status, count in sorted(tally.items()))
            for arkivdel, tally in self.saksstatus.items()))) if self.saksstatus else msg("no saksmapper")
        found = run.findings(PERIOD)
        found.data["arkivdeler"] = list(self.periods.values())
        found.summary = msg("{per_arkivdel}", per_arkivdel=joined("; ", (
            msg("{arkivdel}: registrations {first} – {last}, period {start} – {end}{outside}",
                arkivdel=p["arkivdel"], first=p["first"], last=p["last"], start=p["start"] or "…",
                end=p["end"] or "…",
                outside=msg(", {outside} outside", outside=p["outside"]) if p["outside"] else "")
            for p in self.periods.values()))) if self.periods else msg("no dated registrations")

    def _empty_classes(self, run: Run) -> None:
        db = run.ledger
        db.flush()
        found = run.findings(EMPTY_CLASS)
        used = [system for system, count in self.content.items() if count]
        marks = ",".join("?" * len(used))
        secondary = sorted({row[0] for row in db.query("SELECT DISTINCT system FROM hier_class")} - set(used))
        for label, line, path in db.query(
            f"SELECT label, min(line), min(path) FROM hier_class WHERE system IN ({marks}) GROUP BY system_id "
            "HAVING min(empty) = 1 ORDER BY min(rowid)", used
        ):
            found.add(msg("{label} is empty",
                          label=label), file=run.content_path("arkivstruktur.xml"), line=line, path=path)
        found.data["secondary_classification_systems"] = len(secondary)


def _system_key(frame: Frame | None) -> str:
    return (frame.get("systemID") or frame.path()) if frame is not None else ""
