"""One validation run: list the package, read each XML file once, hash each file once, then judge.

The order of work, and why:

1. List every member (tar headers or a folder walk) into a scratch index;
   unsafe members are reported here and never touched again.
2. Find the package root (dias-mets.xml) and the extract (arkivstruktur.xml),
   read the ADDML description and the extract's schemas, detect the version.
3. Start hashing every file in a second thread: a tar is read front to back
   once, giving each member's SHA-256 and the whole tar's in one pass;
   hashlib releases the GIL, so this overlaps with step 4 on another core.
4. Stream each XML file once through the official schema of its version,
   dispatching its entities to the check families (see walker.py).
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

import hashlib
import re
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import BinaryIO, Self

from lxml import etree

from .. import __version__
from ..errors import InputFileError
from ..schemas import xml_schema
from .addml import MAX_ADDML_BYTES, AddmlInfo, read_addml
from .checks import families
from .checks import package as package_checks
from .checks import structure as structure_checks
from .findings import FINDINGS_COLUMNS, FINDINGS_TABLE, Findings
from .ledger import Ledger
from .messages import Message, msg
from .model import ArkivdelCounts, DetectedVersion, ValidateOptions, ValidationReport
from .report import write_findings_csv
from .source import FILE, Member, Source, TarSource, open_source
from .texts import texts
from .version import detect
from .walker import Frame, Subscriptions, XmlOutcome, XmlProblem, walk

Progress = Callable[[str, int, int], None]
"""progress(phase, done, total): done and total in bytes (total 0 when unknown)."""

READ_BLOCK = 1 << 20
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
        hasher = run.start_hashing()
        try:
            run.walk_xml()
            run.wait_for(hasher)
        finally:
            hasher.stop.set()
            hasher.join(10)
        run.progress("Comparing", 0, 0)
        for family in run.families:
            family.finish(run)
        report = run.report(started, time.monotonic() - clock)
        if options.findings_csv is not None:
            run.progress("Writing the findings", 0, 0)
            run.write_findings(options.findings_csv)
        return report


class Run:
    """Everything one validation knows; the families read from it and report into it."""

    def __init__(self, options: ValidateOptions, progress: Progress | None) -> None:
        self.options = options
        self.progress: Progress = progress or (lambda phase, done, total: None)
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
        self._hasher: _Hasher | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
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

    def open(self, member: Member) -> BinaryIO:
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
                self.progress("Listing the package", listed, 0)
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

    # -- 4. hashing -------------------------------------------------------------------------

    def start_hashing(self) -> _Hasher:
        self._hasher = _Hasher(self)
        self._hasher.start()
        return self._hasher

    def wait_for(self, hasher: _Hasher) -> None:
        while hasher.is_alive():
            hasher.join(0.25)
            self._report_reading(hasher)
        if isinstance(hasher.error, OSError):
            raise InputFileError(f"{self.options.path}: reading failed ({hasher.error})",
                                 hint="check that the file is complete and readable") from hasher.error
        if hasher.error is not None:
            raise hasher.error
        self.hashed_bytes = hasher.done
        self.tar_sha256 = hasher.tar_sha256
        self.ledger.attach(hasher.ledger, "h")
        self.ledger.db.execute("CREATE INDEX IF NOT EXISTS h.file_name ON file (name)")
        self.ledger.attach_file(self.inventory.path, "inv")

    def _report_reading(self, hasher: _Hasher) -> None:
        total = self._xml_total + hasher.total
        self.progress("Reading the package", self.xml_bytes + hasher.done, total)

    # -- 5. the XML files -------------------------------------------------------------------

    def xml_files(self) -> list[tuple[str, str]]:
        """(role, package path) of every XML file to stream, in reading order."""
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
        plan = []
        for role, path in self.xml_files():
            member = self.member(path)
            if member is not None and member.kind == FILE and not member.problem:
                plan.append((role, path, member))
        self._xml_total = sum(member.size for _, _, member in plan)
        if self.submission_path is not None:
            self._xml_total += self.submission_path.stat().st_size
        for role, path, member in plan:
            try:
                self._walk(role, path, lambda member=member: self.open(member))
            except OSError as exc:
                self.findings(structure_checks.WELL_FORMED).add(
                    msg("cannot be read ({reason})", reason=str(exc.strerror or exc)), file=path)
        if self.submission_path is not None:
            label = self.submission_path.name
            self._walk("submission", label, partial(open, self.submission_path, "rb"))

    def _walk(self, role: str, label: str, opener) -> None:
        with opener() as stream:
            head = stream.read(64 * 1024)
        relative = self.schema_for(role, head)
        schema = xml_schema(relative) if relative else None
        self.schemas_used[label] = relative or ""
        well_formed = self.findings(structure_checks.WELL_FORMED)
        validity = self.findings(structure_checks.SCHEMA_VALID)
        unsafe = self.findings(structure_checks.UNSAFE_XML)

        def problem(found: XmlProblem) -> None:
            target = {"not_well_formed": well_formed, "unsafe": unsafe}.get(found.kind, validity)
            target.add(found.message, file=label, line=found.line, path=found.path)

        def progress(read: int) -> None:
            self.xml_bytes += read
            if self._hasher is not None:
                self._report_reading(self._hasher)

        outcome = walk(opener, label, self.subscribe(role), schema, problem, progress)
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
            bytes_read=self.xml_bytes + self.hashed_bytes + self.other_bytes,
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

    FIELDS = {"mappe": "mapper", "registrering": "registreringer",
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


class _Hasher(threading.Thread):
    """SHA-256 and size of every package file (and of the whole tar), in a thread of its own."""

    def __init__(self, run: Run) -> None:
        super().__init__(name="noarkpipe-validate-hash", daemon=True)
        self.run_state = run
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.done = 0
        self.tar_sha256: str | None = None
        self.ledger = Ledger(run.scratch / "hashes.sqlite")
        self.ledger.table("file", "name TEXT, size INTEGER, sha256 TEXT")
        self.total = run.source.total_size() if run.is_tar else run.file_bytes

    def run(self) -> None:
        try:
            if self.run_state.is_tar:
                self._hash_tar()
            else:
                self._hash_folder()
            self.ledger.flush()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self.error = exc

    def _rows(self, order: str):
        db = sqlite3.connect(str(self.run_state.inventory.path))
        try:
            yield from db.execute(
                f"SELECT {MEMBER_COLUMNS} FROM member WHERE kind = 'file' AND problem = '' ORDER BY {order}"
            )
        finally:
            db.close()

    def _hash_folder(self) -> None:
        source = self.run_state.source
        for row in self._rows("rowid"):
            if self.stop.is_set():
                return
            member = _member(row)
            digest = hashlib.sha256()
            size = 0
            try:
                with source.open(member) as stream:
                    while block := stream.read(READ_BLOCK):
                        digest.update(block)
                        size += len(block)
                        self.done += len(block)
            except OSError as exc:
                self.ledger.add("file", (member.name, -1, f"unreadable: {exc.strerror}"))
                continue
            self.ledger.add("file", (member.name, size, digest.hexdigest()))

    def _hash_tar(self) -> None:
        whole = hashlib.sha256()
        position = 0
        with open(self.run_state.source.path, "rb", buffering=0) as stream:

            def take(count: int, member_digest=None) -> int:
                nonlocal position
                taken = 0
                while taken < count:
                    if self.stop.is_set():
                        raise _Stopped
                    block = stream.read(min(READ_BLOCK, count - taken))
                    if not block:
                        break
                    whole.update(block)
                    if member_digest is not None:
                        member_digest.update(block)
                    taken += len(block)
                    position += len(block)
                    self.done += len(block)
                return taken

            try:
                for row in self._rows("offset"):
                    member = _member(row)
                    if member.offset < position:
                        continue
                    take(member.offset - position)
                    digest = hashlib.sha256()
                    size = take(member.size, digest)
                    self.ledger.add("file", (member.name, size, digest.hexdigest()))
                while take(READ_BLOCK):
                    pass
            except _Stopped:
                return
        self.tar_sha256 = whole.hexdigest()


class _Stopped(Exception):
    pass


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
