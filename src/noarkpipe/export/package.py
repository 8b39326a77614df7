"""One export, start to finish: a closed arkivdel becomes a DIAS transfer package.

The order of work is chosen so that nothing is done twice and nothing
half-made can be mistaken for a delivery:

1. Scope and inventory (one read snapshot of the store, used throughout):
   which arkivdeler, is each closed (else refused unless forced), every
   document file present with its recorded size (else refused, listing
   them), enough free disk (else refused). Nothing is written before this.
2. The extract's XML files are written into a staging folder beside the
   target (`.<claim>.staging/`), each streamed, hashed and validated against
   its official schema as it is written; the element counts of that
   validation pass go into arkivuttrekk.xml (ADDML), validated too. The
   package's UUID is derived from them (see below); an existing package of
   that UUID in the output folder is refused here.
3. One pass over the documents: the tar (`.<UUID>.tar.part`) is written
   front to back, every document copied straight from the document store
   into it while being hashed and checked against its stored checksum,
   and the tar itself hashed as it reaches the disk. The METS inventory and
   documentfile-formatinfo.csv are spooled to the staging folder as files
   pass; formats are identified in worker processes meanwhile.
4. The package metadata (log.xml, dias-mets.xml last) closes the tar; the
   submission description `<UUID>.xml` (with the tar's SHA-256) and, if
   asked, info.xml are written and validated.
5. Renames: the tar, then info.xml, then `<UUID>.xml`. The description
   appears last, so a package whose `<UUID>.xml` is present is complete.
   Whatever fails before that, every temporary file is removed.

Free disk needed is the package size plus its XML files once more (they
are staged, then copied into the tar; documents are never staged), checked
before the tar is begun.

Reproducible: the package's time is `options.created` (the CLI takes
--timestamp or SOURCE_DATE_EPOCH), else a time the data fixes (the latest
closing of the arkivdeler, `source.data_time`), never the wall clock. Its
UUID is `options.package_id`, else derived from what the bytes follow from:
the SHA-256 of each XML file of the extract as written, every document's
systemID, checksum and name, the arkivdeler, that time and the settings the
package metadata is made of. Every list is in a fixed order. So the same
store gives the same bytes with no options (a depot can check a re-delivery
by its checksum), and a package whose content differs in any registration
gets another UUID. Until the XML is written the temporary files are named
by a claim derived from the scope.

Two cores: arkivstruktur.xml is built as text (`xmltext`) and validated by
libxml2 in a second thread as it is written (`noarkpipe.xml.streaming.StreamCheck`), while
the public journal's screening runs in a second process; in the tar pass
one thread reads and hashes the documents while another hashes and writes
the tar.
"""

from __future__ import annotations

import errno
import hashlib
import multiprocessing
import os
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from functools import cache
from pathlib import Path
from typing import cast

from lxml import etree
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from noarkpipe import __version__
from noarkpipe.classify.screenrules import ScreeningRuleSet
from noarkpipe.config import DeponeringSettings, DepotSettings
from noarkpipe.core.codes import Arkivdelstatus
from noarkpipe.core.progress import Progress, no_progress
from noarkpipe.errors import ExportRefusedError, InvalidOutputError
from noarkpipe.export import addml_writer as addml
from noarkpipe.export import dias
from noarkpipe.export.arkivstruktur import Closing, write_arkivstruktur
from noarkpipe.export.documents import FormatReport
from noarkpipe.export.journals import (
    journal_period,
    offentlig_journal_job,
    published_count,
    write_endringslogg,
    write_loepende_journal,
)
from noarkpipe.export.store_reader import (
    Inventory,
    Scope,
    data_time,
    document_path,
    iter_documents,
    resolve_scope,
    snapshot,
    take_inventory,
)
from noarkpipe.export.tarstream import PackageTar, fsync
from noarkpipe.store import tables
from noarkpipe.store.docstore import fsync_path
from noarkpipe.xml.schemas import assert_valid, noark5_schema, safe_parser, schema_path
from noarkpipe.xml.streaming import StreamCheck, validate_and_count

PACKAGE_NAMESPACE = uuid.UUID("4c1f6a52-6f0b-5b8e-8d8a-6e6f61726b70")
SYSTEM_NAME = "noarkpipe"
_MARGIN = 16 << 20
_TAR_OVERHEAD_PER_FILE = 1024 + 512  # header, pax header for long names, padding
# Estimated XML bytes per journalpost (arkivstruktur, both journals, METS lines): for the first disk check only.
_XML_PER_JOURNALPOST = 6 << 10
# From this many journalposter offentligJournal.xml (screening, CPU-bound) is written in a second process.
_PARALLEL_PUBLIC_JOURNAL = 2000

# The Noark 5 XML files of the extract: name, schema, the elements counted in arkivuttrekk.xml.
_EXTRACT_XML = (
    (
        "arkivstruktur",
        ("arkiv", "arkivdel", "klassifikasjonssystem", "klasse", "mappe", "registrering",
         "dokumentbeskrivelse", "dokumentobjekt", "korrespondansepart"),
    ),
    ("endringslogg", ("endring",)),
    ("loependeJournal", ("journalregistrering",)),
    ("offentligJournal", ("journalregistrering",)),
)
# What validation counts in each file: the above, and the konverteringer for info.xml's note.
_COUNTED = {name: counted + (("konvertering",) if name == "arkivstruktur" else ()) for name, counted in _EXTRACT_XML}


class ExportOptions(BaseModel):
    """What to export and how; the CLI's options, validated."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    arkivskaper: str
    arkivdeler: tuple[str, ...] = Field(default=(), description="systemIDs or titles; default: the latest closed")
    output: Path
    force: bool = Field(default=False, description="export an arkivdel that is not closed (a test extract)")
    created: AwareDatetime | None = Field(
        default=None,
        description="the package's time, in every timestamp it holds; default: from the data (source.data_time)",
    )
    package_id: uuid.UUID | None = Field(default=None, description="default: derived, see the module doc")
    info_xml: bool = Field(default=False, description="also write the older info.xml")
    identify_formats: bool = Field(default=True, description="identify document formats (fido) for the CSV")


class ExportResult(BaseModel):
    uuid: str
    tar: Path
    submission_description: Path
    info_xml: Path | None
    tar_size: int
    tar_sha256: str
    arkivdeler: list[str]
    test_extract: bool
    counts: dict[str, int]
    documents: int
    document_bytes: int
    not_accepted_formats: int
    unlisted_mime_types: int
    seconds: float
    warnings: list[str]


@cache
def _schema_sha256(relative: str) -> str:
    return hashlib.sha256(schema_path(relative).read_bytes()).hexdigest()


@contextmanager
def _cleanup(paths: list[Path]) -> Iterator[None]:
    """Remove every temporary path listed, whatever happens; turn a full disk into a refusal."""
    try:
        yield
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise ExportRefusedError(
                "the disk filled up while the package was written; nothing was delivered",
                hint="free space in the output folder (about the package size is needed) and export again",
            ) from exc
        raise
    finally:
        for path in paths:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _deliver(partial: Path, target: Path) -> None:
    """Give a finished file its name, never over an existing file (a link fails where a rename would replace)."""
    try:
        os.link(partial, target)
    except FileExistsError:
        raise ExportRefusedError(
            f"{target} appeared while the package was written", hint="choose another --out, or remove it"
        ) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP):
            raise
        os.replace(partial, target)  # a file system without hard links: checked above, renamed here
        return
    partial.unlink()


def _require_space(folder: Path, needed: int, what: str) -> None:
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise ExportRefusedError(
            f"not enough free disk in {folder} for {what}: about {needed / 1e9:.2f} GB needed, "
            f"{free / 1e9:.2f} GB free",
            hint="free space there or choose another --out on a larger disk",
        )


def _boundary(session, arkivdel_system_id: str | None) -> str:
    """'mykt' if the period boundary at that arkivdel's end had an overlap period, else 'skarpt'."""
    if arkivdel_system_id is None:
        return "skarpt"
    E = tables.Endringslogg
    overlaps = session.scalar(
        select(func.count())
        .select_from(E)
        .where(E.referanseArkivenhet == arkivdel_system_id)
        .where(E.referanseMetadata == "arkivdelstatus")
        .where(E.nyVerdi == Arkivdelstatus.overlappingsperiode.value)
    )
    return "mykt" if overlaps else "skarpt"


class _Exporter:
    def __init__(
        self,
        *,
        store_url: str,
        documents_root: Path,
        options: ExportOptions,
        depot: DepotSettings,
        deponering: DeponeringSettings | None,
        rules: ScreeningRuleSet,
        actor: str,
        progress: Progress | None,
    ) -> None:
        self.store_url = store_url
        self.documents_root = documents_root
        self.options = options
        self.depot = depot
        self.deponering = deponering
        self.rules = rules
        self.actor = actor
        self.progress = progress or no_progress
        self.warnings: list[str] = []

    # ------------------------------------------------------------ the steps

    def run(self) -> ExportResult:
        started = time.monotonic()
        options = self.options
        out = options.output
        out.mkdir(parents=True, exist_ok=True)
        with snapshot(self.store_url) as session:
            self.progress("Reading the journal store", 0, None)
            scope = resolve_scope(session, options.arkivskaper, options.arkivdeler, force=options.force)
            inventory = take_inventory(session, scope, self.documents_root)
            self._refuse_unless_exportable(scope, inventory)
            self.created = options.created or data_time(session, scope)
            # The UUID is derived from the files written (see the module doc): until then the
            # temporary files are named by a claim on what is in scope.
            claim = str(options.package_id or self._claim_id(scope, inventory))
            if options.package_id:
                self._targets(out, claim)
            _require_space(
                out,
                inventory.document_bytes
                + inventory.documents * _TAR_OVERHEAD_PER_FILE
                + 2 * inventory.journalposter * _XML_PER_JOURNALPOST
                + _MARGIN,
                "the package",
            )
            staging = out / f".{claim}.staging"
            partial_tar = out / f".{claim}.tar.part"
            partial_xml = out / f".{claim}.xml.part"
            partial_info = out / f".{claim}.info.xml.part"
            try:
                # The staging folder is this export's claim on the package: whoever makes it owns the temporary files.
                staging.mkdir()
            except FileExistsError:
                raise ExportRefusedError(
                    f"{staging} exists: another export of this package is running, or one was killed",
                    hint="if none is running, remove that folder and the .part files beside it, then export again",
                ) from None
            with _cleanup([staging, partial_tar, partial_xml, partial_info]):
                period = journal_period(scope, inventory.first_journaldato, inventory.last_journaldato)
                extract = self._write_extract(session, scope, inventory, staging, period)
                package_id = str(options.package_id or self._derived_id(scope, inventory, extract))
                targets = self._targets(out, package_id)
                facts = self._facts(scope, package_id, period)
                _require_space(
                    out,
                    inventory.document_bytes
                    + inventory.documents * _TAR_OVERHEAD_PER_FILE
                    + sum(p.stat().st_size for p in (staging / "content").iterdir())
                    + inventory.documents * 600
                    + _MARGIN,
                    "the tar",
                )
                with open(partial_tar, "xb") as handle:
                    tar_size, tar_sha, mets, formats, unlisted = self._write_tar(
                        session, scope, inventory, handle, staging, facts, extract
                    )
                    fsync(handle)
                tar_file = dias.PackageFile(f"{package_id}.tar", tar_size, tar_sha, "application/x-tar")
                with open(partial_xml, "xb") as handle:
                    dias.submission_description(handle, facts, tar_file, mets)
                    fsync(handle)
                validate_and_count(partial_xml, dias.SUBMISSION_SCHEMA)
                if options.info_xml:
                    partial_info.write_bytes(dias.info_xml_bytes(facts, tar_file, self._conversions_note(extract)))
                    validate_and_count(partial_info, dias.INFO_SCHEMA)
                _deliver(partial_tar, targets[0])
                if options.info_xml:
                    _deliver(partial_info, targets[2])
                _deliver(partial_xml, targets[1])
                fsync_path(out)
        return ExportResult(
            uuid=package_id,
            tar=targets[0],
            submission_description=targets[1],
            info_xml=targets[2] if options.info_xml else None,
            tar_size=tar_size,
            tar_sha256=tar_sha,
            arkivdeler=[a.tittel for a in scope.arkivdeler],
            test_extract=scope.test_extract,
            counts=dict(extract["counts"]),
            documents=inventory.documents,
            document_bytes=inventory.document_bytes,
            not_accepted_formats=formats.not_accepted,
            unlisted_mime_types=unlisted,
            seconds=round(time.monotonic() - started, 3),
            warnings=self.warnings,
        )

    def _refuse_unless_exportable(self, scope: Scope, inventory: Inventory) -> None:
        if inventory.missing:
            shown = "\n  ".join(inventory.missing[:20])
            more = f"\n  ... and {len(inventory.missing) - 20} more" if len(inventory.missing) > 20 else ""
            raise ExportRefusedError(
                f"{len(inventory.missing)} document file(s) of the extract are missing from the document store "
                f"or have the wrong size:\n  {shown}{more}",
                hint="restore them from backup into the data directory's documents/ folder, then export again",
            )
        if not inventory.journalposter:
            raise ExportRefusedError(
                f"{', '.join(repr(a.tittel) for a in scope.arkivdeler)} holds no journalposter: there is nothing "
                "to deposit (the journal schemas need at least one entry)"
            )
        if not inventory.endringer:
            raise ExportRefusedError(
                "the endringslogg has no change to anything in the extract, and endringslogg.xsd needs at least one",
                hint="a period closed with 'noarkpipe period close' always has its closing logged; "
                "close it that way",
            )
        if scope.test_extract:
            self.warnings.append(
                "test extract (prøveuttrekk): "
                + ", ".join(f"'{a.tittel}' is {a.arkivdelstatus}" for a in scope.arkivdeler if not a.closed)
            )

    def _targets(self, out: Path, package_id: str) -> list[Path]:
        """The tar, the submission description (and info.xml); refused if one is there already."""
        targets = [out / f"{package_id}.tar", out / f"{package_id}.xml"]
        targets += [out / "info.xml"] if self.options.info_xml else []
        for target in targets:
            if target.exists():
                raise ExportRefusedError(
                    f"{target} already exists",
                    hint="the same store and options make the same package: remove the old one to make it "
                    "again, or choose another --out",
                )
        return targets

    def _claim_id(self, scope: Scope, inventory: Inventory) -> uuid.UUID:
        names = ",".join(a.systemID for a in scope.arkivdeler)
        return uuid.uuid5(
            PACKAGE_NAMESPACE, f"claim|{scope.kode}|{names}|{self.created.isoformat()}|{inventory.fingerprint}"
        )

    def _derived_id(self, scope: Scope, inventory: Inventory, extract: dict) -> uuid.UUID:
        """From everything the package's bytes follow from: the extract's XML files as written, the
        documents (systemID, checksum, name), the time, and what the package metadata is made of."""
        deponering = self.deponering.model_dump_json() if self.deponering else ""
        settings = (
            f"{self.depot.model_dump_json()}|{deponering}|{self.options.identify_formats}|{SYSTEM_NAME} {__version__}"
        )
        files = ",".join(f"{name}={digest}" for name, digest in sorted(extract["digests"].items()))
        names = ",".join(a.systemID for a in scope.arkivdeler)
        return uuid.uuid5(
            PACKAGE_NAMESPACE,
            f"{scope.kode}|{names}|{self.created.isoformat()}|{inventory.fingerprint}|{files}|"
            f"{hashlib.sha256(settings.encode()).hexdigest()}",
        )

    def _facts(self, scope: Scope, package_id: str, period: tuple[date, date]) -> dias.PackageFacts:
        deponering = self.deponering
        contact = (
            dias.Contact(deponering.kontaktperson, deponering.adresse, deponering.telefon, deponering.epost)
            if deponering
            else None
        )
        delivery = (deponering.leveranse if deponering else None) or (
            "; ".join(a.tittel for a in scope.arkivdeler) + f" ({period[0].isoformat()} – {period[1].isoformat()})"
        )
        return dias.PackageFacts(
            uuid=package_id,
            created=self.created,
            archivist=scope.navn,
            contact=contact,
            depot=self.depot.navn,
            agreement=self.depot.avtale,
            delivery=delivery,
            system_name=SYSTEM_NAME,
            system_version=__version__,
            start=period[0],
            end=period[1],
        )

    def _write_extract(
        self, session, scope: Scope, inventory: Inventory, staging: Path, period: tuple[date, date]
    ) -> dict:
        content = staging / "content"
        content.mkdir()
        public_job = _PublicJournal(
            self.store_url, content / "offentligJournal.xml", scope, period, self.rules, _COUNTED["offentligJournal"],
            in_process=inventory.journalposter < _PARALLEL_PUBLIC_JOURNAL,
        )
        try:
            self._write_own_files(session, scope, inventory, content, period)
        except BaseException:
            public_job.cancel()
            raise
        self.progress("offentligJournal.xml", 0, None)
        published, public_checked = public_job.result()
        expected = published_count(session, scope, period)
        if published != expected:
            raise InvalidOutputError(
                f"offentligJournal.xml holds {published} entries, the extract has {expected} publishable "
                "journalposter: the journal store changed while the export ran",
                hint="export again (nothing was delivered)",
            )
        return self._describe(session, scope, inventory, content, period, public_checked)

    def _write_own_files(self, session, scope: Scope, inventory: Inventory, content: Path, period) -> None:
        administrativ_enhet = self.deponering.administrativ_enhet if self.deponering else "Postmottak"
        fallback = Closing(self.created, f"{self.actor} (prøveuttrekk)")

        self.progress("arkivstruktur.xml", 0, inventory.journalposter)
        checked = {}
        with open(content / "arkivstruktur.xml", "xb") as handle, self._check(handle, content, "arkivstruktur") as out:
            written = write_arkivstruktur(
                out, session, scope, fallback=fallback, administrativ_enhet=administrativ_enhet,
                journalposter=inventory.journalposter, progress=self.progress,
            )
            checked["arkivstruktur"] = out.finish()
        self.progress("endringslogg.xml", 0, inventory.endringer)
        with open(content / "endringslogg.xml", "xb") as handle, self._check(handle, content, "endringslogg") as out:
            written["endring"] = write_endringslogg(out, session, scope)
            checked["endringslogg"] = out.finish()
        self.progress("loependeJournal.xml", 0, inventory.journalposter)
        with open(content / "loependeJournal.xml", "xb") as handle, self._check(
            handle, content, "loependeJournal"
        ) as out:
            antall = write_loepende_journal(
                out, session, scope, period=period, antall=inventory.journalposter,
                progress=self.progress,
            )
            checked["loependeJournal"] = out.finish()
        if antall != inventory.journalposter:
            raise InvalidOutputError(
                f"loependeJournal.xml: counted {inventory.journalposter} journalposter, wrote {antall}"
            )
        self._checked = checked
        self._written = written

    @staticmethod
    def _check(handle, content: Path, name: str) -> StreamCheck:
        """The file `name`.xml written through a validator that checks it against its schema as it is written."""
        return StreamCheck(handle, content / f"{name}.xml", noark5_schema(name), _COUNTED[name])

    def _describe(self, session, scope: Scope, inventory: Inventory, content: Path, period, public) -> dict:
        """arkivuttrekk.xml from what the four files hold, as their validation counted it."""
        written = self._written
        checked = {**self._checked, "offentligJournal": public}
        counts: dict[str, Counter] = {}
        described = []
        for name, counted in _EXTRACT_XML:
            found, digest = checked[name]
            counts[name] = found
            described.append(
                addml.XmlFileDescription(
                    object_name=name,
                    file=addml.FileDigest(f"{name}.xml", digest),
                    schemas=[
                        addml.FileDigest(f"{name}.xsd", _schema_sha256(noark5_schema(name))),
                        addml.FileDigest("metadatakatalog.xsd", _schema_sha256(noark5_schema("metadatakatalog"))),
                    ],
                    occurrences={element: found[element] for element in counted},
                )
            )
        structure = counts["arkivstruktur"]
        for element in ("mappe", "registrering", "dokumentbeskrivelse", "dokumentobjekt"):
            if structure[element] != written[element]:
                raise InvalidOutputError(
                    f"arkivstruktur.xml: wrote {written[element]} {element}, the file holds {structure[element]}"
                )
        if structure["dokumentobjekt"] != inventory.documents:
            raise InvalidOutputError(
                f"arkivstruktur.xml references {structure['dokumentobjekt']} document files, "
                f"the extract has {inventory.documents}"
            )
        first, last = scope.arkivdeler[0], scope.arkivdeler[-1]
        description = addml.ExtractDescription(
            arkivskaper=scope.navn,
            system_name=SYSTEM_NAME,
            arkiv=scope.arkiv.tittel,
            start=period[0],
            end=period[1],
            inngaaende_skille=_boundary(session, first.referanseForloeper),
            utgaaende_skille=_boundary(session, last.systemID),
            skjermet=inventory.skjermet,
            dokumentfiler=inventory.documents,
            files=described,
        )
        arkivuttrekk = addml.arkivuttrekk_bytes(description)
        (content / "arkivuttrekk.xml").write_bytes(arkivuttrekk)
        validate_and_count(content / "arkivuttrekk.xml", addml.SCHEMA)
        totals: Counter[str] = Counter()
        for name, found in counts.items():
            totals.update({f"{name}.{element}": found[element] for element in dict(_EXTRACT_XML)[name]})
        digests = {name: checked[name][1] for name, _ in _EXTRACT_XML}
        digests["arkivuttrekk"] = hashlib.sha256(arkivuttrekk).hexdigest()
        return {"counts": totals, "konvertering": structure["konvertering"], "digests": digests}

    def _conversions_note(self, extract: dict) -> str:
        converted = extract["konvertering"]
        if not converted:
            return "Ingen konverteringer registrert i uttrekket."
        return f"{converted} konverteringer til arkivformat, registrert under dokumentobjekt/konvertering."

    def _write_tar(self, session, scope, inventory, handle, staging: Path, facts: dias.PackageFacts, extract: dict):
        tar = PackageTar(handle, facts.uuid, int(facts.created.timestamp()))
        try:
            return self._fill_tar(tar, session, scope, inventory, staging, facts, extract)
        except BaseException:
            tar.abort()
            raise

    def _fill_tar(self, tar: PackageTar, session, scope, inventory, staging: Path, facts: dias.PackageFacts,
                  extract: dict):
        inventory_path = staging / "mets-files.tsv"
        unlisted = 0
        with open(inventory_path, "w", encoding="utf-8", newline="\n") as listing, open(
            staging / "documentfile-formatinfo.csv", "w", encoding="utf-8", newline=""
        ) as csv_out:

            def record(member, mime: str | None) -> None:
                nonlocal unlisted
                value, listed = dias.dias_mime(mime)
                unlisted += not listed
                listing.write(f"{member.path}\t{member.size}\t{member.sha256}\t{value}\n")

            tar.add_dir("")
            tar.add_dir("administrative_metadata")
            tar.add_dir("descriptive_metadata")
            tar.add_dir("content")
            content = staging / "content"
            for name in ("arkivstruktur", "endringslogg", "loependeJournal", "offentligJournal"):
                xml = content / f"{name}.xml"
                record(tar.add_file(f"content/{name}.xml", xml, xml.stat().st_size), "application/xml")
                xsd = schema_path(noark5_schema(name))
                record(tar.add_file(f"content/{name}.xsd", xsd, xsd.stat().st_size), "application/xml")
            metadatakatalog = schema_path(noark5_schema("metadatakatalog"))
            record(tar.add_file("content/metadatakatalog.xsd", metadatakatalog, metadatakatalog.stat().st_size),
                   "application/xml")
            arkivuttrekk = content / "arkivuttrekk.xml"
            record(tar.add_file("content/arkivuttrekk.xml", arkivuttrekk, arkivuttrekk.stat().st_size), "application/xml")
            addml_xsd = schema_path(addml.SCHEMA)
            record(tar.add_file("content/addml.xsd", addml_xsd, addml_xsd.stat().st_size), "application/xml")

            formats = FormatReport(
                csv_out, identify=self.options.identify_formats, day=facts.created.date(), expected=inventory.documents
            )
            try:
                self.progress("Documents", 0, inventory.document_bytes)
                copied = 0
                tar.add_dir("content/dokumenter")
                for obj, name in iter_documents(session, scope):
                    source = document_path(self.documents_root, obj.sjekksum)
                    member = tar.add_file(f"content/{name}", source, obj.filstoerrelse, expected_sha256=obj.sjekksum)
                    record(member, obj.mimeType)
                    formats.add(name, obj, source)
                    copied += obj.filstoerrelse
                    self.progress("Documents", copied, inventory.document_bytes)
                formats.finish()
            finally:
                formats.close()

        self.progress("Package metadata", 0, None)
        premis = dias.dias_premis_bytes(facts)
        log = dias.log_bytes(facts, self._events(scope, inventory, extract, formats))
        for data in (premis, log):
            assert_valid(etree.fromstring(data, safe_parser()), dias.DIAS_PREMIS_SCHEMA)
        record_later = []
        record_later.append(tar.add_file("administrative_metadata/addml.xml", arkivuttrekk, arkivuttrekk.stat().st_size))
        record_later.append(tar.add_file("administrative_metadata/addml.xsd", addml_xsd, addml_xsd.stat().st_size))
        record_later.append(tar.add_bytes("administrative_metadata/dias-premis.xml", premis))
        premis_xsd = schema_path(dias.DIAS_PREMIS_SCHEMA)
        record_later.append(tar.add_file("administrative_metadata/dias-premis.xsd", premis_xsd, premis_xsd.stat().st_size))
        csv_path = staging / "documentfile-formatinfo.csv"
        csv_member = tar.add_file("administrative_metadata/documentfile-formatinfo.csv", csv_path, csv_path.stat().st_size)
        log_member = tar.add_bytes("log.xml", log)
        mets_xsd = schema_path(dias.DIAS_METS_SCHEMA)
        mets_xsd_member = tar.add_file("dias-mets.xsd", mets_xsd, mets_xsd.stat().st_size)
        with open(inventory_path, "a", encoding="utf-8", newline="\n") as listing:
            for member in record_later:
                listing.write(f"{member.path}\t{member.size}\t{member.sha256}\tapplication/xml\n")
            listing.write(f"{csv_member.path}\t{csv_member.size}\t{csv_member.sha256}\ttext/plain\n")
            listing.write(f"{log_member.path}\t{log_member.size}\t{log_member.sha256}\tapplication/xml\n")
            listing.write(f"{mets_xsd_member.path}\t{mets_xsd_member.size}\t{mets_xsd_member.sha256}\tapplication/xml\n")

        mets_path = staging / "dias-mets.xml"
        with open(mets_path, "xb") as mets_out:
            listed = dias.write_dias_mets(mets_out, facts, _read_listing(inventory_path))
        self.progress("Checking dias-mets.xml", 0, None)
        validate_and_count(mets_path, dias.DIAS_METS_SCHEMA, ("file",))
        mets_member = tar.add_file("dias-mets.xml", mets_path, mets_path.stat().st_size)
        size, sha = tar.close()
        if listed != sum(1 for _ in _read_listing(inventory_path)):
            raise InvalidOutputError("dias-mets.xml does not list every file of the package")
        mets = dias.PackageFile(f"{facts.uuid}/dias-mets.xml", mets_member.size, mets_member.sha256, "application/xml")
        return size, sha, mets, formats, unlisted

    def _events(self, scope: Scope, inventory: Inventory, extract: dict, formats: FormatReport) -> list[dias.Event]:
        counts = extract["counts"]
        return [
            dias.Event(
                "Creation",
                f"Noark 5 v5.0-uttrekk av {', '.join(repr(a.tittel) for a in scope.arkivdeler)} skrevet fra "
                f"journaldatabasen: {counts['arkivstruktur.mappe']} saksmapper, "
                f"{counts['arkivstruktur.registrering']} journalposter, {inventory.documents} dokumentfiler"
                + (" (prøveuttrekk: arkivdelen er ikke avsluttet)" if scope.test_extract else ""),
                "success",
            ),
            dias.Event(
                "Creation",
                "arkivstruktur.xml, endringslogg.xml, loependeJournal.xml, offentligJournal.xml og "
                "arkivuttrekk.xml validert mot de offisielle skjemaene; antall i arkivuttrekk.xml talt i filene",
                "success",
            ),
            dias.Event(
                "Creation",
                f"SHA-256 for hver dokumentfil kontrollert mot journaldatabasen da den ble skrevet til pakken; "
                f"{formats.not_accepted} dokumentfiler i formater utenfor listen over arkivformater",
                "success",
            ),
        ]


class _PublicJournal:
    """offentligJournal.xml, written in a second process beside the other files (or here, when small).

    The second process reads its own snapshot of the store; the entry count
    is checked against this process's snapshot afterwards. A plain process
    (not a pool) so that an interrupted export can stop it at once.
    """

    def __init__(self, store_url, path, scope, period, rules, counted, *, in_process: bool) -> None:
        self._arguments = (store_url, path, scope, period, rules, counted)
        self._process = None
        if not in_process:
            context = multiprocessing.get_context("spawn")
            self._receive, send = context.Pipe(duplex=False)
            self._process = context.Process(target=_public_journal_child, args=(send, *self._arguments), daemon=True)
            self._process.start()
            send.close()

    def result(self) -> tuple[int, tuple[Counter[str], str]]:
        """(entries written, (element counts, sha256 of the file)), as `offentlig_journal_job` reports 'ok'."""
        if self._process is None:
            outcome = offentlig_journal_job(*self._arguments)
        else:
            try:
                outcome = self._receive.recv()
            except EOFError:
                self._process.join()
                raise InvalidOutputError(
                    f"the process writing offentligJournal.xml died (exit code {self._process.exitcode})",
                    hint="run the export again; if it fails the same way, report it",
                ) from None
            finally:
                self.cancel()
        kind, value, hint = outcome
        if kind == "ok":
            return cast("tuple[int, tuple[Counter[str], str]]", value)
        if kind == "empty":
            raise ExportRefusedError(
                "none of the journalposter of the extract may be published (all are in review, cancelled or "
                "reserved), and offentligJournal.xsd needs at least one entry",
                hint="finish the review queue before closing the period",
            )
        raise InvalidOutputError(f"offentligJournal.xml ({kind}): {value}", hint=hint)

    def cancel(self) -> None:
        if self._process is not None:
            if self._process.is_alive():
                self._process.terminate()
            self._process.join()
            self._receive.close()
            self._process = None


def _public_journal_child(send, *arguments) -> None:
    send.send(offentlig_journal_job(*arguments))
    send.close()


def _read_listing(path: Path) -> Iterator[dias.PackageFile]:
    with open(path, encoding="utf-8") as listing:
        for line in listing:
            name, size, sha, mime = line.rstrip("\n").split("\t")
            yield dias.PackageFile(name, int(size), sha, mime)


def export_package(
    *,
    store_url: str,
    documents_root: Path,
    options: ExportOptions,
    depot: DepotSettings,
    deponering: DeponeringSettings | None,
    rules: ScreeningRuleSet,
    actor: str,
    progress: Progress | None = None,
) -> ExportResult:
    """Write the DIAS transfer package for `options` (see the module doc); raise ExportRefusedError to refuse."""
    return _Exporter(
        store_url=store_url,
        documents_root=documents_root,
        options=options,
        depot=depot,
        deponering=deponering,
        rules=rules,
        actor=actor,
        progress=progress,
    ).run()
