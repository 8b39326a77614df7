"""One validation run: list the package, read every byte once (hashing and validating as it goes), then judge.

The order of work, and why:

1. List every member (tar headers or a folder walk) into a scratch index;
   unsafe members are reported here and never touched again.
2. Find the package root (dias-mets.xml) and the extract (arkivstruktur.xml),
   read the ADDML description and the extract's schemas, detect the version.
3. Hand the reading to a second process (reader.py), started at the
   beginning so its imports overlap with steps 1-2: it reads every byte of
   the package once (a tar front to back), hashes each file (and the whole
   tar) and validates each XML file against the official schema of its
   version in libxml2, on the other core, forwarding the XML bytes here.
4. Stream each forwarded XML file once through the check families (see
   walker.py), as it arrives. A file the reading process found invalid is
   read a second time here, with the schema plugged in, to place each error
   on its line and element path; only invalid files pay for that.
5. When both are done, each family compares what it collected (SQL over the
   scratch index) and reports; format identification runs last, on a capped
   sample of distinct files.
6. If asked (`findings_csv`), every finding, kept on disk as it was found,
   is written out sorted by file and line (report.py).

Beside the families, the engine keeps one tally of its own: mapper,
registreringer, dokumentbeskrivelser and dokumentobjekter per arkivdel
(`ArkivdelTally`), for the report's per-arkivdel table. It judges nothing,
so it is not a check, and it must not depend on which families exist.

Nothing is written outside a temporary folder (TMPDIR), which is removed
at the end; the package is never modified and never unpacked.
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import IO, ClassVar, Self

from lxml import etree

from noarkpipe import __version__
from noarkpipe.core.progress import Progress, no_progress
from noarkpipe.errors import InputFileError, NoarkpipeError
from noarkpipe.validate.addml_reader import MAX_ADDML_BYTES, AddmlInfo, read_addml
from noarkpipe.validate.checks import families
from noarkpipe.validate.checks import packaging as package_checks
from noarkpipe.validate.checks import structure as structure_checks
from noarkpipe.validate.findings import FINDINGS_COLUMNS, FINDINGS_TABLE, Findings
from noarkpipe.validate.ledger import Ledger
from noarkpipe.validate.messages import Message, msg
from noarkpipe.validate.model import ArkivdelCounts, DetectedVersion, ValidateOptions, ValidationReport
from noarkpipe.validate.reader import FRAME, UNREADABLE, Job
from noarkpipe.validate.report import write_findings_csv
from noarkpipe.validate.source import FILE, Member, ReadStream, Source, TarSource, open_source
from noarkpipe.validate.texts import texts
from noarkpipe.validate.version import detect
from noarkpipe.validate.walker import Frame, Subscriptions, XmlOutcome, XmlProblem, place_schema_errors, walk
from noarkpipe.xml.schemas import xml_schema

N5 = "http://www.arkivverket.no/standarder/noark5/"
CONTENT_FILES = {
    "arkivstruktur": "arkivstruktur.xml",
    "endringslogg": "endringslogg.xml",
    "loependeJournal": "loependeJournal.xml",
    "offentligJournal": "offentligJournal.xml",
    "arkivuttrekk": "arkivuttrekk.xml",
}
PACKAGE_FILES = {
    "dias-mets": "dias-mets.xml",
    "log": "log.xml",
    "dias-premis": "administrative_metadata/dias-premis.xml",
    "addml-copy": "administrative_metadata/addml.xml",
}
METS_NAMESPACES = {
    "http://arkivverket.no/standarder/METS": "dias/dias-mets.xsd",
    "http://www.loc.gov/METS/": "dias/submissionDescription.xsd",
}
INFO_NAMESPACE = "www.arkivverket.no/standarder/info"
CONTAINERS = {
    "arkivstruktur": ("arkiv", "arkivdel", "klassifikasjonssystem", "klasse", "mappe", "registrering",
                      "dokumentbeskrivelse", "dokumentobjekt"),
    "loependeJournal": ("journalhode", "journalregistrering"),
    "offentligJournal": ("journalhode", "journalregistrering"),
    "endringslogg": ("endring",),
    "dias-mets": ("metsHdr", "fileSec", "fileGrp", "file"),
}
"""Elements that always get frames, whoever subscribes: the walker frees memory entity by entity, so
every container between the root and the entities the families want must be one."""


def validate(options: ValidateOptions, progress: Progress | None = None) -> ValidationReport:
    """Validate the extract folder or DIAS tar `options.path`; see the module docstring."""
    started = datetime.now(UTC)
    clock = time.monotonic()
    with Run(options, progress) as run:
        run.take_inventory()
        run.find_roots()
        run.read_description()
        for family in run.families:
            family.prepare(run)
        run.walk_xml()
        run.progress("Comparing", 0, None)
        for family in run.families:
            family.finish(run)
        report = run.report(started, time.monotonic() - clock)
        if options.findings_csv is not None:
            run.progress("Writing the findings", 0, None)
            run.write_findings(options.findings_csv)
        return report


class Run:
    """Everything one validation knows; the families read from it and report into it."""

    def __init__(self, options: ValidateOptions, progress: Progress | None) -> None:
        self.options = options
        self.progress: Progress = progress or no_progress
        self.source: Source = open_source(options.path.expanduser())
        self._scratch = TemporaryDirectory(prefix="noarkpipe-validate-")
        self.scratch = Path(self._scratch.name)
        self.inventory = Ledger(self.scratch / "inventory.sqlite")
        self.ledger = Ledger(self.scratch / "ledger.sqlite")
        self.families = families()
        self.findings_ledger: Ledger | None = None
        if options.findings_csv is not None:
            self.findings_ledger = Ledger(self.scratch / "findings.sqlite")
            self.findings_ledger.table(FINDINGS_TABLE, FINDINGS_COLUMNS)
        definitions = [c for family in self.families for c in family.checks]
        self._findings = {
            c.id: Findings(c, max_examples=options.max_examples, sink=self.findings_ledger, order=order)
            for order, c in enumerate(definitions)
        }
        self._subscriptions: dict[str, Subscriptions] = defaultdict(Subscriptions)
        for role, containers in CONTAINERS.items():
            self._subscriptions[role].track(containers)
        self.arkivdeler = ArkivdelTally(self._subscriptions["arkivstruktur"])
        self.outcomes: dict[str, XmlOutcome] = {}
        self.schemas_used: dict[str, str] = {}
        self.package_root: str | None = None
        self.content_root = ""
        self.package_uuid: str | None = None
        self.input_kind = "extract-folder"
        self.version = DetectedVersion(noark="v5.0", addml="8.3")
        self.addml: AddmlInfo | None = None
        self.submission_path: Path | None = None
        self.tar_sha256: str | None = None
        self.files = 0
        self.file_bytes = 0
        self.xml_bytes = 0
        self.hashed_bytes = 0
        self.other_bytes = 0
        self._xml_total = 0
        self._reader_total = 0
        self._progress_file: int | None = None
        self.reader_peak_mb = 0.0
        self._reader = self._spawn_reader()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        if self._reader.poll() is None:
            self._reader.kill()
        self._reader.wait()
        for pipe in (self._reader.stdin, self._reader.stdout):
            if pipe is not None:
                pipe.close()
        self._reader_errors.close()
        if self._progress_file is not None:
            os.close(self._progress_file)
        self.inventory.close()
        self.ledger.close()
        if self.findings_ledger is not None:
            self.findings_ledger.close()
        self._scratch.cleanup()

    # -- for the families -----------------------------------------------------------------

    def findings(self, check_id: str) -> Findings:
        return self._findings[check_id]

    def subscribe(self, role: str) -> Subscriptions:
        """The subscriptions for one XML file role ('arkivstruktur', 'loependeJournal', 'dias-mets', ...)."""
        return self._subscriptions[role]

    def content_path(self, name: str) -> str:
        """Package path of a file of the extract, e.g. 'dokumenter/1.pdf' -> '<uuid>/content/dokumenter/1.pdf'."""
        return self.content_root + name

    def package_path(self, name: str) -> str:
        return (self.package_root or "") + name

    def member(self, path: str) -> Member | None:
        row = self.inventory.db.execute(f"SELECT {MEMBER_COLUMNS} FROM member WHERE name = ?", (path,)).fetchone()
        return _member(row) if row else None

    def open(self, member: Member) -> ReadStream:
        return self.source.open(member)

    def read_bytes(self, path: str, limit: int) -> bytes | None:
        """A small file's bytes (None if missing, unsafe or larger than `limit`)."""
        member = self.member(path)
        if member is None or member.kind != FILE or member.problem or member.size > limit:
            return None
        with self.open(member) as stream:
            data = stream.read(limit + 1)
        self.other_bytes += len(data)
        return data

    @property
    def is_tar(self) -> bool:
        return isinstance(self.source, TarSource)

    # -- 1. inventory -----------------------------------------------------------------------

    def take_inventory(self) -> None:
        self.inventory.table("member", "name TEXT, kind TEXT, size INTEGER, offset INTEGER, raw BLOB, problem TEXT")
        unsafe = self.findings(package_checks.UNSAFE_MEMBERS)
        listed = 0
        for member in self.source.members():
            listed += 1
            if listed % 5000 == 0:
                self.progress("Listing the package", listed, None)
            if member.problem:
                what = msg("{problem} pointing at {link!r}", problem=member.problem, link=member.link) if member.link \
                    else member.problem
                unsafe.add(msg("{what}; reported, not followed or read", what=what), file=member.name)
            if member.kind == "dir" and not member.problem:
                continue
            # the problem as encoded message, '' for a usable member (the checks' SQL asks for problem = '')
            problem = member.problem.encode() if member.problem else ""
            self.inventory.add("member", (member.name, member.kind, member.size, member.offset, member.raw, problem))
            if member.kind == FILE and not member.problem:
                self.files += 1
                self.file_bytes += member.size
        self.inventory.flush()
        self.inventory.index("member_name", "member", "name")
        self.inventory.index("member_lower", "member", "lower(name)")
        self.inventory.flush()

    def safe_files(self, where: str = "", parameters: tuple = ()) -> list[tuple[str, int]]:
        sql = "SELECT name, size FROM member WHERE kind = 'file' AND problem = ''" + (f" AND {where}" if where else "")
        return list(self.inventory.query(sql, parameters))

    # -- 2. where things are ----------------------------------------------------------------

    def _shallowest(self, filename: str) -> str | None:
        rows = self.inventory.query(
            "SELECT name FROM member WHERE kind = 'file' AND problem = '' AND (name = ? OR name LIKE ?)",
            (filename, f"%/{filename}"),
        )
        names = [row[0] for row in rows if row[0].rsplit("/", 1)[-1] == filename]
        return min(names, key=lambda name: (name.count("/"), name)) if names else None

    def find_roots(self) -> None:
        structure = self._shallowest("arkivstruktur.xml") or self._shallowest("arkivuttrekk.xml")
        if structure is None:
            raise InputFileError(
                f"{self.options.path}: no Noark 5 extract found (neither arkivstruktur.xml nor arkivuttrekk.xml "
                "is in it)",
                hint="give the extract folder, or the DIAS .tar whose content/ folder holds the extract",
            )
        self.content_root = structure[: structure.rfind("/") + 1]
        mets = self._shallowest("dias-mets.xml")
        if mets is not None:
            self.package_root = mets[: len(mets) - len("dias-mets.xml")]
        elif self.content_root.endswith("content/"):
            self.package_root = self.content_root[: -len("content/")]
        if self.package_root is not None:
            top = self.package_root.rstrip("/").rsplit("/", 1)[-1] or self.options.path.name
            if _looks_like_uuid(top):
                self.package_uuid = top.lower()
        dias = self.package_root is not None and mets is not None
        if self.is_tar:
            self.input_kind = "dias-tar" if dias else "extract-tar"
        else:
            self.input_kind = "dias-folder" if dias else "extract-folder"
        self.submission_path = self._find_submission_description()

    def _find_submission_description(self) -> Path | None:
        explicit = self.options.submission_description
        if explicit is not None:
            explicit = explicit.expanduser()
            if not explicit.is_file():
                raise InputFileError(f"submission description not found: {explicit}",
                                     hint="give the <UUID>.xml (or info.xml) delivered beside the tar")
            return explicit
        if self.input_kind not in ("dias-tar", "dias-folder"):
            return None
        path = self.options.path.expanduser()
        stem = path.name[: -len(".tar")] if path.name.lower().endswith(".tar") else path.name
        for candidate in (path.parent / f"{stem}.xml", path.parent / "info.xml"):
            if candidate.is_file() and candidate.resolve() != path.resolve():
                return candidate
        return None

    # -- 3. the description and the version -------------------------------------------------

    def read_description(self) -> None:
        data = self.read_bytes(self.content_path("arkivuttrekk.xml"), MAX_ADDML_BYTES)
        if data is not None:
            try:
                self.addml = read_addml(data)
            except etree.XMLSyntaxError:
                self.addml = None
        schema = self.read_bytes(self.content_path("arkivstruktur.xsd"), 4 * 1024 * 1024)
        addml_schema = self.read_bytes(self.content_path("addml.xsd"), 4 * 1024 * 1024)
        head = b""
        structure = self.member(self.content_path("arkivstruktur.xml"))
        if structure is not None and structure.kind == FILE and not structure.problem:
            with self.open(structure) as stream:
                head = stream.read(256 * 1024)
        self.version = detect(schema, addml_schema, self.addml, head)

    # -- 4. the reading process ------------------------------------------------------------

    def _spawn_reader(self) -> subprocess.Popen:
        """Start reader.py now: it imports while the package is listed, then waits for its job on stdin."""
        package_parent = str(Path(__file__).resolve().parents[2])
        environment = {**os.environ, "PYTHONPATH": os.pathsep.join(
            filter(None, [package_parent, os.environ.get("PYTHONPATH", "")]))}
        self._reader_errors = open(self.scratch / "reader.stderr", "wb")  # noqa: SIM115 - closed in __exit__
        return subprocess.Popen([sys.executable, "-m", "noarkpipe.validate.reader"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=self._reader_errors, env=environment, bufsize=0)

    def _start_reading(self, xml: list[tuple[str, str | None]]) -> None:
        job = Job(source=str(self.source.path), tar=self.is_tar, inventory=str(self.inventory.path),
                  hashes=str(self.scratch / "hashes.sqlite"), result=str(self.scratch / "reader.json"),
                  progress=str(self.scratch / "reader.progress"), xml=xml)
        (self.scratch / "reader.progress").write_bytes(bytes(8))
        self._progress_file = os.open(job.progress, os.O_RDONLY)
        self._reader_total = self.source.total_size() if self.is_tar else self.file_bytes
        assert self._reader.stdin is not None
        self._reader.stdin.write(job.to_json().encode() + b"\n")
        self._reader.stdin.close()

    def _reader_done(self) -> int:
        if self._progress_file is None:
            return 0
        return struct.unpack("<q", os.pread(self._progress_file, 8, 0))[0]

    def _wait_for_reader(self) -> dict:
        while True:
            try:
                self._reader.wait(0.25)
                break
            except subprocess.TimeoutExpired:
                self._report_reading()
        result = self._reader_result()
        self.hashed_bytes = result["done"]
        self.tar_sha256 = result["tar_sha256"]
        self.reader_peak_mb = result["peak_rss_mb"]
        self.ledger.attach_file(self.scratch / "hashes.sqlite", "h")
        self.ledger.db.execute("CREATE INDEX IF NOT EXISTS h.file_name ON file (name)")
        self.ledger.attach_file(self.inventory.path, "inv")
        return result["xml"]

    def _reader_result(self) -> dict:
        """The reading process's result once it has ended; its failure as an error the user can act on."""
        try:
            self._reader.wait(10)
        except subprocess.TimeoutExpired:
            self._reader.kill()
            self._reader.wait()
        result_path = self.scratch / "reader.json"
        result = json.loads(result_path.read_text(encoding="utf-8")) if result_path.is_file() else None
        if result is not None and result["error"] is not None:
            raise InputFileError(f"{self.options.path}: reading failed ({result['error']})",
                                 hint="check that the file is complete and readable")
        if result is None or self._reader.returncode != 0:
            self._reader_errors.flush()
            errors = (self.scratch / "reader.stderr").read_bytes().decode("utf-8", "replace").strip()
            raise NoarkpipeError(
                f"the reading process (noarkpipe.validate.reader) stopped with exit code {self._reader.returncode}"
                + (f": {errors[-1500:]}" if errors else ""),
                hint="a negative exit code is the signal that ended it (-9: killed, often for lack of memory); "
                     "run again, and report it with this message if it repeats")
        return result

    def _report_reading(self) -> None:
        total = self._xml_total + self._reader_total  # 0: nothing to measure the reading by
        self.progress("Reading the package", self.xml_bytes + self._reader_done(), total or None)

    # -- 5. the XML files -------------------------------------------------------------------

    def xml_files(self) -> list[tuple[str, str]]:
        """(role, package path) of every XML file to stream, in the order they are looked up."""
        files = [(role, self.content_path(name)) for role, name in CONTENT_FILES.items()]
        if self.package_root is not None:
            files += [(role, self.package_path(name)) for role, name in PACKAGE_FILES.items()]
        return files

    def schema_for(self, role: str, head: bytes) -> str | None:
        version = self.version.noark
        if role in ("arkivstruktur", "endringslogg", "loependeJournal", "offentligJournal"):
            return f"noark5/{version}/{role}.xsd"
        if role in ("arkivuttrekk", "addml-copy"):
            return f"addml/addml-{self.version.addml}.xsd"
        if role in ("log", "dias-premis"):
            return "dias/dias-premis.xsd"
        namespace = _root_namespace(head)
        if role == "dias-mets":
            return METS_NAMESPACES.get(namespace or "")
        if role == "submission":
            if namespace == INFO_NAMESPACE:
                return "dias/info.xsd"
            return METS_NAMESPACES.get(namespace or "")
        return None

    def walk_xml(self) -> None:
        """Stream every XML file through the checks as the reading process forwards it, then place schema errors.

        A tar's files come in the tar's order (it is read front to back once), a folder's in the order
        of `xml_files`. The submission description lies outside the package and is read here.
        """
        plan = []
        for role, path in self.xml_files():
            member = self.member(path)
            if member is None or member.kind != FILE or member.problem:
                continue
            head = b""
            if role == "dias-mets":  # the only file whose schema depends on its root namespace
                try:
                    with self.open(member) as stream:
                        head = stream.read(64 * 1024)
                except OSError as exc:
                    self._unreadable(path, exc)
                    continue
                self.other_bytes += len(head)
            plan.append((role, path, member, self.schema_for(role, head)))
        if self.is_tar:
            plan.sort(key=lambda entry: entry[2].offset)
        self._xml_total = sum(member.size for _, _, member, _ in plan)
        self._start_reading([(path, relative) for _, path, _, relative in plan])
        assert self._reader.stdout is not None
        forwarded = _Forwarded(self._reader.stdout)
        for role, path, _member, relative in plan:
            try:
                self._walk(role, path, relative, forwarded.next_file, schema_in_pass=False)
            except OSError as exc:
                self._unreadable(path, exc)
            except _ReaderGone:
                self._reader_result()  # raises what stopped it
                raise
        validity = self._wait_for_reader()
        for role, path, member, relative in plan:
            judged = validity.get(path)
            outcome = self.outcomes.get(path)
            if relative is None or judged is None or outcome is None:
                continue
            if judged["schema_errors"] or (judged["fatal"] and outcome.well_formed):
                self.other_bytes += place_schema_errors(
                    partial(self.open, member), path, self.subscribe(role), xml_schema(relative),
                    self._problem_sink(path), outcome)
        submission = self.submission_path
        if submission is not None:
            label = submission.name

            def opener() -> ReadStream:
                return open(submission, "rb")

            with opener() as stream:
                head = stream.read(64 * 1024)
            self.other_bytes += len(head) + submission.stat().st_size
            self._walk("submission", label, self.schema_for("submission", head), opener, schema_in_pass=True)

    def _unreadable(self, path: str, exc: OSError) -> None:
        self.findings(structure_checks.WELL_FORMED).add(
            msg("cannot be read ({reason})", reason=str(exc.strerror or exc)), file=path)

    def _problem_sink(self, label: str) -> Callable[[XmlProblem], None]:
        well_formed = self.findings(structure_checks.WELL_FORMED)
        validity = self.findings(structure_checks.SCHEMA_VALID)
        unsafe = self.findings(structure_checks.UNSAFE_XML)

        def problem(found: XmlProblem) -> None:
            target = {"not_well_formed": well_formed, "unsafe": unsafe}.get(found.kind, validity)
            target.add(found.message, file=label, line=found.line, path=found.path)

        return problem

    def _walk(
        self, role: str, label: str, relative: str | None, opener: Callable[[], ReadStream], schema_in_pass: bool
    ) -> None:
        """One file through the checks; its schema plugged into this pass only when `schema_in_pass`."""
        schema = xml_schema(relative) if relative and schema_in_pass else None
        self.schemas_used[label] = relative or ""

        def progress(read: int) -> None:
            self.xml_bytes += read
            if self._progress_file is not None:
                self._report_reading()

        outcome = walk(opener, label, self.subscribe(role), schema, self._problem_sink(label), progress)
        self.outcomes[role] = outcome
        self.outcomes[label] = outcome

    # -- the report -------------------------------------------------------------------------

    def report(self, started: datetime, seconds: float) -> ValidationReport:
        results = [findings.result() for findings in self._findings.values()]
        return ValidationReport(
            tool=f"noarkpipe {__version__}",
            input=str(self.options.path),
            input_kind=self.input_kind,
            package_uuid=self.package_uuid,
            submission_description=str(self.submission_path) if self.submission_path else None,
            content_root=self.content_root or ".",
            version=self.version,
            started=started,
            finished=datetime.now(UTC),
            seconds=round(seconds, 2),
            bytes_read=self.hashed_bytes + self.other_bytes,
            files=self.files,
            results=results,
            arkivdeler=self.arkivdeler.counts(),
        )

    def write_findings(self, target: Path) -> int:
        """Every finding to the CSV file `target`, grouped by file and line, in the options' language."""
        assert self.findings_ledger is not None
        self.findings_ledger.flush()
        arkade = {findings.check.id: findings.check.arkade for findings in self._findings.values()}
        severity = {findings.check.id: findings.check.severity.value for findings in self._findings.values()}
        words = texts(self.options.lang)
        # SQLite sorts on disk (temp_store=FILE): millions of findings never sit in memory at once
        rows = self.findings_ledger.query(
            f"SELECT check_id, file, line, path, message FROM {FINDINGS_TABLE} "
            "ORDER BY file, coalesce(line, 0), check_order, rowid"
        )
        return write_findings_csv(
            ((check_id, arkade[check_id], severity[check_id], file, line, path, words.message(Message.decode(message)))
             for check_id, file, line, path, message in rows),
            target,
        )


class ArkivdelTally:
    """Mapper, registreringer, dokumentbeskrivelser and dokumentobjekter counted per arkivdel.

    Each entity is counted under the arkivdel it sits in (its nearest
    arkivdel ancestor): a classification system shared by two arkivdeler is
    written under each, and its folders are counted where they are written.
    Keyed by the arkivdel's element path, as an arkivdel's systemID may be
    missing or repeated in a faulty extract.
    """

    FIELDS: ClassVar[dict[str, str]] = {"mappe": "mapper", "registrering": "registreringer",
              "dokumentbeskrivelse": "dokumentbeskrivelser", "dokumentobjekt": "dokumentobjekter"}
    LEAVES = ("systemID", "tittel", "arkivdelstatus", "arkivperiodeStartDato", "arkivperiodeSluttDato")

    def __init__(self, subscriptions: Subscriptions) -> None:
        self._arkivdeler: dict[str, ArkivdelCounts] = {}
        self._tally: dict[str, dict[str, int]] = {}
        subscriptions.start("arkivdel", self._start)
        subscriptions.end("arkivdel", self._end)
        for entity, field in self.FIELDS.items():
            subscriptions.end(entity, partial(self._count, field))

    def _start(self, frame: Frame) -> None:
        path = frame.path()
        self._arkivdeler[path] = ArkivdelCounts(path=path)
        self._tally[path] = dict.fromkeys(self.FIELDS.values(), 0)

    def _end(self, frame: Frame) -> None:
        path = frame.path()
        self._arkivdeler[path] = self._arkivdeler[path].model_copy(
            update={leaf: frame.get(leaf) for leaf in self.LEAVES})

    def _count(self, field: str, frame: Frame) -> None:
        arkivdel = frame.ancestor("arkivdel")
        if arkivdel is not None:
            self._tally[arkivdel.path()][field] += 1

    def counts(self) -> list[ArkivdelCounts]:
        return [counts.model_copy(update=self._tally[path]) for path, counts in self._arkivdeler.items()]


class _ReaderGone(Exception):
    pass


class _Forwarded:
    """The XML files the reading process forwards, one after another, each read like a file."""

    def __init__(self, pipe: IO[bytes]) -> None:
        self._pipe = pipe
        self._frame = b""
        self._buffer = memoryview(b"")
        self._ended = True

    def next_file(self) -> Self:
        if not self._ended:
            raise RuntimeError("the previous forwarded file was not read to its end")
        self._ended = False
        return self

    def _exactly(self, count: int) -> bytes:
        data = self._pipe.read(count)
        while len(data) < count:
            more = self._pipe.read(count - len(data))
            if not more:
                raise _ReaderGone("the reading process ended in the middle of a file")
            data += more
        return data

    def read(self, size: int = -1) -> bytes:
        if not self._buffer:
            if self._ended:
                return b""
            (length,) = FRAME.unpack(self._exactly(FRAME.size))
            if length == UNREADABLE:
                (count,) = FRAME.unpack(self._exactly(FRAME.size))
                self._ended = True
                raise OSError(0, self._exactly(count).decode("utf-8", "replace"))
            if length == 0:
                self._ended = True
                return b""
            self._frame = self._exactly(length)
            if size is None or size < 0 or size >= length:
                return self._frame  # the usual case: the checks read a whole block at a time, no copy
            self._buffer = memoryview(self._frame)
        if size is None or size < 0 or size >= len(self._buffer):
            data, self._buffer = self._buffer, memoryview(b"")
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data.tobytes()

    def close(self) -> None:
        """The rest of the file, if the checks stopped early (not well-formed), is read and dropped."""
        self._buffer = memoryview(b"")
        try:
            while not self._ended:
                self.read()
                self._buffer = memoryview(b"")
        except OSError:
            pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


MEMBER_COLUMNS = "name, kind, size, offset, raw, problem"


def _member(row: tuple) -> Member:
    name, kind, size, offset, raw, problem = row
    return Member(name=name, kind=kind, size=size, offset=offset, raw=raw,
                  problem=Message.decode(problem) if problem else None)


def _looks_like_uuid(text: str) -> bool:
    return re.fullmatch(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", text) is not None


def _root_namespace(head: bytes) -> str | None:
    """The namespace of the root element, from the first bytes of a file (no DTD, nothing fetched)."""
    parser = etree.XMLPullParser(events=("start",), resolve_entities=False, no_network=True, load_dtd=False)
    try:
        parser.feed(head)
        for _, element in parser.read_events():
            tag = element.tag if isinstance(element.tag, str) else ""
            return tag[1:].partition("}")[0] if tag.startswith("{") else ""
    except etree.XMLSyntaxError:
        return None
    return None
