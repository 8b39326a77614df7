"""Hierarchy: classes, folders, registrations and documents that are empty, mixed or out of period.

All of these are decided when an entity ends in the stream: by then its
child entities have been counted (`Frame.children`), and the arkivdel's
period is known because arkivperiodeStartDato/SluttDato come before the
classification in the XML. Nothing is kept after the entity ends except
the per-arkivdel first and last dates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..model import Severity
from ..walker import Frame
from . import Family, check
from .counts import registration_date

if TYPE_CHECKING:
    from ..engine import Run

FAMILY = "hierarchy"
MIXED_CLASS = "HIER-01"
EMPTY_CLASS = "HIER-02"
EMPTY_FOLDER = "HIER-03"
NO_DOCUMENTS = "HIER-04"
NO_OBJECTS = "HIER-05"
PERIOD = "HIER-06"


class HierarchyFamily(Family):
    name = FAMILY
    title = "Hierarchy"
    checks = (
        check(FAMILY, MIXED_CLASS, "Classes with subclasses and content", Severity.error,
              "No class holds both subclasses and folders or registrations."),
        check(FAMILY, EMPTY_CLASS, "Empty classes", Severity.warning,
              "Classes without subclasses, folders or registrations."),
        check(FAMILY, EMPTY_FOLDER, "Empty folders", Severity.warning,
              "Folders (mappe) without subfolders or registrations."),
        check(FAMILY, NO_DOCUMENTS, "Registrations without documents", Severity.warning,
              "Registrations without any dokumentbeskrivelse (or, before v5.0, dokumentobjekt)."),
        check(FAMILY, NO_OBJECTS, "Document descriptions without document objects", Severity.warning,
              "dokumentbeskrivelse without any dokumentobjekt: metadata whose document is not in the extract."),
        check(FAMILY, PERIOD, "Registrations within the arkivdel's period", Severity.warning,
              "First and last registration date of each arkivdel, against its arkivperiodeStartDato and "
              "arkivperiodeSluttDato; registrations dated outside the period are listed."),
    )

    def __init__(self) -> None:
        self.periods: dict[str, dict] = {}
        self._run: Run | None = None

    def prepare(self, run: Run) -> None:
        self._run = run
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
        if subclasses and content:
            self._run.findings(MIXED_CLASS).add(
                f"{name} has {subclasses} subclass(es) and {content} folder(s)/registration(s)",
                file=frame.file, line=frame.line, path=frame.path())
        elif not subclasses and not content:
            self._run.findings(EMPTY_CLASS).add(f"{name} is empty", file=frame.file, line=frame.line,
                                                path=frame.path())

    def _mappe(self, frame: Frame) -> None:
        if not frame.children["mappe"] and not frame.children["registrering"]:
            self._run.findings(EMPTY_FOLDER).add(
                f"mappe {frame.get('mappeID')} «{frame.get('tittel')}» (systemID {frame.get('systemID')}) "
                "has no registrations",
                file=frame.file, line=frame.line, path=frame.path())

    def _registrering(self, frame: Frame) -> None:
        if not frame.children["dokumentbeskrivelse"] and not frame.children["dokumentobjekt"]:
            self._run.findings(NO_DOCUMENTS).add(
                f"{frame.type or 'registrering'} «{frame.get('tittel')}» (systemID {frame.get('systemID')}) "
                "has no documents",
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
                f"{frame.type or 'registrering'} {frame.get('systemID')} is dated {when}, outside the arkivdel's "
                f"period {start or '…'} – {end or '…'}",
                file=frame.file, line=frame.line, path=frame.path())

    def _dokumentbeskrivelse(self, frame: Frame) -> None:
        if not frame.children["dokumentobjekt"]:
            self._run.findings(NO_OBJECTS).add(
                f"dokumentbeskrivelse «{frame.get('tittel')}» (systemID {frame.get('systemID')}) has no dokumentobjekt",
                file=frame.file, line=frame.line, path=frame.path())

    def finish(self, run: Run) -> None:
        if "arkivstruktur" not in run.outcomes:
            for definition in self.checks:
                run.findings(definition.id).not_run("arkivstruktur.xml was not read")
            return
        for definition in self.checks[:5]:
            found = run.findings(definition.id)
            if not found.count:
                found.summary = "none"
        found = run.findings(PERIOD)
        found.data["arkivdeler"] = list(self.periods.values())
        found.summary = "; ".join(
            f"{p['arkivdel']}: registrations {p['first']} – {p['last']}, period {p['start'] or '…'} – {p['end'] or '…'}"
            + (f", {p['outside']} outside" if p["outside"] else "")
            for p in self.periods.values()
        ) or "no dated registrations"
