"""Change log: every endringslogg entry refers to an entity of the extract.

endringslogg.xml records changes to registered metadata by the systemID of
the entity changed (referanseArkivenhet). An entry pointing at nothing
means the log and the structure come from different exports, or entities
were dropped from the extract after being changed. Resolved against the
systemIDs the identifiers family collected from arkivstruktur.xml.

Some entities carry no systemID in arkivstruktur.xml: an arkivskaper is
known by its arkivskaperID in every version, and before v5.0 a
dokumentobjekt has none either. A change to one of them refers to an
identifier of the system that made the extract, which the extract cannot
resolve. Which kind an entry is about shows in referanseMetadata (the
field changed): an unresolved entry about a field only such an entity
has is a warning that says why (LOG-02); every other unresolved entry is
an error (LOG-01).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from noarkpipe.validate.checks import Family, check
from noarkpipe.validate.messages import msg
from noarkpipe.validate.model import Severity
from noarkpipe.validate.walker import Frame

if TYPE_CHECKING:
    from noarkpipe.validate.engine import Run

FAMILY = "changelog"
REFERENCES = "LOG-01"
UNRESOLVABLE = "LOG-02"
ARKIVSKAPER_FIELDS = frozenset({"arkivskaperID", "arkivskaperNavn"})
DOKUMENTOBJEKT_FIELDS = frozenset({
    "versjonsnummer", "variantformat", "format", "formatDetaljer", "referanseDokumentfil", "sjekksum",
    "sjekksumAlgoritme", "filstoerrelse",
})


def without_system_id(field: str, version: str) -> str | None:
    """The kind of entity a change to `field` is about when that kind has no systemID in `version`'s
    arkivstruktur.xml ('arkivskaper', 'dokumentobjekt'); None when it does carry one."""
    if field in ARKIVSKAPER_FIELDS:
        return "arkivskaper"
    if field in DOKUMENTOBJEKT_FIELDS and version != "v5.0":
        return "dokumentobjekt"
    return None


class ChangelogFamily(Family):
    name = FAMILY
    title = "Change log"
    checks = (
        check(FAMILY, REFERENCES, "Change-log references", Severity.error,
              "Every endring in endringslogg.xml refers (referanseArkivenhet) to an entity in arkivstruktur.xml, "
              "where the kind of entity changed carries a systemID.", arkade=("N5.61", "N5.62")),
        check(FAMILY, UNRESOLVABLE, "Change-log references that cannot be resolved", Severity.warning,
              "endring entries about an entity that has no systemID in arkivstruktur.xml (an arkivskaper; before "
              "v5.0 a dokumentobjekt), judged by the field changed: they cannot be checked.", arkade=("N5.62",)),
    )

    def __init__(self) -> None:
        self.fields: Counter = Counter()

    def prepare(self, run: Run) -> None:
        self._run = run
        run.ledger.table("log_ref", "target TEXT, field TEXT, line INTEGER, path TEXT")
        run.subscribe("endringslogg").end("endring", self._endring)

    def _endring(self, frame: Frame) -> None:
        self._run.ledger.add("log_ref", (frame.get("referanseArkivenhet"), frame.get("referanseMetadata"), frame.line,
                                         frame.path()))
        self.fields[frame.get("referanseMetadata", "(none)")] += 1

    def finish(self, run: Run) -> None:
        found = run.findings(REFERENCES)
        unresolvable = run.findings(UNRESOLVABLE)
        if "endringslogg" not in run.outcomes:
            for target in (found, unresolvable):
                target.not_run(msg("no readable endringslogg.xml (see STR-01, STR-02)"))
            return
        if "arkivstruktur" not in run.outcomes:
            for target in (found, unresolvable):
                target.not_run(msg("arkivstruktur.xml was not read"))
            return
        db = run.ledger
        db.flush()
        file = run.content_path("endringslogg.xml")
        total = db.scalar("SELECT count(*) FROM log_ref")
        version = run.version.noark
        for target, field, line, path in db.query(
            "SELECT r.target, r.field, r.line, r.path FROM log_ref r WHERE NOT EXISTS "
            "(SELECT 1 FROM ids i WHERE i.system_id = r.target) ORDER BY r.rowid"
        ):
            kind = without_system_id(field, version)
            if kind:
                unresolvable.add(
                    msg("referanseArkivenhet {target!r} (a change to {field}) is about a {kind}, which has no "
                        "systemID in a {version} arkivstruktur.xml, so the reference cannot be resolved",
                        target=target, field=field, kind=kind, version=version), file=file, line=line,
                    path=path)
            else:
                found.add(msg("referanseArkivenhet {target!r} (a change to {field}) is not an entity of "
                              "arkivstruktur.xml",
                              target=target, field=field or msg("an unnamed field")), file=file, line=line, path=path)
        found.data = {"changes": total, "per_field": dict(self.fields.most_common(25))}
        if not found.count:
            resolved = total - unresolvable.count
            if unresolvable.count:
                found.summary = msg("{total} change(s); {resolved} refer to an entity of the extract, "
                                    "{unresolvable} to entities without systemID (LOG-02)", total=total,
                                    resolved=resolved, unresolvable=unresolvable.count)
            else:
                found.summary = msg("{total} change(s); {resolved} refer to an entity of the extract", total=total,
                                    resolved=resolved)
        if not unresolvable.count:
            unresolvable.summary = msg("none")
