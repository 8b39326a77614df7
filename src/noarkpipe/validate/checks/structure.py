"""Structure: the files an extract must have, whether they parse, validate, and use the official schemas.

Validation is always against the official schemas shipped with noarkpipe
for the detected version, never against the copies in the package: a
package whose arkivstruktur.xsd was loosened would otherwise pass its own
test. The copies are compared with the official ones instead (STR-04): by
checksum against every byte form an unchanged copy can have (CRLF or LF,
with or without a BOM), else by content (official.py), so only a copy
whose content differs is reported, naming the first element that differs.

Well-formedness, schema and DOCTYPE findings are reported by the streaming
pass itself (engine.py, walker.py) into the checks declared here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from noarkpipe.validate.checks import Family, check
from noarkpipe.validate.messages import joined, msg
from noarkpipe.validate.model import Severity
from noarkpipe.validate.official import first_difference, recognise
from noarkpipe.xml.schemas import noark5_revisions

if TYPE_CHECKING:
    from noarkpipe.validate.engine import Run

FAMILY = "structure"
REQUIRED = "STR-01"
WELL_FORMED = "STR-02"
SCHEMA_VALID = "STR-03"
OFFICIAL_SCHEMAS = "STR-04"
VERSION = "STR-05"
UNSAFE_XML = "STR-06"
EMPTY_VALUES = "STR-07"
ENTITIES = (
    "arkiv", "arkivskaper", "arkivdel", "klassifikasjonssystem", "klasse", "mappe", "registrering",
    "dokumentbeskrivelse", "dokumentobjekt", "korrespondansepart", "part", "sakspart", "merknad", "kryssreferanse",
    "skjerming", "kassasjon", "utfoertKassasjon", "sletting", "gradering", "konvertering", "presedens",
    "avskrivning", "elektroniskSignatur", "dokumentflyt", "moetedeltaker",
)
"""The entities of arkivstruktur.xml whose leaf elements STR-07 looks at."""

REQUIRED_FILES = (
    "arkivstruktur.xml", "arkivuttrekk.xml", "endringslogg.xml", "loependeJournal.xml", "offentligJournal.xml",
    "arkivstruktur.xsd", "metadatakatalog.xsd", "endringslogg.xsd", "loependeJournal.xsd", "offentligJournal.xsd",
    "addml.xsd",
)
NOARK_SCHEMAS = ("arkivstruktur", "metadatakatalog", "endringslogg", "loependeJournal", "offentligJournal")
MAX_SCHEMA_BYTES = 4 * 1024 * 1024
PACKAGE_SCHEMAS = {
    "dias-mets.xsd": "dias/dias-mets.xsd",
    "administrative_metadata/dias-premis.xsd": "dias/dias-premis.xsd",
}


class StructureFamily(Family):
    name = FAMILY
    title = "Structure"
    checks = (
        check(FAMILY, REQUIRED, "Required files", Severity.error,
              "The extract holds arkivstruktur.xml, arkivuttrekk.xml, endringslogg.xml, loependeJournal.xml and "
              "offentligJournal.xml with their schemas (arkivstruktur.xsd, metadatakatalog.xsd, endringslogg.xsd, "
              "loependeJournal.xsd, offentligJournal.xsd, addml.xsd).",
              arkade=("N5.01",)),
        check(FAMILY, WELL_FORMED, "Well-formed XML", Severity.error,
              "Every XML file of the extract, the package and the submission description parses as XML.",
              arkade=("N5.03",)),
        check(FAMILY, SCHEMA_VALID, "Valid against the official schemas", Severity.error,
              "Every XML file is valid against the official schema of its version shipped with noarkpipe (not the "
              "copy in the package): Noark 5 v5.0/v4.0/v3.1, ADDML 8.3/8.2, DIAS METS and PREMIS, submission "
              "description or info.xml.",
              arkade=("N5.03",)),
        check(FAMILY, OFFICIAL_SCHEMAS, "Schemas are the official ones", Severity.error,
              "Every schema (XSD) in the extract and the package has the content of the official schema of the "
              "detected version: by SHA-256 of its bytes (CRLF or LF, with or without a BOM), else by canonical XML; "
              "a copy whose content differs is reported with the first element that differs."),
        check(FAMILY, VERSION, "Noark 5 version", Severity.warning,
              "The version (v5.0, v4.0 or v3.1) is recognised from the extract's schemas, the ADDML description and "
              "the content; indications that disagree are reported."),
        check(FAMILY, EMPTY_VALUES, "Elements with a value", Severity.error,
              "No element of arkivstruktur.xml without child elements is empty or only whitespace: the schemas "
              "accept an empty string where the standard wants a value.", arkade=("N5.63",)),
        check(FAMILY, UNSAFE_XML, "No DOCTYPE or entities", Severity.error,
              "No XML file carries a DOCTYPE, entity declarations or external references; they are reported and "
              "never loaded, expanded or fetched."),
    )

    def prepare(self, run: Run) -> None:
        self._run = run
        subs = run.subscribe("arkivstruktur")
        for name in ENTITIES:
            subs.end(name, self._empty_values)

    def _empty_values(self, frame) -> None:
        for name, value in frame.fields.items():
            if not value.strip():
                self._run.findings(EMPTY_VALUES).add(
                    msg("{name} of {entity} {systemID} has no value", name=name, entity=frame.type or frame.name,
                        systemID=frame.get("systemID")) if frame.get("systemID") else
                    msg("{name} of {entity} has no value", name=name, entity=frame.type or frame.name),
                    file=frame.file, line=frame.line, path=f"{frame.path()}/{name}")

    def finish(self, run: Run) -> None:
        self._required(run)
        self._validity(run)
        self._official(run)
        self._version(run)
        empty = run.findings(EMPTY_VALUES)
        if "arkivstruktur" not in run.outcomes:
            empty.not_run(msg("arkivstruktur.xml was not read"))
        elif not empty.count:
            empty.summary = msg("every leaf element of arkivstruktur.xml has a value")
        if not run.findings(UNSAFE_XML).count:
            run.findings(UNSAFE_XML).summary = msg("{count} XML file(s) read, none with a DOCTYPE",
                                                   count=len(run.schemas_used))
        if not run.findings(WELL_FORMED).count:
            run.findings(WELL_FORMED).summary = msg("{count} XML file(s) parse", count=len(run.schemas_used))

    def _required(self, run: Run) -> None:
        found = run.findings(REQUIRED)
        for name in REQUIRED_FILES:
            path = run.content_path(name)
            member = run.member(path)
            if member is None:
                found.add(msg("missing"), file=path)
            elif member.problem:
                found.add(msg("present but unusable: {problem}", problem=member.problem), file=path)
        if not found.count:
            found.summary = msg("all {count} files present in {content_root}",
                                count=len(REQUIRED_FILES), content_root=run.content_root or './')

    def _validity(self, run: Run) -> None:
        found = run.findings(SCHEMA_VALID)
        files = []
        for label, schema in run.schemas_used.items():
            outcome = run.outcomes.get(label)
            entry = {"file": label, "schema": schema or None,
                     "errors": outcome.schema_errors if outcome else None,
                     "well_formed": outcome.well_formed if outcome else None}
            files.append(entry)
            if not schema:
                found.add(msg("no official schema for this kind of file (root namespace not recognised); not "
                              "validated"),
                          file=label)
        found.data["files"] = files
        validated = [entry for entry in files if entry["schema"]]
        invalid = [entry for entry in validated if entry["errors"]]
        capped = [label for label, outcome in run.outcomes.items() if outcome.schema_capped and label in run.schemas_used]
        if invalid:
            found.summary = msg("{errors} schema error(s) in {invalid} of {validated} file(s){capped}",
                                errors=found.count, invalid=len(invalid), validated=len(validated),
                                capped=msg("; counting stopped in {files}", files=", ".join(capped)) if capped else "")
        elif not found.count:
            found.summary = msg("{count} file(s) valid against the official schemas (Noark 5 {noark})",
                                count=len(validated), noark=run.version.noark)

    def _official(self, run: Run) -> None:
        found = run.findings(OFFICIAL_SCHEMAS)
        # path in the package -> the official schemas it may be (every revision of the version)
        expected = {run.content_path(f"{name}.xsd"): noark5_revisions(name, run.version.noark) for name in NOARK_SCHEMAS}
        expected[run.content_path("addml.xsd")] = (f"addml/addml-{run.version.addml}.xsd",)
        if run.package_root is not None:
            for name, relative in PACKAGE_SCHEMAS.items():
                expected[run.package_path(name)] = (relative,)
            expected[run.package_path("administrative_metadata/addml.xsd")] = (f"addml/addml-{run.version.addml}.xsd",)
        checked = 0
        by_content = []
        for path, candidates in expected.items():
            row = run.ledger.db.execute("SELECT sha256 FROM h.file WHERE name = ?", (path,)).fetchone()
            if row is None:
                continue
            checked += 1
            data = run.read_bytes(path, MAX_SCHEMA_BYTES)
            known = recognise(data, row[0]) if data is not None else None
            if known is not None and known.relative in candidates:
                if known.how == "content":
                    by_content.append(path)
                continue
            official = joined(msg(" or "), candidates)
            if known is not None:
                found.add(msg("is the official {relative}, but {expected} is expected for this extract",
                              relative=known.relative, expected=official), file=path)
            elif data is None:
                found.add(msg("larger than {megabytes} MB, so not an official {relative}",
                              megabytes=MAX_SCHEMA_BYTES // 1024 ** 2, relative=official), file=path)
            else:
                line, element, what = first_difference(data, candidates[0])
                found.add(msg("differs in content from the official {relative} (SHA-256 {digest}): {what}",
                              relative=official, digest=row[0], what=what),
                          file=path, line=line, path=element)
        found.data["checked"] = checked
        found.data["same_content_other_bytes"] = by_content
        if not found.count:
            found.summary = msg("{checked} schema file(s) with the official content{other_forms}", checked=checked,
                                other_forms=msg(" ({count} in other byte forms: line endings, BOM or whitespace)",
                                                count=len(by_content)) if by_content else "")

    def _version(self, run: Run) -> None:
        found = run.findings(VERSION)
        version = run.version
        for conflict in version.conflicts:
            found.add(msg("indicates another version than {noark}: {conflict}", noark=version.noark, conflict=conflict))
        found.data = {"noark": version.noark, "addml": version.addml, "evidence": version.evidence}
        found.summary = msg("Noark 5 {noark} (ADDML {addml}): {evidence}", noark=version.noark, addml=version.addml,
                            evidence=joined("; ", version.evidence))
