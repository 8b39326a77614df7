"""Documents: every referenced file present, every file referenced once, checksums and sizes as stated.

Each dokumentobjekt's referanseDokumentfil, sjekksum and filstoerrelse go
to the scratch index during the XML pass; every file's SHA-256 and size
come from the hashing thread; the comparisons are joins. References are
taken relative to the extract folder (content/ in a DIAS package).
Windows-made extracts sometimes write `dokumenter\\1.pdf`: accepted and
reported (DOC-07). A reference that is absolute or climbs out with `..`
is reported and never followed.
"""

from __future__ import annotations

import posixpath
import re
from typing import TYPE_CHECKING

from noarkpipe.validate.checks import Family, check
from noarkpipe.validate.checks.structure import REQUIRED_FILES
from noarkpipe.validate.messages import Message, msg
from noarkpipe.validate.model import Severity
from noarkpipe.validate.walker import Frame

if TYPE_CHECKING:
    from noarkpipe.validate.engine import Run

FAMILY = "documents"
MISSING = "DOC-01"
UNREFERENCED = "DOC-02"
REFERENCED_TWICE = "DOC-03"
EMPTY = "DOC-04"
CHECKSUM = "DOC-05"
SIZE = "DOC-06"
REFERENCE_FORM = "DOC-07"
SHA256_NAMES = {"sha256", "sha-256"}
_OUTSIDE = re.compile(r"^(?:[A-Za-z]:|/)|(?:^|/)\.\.(?:/|$)")
EXTRACT_FILES = set(REQUIRED_FILES) | {"arkivuttrekk.xml"}


def normalise(reference: str) -> tuple[str, Message | None]:
    """(path relative to the extract, problem): backslashes to slashes, './' dropped; problem for unsafe paths."""
    path = reference.strip().replace("\\", "/")
    if _OUTSIDE.search(path):
        return "", msg("points outside the extract (absolute path or ..); not followed")
    path = posixpath.normpath(path) if path else path
    return (path.removeprefix("./")), None


class DocumentsFamily(Family):
    name = FAMILY
    title = "Document files"
    checks = (
        check(FAMILY, MISSING, "Referenced files present", Severity.error,
              "Every file a dokumentobjekt references (referanseDokumentfil) is in the extract.",
              arkade=("N5.32",)),
        check(FAMILY, UNREFERENCED, "Files never referenced", Severity.warning,
              "Every file in the extract besides its XML and schema files is referenced by a dokumentobjekt.",
              arkade=("N5.33",)),
        check(FAMILY, REFERENCED_TWICE, "Files referenced more than once", Severity.warning,
              "No file is referenced by more than one dokumentobjekt.",
              arkade=("N5.34",)),
        check(FAMILY, EMPTY, "Empty files", Severity.error,
              "No file in the package is empty (0 bytes).",
              arkade=("N5.64",)),
        check(FAMILY, CHECKSUM, "Document checksums", Severity.error,
              "Each dokumentobjekt's sjekksum is the SHA-256 of its file (other algorithms are reported: depots "
              "require SHA-256).",
              arkade=("N5.30",)),
        check(FAMILY, SIZE, "Document sizes", Severity.error,
              "Each dokumentobjekt's filstoerrelse is the size of its file in bytes."),
        check(FAMILY, REFERENCE_FORM, "Reference form", Severity.warning,
              "referanseDokumentfil uses '/' as separator (Windows backslashes are accepted and reported)."),
    )

    def prepare(self, run: Run) -> None:
        self._run = run
        run.ledger.table(
            "docref",
            "ref TEXT, full TEXT, raw TEXT, sjekksum TEXT, algoritme TEXT, size TEXT, format TEXT, created TEXT, ext TEXT, "
            "line INTEGER, path TEXT",
        )
        run.subscribe("arkivstruktur").end("dokumentobjekt", self._dokumentobjekt)

    def _dokumentobjekt(self, frame: Frame) -> None:
        raw = frame.get("referanseDokumentfil")
        ref, problem = normalise(raw)
        run = self._run
        if problem:
            run.findings(MISSING).add(msg("{raw!r} {problem}",
                                          raw=raw, problem=problem),
                                      file=frame.file, line=frame.line, path=frame.path())
            return
        if "\\" in raw:
            run.findings(REFERENCE_FORM).add(msg("{raw!r} written with backslashes; read as {ref!r}", raw=raw, ref=ref),
                                             file=frame.file, line=frame.line, path=frame.path())
        extension = ref.rsplit(".", 1)[-1].lower() if "." in ref.rsplit("/", 1)[-1] else ""
        format_declared = frame.get("format") + ("|" + frame.get("formatDetaljer") if frame.get("formatDetaljer") else "")
        run.ledger.add("docref", (
            ref, run.content_path(ref), raw, frame.get("sjekksum").lower(), frame.get("sjekksumAlgoritme"),
            frame.get("filstoerrelse"),
            format_declared, frame.get("opprettetDato"), extension, frame.line, frame.path(),
        ))

    def finish(self, run: Run) -> None:
        if "arkivstruktur" not in run.outcomes:
            for definition in self.checks:
                run.findings(definition.id).not_run(msg("arkivstruktur.xml was not read"))
            return
        db = run.ledger
        db.flush()
        db.index("docref_full", "docref", "full")
        root = run.content_root
        structure = run.content_path("arkivstruktur.xml")
        references = db.scalar("SELECT count(*) FROM docref")

        missing = run.findings(MISSING)
        for ref, raw, line, path in db.query(
            "SELECT d.ref, d.raw, d.line, d.path FROM docref d LEFT JOIN h.file f ON f.name = d.full "
            "WHERE f.name IS NULL ORDER BY d.rowid"
        ):
            other = db.scalar("SELECT name FROM inv.member WHERE lower(name) = lower(?) AND kind = 'file' LIMIT 1",
                              (root + ref,))
            hint = msg("; {other} exists (the letter case differs)", other=other) if other else ""
            missing.add(msg("references {raw!r}, which is not in the extract{hint}",
                            raw=raw, hint=hint), file=structure, line=line, path=path)
        if not missing.count:
            missing.summary = msg("{references} reference(s), every file present", references=references)

        unreferenced = run.findings(UNREFERENCED)
        for (name,) in db.query(
            "SELECT m.name FROM inv.member m WHERE m.kind = 'file' AND m.problem = '' "
            "AND substr(m.name, 1, length(?1)) = ?1 "
            "AND NOT EXISTS (SELECT 1 FROM docref d WHERE d.full = m.name) ORDER BY m.rowid", (root,)
        ):
            relative = name[len(root):]
            if relative in EXTRACT_FILES:
                continue
            unreferenced.add(msg("no dokumentobjekt references this file"), file=name)
        if not unreferenced.count:
            unreferenced.summary = msg("every document file is referenced")

        twice = run.findings(REFERENCED_TWICE)
        for ref, count, first_line in db.query(
            "SELECT ref, count(*), min(line) FROM docref GROUP BY full HAVING count(*) > 1 ORDER BY min(rowid)"
        ):
            twice.add(msg("{ref} is referenced by {count} dokumentobjekt",
                          ref=ref, count=count), file=structure, line=first_line)
        if not twice.count:
            twice.summary = msg("each file referenced once")

        empty = run.findings(EMPTY)
        for (name,) in db.query("SELECT name FROM h.file WHERE size = 0 ORDER BY rowid"):
            empty.add(msg("the file is empty (0 bytes)"), file=name)
        if not empty.count:
            empty.summary = msg("no empty files")

        checksum = run.findings(CHECKSUM)
        size = run.findings(SIZE)
        verified = 0
        for ref, stated, algorithm, stated_size, line, path, actual, actual_size in db.query(
            "SELECT d.ref, d.sjekksum, d.algoritme, d.size, d.line, d.path, f.sha256, f.size FROM docref d "
            "JOIN h.file f ON f.name = d.full ORDER BY d.rowid"
        ):
            if algorithm.lower().replace(" ", "") not in SHA256_NAMES:
                checksum.add(msg("{ref}: sjekksumAlgoritme {algorithm!r}, not SHA-256; the checksum was not verified",
                                 ref=ref, algorithm=algorithm),
                             file=structure, line=line, path=path)
            elif stated != actual:
                checksum.add(msg("{ref}: sjekksum {stated}, the file's SHA-256 is {actual}",
                                 ref=ref, stated=stated, actual=actual),
                             file=structure, line=line, path=path)
            else:
                verified += 1
            try:
                stated_bytes = int(stated_size.strip())
            except ValueError:
                size.add(msg("{ref}: filstoerrelse {stated_size!r} is not a number of bytes",
                             ref=ref, stated_size=stated_size), file=structure, line=line,
                         path=path)
                continue
            if stated_bytes != actual_size:
                size.add(msg("{ref}: filstoerrelse {stated_bytes}, the file has {actual_size} bytes",
                             ref=ref, stated_bytes=stated_bytes, actual_size=actual_size),
                         file=structure, line=line, path=path)
        checksum.data["verified"] = verified
        if not checksum.count:
            checksum.summary = msg("{verified} checksum(s) verified", verified=verified)
        if not size.count:
            size.summary = msg("every size as stated")
        form = run.findings(REFERENCE_FORM)
        if not form.count:
            form.summary = msg("every reference uses '/'")
