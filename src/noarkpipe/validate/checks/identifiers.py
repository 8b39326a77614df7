"""Identifiers: unique systemIDs, and references inside arkivstruktur that must point at something.

Every systemID of arkivstruktur goes to the scratch index (`ids`) with its
kind, location, arkivdel and a digest of its own content (its leaf values
and type, not its child entities); duplicates and dangling references are
then one SQL query each, whatever the extract's size. The change-log check
(changelog.py) resolves its references against the same `ids` table.

XML is a tree, so a klassifikasjonssystem shared by two arkivdeler (Noark 5
allows it) is written under each of them, with its classes: the same
systemID twice, with the same content. That is one entity written twice,
not a duplicate; only a klassifikasjonssystem or klasse may be shared this
way, once per arkivdel. The same systemID on another kind of entity, or
with other content, stays an error. The digest is what keeps this
stream-friendly: 16 bytes per entity, never a subtree in memory.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from noarkpipe.validate.checks import Family, check
from noarkpipe.validate.messages import Joined, Message, joined, msg
from noarkpipe.validate.model import Severity
from noarkpipe.validate.walker import Frame

if TYPE_CHECKING:
    from noarkpipe.validate.engine import Run

FAMILY = "identifiers"
DUPLICATES = "ID-01"
CROSS_REFERENCES = "ID-02"
ARKIVDEL_REFERENCES = "ID-03"
CLASS_REFERENCES = "ID-04"
SHAREABLE = ("klassifikasjonssystem", "klasse")

WITH_SYSTEM_ID = (
    "arkiv", "arkivdel", "klassifikasjonssystem", "klasse", "mappe", "registrering", "dokumentbeskrivelse",
    "dokumentobjekt",
)
CROSS_REFERENCE_KINDS = {
    "referanseTilKlasse": "klasse",
    "referanseTilMappe": "mappe",
    "referanseTilRegistrering": "registrering",
}


class IdentifiersFamily(Family):
    name = FAMILY
    title = "Identifiers and references"
    checks = (
        check(FAMILY, DUPLICATES, "Unique systemIDs", Severity.error,
              "No systemID occurs twice in arkivstruktur.xml (across all entities), and none is empty; a "
              "klassifikasjonssystem shared by several arkivdeler, written under each with the same systemID and "
              "the same content, is one entity.", arkade=("N5.47",)),
        check(FAMILY, CROSS_REFERENCES, "Cross references", Severity.error,
              "Every kryssreferanse (referanseTilKlasse, referanseTilMappe, referanseTilRegistrering) and every "
              "referanseAvskrivesAvJournalpost points at an entity of that kind in the extract."),
        check(FAMILY, ARKIVDEL_REFERENCES, "Arkivdel references", Severity.warning,
              "Every referanseArkivdel of a folder, registration or document description points at an arkivdel in "
              "the extract.", arkade=("N5.48",)),
        check(FAMILY, CLASS_REFERENCES, "Secondary class references", Severity.error,
              "Every referanseSekundaerKlassifikasjon of a case folder points at a klasse in the extract.",
              arkade=("N5.51",)),
    )

    def prepare(self, run: Run) -> None:
        self._run = run
        run.ledger.table("ids", "system_id TEXT, kind TEXT, line INTEGER, path TEXT, digest BLOB, arkivdel TEXT")
        run.ledger.table("id_refs", "kind TEXT, target TEXT, field TEXT, line INTEGER, path TEXT")
        subs = run.subscribe("arkivstruktur")
        for name in WITH_SYSTEM_ID:
            subs.end(name, self._entity)
        subs.end("kryssreferanse", self._cross_reference)
        subs.end("avskrivning", self._avskrivning)
        subs.repeat(["referanseSekundaerKlassifikasjon"])

    def _entity(self, frame: Frame) -> None:
        ledger = self._run.ledger
        if "systemID" in frame.fields:
            arkivdel = frame.ancestor("arkivdel")
            ledger.add("ids", (frame.get("systemID"), frame.name, frame.line, frame.path(), content_digest(frame),
                               arkivdel.get("systemID") or arkivdel.path() if arkivdel is not None else ""))
        target = frame.get("referanseArkivdel")
        if target and frame.name in ("mappe", "registrering", "dokumentbeskrivelse"):
            ledger.add("id_refs", ("arkivdel", target, "referanseArkivdel", frame.line, frame.path()))
        if frame.lists and frame.name == "mappe":
            for target in frame.lists.get("referanseSekundaerKlassifikasjon", ()):
                ledger.add("id_refs", ("klasse", target, "referanseSekundaerKlassifikasjon", frame.line, frame.path()))

    def _cross_reference(self, frame: Frame) -> None:
        for field, kind in CROSS_REFERENCE_KINDS.items():
            target = frame.get(field)
            if target:
                self._run.ledger.add("id_refs", (kind, target, field, frame.line, frame.path()))

    def _avskrivning(self, frame: Frame) -> None:
        target = frame.get("referanseAvskrivesAvJournalpost")
        if target:
            self._run.ledger.add("id_refs", ("registrering", target, "referanseAvskrivesAvJournalpost",
                                             frame.line, frame.path()))

    def finish(self, run: Run) -> None:
        if "arkivstruktur" not in run.outcomes:
            for definition in self.checks:
                run.findings(definition.id).not_run(msg("arkivstruktur.xml was not read"))
            return
        db = run.ledger
        db.flush()
        db.index("ids_system_id", "ids", "system_id")
        file = run.content_path("arkivstruktur.xml")
        found = run.findings(DUPLICATES)
        total = db.scalar("SELECT count(*) FROM ids")
        for kind, line, path in db.query("SELECT kind, line, path FROM ids WHERE system_id = '' ORDER BY line"):
            found.add(msg("{kind} without a systemID", kind=kind), file=file, line=line, path=path)
        duplicated = shared = 0
        for system_id, count, kinds, contents, arkivdeler in db.query(
            "SELECT system_id, count(*), group_concat(DISTINCT kind), count(DISTINCT digest), "
            "count(DISTINCT arkivdel) FROM ids WHERE system_id != '' "
            "GROUP BY system_id HAVING count(*) > 1 ORDER BY min(rowid)"
        ):
            if kinds in SHAREABLE and contents == 1 and arkivdeler == count:
                shared += 1
                continue
            duplicated += 1
            lines = list(db.query(
                "SELECT line, path FROM ids WHERE system_id = ? ORDER BY rowid LIMIT 3", (system_id,)))
            where: Joined | Message = joined(", ", (msg("line {line}", line=line) for line, _ in lines))
            if count > 3:
                where = msg("{lines} …", lines=where)
            why = ("" if "," in kinds or kinds not in SHAREABLE else
                   msg("; with different content") if contents > 1 else msg("; twice in one arkivdel"))
            found.add(msg("systemID {system_id} used {count} times ({kinds}; {where}){why}",
                          system_id=system_id, count=count, kinds=kinds, where=where, why=why), file=file,
                      line=lines[0][0], path=lines[-1][1])
        found.data = {"system_ids": total, "duplicated": duplicated, "shared": shared}
        if not found.count:
            found.summary = msg("{total} systemIDs, all unique{shared}", total=total, shared=msg(
                " ({shared} classification entities shared by several arkivdeler, each written under every one "
                "of them with the same content)", shared=shared) if shared else "")
        self._references(run, file)

    def _references(self, run: Run, file: str) -> None:
        db = run.ledger
        cross = run.findings(CROSS_REFERENCES)
        arkivdel = run.findings(ARKIVDEL_REFERENCES)
        secondary = run.findings(CLASS_REFERENCES)
        by_field = {"referanseArkivdel": arkivdel, "referanseSekundaerKlassifikasjon": secondary}
        counts = {id(cross): 0, id(arkivdel): 0, id(secondary): 0}
        for kind, target, field, line, path, found_kinds in db.query(
            "SELECT r.kind, r.target, r.field, r.line, r.path, "
            "(SELECT group_concat(DISTINCT i.kind) FROM ids i WHERE i.system_id = r.target) "
            "FROM id_refs r ORDER BY r.rowid"
        ):
            target_found = by_field.get(field, cross)
            counts[id(target_found)] += 1
            if not found_kinds:
                target_found.add(msg("{field} {target} points at nothing in the extract",
                                     field=field, target=target), file=file, line=line, path=path)
            elif kind not in found_kinds.split(","):
                target_found.add(msg("{field} {target} points at a {found_kinds}, not a {kind}",
                                     field=field, target=target, found_kinds=found_kinds, kind=kind),
                                 file=file, line=line, path=path)
        for found in (cross, arkivdel, secondary):
            found.data["references"] = counts[id(found)]
            if not found.count:
                found.summary = msg("{counts} reference(s), all resolved", counts=counts[id(found)])


def content_digest(frame: Frame) -> bytes:
    """16 bytes that differ when an entity's own content (type and leaf values) differs."""
    # one string, one update: the same bytes as an update per leaf, at a fraction of the calls
    text = "".join([f"{frame.name}\0{frame.type or ''}",
                    *(f"\0{name}\0{value.strip()}" for name, value in sorted(frame.fields.items()))])
    return hashlib.blake2b(text.encode(), digest_size=16).digest()
