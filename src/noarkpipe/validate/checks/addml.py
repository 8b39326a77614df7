"""ADDML: does arkivuttrekk.xml describe the extract as it is?

The description states a checksum for each XML file and schema, the number
of occurrences of key elements, the number of document files, and
whether the extract holds screened information, documents to be disposed
of and documents already disposed of. All of them are recomputed from what
was actually read (the file hashes and the element counts of the one
streaming pass) and compared. A statement left empty (a checksum without
a value, no antallDokumentfiler) is a finding: the depot cannot verify
what is not stated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from noarkpipe.validate.checks import Family, check
from noarkpipe.validate.messages import msg
from noarkpipe.validate.model import Severity

if TYPE_CHECKING:
    from noarkpipe.validate.engine import Run

FAMILY = "addml"
CHECKSUMS = "ADDML-01"
COUNTS = "ADDML-02"
DOCUMENT_FILES = "ADDML-03"
COVERAGE = "ADDML-04"
STATEMENTS = "ADDML-05"
# additionalInfo flag -> (what in arkivstruktur.xml makes it true, how to say it)
FLAGS = {
    "inneholderSkjermetInformasjon": ("skjerming", "skjerming element(s)"),
    "inneholderDokumenterSomSkalKasseres": ("kasseres", "kassasjon(er) with kassasjonsvedtak Kasseres"),
    "omfatterDokumenterSomErKassert": ("utfoertKassasjon", "utfoertKassasjon element(s)"),
}
SHA256_NAMES = {"sha256", "sha-256"}
DESCRIBED_XML = ("arkivstruktur.xml", "endringslogg.xml", "loependeJournal.xml", "offentligJournal.xml")


class AddmlFamily(Family):
    name = FAMILY
    title = "ADDML description"
    checks = (
        check(FAMILY, CHECKSUMS, "ADDML checksums", Severity.error,
              "Each file arkivuttrekk.xml describes (the XML files and their schemas) exists and has the stated "
              "SHA-256 checksum; a checksum stated without a value is a finding.",
              arkade=("N5.02",)),
        check(FAMILY, COUNTS, "ADDML counts", Severity.error,
              "The numbers of occurrences arkivuttrekk.xml states (mappe, registrering, dokumentbeskrivelse, "
              "dokumentobjekt, journalregistrering, endring, ...) equal the numbers counted in the files."),
        check(FAMILY, DOCUMENT_FILES, "Number of document files", Severity.error,
              "antallDokumentfiler in arkivuttrekk.xml is stated and equals the number of files in dokumenter/.",
              arkade=("N5.28",)),
        check(FAMILY, COVERAGE, "ADDML covers the extract", Severity.warning,
              "arkivuttrekk.xml states the Noark 5 version and describes every XML file of the extract."),
        check(FAMILY, STATEMENTS, "ADDML statements about the content", Severity.error,
              "What arkivuttrekk.xml states about the content agrees with arkivstruktur.xml: "
              "inneholderSkjermetInformasjon with the skjerming elements, inneholderDokumenterSomSkalKasseres with "
              "kassasjon decisions Kasseres, omfatterDokumenterSomErKassert with utfoertKassasjon.",
              arkade=("N5.42", "N5.44", "N5.45")),
    )

    def __init__(self) -> None:
        self.kasseres = 0

    def prepare(self, run: Run) -> None:
        """Count, in each described file, the elements the description states numbers for."""
        run.subscribe("arkivstruktur").end("kassasjon", self._kassasjon)
        for described in (run.addml.objects if run.addml else ()):
            if described.file is None or not described.file.name.endswith(".xml"):
                continue
            role = described.file.name[: -len(".xml")]
            names = [(path or element).rstrip("/").rsplit("/", 1)[-1] or element
                     for element, path, _, _ in described.occurrences]
            run.subscribe(role).count(name for name in names if name)

    def _kassasjon(self, frame) -> None:
        if frame.get("kassasjonsvedtak").lower().startswith("kasser"):
            self.kasseres += 1

    def finish(self, run: Run) -> None:
        info = run.addml
        if info is None:
            for check_id in (CHECKSUMS, COUNTS, DOCUMENT_FILES, COVERAGE, STATEMENTS):
                run.findings(check_id).not_run(msg("arkivuttrekk.xml is missing or not well-formed (see STR-01, "
                                                   "STR-02)"))
            return
        addml_file = run.content_path("arkivuttrekk.xml")
        self._checksums(run, info, addml_file)
        self._counts(run, info, addml_file)
        self._document_files(run, info, addml_file)
        self._coverage(run, info, addml_file)
        self._statements(run, info, addml_file)

    def _statements(self, run: Run, info, addml_file: str) -> None:
        found = run.findings(STATEMENTS)
        outcome = run.outcomes.get("arkivstruktur")
        if outcome is None:
            found.not_run(msg("arkivstruktur.xml was not read"))
            return
        present = {"skjerming": outcome.counts.get("skjerming", 0), "kasseres": self.kasseres,
                   "utfoertKassasjon": outcome.counts.get("utfoertKassasjon", 0)}
        compared = {}
        for flag, (what, label) in FLAGS.items():
            if flag not in info.flags:
                continue
            value, line = info.flags[flag]
            stated = value in ("true", "1", "ja")
            compared[flag] = {"stated": value, "found": present[what]}
            if stated and not present[what]:
                found.add(msg("{flag} is {value!r}, but arkivstruktur.xml holds no {label}",
                              flag=flag, value=value, label=label), file=addml_file, line=line)
            elif not stated and present[what]:
                found.add(msg("{flag} is {value!r}, but arkivstruktur.xml holds {present} {label}",
                              flag=flag, value=value, present=present[what], label=label),
                          file=addml_file, line=line)
        found.data = {"compared": compared}
        if not compared:
            found.not_run(msg("arkivuttrekk.xml states none of {flags}", flags=", ".join(FLAGS)))
        elif not found.count:
            found.summary = msg("{count} statement(s) agree with the content", count=len(compared))
    def _checksums(self, run: Run, info, addml_file: str) -> None:
        found = run.findings(CHECKSUMS)
        checked = 0
        for described in info.objects:
            for item in ([described.file] if described.file else []) + described.schemas:
                if not item.name:
                    continue
                path = run.content_path(item.name)
                row = run.ledger.db.execute("SELECT sha256 FROM h.file WHERE name = ?", (path,)).fetchone()
                if row is None:
                    found.add(msg("describes {name}, which is not in the extract",
                                  name=item.name), file=addml_file, line=item.line)
                    continue
                if not item.checksum.strip():
                    found.add(msg("states no checksum value for {name}",
                                  name=item.name), file=addml_file, line=item.line)
                    continue
                if item.algorithm.lower().replace(" ", "") not in SHA256_NAMES:
                    found.add(msg("checksum of {name} given as {algorithm!r}: only SHA-256 can be verified",
                                  name=item.name, algorithm=item.algorithm),
                              file=addml_file, line=item.line)
                    continue
                checked += 1
                if item.checksum.strip().lower() != row[0]:
                    found.add(msg("states SHA-256 {checksum} for {name}, the file has {actual}",
                                  checksum=item.checksum.strip(), name=item.name, actual=row[0]),
                              file=addml_file, line=item.line)
        found.data["checked"] = checked
        if not found.count:
            found.summary = msg("{checked} checksum(s) verified", checked=checked)

    def _counts(self, run: Run, info, addml_file: str) -> None:
        found = run.findings(COUNTS)
        compared = []
        for described in info.objects:
            if described.file is None:
                continue
            outcome = run.outcomes.get(run.content_path(described.file.name))
            if outcome is not None and not outcome.well_formed:
                found.data.setdefault("not_compared", []).append(
                    f"{described.file.name}: not well-formed, its counts are incomplete (see STR-02)")
                continue
            for element, path, stated, line in described.occurrences:
                name = (path or element).rstrip("/").rsplit("/", 1)[-1] or element
                if outcome is None:
                    continue
                counted = outcome.counts.get(name, 0)
                compared.append({"file": described.file.name, "element": name, "stated": stated, "counted": counted})
                if stated is None:
                    found.add(msg("the number of {name} in {file} is not a number",
                                  name=name, file=described.file.name),
                              file=addml_file, line=line)
                elif stated != counted:
                    found.add(msg("states {stated} {name} in {file}, counted {counted}",
                                  stated=stated, name=name, file=described.file.name, counted=counted),
                              file=addml_file, line=line)
        found.data["compared"] = compared
        if not found.count:
            found.summary = msg("{count} stated number(s) match", count=len(compared))

    def _document_files(self, run: Run, info, addml_file: str) -> None:
        found = run.findings(DOCUMENT_FILES)
        counted = run.inventory.scalar(
            "SELECT count(*) FROM member WHERE kind = 'file' AND problem = '' AND substr(name, 1, length(?1)) = ?1",
            (run.content_path("dokumenter/"),),
        )
        found.data = {"stated": info.document_files, "counted": counted}
        if info.document_files is None:
            found.add(msg("antallDokumentfiler is not stated (or not a number); dokumenter/ holds {counted} file(s)",
                          counted=counted),
                      file=addml_file, line=info.document_files_line)
        elif info.document_files != counted:
            found.add(msg("states {document_files} document file(s), dokumenter/ holds {counted}",
                          document_files=info.document_files, counted=counted),
                      file=addml_file, line=info.document_files_line)
        else:
            found.summary = msg("{counted} document file(s), as stated", counted=counted)

    def _coverage(self, run: Run, info, addml_file: str) -> None:
        found = run.findings(COVERAGE)
        if not info.noark_version:
            found.add(msg("does not state the Noark 5 version (info/type/version)"), file=addml_file)
        described = {item.file.name for item in info.objects if item.file}
        for name in DESCRIBED_XML:
            if run.member(run.content_path(name)) is not None and name not in described:
                found.add(msg("does not describe {name}", name=name), file=addml_file)
        if not found.count:
            found.summary = msg("describes {count} file(s); version {noark_version}",
                                count=len(described), noark_version=info.noark_version)
