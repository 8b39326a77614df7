"""Formats: which file formats the documents are in, whether depots accept them, PDF/A indicators.

Formats are identified from the bytes (PRONOM ids from fido's signatures,
via noarkpipe.files.identify; the file name is never consulted), once
per distinct file (same SHA-256, same answer). Identification costs a few
milliseconds per file, so an extract with more distinct files than
`max_identify` gets a sample, spread evenly over the file extensions
(round robin), and the report says how many were identified out of how
many. `max_identify = 0` identifies every file.

A format is accepted if the depots' list (Riksarkivarens forskrift,
shipped as archive-file-formats.json) lists its PUID as valid on the day
the dokumentobjekt was created: plain PDF, for instance, was an archival
format until 2008.

Files identified or declared as PDF/A get the conformance indicators of
noarkpipe.files.verify (XMP PDF/A claim, no encryption, fonts embedded,
pikepdf's PDF/A rule check), up to `max_pdfa` of them. This is not a full
ISO 19005 validation (veraPDF needs Java and is not available); a depot
running veraPDF may find more.

The file name is compared too (FMT-03), for every dokumentobjekt and not
only the sample: a declared PRONOM id whose format the depots' list gives
other file extensions, and, for the identified sample, a file whose
extension is not one of the identified format's. Only formats the list
names an extension for are compared.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from noarkpipe.errors import NoarkpipeError
from noarkpipe.validate.checks import Family, check
from noarkpipe.validate.messages import Message, joined, msg
from noarkpipe.validate.model import Severity

if TYPE_CHECKING:
    from noarkpipe.validate.engine import Run

FAMILY = "formats"
FORMATS = "FMT-01"
ACCEPTED = "FMT-02"
DECLARED = "FMT-03"
PDFA = "FMT-04"

PDFA_PUIDS = {"fmt/95", "fmt/354", "fmt/476", "fmt/477", "fmt/478", "fmt/479", "fmt/480", "fmt/481", "fmt/1910",
              "fmt/1911", "fmt/1912"}
_PUID = re.compile(r"^(?:x-)?fmt/\d+$")
_PDFA_PART = re.compile(r"pdf/a-?([1-4])", re.IGNORECASE)
MAX_COPY_BYTES = 2 * 1024 ** 3
"""A tar member larger than this is not copied out to be identified."""


class FormatsFamily(Family):
    name = FAMILY
    title = "Formats"
    checks = (
        check(FAMILY, FORMATS, "Document formats", Severity.info,
              "Formats of the document files by PRONOM id (fido signatures, from the bytes), one identification per "
              "distinct file; an evenly spread sample when there are more distinct files than the limit.",
              arkade=("N5.29",)),
        check(FAMILY, ACCEPTED, "Accepted archival formats", Severity.error,
              "Each identified format is on the depots' list of archival formats (Riksarkivarens forskrift) for the "
              "date its dokumentobjekt was created."),
        check(FAMILY, DECLARED, "Declared formats", Severity.warning,
              "A format declared as a PRONOM id in dokumentobjekt/format is the one identified, and the file's "
              "extension is one the depots' list gives for the declared and the identified format.",
              arkade=("N5.29",)),
        check(FAMILY, PDFA, "PDF/A conformance indicators", Severity.error,
              "Files identified or declared as PDF/A claim PDF/A in their XMP metadata, are not encrypted, embed "
              "their fonts and pass pikepdf's PDF/A rule check (not a full ISO 19005 validation)."),
    )

    def finish(self, run: Run) -> None:
        if "arkivstruktur" not in run.outcomes:
            for definition in self.checks:
                run.findings(definition.id).not_run(msg("arkivstruktur.xml was not read"))
            return
        try:
            from noarkpipe.files.identify import identifier_version, identify
            from noarkpipe.files.verify import verify_pdfa
        except ImportError as exc:
            for definition in self.checks:
                run.findings(definition.id).not_run(msg("format identification is not installed ({name})",
                                                        name=exc.name))
            return
        db = run.ledger
        distinct = db.scalar("SELECT count(DISTINCT f.sha256) FROM docref d JOIN h.file f ON f.name = d.full "
                             "WHERE f.size > 0") or 0
        if not distinct:
            for definition in self.checks:
                run.findings(definition.id).not_run(msg("no referenced document file to identify"))
            return
        limit = run.options.max_identify or distinct
        sample = list(db.query(
            "WITH files AS (SELECT f.sha256 AS sha, min(d.rowid) AS first, count(*) AS refs FROM docref d "
            "JOIN h.file f ON f.name = d.full WHERE f.size > 0 GROUP BY f.sha256), "
            "ranked AS (SELECT files.*, d.ext AS ext, ROW_NUMBER() OVER (PARTITION BY d.ext ORDER BY files.first) "
            "AS turn FROM files JOIN docref d ON d.rowid = files.first) "
            "SELECT r.sha, r.refs, d.full, d.ref, d.format, d.created, d.line, d.path FROM ranked r "
            "JOIN docref d ON d.rowid = r.first ORDER BY r.turn, r.ext LIMIT ?", (limit,)
        ))
        structure = run.content_path("arkivstruktur.xml")
        extensions = format_extensions()
        declared_found = run.findings(DECLARED)
        for ref, declared, ext, line, path in db.query(
            "SELECT ref, format, ext, line, path FROM docref ORDER BY rowid"
        ):
            puid = declared.split("|", 1)[0].strip()
            if puid in extensions and ext not in extensions[puid]:
                declared_found.add(msg("{ref}: declared {puid}, whose files are named {extensions}, not .{ext}",
                                       ref=ref, puid=puid,
                                       extensions=joined(msg(" or "), ('.' + e for e in sorted(extensions[puid]))),
                                       ext=ext or msg("(none)")),
                                   file=structure, line=line, path=path)
        per_format: dict[tuple, dict] = {}
        not_identified: list[str] = []
        pdfa_checked = 0
        pdfa_limit = run.options.max_pdfa or len(sample)
        accepted_found = run.findings(ACCEPTED)
        pdfa_found = run.findings(PDFA)
        for number, (_sha, refs, full, ref, declared, created, line, path) in enumerate(sample, start=1):
            run.progress("Identifying formats", number, len(sample))
            day = _day(created)
            with _LocalCopy(run, full, number) as local:
                if local is None:
                    not_identified.append(f"{ref}: too large to copy out of the tar")
                    continue
                try:
                    found = identify(local, on=day)
                except NoarkpipeError as exc:
                    not_identified.append(f"{ref}: {exc.message}")
                    continue
                key = (found.puid or "", found.name, found.version)
                entry = per_format.setdefault(key, {"puid": found.puid, "name": found.name, "version": found.version,
                                                    "accepted": found.accepted, "files": 0, "references": 0})
                entry["files"] += 1
                entry["references"] += refs
                others = msg(" (and {more} more dokumentobjekt)", more=refs - 1) if refs > 1 else ""
                if not found.accepted:
                    accepted_found.add(
                        msg("{ref}{others}: {format} is not an accepted archival format on {day}", ref=ref,
                            others=others, format=_format_name(found.puid, found.name, found.version),
                            day=day.isoformat()),
                        file=structure, line=line, path=path)
                declared_puid = declared.split("|", 1)[0].strip()
                if _PUID.match(declared_puid) and found.puid and declared_puid != found.puid:
                    declared_found.add(msg("{ref}: declared {declared}, identified as {format}", ref=ref,
                                           declared=declared_puid,
                                           format=_format_name(found.puid, found.name, found.version)),
                                       file=structure, line=line, path=path)
                extension = ref.rsplit("/", 1)[-1].rpartition(".")[2].lower() if "." in ref.rsplit("/", 1)[-1] else ""
                if found.puid in extensions and extension not in extensions[found.puid]:
                    declared_found.add(msg("{ref}: identified as {puid} {name}, whose files are named {extensions}",
                                           ref=ref, puid=found.puid, name=found.name, extensions=joined(
                                               msg(" or "), ('.' + e for e in sorted(extensions[found.puid])))),
                                       file=structure, line=line, path=path)
                part = _pdfa_part(found.puid, found.version, declared)
                if part is not None and pdfa_checked < pdfa_limit:
                    pdfa_checked += 1
                    self._pdfa(run, verify_pdfa, local, part, ref, structure, line, path)
        formats = sorted(per_format.values(), key=lambda entry: -entry["files"])
        run.findings(FORMATS).data = {
            "distinct_files": distinct, "identified": len(sample) - len(not_identified), "sampled": len(sample) < distinct,
            "formats": formats, "not_identified": not_identified[:25], "identifier": identifier_version(),
        }
        shown = joined(", ", (msg("{format}: {files}", format=_format_name(e["puid"], e["name"], e["version"]),
                                  files=e["files"]) for e in formats[:6]))
        scope = (msg("{sampled} of {distinct} distinct files (sample spread over file extensions)",
                     sampled=len(sample), distinct=distinct)
                 if len(sample) < distinct else msg("all {distinct} distinct files", distinct=distinct))
        run.findings(FORMATS).summary = msg("identified {scope}: {shown}", scope=scope, shown=shown)
        if not accepted_found.count:
            accepted_found.summary = msg("every identified format is accepted ({scope})", scope=scope)
        if not declared_found.count:
            declared_found.summary = msg("declared PRONOM ids and file names match")
        pdfa_found.data["checked"] = pdfa_checked
        if not pdfa_checked:
            pdfa_found.not_run(msg("no PDF/A file among the identified ones"))
        elif not pdfa_found.count:
            pdfa_found.summary = msg("{pdfa_checked} PDF/A file(s) checked, no failed indicator",
                                     pdfa_checked=pdfa_checked)

    def _pdfa(self, run, verify_pdfa, local: Path, part: str, ref: str, structure: str, line, path) -> None:
        if part not in ("1", "2", "3"):
            return
        report = verify_pdfa(local, expected_pages=None, profile=f"{part}b")
        failed = [f"{c.id}: {c.detail}" for c in report.checks if c.outcome == "failed"]
        if failed:
            run.findings(PDFA).add(msg("{ref} (PDF/A-{part}): {failed}",
                                       ref=ref, part=part, failed=joined("; ", failed)),
                                   file=structure, line=line, path=path)


def _format_name(puid: str | None, name: str, version: str) -> str | Message:
    """'fmt/354 PDF/A 1b', or 'unidentified ...' in the report's language when no PUID was found."""
    if puid:
        return f"{puid} {name} {version}".rstrip()
    return msg("unidentified {rest}", rest=f"{name} {version}".rstrip()) if name or version else msg("unidentified")


@lru_cache(maxsize=1)
def format_extensions() -> dict[str, frozenset[str]]:
    """PUID -> the file extensions the depots' list gives for it (lowercase, without the dot)."""
    text = resources.files("noarkpipe.files").joinpath("archive-file-formats.json").read_text(encoding="utf-8")
    table: dict[str, frozenset[str]] = {}
    for entry in json.loads(text)["file_formats"]:
        names = entry.get("file_extension") or []
        names = [names] if isinstance(names, str) else names
        if names:
            for puid in entry["puid"]:
                table[puid] = table.get(puid, frozenset()) | {name.lower() for name in names}
    return table


def _day(created: str) -> date:
    try:
        return date.fromisoformat((created or "")[:10])
    except ValueError:
        return date.today()


def _pdfa_part(puid: str | None, version: str, declared: str) -> str | None:
    """The PDF/A part ('1', '2', '3', '4') a file is identified or declared as, or None."""
    if puid in PDFA_PUIDS and version[:1].isdigit():
        return version[:1]
    match = _PDFA_PART.search(declared or "")
    if match:
        return match.group(1)
    return None


class _LocalCopy:
    """A filesystem path for a package file: the file itself in a folder, a scratch copy for a tar member."""

    def __init__(self, run: Run, full: str, number: int) -> None:
        self.run, self.full, self.number = run, full, number
        self.copy: Path | None = None

    def __enter__(self) -> Path | None:
        run = self.run
        member = run.member(self.full)
        if member is None:
            return None
        if not run.is_tar:
            return run.source.path / (member.raw.decode("utf-8", "surrogateescape") if member.raw else member.name)
        if member.size > MAX_COPY_BYTES:
            return None
        self.copy = run.scratch / f"identify-{self.number}"
        with run.open(member) as source, open(self.copy, "wb") as target:
            shutil.copyfileobj(source, target, 1 << 20)
        run.other_bytes += member.size
        return self.copy

    def __exit__(self, *exc) -> None:
        if self.copy is not None:
            self.copy.unlink(missing_ok=True)

