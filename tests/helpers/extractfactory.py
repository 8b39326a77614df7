"""Noark 5 extracts as other records systems deliver them, built for the validator's tests.

The validator must work on extracts made by any system, so its tests do not
use noarkpipe's own exporter: this module writes extracts of the three
shapes depots receive (Noark 5 v5.0, v4.0 and v3.1), valid against the
official schemas, with real documents (a PDF/A-2b letter from
fixtures/sample-extracts/templates, plain-text notes), the ADDML
description with checksums and counts, change log, running and public
journal, and optionally the DIAS package around it (tar, METS, PREMIS,
submission description or info.xml).

Every kind of defect the validator looks for can be injected by name
(`DEFECTS`); `Extract.marks` records where each one went (systemID, file,
journal number), so a test can check that the report points at the right
place. Sizes scale: the benchmark asks for 100 000 registrations and
several GB of documents, which are written as they are generated (each
PDF is the template with a unique, padded comment before its xref table,
so every file has its own checksum and the size asked for).

Norwegian data throughout: æøå in titles and names, K-code classes, case
and journal numbers, screened entries; v3.1 extracts can be written in
ISO-8859-1, as older systems did.
"""

from __future__ import annotations

import hashlib
import io
import random
import shutil
import tarfile
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "schemas"
TEMPLATES = REPO / "fixtures" / "sample-extracts" / "templates"

VERSIONS = ("v5.0", "v4.0", "v3.1")
N5 = "http://www.arkivverket.no/standarder/noark5"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
ADDML_NS = "http://www.arkivverket.no/standarder/addml"
DIAS_METS_NS = "http://arkivverket.no/standarder/METS"
METS_NS = "http://www.loc.gov/METS/"
PREMIS_NS = "http://arkivverket.no/standarder/PREMIS"

DEFECTS = {
    # documents
    "missing_document": "a referenced document file is not in the extract",
    "unreferenced_file": "a file in dokumenter/ that no dokumentobjekt references",
    "file_referenced_twice": "two dokumentobjekt reference the same file",
    "zero_byte_file": "a referenced document file is empty",
    "wrong_checksum": "a dokumentobjekt's sjekksum does not match its file",
    "wrong_size": "a dokumentobjekt's filstoerrelse does not match its file",
    "backslash_paths": "referanseDokumentfil written with Windows backslashes",
    "unaccepted_format": "a document in a format depots do not accept (plain PDF 1.3)",
    "false_pdfa": "a document declared and claimed as PDF/A that is not (fonts not embedded)",
    "extension_mismatch": "a PDF/A document whose file is named .txt",
    # identifiers and references
    "duplicate_systemid": "two registrations share one systemID",
    "crossref_dangling": "a kryssreferanse to a registration that is not in the extract",
    "changelog_dangling": "an endringslogg entry for an entity that is not in the extract",
    "systemid_class_reused_for_folder": "a saksmappe carries the systemID of a klasse",
    "shared_class_differs": "a klasse of a shared classification system differs under the second arkivdel",
    "secondary_reference_dangling": "a referanseSekundaerKlassifikasjon pointing at no klasse",
    # hierarchy
    "empty_class": "a class without subclasses, folders or registrations",
    "class_mixed": "a class holding both subclasses and folders (also a schema error)",
    "empty_folder": "a saksmappe without registrations",
    "registration_without_documents": "a journalpost without dokumentbeskrivelse",
    "document_without_objects": "a dokumentbeskrivelse without dokumentobjekt",
    "outside_period": "a journalpost dated after the arkivdel's period",
    # journals
    "journal_entry_missing": "a loependeJournal entry whose journalpost is not in arkivstruktur",
    "journal_key_mismatch": "a loependeJournal entry whose journalsekvensnummer differs from arkivstruktur",
    "journal_count": "loependeJournal's antallJournalposter differs from its entries",
    "public_journal_short": "offentligJournal.xml leaves out one journalpost (rejected as Utgår) that the "
                            "running journal holds",
    "code_value_unknown": "a journalpost whose journalstatus is not in the Noark 5 code list",
    "empty_element": "a journalpost whose arkivertAv is empty (valid against the schema, no value)",
    # structure
    "schema_error": "an invalid date in arkivstruktur.xml (schema violation)",
    "not_well_formed": "endringslogg.xml cut off in the middle",
    "altered_xsd": "arkivstruktur.xsd in the extract differs from the official one",
    "altered_xsd_element": "arkivstruktur.xsd in the extract makes arkiv's systemID optional (a changed element)",
    "missing_loependejournal": "loependeJournal.xml (and its schema) left out",
    "addml_checksum": "arkivuttrekk.xml states a wrong checksum for arkivstruktur.xml",
    "addml_count": "arkivuttrekk.xml states a wrong number of registrations",
    "addml_empty_checksum": "arkivuttrekk.xml states the checksum of endringslogg.xml without a value",
    "addml_no_document_count": "arkivuttrekk.xml leaves out antallDokumentfiler",
    "addml_flag_contradicts": "arkivuttrekk.xml says inneholderSkjermetInformasjon false, the extract has skjerming",
    "doctype": "arkivstruktur.xml carries a DOCTYPE with an external entity",
    # DIAS package
    "tar_checksum": "the submission description states a wrong checksum for the tar",
    "mets_missing_entry": "dias-mets.xml does not list one file of the package",
    "mets_extra_entry": "dias-mets.xml lists a file that is not in the package",
    "mets_checksum": "dias-mets.xml states a wrong checksum for one file",
    "addml_copy_differs": "administrative_metadata/addml.xml is not a copy of content/arkivuttrekk.xml",
}

SCHEMA_FORMS = ("shipped", "lf", "crlf", "bom", "trailing")


def schema_bytes(data: bytes, form: str) -> bytes:
    """A shipped schema's bytes in one of the forms other systems deliver (same content)."""
    lf = data.replace(b"\r\n", b"\n")
    if form == "lf":
        return lf
    if form == "crlf":
        return lf.replace(b"\n", b"\r\n")
    if form == "bom":
        return b"\xef\xbb\xbf" + data
    if form == "trailing":
        return lf.rstrip(b"\n").replace(b"\n", b"  \n")
    return data


CLASSES = (
    ("0", "Fellesfunksjoner", (("033", "Offentlig journal og arkiv"), ("070", "Informasjonsteknologi"))),
    ("2", "Økonomi", (("210", "Budsjett og økonomiplan"), ("256", "Regnskap og revisjon"))),
    ("L", "Plan- og bygningssaker", (("L42", "Byggesaker – søknadspliktige tiltak"), ("L12", "Reguleringsplaner"))),
    ("F", "Sosiale tjenester", (("F47", "Økonomisk sosialhjelp"),)),
)
CASE_TITLES = {
    "033": "Innsyn i postliste uke {n} – forespørsel fra Fjellvik Avis",
    "070": "Anskaffelse av sak- og arkivsystem – avtale {n}",
    "210": "Budsjett {year} – innspill fra Øvre Seim skole",
    "256": "Årsregnskap {year} – revisjonsberetning",
    "L42": "Byggesak gnr. {n} bnr. {m} – garasje i Bjørkeveien",
    "L12": "Reguleringsplan for Ærøsletta boligfelt, del {n}",
    "F47": "Søknad om økonomisk sosialhjelp – {name}",
}
SCREENED_CLASSES = {"F47"}
SECONDARY_CLASSES = (("12/7", "Gnr. 12 bnr. 7 – Bjørkeveien 7"), ("13/1", "Gnr. 13 bnr. 1 – Ærøsletta"))
PEOPLE = (
    "Åse Ødegård", "Bjørn Ærø", "Kåre Løvås", "Siv Brænne", "Ørjan Haugå", "Gunnhild Sæther",
    "Tor Øyvind Bråthen", "Mari Kjærnes", "Pål Åmodt", "Ingrid Skåre",
)
ORGANISATIONS = ("Ærlig Bygg AS", "Fjellvik Avis", "Statsforvalteren i Vestland", "Øvre Seim skole", "Kåfjord Rør AS")
CASE_OFFICERS = ("Hilde Østby", "Jon Ågesen", "Randi Bøe")
JOURNALPOSTTYPER = ("Inngående dokument", "Utgående dokument", "Organinternt dokument for oppfølging")
NOTE_TEXT = (
    "Notat til saken\n\nTelefonsamtale med søker om manglende tegninger. Søker ettersender "
    "situasjonsplan og nabovarsel innen fredag. Saksbehandler følger opp.\n"
)


@dataclass
class ExtractSpec:
    """What to build: version, size, and which defects to inject (names from DEFECTS)."""

    version: str = "v5.0"
    registrations: int = 24
    cases: int | None = None
    """Folders; by default one per three registrations."""
    document_bytes: int = 0
    """Pad each PDF to about this size (0: the template's own size, about 15 kB)."""
    first_year: int = 2019
    last_year: int = 2022
    defects: frozenset[str] = frozenset()
    encoding: str = "utf-8"
    seed: int = 7
    secondary_classification: bool = False
    """A second klassifikasjonssystem (by property, gnr/bnr) without content of its own, whose classes cases
    point at with referanseSekundaerKlassifikasjon."""
    cancelled_without_documents: bool = False
    """One journalpost rejected as Utgår, with no documents (nothing to deliver)."""
    shared_classification: bool = False
    """Two arkivdeler sharing one klassifikasjonssystem, written under each with the same systemIDs."""
    changelog_without_system_ids: bool = False
    """Change-log entries about an arkivskaper and (before v5.0) dokumentobjekter: entities that carry no
    systemID in arkivstruktur.xml, referred to by the identifiers of the system that made the extract."""
    schema_folder: str | None = None
    """Which shipped folder's schemas the extract carries (default: the version's own, e.g. 'v5.0-2019')."""
    schema_form: str = "shipped"
    """How the schemas' bytes are written: 'shipped' (as Arkivverket publishes them), 'lf' or 'crlf' (every
    line ending converted), 'bom' (a UTF-8 byte-order mark in front), 'trailing' (final newline dropped,
    spaces at line ends): all the official schema, as other systems deliver it."""

    def __post_init__(self) -> None:
        if self.version not in VERSIONS:
            raise ValueError(f"unknown version {self.version}")
        if self.schema_form not in SCHEMA_FORMS:
            raise ValueError(f"unknown schema form {self.schema_form}")
        unknown = set(self.defects) - set(DEFECTS)
        if unknown:
            raise ValueError(f"unknown defects: {sorted(unknown)}")
        self.defects = frozenset(self.defects)


@dataclass
class Extract:
    """An extract written to `content`: what it holds and where each injected defect is."""

    content: Path
    spec: ExtractSpec
    counts: dict[str, int] = field(default_factory=dict)
    per_year: dict[int, int] = field(default_factory=dict)
    document_files: int = 0
    document_bytes: int = 0
    marks: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class DiasPackage:
    tar: Path
    submission_description: Path
    package_uuid: str
    extract: Extract


def _template(name: str) -> bytes:
    return (TEMPLATES / name).read_bytes()


def padded_pdf(template: bytes, unique: str, size: int) -> bytes:
    """The template with a comment block before its xref table: unique bytes, about `size` long."""
    cut = template.rindex(b"\nxref\n") + 1
    head, tail = template[:cut], template[cut:]
    comment = f"%noarkpipe-extractfactory {unique}\n".encode("ascii")
    missing = size - len(template) - len(comment)
    filler = b""
    if missing > 0:
        line = b"%" + b"x" * 78 + b"\n"
        filler = line * (missing // len(line))
    body = head + comment + filler
    startxref = tail.rindex(b"startxref\n")
    return body + tail[:startxref] + b"startxref\n" + str(len(head) + len(comment) + len(filler)).encode() + b"\n%%EOF\n"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _e(name: str, value) -> str:
    return f"<{name}>{escape(str(value))}</{name}>"


def _dt(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


class _Ids:
    """systemIDs from a seeded generator, so an extract is the same byte for byte each time."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def __call__(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))


@dataclass
class _Case:
    system_id: str
    klasse: str
    klasse_tittel: str
    saksaar: int
    sekvens: int
    tittel: str
    screened: bool
    created: datetime


@dataclass
class _Registration:
    system_id: str
    kind: str
    tittel: str
    journalaar: int
    journalsekvens: int
    journalpostnummer: int
    journalposttype: str
    journalstatus: str
    journaldato: date
    created: datetime
    party: str
    screened: bool
    documents: list[dict]


def build_extract(target: Path, spec: ExtractSpec | None = None) -> Extract:
    """Write a Noark 5 extract folder at `target` (created) and return what it holds."""
    spec = spec or ExtractSpec()
    target.mkdir(parents=True, exist_ok=True)
    (target / "dokumenter").mkdir(exist_ok=True)
    return _Builder(target, spec).build()


class _Builder:
    def __init__(self, content: Path, spec: ExtractSpec) -> None:
        self.content = content
        self.spec = spec
        self.v5 = spec.version == "v5.0"
        self.rng = random.Random(spec.seed)
        self.new_id = _Ids(self.rng)
        self.extract = Extract(content=content, spec=spec)
        self.counts = dict.fromkeys((
            "arkiv", "arkivdel", "klassifikasjonssystem", "klasse", "mappe", "registrering", "journalpost",
            "dokumentbeskrivelse", "dokumentobjekt", "korrespondansepart", "part", "merknad", "kryssreferanse",
            "skjerming", "kassasjon", "konvertering", "endring",
        ), 0)
        self.pdfa = _template("brev-pdfa-2b.pdf")
        self.journal_entries: list[str] = []
        self.public_entries: list[str] = []
        self.changes: list[str] = []
        self.registration_ids: list[str] = []
        self.marks = self.extract.marks
        self.document_number = 5_000_000
        self.sequence_by_year: dict[int, int] = {}
        self.case_sequence_by_year: dict[int, int] = {}
        self.period_start = date(spec.first_year, 1, 1)
        self.period_end = date(spec.last_year, 12, 31)
        self.arkivdel_id = ""
        self.reused_class_id = ""
        self.secondary: list[str] = []
        self.secondary_system = ""
        self.first_document: tuple[str, str, int] | None = None

    # -- the whole extract ------------------------------------------------------------------

    def build(self) -> Extract:
        spec = self.spec
        # characters the encoding lacks (the en dash in ISO-8859-1) become character references, as XML allows
        with open(self.content / "arkivstruktur.xml", "w", encoding=spec.encoding, errors="xmlcharrefreplace",
                  newline="\n") as out:
            self._write_arkivstruktur(out)
        self._write_endringslogg()
        if "missing_loependejournal" not in spec.defects:
            self._write_journal("loependeJournal", self.journal_entries)
        public = self.public_entries
        if "public_journal_short" in spec.defects:
            public = public[:3] + public[4:]
            self.marks["public_journal_short"] = {"stated": str(len(public))}
        self._write_journal("offentligJournal", public)
        self._copy_schemas()
        if "unreferenced_file" in spec.defects:
            stray = self.content / "dokumenter" / "ikke-registrert-skanning.pdf"
            stray.write_bytes(padded_pdf(self.pdfa, "stray", 0))
            self.extract.document_files += 1
            self.marks["unreferenced_file"] = {"file": "dokumenter/ikke-registrert-skanning.pdf"}
        self._write_addml()
        self.extract.counts = dict(self.counts)
        return self.extract

    # -- arkivstruktur -------------------------------------------------------------------------

    def _write_arkivstruktur(self, out) -> None:
        spec = self.spec
        header = f'<?xml version="1.0" encoding="{spec.encoding}"?>\n'
        if "doctype" in spec.defects:
            header += '<!DOCTYPE arkiv [\n  <!ENTITY ekstern SYSTEM "file:///etc/passwd">\n]>\n'
            self.marks["doctype"] = {"file": "arkivstruktur.xml"}
        out.write(header)
        out.write(
            f'<arkiv xmlns="{N5}/arkivstruktur" xmlns:xsi="{XSI}" '
            f'xsi:schemaLocation="{N5}/arkivstruktur arkivstruktur.xsd">\n'
        )
        self.counts["arkiv"] += 1
        closed = datetime(spec.last_year + 1, 1, 15, 8, 0)
        out.write(
            _e("systemID", self.new_id()) + _e("tittel", "Fjellvik kommunes sakarkiv")
            + _e("arkivstatus", "Avsluttet") + _e("dokumentmedium", "Elektronisk arkiv")
            + _e("opprettetDato", _dt(datetime(spec.first_year, 1, 1, 8, 0))) + _e("opprettetAv", "Arkivtjenesten")
            + _e("avsluttetDato", _dt(closed)) + _e("avsluttetAv", "Arkivtjenesten") + "\n"
        )
        out.write("<arkivskaper>" + _e("arkivskaperID", "fjellvik") + _e("arkivskaperNavn", "Fjellvik kommune")
                  + "</arkivskaper>\n")
        shared = spec.shared_classification or "shared_class_differs" in spec.defects
        arkivdel_ids = [self.new_id()]
        system_id = self.new_id()
        if spec.secondary_classification or "secondary_reference_dangling" in spec.defects:
            self.secondary_system = self.new_id()
            self.secondary = [self.new_id() for _ in SECONDARY_CLASSES]
        class_ids: dict[str, str] = {}
        leaf_classes = [(code, title) for _, _, children in CLASSES for code, title in children]
        # every leaf class gets a case (an empty class is a defect of its own), when there are registrations enough
        cases_total = spec.cases if spec.cases is not None else max(
            min(len(leaf_classes), spec.registrations), (spec.registrations + 2) // 3, 1)
        per_class = _spread(cases_total, len(leaf_classes))
        regs_per_case = _spread(spec.registrations, cases_total)
        first = [0]
        for _, _, children in CLASSES:
            first.append(first[-1] + sum(per_class[leaf_classes.index(child)] for child in children))
        if shared:
            # one classification system shared by two arkivdeler: the XML repeats it, with the same
            # systemIDs and content, under each; the cases of the first two top classes are in the first
            arkivdel_ids.append(self.new_id())
        self.arkivdel_id = arkivdel_ids[0]
        for part, arkivdel_id in enumerate(arkivdel_ids):
            tops = range(len(CLASSES)) if not shared else (range(2) if part == 0 else range(2, len(CLASSES)))
            self._write_arkivdel(out, part, arkivdel_id, system_id, class_ids, set(tops), leaf_classes, per_class,
                                 regs_per_case, first, closed, shared)
        out.write("</arkiv>\n")

    def _write_arkivdel(self, out, part, arkivdel_id, system_id, class_ids, tops, leaf_classes, per_class,
                        regs_per_case, first, closed, shared) -> None:
        spec = self.spec
        self.counts["arkivdel"] += 1
        title = f"Sakarkiv {spec.first_year}–{spec.last_year}" + (f", del {part + 1}" if shared else "")
        out.write(
            "<arkivdel>" + _e("systemID", arkivdel_id)
            + _e("tittel", title) + _e("arkivdelstatus", "Avsluttet periode")
            + _e("dokumentmedium", "Elektronisk arkiv")
            + _e("opprettetDato", _dt(datetime(spec.first_year, 1, 1, 8, 0))) + _e("opprettetAv", "Arkivtjenesten")
            + _e("avsluttetDato", _dt(closed)) + _e("avsluttetAv", "Arkivtjenesten")
            + _e("arkivperiodeStartDato", self.period_start.isoformat())
            + _e("arkivperiodeSluttDato", self.period_end.isoformat())
            + "<kassasjon>" + _e("kassasjonsvedtak", "Bevares") + _e("bevaringstid", 0)
            + _e("kassasjonsdato", date(spec.last_year + 1, 1, 1).isoformat()) + "</kassasjon>\n"
        )
        self.counts["kassasjon"] += 1
        self.counts["klassifikasjonssystem"] += 1
        out.write(
            "<klassifikasjonssystem>" + _e("systemID", system_id)
            + _e("klassifikasjonstype", "Funksjonsbasert, hierarkisk") + _e("tittel", "KS-nøkkelen (K-koder)")
            + _e("opprettetDato", _dt(datetime(spec.first_year, 1, 1, 8, 0))) + _e("opprettetAv", "Arkivtjenesten") + "\n"
        )
        for top, (top_code, top_title, children) in enumerate(CLASSES):
            self.counts["klasse"] += 1
            top_id = class_ids.setdefault(top_code, self.new_id())
            out.write("<klasse>" + _e("systemID", top_id) + _e("klasseID", top_code) + _e("tittel", top_title)
                      + _e("opprettetDato", _dt(datetime(spec.first_year, 1, 1, 8, 0)))
                      + _e("opprettetAv", "Arkivtjenesten") + "\n")
            if "class_mixed" in spec.defects and top_code == "2":
                self.marks["class_mixed"] = {"klasseID": top_code}
            case_index = first[top]
            for code, title in children:
                leaf = leaf_classes.index((code, title))
                klasse_id = class_ids.setdefault(code, self.new_id())
                if "systemid_class_reused_for_folder" in spec.defects and code == "L42":
                    self.reused_class_id = klasse_id
                if "shared_class_differs" in spec.defects and part == 1 and code == "210":
                    title = title + " (endret)"
                    self.marks["shared_class_differs"] = {"systemID": klasse_id}
                self.counts["klasse"] += 1
                out.write("<klasse>" + _e("systemID", klasse_id) + _e("klasseID", code) + _e("tittel", title)
                          + _e("opprettetDato", _dt(datetime(spec.first_year, 1, 1, 8, 0)))
                          + _e("opprettetAv", "Arkivtjenesten") + "\n")
                for _ in range(per_class[leaf]):
                    if top in tops:
                        self._write_case(out, code, title, regs_per_case[case_index], case_index)
                    case_index += 1
                out.write("</klasse>\n")
            if "class_mixed" in spec.defects and top_code == "2" and top in tops:
                # a folder directly in a class that already has subclasses
                self._write_case(out, "2", top_title, 1, -2)
            out.write("</klasse>\n")
        if "empty_class" in spec.defects and part == 0:
            empty_id = self.new_id()
            self.counts["klasse"] += 1
            out.write("<klasse>" + _e("systemID", empty_id) + _e("klasseID", "X99") + _e("tittel", "Utgått klasse – ikke i bruk")
                      + _e("opprettetDato", _dt(datetime(spec.first_year, 1, 1, 8, 0)))
                      + _e("opprettetAv", "Arkivtjenesten") + "</klasse>\n")
            self.marks["empty_class"] = {"systemID": empty_id, "klasseID": "X99"}
        out.write("</klassifikasjonssystem>\n")
        if part == 0 and self.secondary:
            self.counts["klassifikasjonssystem"] += 1
            out.write("<klassifikasjonssystem>" + _e("systemID", self.secondary_system)
                      + _e("klassifikasjonstype", "Gårds- og bruksnummer") + _e("tittel", "Eiendommer (gnr/bnr)")
                      + _e("opprettetDato", _dt(datetime(spec.first_year, 1, 1, 8, 0)))
                      + _e("opprettetAv", "Arkivtjenesten") + "\n")
            for (code, title), class_id in zip(SECONDARY_CLASSES, self.secondary):
                self.counts["klasse"] += 1
                out.write("<klasse>" + _e("systemID", class_id) + _e("klasseID", code) + _e("tittel", title)
                          + _e("opprettetDato", _dt(datetime(spec.first_year, 1, 1, 8, 0)))
                          + _e("opprettetAv", "Arkivtjenesten") + "</klasse>\n")
            out.write("</klassifikasjonssystem>\n")
        out.write("</arkivdel>\n")

    def _write_case(self, out, code: str, class_title: str, registrations: int, index: int) -> None:
        spec = self.spec
        rng = self.rng
        year = spec.first_year + (max(index, 0) % (spec.last_year - spec.first_year + 1))
        self.case_sequence_by_year[year] = self.case_sequence_by_year.get(year, 0) + 1
        sequence = self.case_sequence_by_year[year]
        name = PEOPLE[index % len(PEOPLE)]
        tittel = CASE_TITLES.get(code, class_title + " {n}").format(n=rng.randint(1, 250), m=rng.randint(1, 90),
                                                                    year=year, name=name)
        created = datetime(year, 1 + index % 12, 1 + index % 27, 9, 0) if index >= 0 else datetime(year, 6, 1, 9, 0)
        case = _Case(self.new_id(), code, class_title, year, sequence, tittel, code in SCREENED_CLASSES, created)
        if "systemid_class_reused_for_folder" in spec.defects and code == "L42" and index >= 0 \
                and "systemid_class_reused_for_folder" not in self.marks:
            case.system_id = self.reused_class_id
            self.marks["systemid_class_reused_for_folder"] = {"systemID": case.system_id}
        if "empty_folder" in spec.defects and index == 1:
            registrations = 0
            self.marks["empty_folder"] = {"systemID": case.system_id}
        self.counts["mappe"] += 1
        parts = ""
        if self.v5 and index % 4 == 0:
            self.counts["part"] += 1
            parts = "<part>" + _e("partNavn", name) + _e("partRolle", "Søker") + "</part>"
        public_title = ""
        if case.screened:
            public_title = _e("offentligTittel", tittel.replace(name, "*****"))
        out.write(
            '<mappe xsi:type="saksmappe">' + _e("systemID", case.system_id) + _e("mappeID", f"{year}/{sequence}")
            + _e("tittel", tittel) + public_title + _e("dokumentmedium", "Elektronisk arkiv")
            + _e("opprettetDato", _dt(created)) + _e("opprettetAv", CASE_OFFICERS[index % 3])
            + _e("avsluttetDato", _dt(created + timedelta(days=60))) + _e("avsluttetAv", CASE_OFFICERS[index % 3])
            + parts + "\n"
        )
        for number in range(1, registrations + 1):
            self._write_registration(out, case, number)
        sakspart = ""
        if not self.v5 and index % 4 == 0:
            self.counts["part"] += 1
            sakspart = "<sakspart>" + _e("sakspartNavn", name) + _e("sakspartRolle", "Søker") + "</sakspart>"
        out.write(
            _e("saksaar", year) + _e("sakssekvensnummer", sequence) + _e("saksdato", created.date().isoformat())
            + _e("administrativEnhet", "Plan og bygg" if code.startswith("L") else "Sentraladministrasjonen")
            + _e("saksansvarlig", CASE_OFFICERS[index % 3]) + _e("journalenhet", "SENTRAL")
            + _e("saksstatus", "Avsluttet") + self._secondary_reference(case, index) + sakspart + "</mappe>\n"
        )

    def _secondary_reference(self, case: _Case, index: int) -> str:
        if not self.secondary or index < 0:
            return ""
        target = self.secondary[index % len(self.secondary)]
        if "secondary_reference_dangling" in self.spec.defects and "secondary_reference_dangling" not in self.marks:
            target = str(uuid.UUID(int=4711, version=4))
            self.marks["secondary_reference_dangling"] = {"systemID": target}
        return _e("referanseSekundaerKlassifikasjon", target)

    def _write_registration(self, out, case: _Case, number: int) -> None:
        spec = self.spec
        rng = self.rng
        ordinal = len(self.registration_ids)
        kind = "journalpost" if ordinal % 10 != 9 else ("arkivnotat" if self.v5 else "basisregistrering")
        journaldato = case.created.date() + timedelta(days=7 * (number - 1) + rng.randint(0, 5))
        if journaldato > self.period_end:
            journaldato = self.period_end - timedelta(days=rng.randint(0, 20))
        if "outside_period" in spec.defects and ordinal == 5:
            journaldato = self.period_end + timedelta(days=40)
        year = journaldato.year
        if kind == "journalpost":
            self.sequence_by_year[year] = self.sequence_by_year.get(year, 0) + 1
        system_id = self.new_id()
        if "duplicate_systemid" in spec.defects and ordinal == 4:
            system_id = self.registration_ids[2]
            self.marks["duplicate_systemid"] = {"systemID": system_id}
        self.registration_ids.append(system_id)
        party = (PEOPLE + ORGANISATIONS)[rng.randrange(len(PEOPLE) + len(ORGANISATIONS))]
        jp_type = JOURNALPOSTTYPER[ordinal % len(JOURNALPOSTTYPER)]
        tittel = {
            "Inngående dokument": f"{case.tittel} – brev fra {party}",
            "Utgående dokument": f"{case.tittel} – svar til {party}",
        }.get(jp_type, f"{case.tittel} – internt notat")
        created = datetime.combine(journaldato, datetime.min.time()) + timedelta(hours=9, minutes=ordinal % 60)
        registration = _Registration(
            system_id=system_id, kind=kind, tittel=tittel, journalaar=year,
            journalsekvens=self.sequence_by_year.get(year, 0), journalpostnummer=number, journalposttype=jp_type,
            journalstatus="Ferdig arkivert" if "code_value_unknown" in spec.defects and ordinal == 4 else "Arkivert",
            journaldato=journaldato, created=created, party=party,
            screened=case.screened, documents=[],
        )
        self.counts["registrering"] += 1
        if kind == "journalpost":
            self.counts["journalpost"] += 1
        self.extract.per_year[year] = self.extract.per_year.get(year, 0) + 1
        if "code_value_unknown" in spec.defects and ordinal == 4:
            self.marks["code_value_unknown"] = {"systemID": system_id, "value": "Ferdig arkivert"}
        if "outside_period" in spec.defects and ordinal == 5:
            self.marks["outside_period"] = {"systemID": system_id, "journaldato": journaldato.isoformat()}
        documents = "" if self._skip_documents(registration, ordinal) else self._documents(registration, ordinal)
        out.write(self._registration_xml(case, registration, documents, ordinal))
        if kind == "journalpost":
            self._journal_entry(case, registration, ordinal)
        if ordinal % 7 == 3:
            self._change(system_id, "tittel", registration.tittel + " (utkast)", registration.tittel)

    def _skip_documents(self, registration: _Registration, ordinal: int) -> bool:
        if self.spec.cancelled_without_documents and ordinal == 1:
            registration.journalstatus = "Utgår"
            return True
        if "registration_without_documents" in self.spec.defects and ordinal == 7:
            self.marks["registration_without_documents"] = {"systemID": registration.system_id}
            return True
        return False

    def _documents(self, registration: _Registration, ordinal: int) -> str:
        spec = self.spec
        xml = []
        count = 1 if ordinal % 3 == 0 else 2
        for number in range(1, count + 1):
            db_id = self.new_id()
            self.counts["dokumentbeskrivelse"] += 1
            main = number == 1
            title = registration.tittel if main else "Vedlegg: notat fra telefonsamtale"
            objects = ""
            if "document_without_objects" in spec.defects and ordinal == 8 and not main:
                self.marks["document_without_objects"] = {"systemID": db_id}
            else:
                objects = self._document_object(registration, ordinal, main)
            xml.append(
                "<dokumentbeskrivelse>" + _e("systemID", db_id) + _e("dokumenttype", "Brev" if main else "Vedlegg")
                + _e("dokumentstatus", "Dokumentet er ferdigstilt") + _e("tittel", title)
                + _e("opprettetDato", _dt(registration.created)) + _e("opprettetAv", CASE_OFFICERS[ordinal % 3])
                + _e("tilknyttetRegistreringSom", "Hoveddokument" if main else "Vedlegg")
                + _e("dokumentnummer", number) + _e("tilknyttetDato", _dt(registration.created))
                + _e("tilknyttetAv", CASE_OFFICERS[ordinal % 3]) + objects + "</dokumentbeskrivelse>\n"
            )
        return "".join(xml)

    def _document_object(self, registration: _Registration, ordinal: int, main: bool) -> str:
        spec = self.spec
        self.document_number += 1
        self.counts["dokumentobjekt"] += 1
        declared = "fmt/477" if self.v5 else "RA-PDF"
        details = "PDF/A-2b"
        if main:
            data = padded_pdf(self.pdfa, f"{spec.seed}-{self.document_number}", spec.document_bytes)
            name = f"{self.document_number}.pdf"
            if "unaccepted_format" in spec.defects and ordinal == 10:
                data = _template("notat-pdf-1.3.pdf")
                declared, details = ("fmt/17" if self.v5 else "PDF"), "PDF 1.3"
                self.marks["unaccepted_format"] = {"file": f"dokumenter/{name}"}
            if "false_pdfa" in spec.defects and ordinal == 11:
                data = _template("falsk-pdfa.pdf")
                self.marks["false_pdfa"] = {"file": f"dokumenter/{name}"}
            if "extension_mismatch" in spec.defects and ordinal == 12:
                name = f"{self.document_number}.txt"
                self.marks["extension_mismatch"] = {"file": f"dokumenter/{name}"}
        else:
            data = (NOTE_TEXT + f"Dokument {self.document_number}, {registration.tittel}\n").encode("utf-8")
            name = f"{self.document_number}.txt"
            declared, details = ("x-fmt/111" if self.v5 else "RA-TEKST"), "UTF-8"
        relative = f"dokumenter/{name}"
        path = self.content / relative
        checksum, size = _sha256(data), len(data)
        reference = relative
        if "zero_byte_file" in spec.defects and ordinal == 6 and main:
            data = b""
            checksum, size = _sha256(data), 0
            self.marks["zero_byte_file"] = {"file": relative}
        twice = "file_referenced_twice" in spec.defects and ordinal == 9 and main
        if "missing_document" in spec.defects and ordinal == 3 and main:
            self.marks["missing_document"] = {"file": relative, "systemID": registration.system_id}
        elif not twice:
            path.write_bytes(data)
            self.extract.document_files += 1
            self.extract.document_bytes += len(data)
        if twice:
            reference, checksum, size = self.first_document
            self.marks["file_referenced_twice"] = {"file": reference}
        if self.first_document is None:
            self.first_document = (relative, checksum, size)
        if "wrong_checksum" in spec.defects and ordinal == 12 and main:
            checksum = _sha256(b"noe annet")
            self.marks["wrong_checksum"] = {"file": relative}
        if "wrong_size" in spec.defects and ordinal == 13 and main:
            size += 1
            self.marks["wrong_size"] = {"file": relative}
        if "backslash_paths" in spec.defects:
            reference = reference.replace("/", "\\")
        conversion = ""
        if main and ordinal % 5 == 0:
            self.counts["konvertering"] += 1
            conversion = (
                "<konvertering>" + _e("konvertertDato", _dt(registration.created + timedelta(hours=2)))
                + _e("konvertertAv", "noarkpipe konvertering") + _e("konvertertFraFormat", "fmt/412" if self.v5 else "DOCX")
                + _e("konvertertTilFormat", declared) + _e("konverteringsverktoey", "LibreOffice 7.4")
                + _e("konverteringskommentar", "Arkivversjon laget ved arkivering") + "</konvertering>"
            )
        object_id = _e("systemID", self.new_id()) if self.v5 else ""
        return (
            "<dokumentobjekt>" + object_id + _e("versjonsnummer", 1) + _e("variantformat", "Arkivformat")
            + _e("format", declared) + _e("formatDetaljer", details)
            + _e("opprettetDato", _dt(registration.created)) + _e("opprettetAv", "noarkpipe")
            + _e("referanseDokumentfil", reference) + _e("sjekksum", checksum) + _e("sjekksumAlgoritme", "SHA256")
            + _e("filstoerrelse", size) + conversion + "</dokumentobjekt>"
        )

    def _registration_xml(self, case: _Case, reg: _Registration, documents: str, ordinal: int) -> str:
        spec = self.spec
        v5 = self.v5
        xsi_type = reg.kind
        base = (
            _e("systemID", reg.system_id) + _e("opprettetDato", _dt(reg.created))
            + _e("opprettetAv", CASE_OFFICERS[ordinal % 3]) + _e("arkivertDato", _dt(reg.created + timedelta(days=1)))
            + _e("arkivertAv", "  " if "empty_element" in spec.defects and ordinal == 6 else "Arkivtjenesten")
        )
        screening = ""
        if reg.screened:
            self.counts["skjerming"] += 1
            screening = (
                "<skjerming>" + _e("tilgangsrestriksjon", "13")
                + _e("skjermingshjemmel", "Offl. § 13 jf. fvl. § 13 første ledd nr. 1")
                + _e("skjermingMetadata", "tittel") + _e("skjermingMetadata", "korrespondansepart") + "</skjerming>"
            )
        if "empty_element" in spec.defects and ordinal == 6:
            self.marks["empty_element"] = {"systemID": reg.system_id}
        journaldato = reg.journaldato.isoformat()
        if "schema_error" in spec.defects and ordinal == 2:
            journaldato = f"{reg.journaldato.year}-13-45"
            self.marks["schema_error"] = {"systemID": reg.system_id, "value": journaldato}
        remark = ""
        if ordinal % 6 == 1:
            self.counts["merknad"] += 1
            remark = ("<merknad>" + _e("merknadstekst", "Søker er orientert pr. telefon om saksbehandlingstiden.")
                      + _e("merknadstype", "Merknad fra saksbehandler") + _e("merknadsdato", _dt(reg.created))
                      + _e("merknadRegistrertAv", CASE_OFFICERS[ordinal % 3]) + "</merknad>")
        crossref = ""
        if ordinal % 8 == 5 and len(self.registration_ids) > 2:
            self.counts["kryssreferanse"] += 1
            target = self.registration_ids[-3]
            if "crossref_dangling" in spec.defects and "crossref_dangling" not in self.marks:
                target = str(uuid.UUID(int=424242, version=4))
                self.marks["crossref_dangling"] = {"systemID": reg.system_id, "target": target}
            crossref = "<kryssreferanse>" + _e("referanseTilRegistrering", target) + "</kryssreferanse>"
        public_title = _e("offentligTittel", reg.tittel.replace(reg.party, "*****")) if reg.screened else ""
        ident = _e("registreringsID", f"{case.saksaar}/{case.sekvens}-{reg.journalpostnummer}")
        parties = ""
        if reg.kind == "journalpost":
            self.counts["korrespondansepart"] += 1
            parties = (
                "<korrespondansepart>"
                + _e("korrespondanseparttype", "Avsender" if reg.journalposttype == "Inngående dokument" else "Mottaker")
                + _e("korrespondansepartNavn", reg.party) + _e("postadresse", "Bjørkeveien 7")
                + _e("postnummer", "5355") + _e("poststed", "Kårevik") + "</korrespondansepart>"
            )
        journal = ""
        if reg.kind == "journalpost":
            received = (_e("mottattDato", _dt(reg.created)) if reg.journalposttype == "Inngående dokument"
                        else _e("sendtDato", _dt(reg.created)))
            journal = (
                _e("journalaar", reg.journalaar) + _e("journalsekvensnummer", reg.journalsekvens)
                + _e("journalpostnummer", reg.journalpostnummer) + _e("journalposttype", reg.journalposttype)
                + _e("journalstatus", reg.journalstatus) + _e("journaldato", journaldato)
                + _e("dokumentetsDato", reg.journaldato.isoformat()) + received
            )
        elif v5:
            journal = _e("dokumentetsDato", reg.journaldato.isoformat())
        if v5:
            body = (base + screening + documents + ident + _e("tittel", reg.tittel) + public_title + remark + crossref
                    + parties + journal)
        else:
            documents_or_nothing = documents
            body = (base + screening + documents_or_nothing + ident + _e("tittel", reg.tittel) + public_title + remark
                    + crossref + journal + parties)
        return f'<registrering xsi:type="{xsi_type}">{body}</registrering>\n'

    # -- journals and change log ------------------------------------------------------------

    def _journal_entry(self, case: _Case, reg: _Registration, ordinal: int) -> None:
        spec = self.spec
        system_id, sequence = reg.system_id, reg.journalsekvens
        if "journal_entry_missing" in spec.defects and ordinal == 14:
            system_id = str(uuid.UUID(int=777, version=4))
            self.marks["journal_entry_missing"] = {"systemID": system_id}
        if "journal_key_mismatch" in spec.defects and ordinal == 15:
            sequence = reg.journalsekvens + 1000
            self.marks["journal_key_mismatch"] = {"systemID": system_id, "journalnummer": f"{reg.journalaar}/{sequence}"}
        grad = ""
        screening = ""
        if reg.screened:
            screening = _e("tilgangsrestriksjon", "13") + grad + _e("skjermingshjemmel", "Offl. § 13 jf. fvl. § 13 første ledd nr. 1")
        party = ("<korrespondansepart>" + _e("korrespondanseparttype",
                 "Avsender" if reg.journalposttype == "Inngående dokument" else "Mottaker")
                 + _e("korrespondansepartNavn", reg.party) + "</korrespondansepart>")
        public_party = ("<korrespondansepart>" + _e("korrespondanseparttype",
                        "Avsender" if reg.journalposttype == "Inngående dokument" else "Mottaker")
                        + _e("korrespondansepartNavn", "*****" if reg.screened else reg.party) + "</korrespondansepart>")
        klasse = "<klasse>" + _e("klasseID", case.klasse) + _e("tittel", case.klasse_tittel) + "</klasse>"
        case_public = case.tittel if not case.screened else case.tittel.replace(PEOPLE[0], "*****")
        numbers = _e("journalaar", reg.journalaar) + _e("journalsekvensnummer", sequence) + _e("journalpostnummer", reg.journalpostnummer)
        self.journal_entries.append(
            "<journalregistrering>" + klasse + "<saksmappe>" + _e("saksaar", case.saksaar)
            + _e("sakssekvensnummer", case.sekvens) + _e("tittel", case.tittel) + "</saksmappe>"
            + "<journalpost>" + _e("systemID", system_id) + numbers + _e("tittel", reg.tittel)
            + _e("journaldato", reg.journaldato.isoformat()) + screening + party + "</journalpost></journalregistrering>\n"
        )
        public_title = reg.tittel.replace(reg.party, "*****") if reg.screened else reg.tittel
        self.public_entries.append(
            "<journalregistrering>" + klasse + "<saksmappe>" + _e("saksaar", case.saksaar)
            + _e("sakssekvensnummer", case.sekvens) + _e("offentligTittel", case_public) + "</saksmappe>"
            + "<journalpost>" + _e("systemID", reg.system_id) + _e("journalaar", reg.journalaar)
            + _e("journalsekvensnummer", reg.journalsekvens) + _e("journalpostnummer", reg.journalpostnummer)
            + _e("offentligTittel", public_title) + _e("journaldato", reg.journaldato.isoformat()) + screening
            + public_party + "</journalpost></journalregistrering>\n"
        )

    def _change(self, system_id: str, field_name: str, old: str, new: str) -> None:
        self.counts["endring"] += 1
        moment = datetime(self.spec.first_year, 3, 1, 12, 0) + timedelta(hours=len(self.changes))
        self.changes.append(
            "<endring>" + _e("referanseArkivenhet", system_id) + _e("referanseMetadata", field_name)
            + _e("endretDato", _dt(moment)) + _e("endretAv", CASE_OFFICERS[len(self.changes) % 3])
            + _e("tidligereVerdi", old) + _e("nyVerdi", new) + "</endring>\n"
        )

    def _write_endringslogg(self) -> None:
        if "changelog_dangling" in self.spec.defects:
            ghost = str(uuid.UUID(int=99, version=4))
            self._change(ghost, "journalstatus", "Journalført", "Arkivert")
            self.marks["changelog_dangling"] = {"systemID": ghost}
        if not self.changes:
            self._change(self.registration_ids[0], "tittel", "Utkast", "Endelig")
        if self.spec.changelog_without_system_ids:
            # the producing system's own identifiers: nothing in arkivstruktur.xml carries them
            self._change(str(uuid.UUID(int=31336, version=4)), "arkivskaperNavn", "Fjellvik herad", "Fjellvik kommune")
            if not self.v5:
                self._change(str(uuid.UUID(int=31337, version=4)), "format", "DOC", "RA-PDF")
                self._change(str(uuid.UUID(int=31338, version=4)), "sjekksum", "0" * 64, "1" * 64)
        text = (
            f'<?xml version="1.0" encoding="utf-8"?>\n<endringslogg xmlns="{N5}/endringslogg" xmlns:xsi="{XSI}" '
            f'xsi:schemaLocation="{N5}/endringslogg endringslogg.xsd">\n' + "".join(self.changes) + "</endringslogg>\n"
        )
        data = text.encode("utf-8")
        if "not_well_formed" in self.spec.defects:
            data = data[: len(data) * 2 // 3]
            self.marks["not_well_formed"] = {"file": "endringslogg.xml"}
        (self.content / "endringslogg.xml").write_bytes(data)

    def _write_journal(self, name: str, entries: list[str]) -> None:
        count = len(entries)
        if name == "loependeJournal" and "journal_count" in self.spec.defects:
            count += 3
            self.marks["journal_count"] = {"file": "loependeJournal.xml", "stated": str(count)}
        header = (
            "<journalhode>" + _e("journalStartDato", self.period_start.isoformat())
            + _e("journalSluttDato", self.period_end.isoformat()) + _e("antallJournalposter", count)
            + "<arkivskaper>" + _e("arkivskaperID", "fjellvik") + _e("arkivskaperNavn", "Fjellvik kommune")
            + "</arkivskaper></journalhode>\n"
        )
        text = (
            f'<?xml version="1.0" encoding="utf-8"?>\n<{name} xmlns="{N5}/{name}" xmlns:xsi="{XSI}" '
            f'xsi:schemaLocation="{N5}/{name} {name}.xsd">\n' + header + "".join(entries) + f"</{name}>\n"
        )
        (self.content / f"{name}.xml").write_text(text, encoding="utf-8")

    def _copy_schemas(self) -> None:
        version = self.spec.schema_folder or self.spec.version
        for name in ("arkivstruktur", "metadatakatalog", "endringslogg", "loependeJournal", "offentligJournal"):
            if name == "loependeJournal" and "missing_loependejournal" in self.spec.defects:
                continue
            data = (SCHEMAS / "noark5" / version / f"{name}.xsd").read_bytes()
            (self.content / f"{name}.xsd").write_bytes(schema_bytes(data, self.spec.schema_form))
        data = (SCHEMAS / "addml" / self.addml_schema).read_bytes()
        (self.content / "addml.xsd").write_bytes(schema_bytes(data, self.spec.schema_form))
        if "altered_xsd" in self.spec.defects:
            path = self.content / "arkivstruktur.xsd"
            path.write_bytes(path.read_bytes().replace(b"</xs:schema>", b"<!-- tilpasset -->\n</xs:schema>"))
            self.marks["altered_xsd"] = {"file": "arkivstruktur.xsd"}
        if "altered_xsd_element" in self.spec.defects:
            path = self.content / "arkivstruktur.xsd"
            element = b'name="systemID" type="n5mdk:systemID"'
            path.write_bytes(path.read_bytes().replace(element, element + b' minOccurs="0"', 1))
            self.marks["altered_xsd_element"] = {"file": "arkivstruktur.xsd", "element": "element[@name='systemID']"}

    @property
    def addml_schema(self) -> str:
        return "addml-8.3.xsd" if self.v5 else "addml-8.2.xsd"

    # -- ADDML ------------------------------------------------------------------------------

    def _write_addml(self) -> None:
        spec = self.spec
        if "addml_flag_contradicts" in spec.defects:
            self.marks["addml_flag_contradicts"] = {"flag": "inneholderSkjermetInformasjon"}
        if "addml_no_document_count" in spec.defects:
            self.marks["addml_no_document_count"] = {"element": "antallDokumentfiler"}
        objects = []
        files = [
            ("arkivstruktur", "arkivstruktur.xml", ("arkivstruktur.xsd", "metadatakatalog.xsd"),
             (("mappe", self.counts["mappe"]), ("registrering", self.counts["registrering"]),
              ("dokumentbeskrivelse", self.counts["dokumentbeskrivelse"]),
              ("dokumentobjekt", self.counts["dokumentobjekt"]))),
            ("endringslogg", "endringslogg.xml", ("endringslogg.xsd", "metadatakatalog.xsd"),
             (("endring", self.counts["endring"]),)),
            ("loependeJournal", "loependeJournal.xml", ("loependeJournal.xsd", "metadatakatalog.xsd"),
             (("journalregistrering", len(self.journal_entries)),)),
            ("offentligJournal", "offentligJournal.xml", ("offentligJournal.xsd", "metadatakatalog.xsd"),
             (("journalregistrering", len(self.public_entries) - ("public_journal_short" in spec.defects)),)),
        ]
        for name, filename, schemas, occurrences in files:
            path = self.content / filename
            if not path.exists():
                continue
            checksum = _file_sha256(path)
            if name == "arkivstruktur" and "addml_checksum" in spec.defects:
                checksum = _sha256(b"feil")
                self.marks["addml_checksum"] = {"file": filename}
            if name == "endringslogg" and "addml_empty_checksum" in spec.defects:
                checksum = ""
                self.marks["addml_empty_checksum"] = {"file": filename}
            schema_props = []
            for index, schema in enumerate(schemas):
                schema_path = self.content / schema
                schema_props.append(
                    '<property name="schema">' + ("<value>main</value>" if index == 0 else "")
                    + "<properties>" + _file_property(schema, _file_sha256(schema_path), "XML Schema")
                    + "</properties></property>"
                )
            info = []
            for element, count in occurrences:
                if element == "registrering" and "addml_count" in spec.defects:
                    count += 5
                    self.marks["addml_count"] = {"element": "registrering", "stated": str(count)}
                info.append(
                    f'<property name="numberOfOccurrences"><value>{element}</value><properties>'
                    f'<property name="elementPath"><value>//{element}</value></property>'
                    f'<property name="value" dataType="integer"><value>{count}</value></property>'
                    "</properties></property>"
                )
            objects.append(
                f'<dataObject name="{name}"><properties>' + _file_property(filename, checksum, "XML")
                + "".join(schema_props)
                + ('<property name="info"><properties>' + "".join(info) + "</properties></property>" if info else "")
                + "</properties></dataObject>\n"
            )
        version = spec.version.lstrip("v")
        text = (
            f'<?xml version="1.0" encoding="utf-8"?>\n<addml xmlns="{ADDML_NS}" xmlns:xsi="{XSI}" name="Noark 5-arkivuttrekk" '
            f'xsi:schemaLocation="{ADDML_NS} addml.xsd">\n<dataset>\n<description>Noark 5-arkivuttrekk</description>\n'
            "<reference><context><additionalElements>"
            '<additionalElement name="recordCreators"><additionalElements><additionalElement name="recordCreator">'
            "<value>Fjellvik kommune</value></additionalElement></additionalElements></additionalElement>"
            '<additionalElement name="systemType"><value>Noark5</value></additionalElement>'
            '<additionalElement name="systemName"><value>Ephorte Kommune</value></additionalElement>'
            '<additionalElement name="archive"><value>Fjellvik kommunes sakarkiv</value></additionalElement>'
            "</additionalElements></context><content><additionalElements>"
            '<additionalElement name="archivalPeriod"><properties>'
            f'<property name="startDate"><value>{self.period_start.isoformat()}</value></property>'
            f'<property name="endDate"><value>{self.period_end.isoformat()}</value></property>'
            "</properties></additionalElement></additionalElements></content></reference>\n"
            '<dataObjects><dataObject name="Noark 5-arkivuttrekk"><properties><property name="info"><properties>'
            f'<property name="type"><value>Noark 5</value><properties><property name="version"><value>{version}</value>'
            "</property></properties></property>"
            '<property name="additionalInfo"><properties><property name="periode"><properties>'
            '<property name="inngaaendeSkille"><value>skarp</value></property>'
            '<property name="utgaaendeSkille"><value>skarp</value></property></properties></property>'
            '<property name="inneholderSkjermetInformasjon" dataType="boolean">'
            f'<value>{"false" if "addml_flag_contradicts" in spec.defects else "true"}</value></property>'
            + ("" if "addml_no_document_count" in spec.defects else
               '<property name="antallDokumentfiler" dataType="integer">'
               f"<value>{self.extract.document_files}</value></property>") +
            "</properties></property></properties></property></properties>\n<dataObjects>\n"
            + "".join(objects) + "</dataObjects></dataObject></dataObjects>\n</dataset>\n</addml>\n"
        )
        (self.content / "arkivuttrekk.xml").write_text(text, encoding="utf-8")


def _file_property(name: str, checksum: str, kind: str) -> str:
    return (
        '<property name="file"><properties>'
        f'<property name="name"><value>{escape(name)}</value></property>'
        f'<property name="format"><value>{kind}</value></property>'
        '<property name="checksum"><properties><property name="algorithm"><value>SHA256</value></property>'
        f'<property name="value"><value>{checksum}</value></property></properties></property>'
        "</properties></property>"
    )


def _spread(total: int, buckets: int) -> list[int]:
    """`total` split over `buckets` as evenly as possible."""
    base, extra = divmod(total, buckets)
    return [base + (1 if index < extra else 0) for index in range(buckets)]


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- the DIAS package ---------------------------------------------------------------------------


def build_dias_package(
    out_dir: Path,
    spec: ExtractSpec | None = None,
    *,
    package_uuid: str | None = None,
    description: str = "mets",
    hostile: tuple[str, ...] = (),
) -> DiasPackage:
    """Build the extract and pack it as `<UUID>.tar` with `<UUID>.xml` (or info.xml) beside it in `out_dir`.

    `description` is "mets" (submission description, submissionDescription.xsd),
    "info" (the older info.xml) or "none". `hostile` adds tar members a
    validator must report and never follow: "traversal", "absolute",
    "symlink", "hardlink", "device", "fifo".
    """
    spec = spec or ExtractSpec()
    package_uuid = package_uuid or str(uuid.UUID(int=random.Random(spec.seed).getrandbits(128), version=4))
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = out_dir / f".staging-{package_uuid}"
    if staging.exists():
        shutil.rmtree(staging)
    root = staging / package_uuid
    extract = build_extract(root / "content", spec)
    extract.content = root / "content"
    _write_package_metadata(root, package_uuid, extract)
    tar_path = out_dir / f"{package_uuid}.tar"
    _write_tar(tar_path, staging, package_uuid, hostile)
    shutil.rmtree(staging)
    tar_checksum = _file_sha256(tar_path)
    if "tar_checksum" in spec.defects:
        extract.marks["tar_checksum"] = {"actual": tar_checksum}
        tar_checksum = _sha256(b"ikke denne")
    if description == "info":
        described = out_dir / "info.xml"
        described.write_text(_info_xml(package_uuid, tar_path.name, tar_checksum, spec), encoding="utf-8")
    elif description == "mets":
        described = out_dir / f"{package_uuid}.xml"
        described.write_text(
            _submission_description(package_uuid, tar_path.name, tar_checksum, tar_path.stat().st_size, spec),
            encoding="utf-8",
        )
    else:
        described = out_dir / f"{package_uuid}.xml"
    return DiasPackage(tar=tar_path, submission_description=described, package_uuid=package_uuid, extract=extract)


def _write_tar(tar_path: Path, staging: Path, package_uuid: str, hostile: tuple[str, ...]) -> None:
    with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted((staging / package_uuid).rglob("*")):
            arcname = path.relative_to(staging).as_posix()
            info = tar.gettarinfo(str(path), arcname)
            info.uid = info.gid = 0
            info.uname = info.gname = "arkiv"
            info.mtime = 1_671_000_000
            if path.is_file():
                with open(path, "rb") as stream:
                    tar.addfile(info, stream)
            else:
                tar.addfile(info)
        for kind in hostile:
            tar.addfile(*_hostile_member(kind, package_uuid))


def _hostile_member(kind: str, package_uuid: str) -> tuple[tarfile.TarInfo, io.BytesIO | None]:
    payload = b"root:x:0:0:root:/root:/bin/bash\n"
    if kind == "traversal":
        info = tarfile.TarInfo(f"{package_uuid}/content/dokumenter/../../../../tmp/noarkpipe-evil.txt")
    elif kind == "absolute":
        info = tarfile.TarInfo("/tmp/noarkpipe-evil-absolute.txt")
    elif kind == "symlink":
        info = tarfile.TarInfo(f"{package_uuid}/content/dokumenter/lenke.pdf")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        return info, None
    elif kind == "hardlink":
        info = tarfile.TarInfo(f"{package_uuid}/content/dokumenter/hardlenke.pdf")
        info.type, info.linkname = tarfile.LNKTYPE, "/etc/shadow"
        return info, None
    elif kind == "device":
        info = tarfile.TarInfo(f"{package_uuid}/content/dokumenter/enhet")
        info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
        return info, None
    elif kind == "fifo":
        info = tarfile.TarInfo(f"{package_uuid}/content/dokumenter/ror")
        info.type = tarfile.FIFOTYPE
        return info, None
    else:
        raise ValueError(f"unknown hostile member {kind}")
    info.size = len(payload)
    return info, io.BytesIO(payload)


def _mime(name: str) -> str:
    """The MIME type as the DIAS METS schema spells it (its list has image/pdf, not application/pdf)."""
    return {".xml": "application/xml", ".xsd": "application/xml", ".pdf": "image/pdf",
            ".txt": "text/plain", ".csv": "text/plain"}.get(Path(name).suffix, "text/plain")


def _write_package_metadata(root: Path, package_uuid: str, extract: Extract) -> None:
    spec = extract.spec
    admin = root / "administrative_metadata"
    admin.mkdir(parents=True)
    (root / "descriptive_metadata").mkdir()
    addml = (root / "content" / "arkivuttrekk.xml").read_bytes()
    if "addml_copy_differs" in spec.defects:
        addml = addml.replace(b"Fjellvik kommunes sakarkiv", b"Fjellvik kommunes sakarkiv (kopi)")
        extract.marks["addml_copy_differs"] = {"file": "administrative_metadata/addml.xml"}
    (admin / "addml.xml").write_bytes(addml)
    shutil.copyfile(root / "content" / "addml.xsd", admin / "addml.xsd")
    shutil.copyfile(SCHEMAS / "dias" / "dias-premis.xsd", admin / "dias-premis.xsd")
    (admin / "dias-premis.xml").write_text(_premis_object(package_uuid), encoding="utf-8")
    rows = ["path;extension;puid;format name;version;error"]
    for path in sorted((root / "content" / "dokumenter").iterdir()):
        puid, name = ("fmt/477", "Acrobat PDF/A - Portable Document Format;2b") if path.suffix == ".pdf" else (
            "x-fmt/111", "Plain Text File;")
        rows.append(f"content/dokumenter/{path.name};{path.suffix.lstrip('.')};{puid};{name};")
    (admin / "documentfile-formatinfo.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (root / "log.xml").write_text(_premis_log(package_uuid), encoding="utf-8")
    shutil.copyfile(SCHEMAS / "dias" / "dias-mets.xsd", root / "dias-mets.xsd")
    files = sorted(p for p in root.rglob("*") if p.is_file())
    (root / "dias-mets.xml").write_text(_dias_mets(root, package_uuid, files, spec, extract), encoding="utf-8")


def _agents(spec: ExtractSpec, prefix: str) -> str:
    agents = [
        ("ARCHIVIST", None, "ORGANIZATION", None, "Fjellvik kommune", ()),
        ("ARCHIVIST", None, "INDIVIDUAL", None, "Åse Ødegård", ("Rådhusgata 1, 5355 Kårevik", "55 12 34 56", "arkiv@fjellvik.kommune.no")),
        ("OTHER", "SUBMITTER", "ORGANIZATION", None, "Fjellvik kommune, arkivtjenesten", ()),
        ("OTHER", "PRODUCER", "ORGANIZATION", None, "Fjellvik kommune, IT", ()),
        ("CREATOR", None, "ORGANIZATION", None, "Fjellvik kommune", ()),
        ("PRESERVATION", None, "ORGANIZATION", None, "IKA Vestland", ()),
        ("ARCHIVIST", None, "OTHER", "SOFTWARE", "Ephorte Kommune", ("5.4", "Noark5", spec.version)),
        ("OTHER", "PRODUCER", "OTHER", "SOFTWARE", "extractfactory", ("1.0",)),
    ]
    xml = []
    for role, other_role, kind, other_type, name, notes in agents:
        attributes = f'ROLE="{role}"' + (f' OTHERROLE="{other_role}"' if other_role else "") + f' TYPE="{kind}"'
        attributes += f' OTHERTYPE="{other_type}"' if other_type else ""
        xml.append(f"<{prefix}agent {attributes}><{prefix}name>{escape(name)}</{prefix}name>"
                   + "".join(f"<{prefix}note>{escape(note)}</{prefix}note>" for note in notes) + f"</{prefix}agent>\n")
    return "".join(xml)


def _dias_mets(root: Path, package_uuid: str, files: list[Path], spec: ExtractSpec, extract: Extract) -> str:
    entries = []
    listed = [p for p in files if p.name != "dias-mets.xml"]
    if "mets_missing_entry" in spec.defects:
        left_out = next(p for p in listed if p.suffix == ".txt")
        listed.remove(left_out)
        extract.marks["mets_missing_entry"] = {"file": left_out.relative_to(root).as_posix()}
    for index, path in enumerate(listed, start=1):
        relative = path.relative_to(root).as_posix()
        checksum = _file_sha256(path)
        if "mets_checksum" in spec.defects and "mets_checksum" not in extract.marks and path.suffix == ".pdf":
            checksum = _sha256(b"feil sjekksum")
            extract.marks["mets_checksum"] = {"file": relative}
        entries.append(
            f'<mets:file ID="fileId_{index}" MIMETYPE="{_mime(path.name)}" SIZE="{path.stat().st_size}" '
            f'CREATED="2022-12-15T09:30:00+01:00" CHECKSUM="{checksum}" CHECKSUMTYPE="SHA-256" USE="Datafile">'
            f'<mets:FLocat LOCTYPE="URL" xlink:type="simple" xlink:href={quoteattr("file:" + relative)}/></mets:file>\n'
        )
    if "mets_extra_entry" in spec.defects:
        entries.append(
            '<mets:file ID="fileId_extra" MIMETYPE="image/pdf" SIZE="1234" CREATED="2022-12-15T09:30:00+01:00" '
            f'CHECKSUM="{_sha256(b"borte")}" CHECKSUMTYPE="SHA-256" USE="Datafile">'
            '<mets:FLocat LOCTYPE="URL" xlink:type="simple" xlink:href="file:content/dokumenter/borte.pdf"/></mets:file>\n'
        )
        extract.marks["mets_extra_entry"] = {"file": "content/dokumenter/borte.pdf"}
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<mets:mets xmlns:mets="{DIAS_METS_NS}" '
        f'xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:xsi="{XSI}" '
        f'xsi:schemaLocation="{DIAS_METS_NS} dias-mets.xsd" OBJID="UUID:{package_uuid}" '
        f'LABEL="Ephorte Kommune ({spec.first_year} - {spec.last_year})" TYPE="SIP" '
        'PROFILE="http://xml.ra.se/METS/RA_METS_eARD.xml">\n'
        '<mets:metsHdr CREATEDATE="2022-12-15T09:30:00+01:00" RECORDSTATUS="NEW">\n'
        + _agents(spec, "mets:")
        + '<mets:altRecordID TYPE="DELIVERYSPECIFICATION">Arkivuttrekk Noark 5</mets:altRecordID>\n'
        + '<mets:altRecordID TYPE="SUBMISSIONAGREEMENT">IKAV 2022/17; 2022-11-01</mets:altRecordID>\n'
        + f'<mets:altRecordID TYPE="STARTDATE">{spec.first_year}-01-01</mets:altRecordID>\n'
        + f'<mets:altRecordID TYPE="ENDDATE">{spec.last_year}-12-31</mets:altRecordID>\n'
        + '<mets:metsDocumentID>dias-mets.xml</mets:metsDocumentID>\n'
        + "</mets:metsHdr>\n"
        + '<mets:fileSec><mets:fileGrp ID="fileGroup001" USE="FILES">\n' + "".join(entries)
        + "</mets:fileGrp></mets:fileSec>\n"
        + '<mets:structMap><mets:div LABEL="Package"/></mets:structMap>\n</mets:mets>\n'
    )


def _submission_description(package_uuid: str, tar_name: str, checksum: str, size: int, spec: ExtractSpec) -> str:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<mets:mets xmlns:mets="{METS_NS}" '
        f'xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:xsi="{XSI}" '
        f'OBJID="UUID:{package_uuid}" LABEL="Ephorte Kommune ({spec.first_year} - {spec.last_year})" TYPE="SIP" '
        'PROFILE="http://xml.ra.se/METS/RA_METS_eARD.xml">\n'
        '<mets:metsHdr CREATEDATE="2022-12-15T09:30:00+01:00" RECORDSTATUS="NEW">\n'
        + _agents(spec, "mets:")
        + '<mets:altRecordID TYPE="DELIVERYSPECIFICATION">Arkivuttrekk Noark 5</mets:altRecordID>\n'
        + f'<mets:altRecordID TYPE="STARTDATE">{spec.first_year}-01-01</mets:altRecordID>\n'
        + f'<mets:altRecordID TYPE="ENDDATE">{spec.last_year}-12-31</mets:altRecordID>\n'
        + "</mets:metsHdr>\n"
        + '<mets:fileSec><mets:fileGrp ID="fileGroup001" USE="FILES">\n'
        + f'<mets:file ID="fileId_1" MIMETYPE="application/x-tar" SIZE="{size}" CREATED="2022-12-15T09:30:00+01:00" '
        + f'CHECKSUM="{checksum}" CHECKSUMTYPE="SHA-256" USE="Datafile">'
        + f'<mets:FLocat LOCTYPE="URL" xlink:type="simple" xlink:href="file:{tar_name}"/></mets:file>\n'
        + "</mets:fileGrp></mets:fileSec>\n<mets:structMap><mets:div/></mets:structMap>\n</mets:mets>\n"
    )


def _info_xml(package_uuid: str, tar_name: str, checksum: str, spec: ExtractSpec) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<info xmlns="www.arkivverket.no/standarder/info" '
        f'pakkeID="{package_uuid}">\n'
        '<aktor><aktorType><rolle navn="Arkivskaper"/><kontaktperson navn="Åse Ødegård">'
        "<telefon>55 12 34 56</telefon><ePost>arkiv@fjellvik.kommune.no</ePost></kontaktperson></aktorType></aktor>\n"
        f"<uttrekk><type>Noark 5</type><typeVersjon>{spec.version}</typeVersjon></uttrekk>\n"
        "<system><systemType>Noark 5</systemType><systemNavn>Ephorte Kommune</systemNavn><versjon>5.4</versjon></system>\n"
        f'<sjekksummer><fil filnavn="{tar_name}"><sjekksum>{checksum}</sjekksum><algoritme>SHA256</algoritme></fil>'
        "</sjekksummer>\n<integritetsInfo><konverteringsHistorikk>Ingen</konverteringsHistorikk></integritetsInfo>\n</info>\n"
    )


def _premis_object(package_uuid: str, events: str = "") -> str:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<premis:premis xmlns:premis="{PREMIS_NS}" '
        f'xmlns:xsi="{XSI}" version="2.0">\n'
        "<premis:object xsi:type=\"premis:file\"><premis:objectIdentifier>"
        "<premis:objectIdentifierType>NO/RA</premis:objectIdentifierType>"
        f"<premis:objectIdentifierValue>{package_uuid}</premis:objectIdentifierValue></premis:objectIdentifier>"
        "<premis:objectCharacteristics><premis:compositionLevel>0</premis:compositionLevel>"
        "<premis:format><premis:formatDesignation><premis:formatName>tar</premis:formatName>"
        "</premis:formatDesignation></premis:format></premis:objectCharacteristics></premis:object>\n"
        + events + "</premis:premis>\n"
    )


def _premis_log(package_uuid: str) -> str:
    return _premis_object(
        package_uuid,
        "<premis:event><premis:eventIdentifier><premis:eventIdentifierType>NO/RA</premis:eventIdentifierType>"
        f"<premis:eventIdentifierValue>{package_uuid}-1</premis:eventIdentifierValue></premis:eventIdentifier>"
        "<premis:eventType>Creation</premis:eventType><premis:eventDateTime>2022-12-15T09:30:00+01:00"
        "</premis:eventDateTime><premis:eventDetail>Uttrekk pakket som SIP</premis:eventDetail></premis:event>\n",
    )

