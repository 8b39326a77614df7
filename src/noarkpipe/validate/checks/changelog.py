"""Change log: every endringslogg entry refers to an entity of the extract.

endringslogg.xml records changes to registered metadata by the systemID of
the entity changed (referanseArkivenhet). An entry pointing at nothing
means the log and the structure come from different exports, or entities
were dropped from the extract after being changed. Resolved against the
systemIDs the identifiers family collected from arkivstruktur.xml.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from ..model import Severity
from ..walker import Frame
from . import Family, check

if TYPE_CHECKING:
    from ..engine import Run

FAMILY = "changelog"
REFERENCES = "LOG-01"


class ChangelogFamily(Family):
    name = FAMILY
    title = "Change log"
    checks = (
        check(FAMILY, REFERENCES, "Change-log references", Severity.error,
              "Every endring in endringslogg.xml refers (referanseArkivenhet) to an entity in arkivstruktur.xml."),
    )

    def __init__(self) -> None:
        self.fields: Counter = Counter()

    def prepare(self, run: Run) -> None:
        self._run = run
        run.ledger.table("log_ref", "target TEXT, line INTEGER, path TEXT")
        run.subscribe("endringslogg").end("endring", self._endring)

    def _endring(self, frame: Frame) -> None:
        self._run.ledger.add("log_ref", (frame.get("referanseArkivenhet"), frame.line, frame.path()))
        self.fields[frame.get("referanseMetadata", "(none)")] += 1

    def finish(self, run: Run) -> None:
        found = run.findings(REFERENCES)
        if "endringslogg" not in run.outcomes:
            found.not_run("no readable endringslogg.xml (see STR-01, STR-02)")
            return
        if "arkivstruktur" not in run.outcomes:
            found.not_run("arkivstruktur.xml was not read")
            return
        db = run.ledger
        db.flush()
        file = run.content_path("endringslogg.xml")
        total = db.scalar("SELECT count(*) FROM log_ref")
        for target, line, path in db.query(
            "SELECT r.target, r.line, r.path FROM log_ref r WHERE NOT EXISTS "
            "(SELECT 1 FROM ids i WHERE i.system_id = r.target) ORDER BY r.rowid"
        ):
            found.add(f"referanseArkivenhet {target!r} is not an entity of arkivstruktur.xml", file=file, line=line,
                      path=path)
        found.data = {"changes": total, "per_field": dict(self.fields.most_common(25))}
        if not found.count:
            found.summary = f"{total} change(s), each refers to an entity of the extract"
