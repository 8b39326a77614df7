"""A closed archive period generated straight into a journal store, for export tests and the benchmark.

The nightly run journals a few hundred items an hour; a deposit holds
10^5-10^6 registrations. This module writes such a period directly into
the store with bulk inserts (the same tables and columns journaling fills),
and the documents as real files in the document store (content-addressed,
unique bytes per file, sizes spread around the requested mean), so an
export reads exactly what it would read after years of nightly runs.

What it makes, deterministic for a seed: one arkivskaper with its arkiv and
one closed arkivdel (`Avsluttet periode`, with its closing in the
endringslogg), a K-code klassifikasjonssystem, saksmapper of 1-5
journalposter each, closed; journalposter over the period's years with
Norwegian titles and senders (æøå), a share screened (offentligTittel with
*****, the screened name only in the title); 1-3 documents per
journalpost, a share with an Arkivformat copy and its konvertering record;
and endringslogg rows (review approvals, the closing).
"""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from helpers.extractfactory import REPO, padded_pdf
from noarkpipe.store import tables
from noarkpipe.store.docstore import DocumentStore
from noarkpipe.store.engine import Store

KLASSER = [
    ("000", "Generelle saker"), ("002", "Postjournal"), ("026", "Kontrakter og avtaler"),
    ("033", "Møter og saksbehandling"), ("081", "Lønn og personalsaker"), ("143", "Planlegging"),
    ("210", "Regnskap"), ("231", "Skatter og avgifter"), ("A20", "Barnehager"),
    ("A22", "Grunnskole"), ("F40", "Barnevern"), ("G10", "Helsetjenester"),
    ("L42", "Byggesaker"), ("M10", "Vannforsyning"), ("Q13", "Veger og trafikk"),
]
TITLES = [
    "Søknad om dispensasjon fra reguleringsplan – gnr. {n} bnr. 7",
    "Klage på vedtak om skoleskyss for elev ved Ørneberget skole",
    "Melding om vannlekkasje i Øvre Bjørkelia {n}",
    "Innsynsbegjæring – skjenkebevilling Café Ærlig",
    "Byggesak – tilbygg til bolig, Åsveien {n}",
    "Faktura for brøyting av kommunale veger, desember",
    "Spørsmål om eiendomsskatt for Østre Åsvei {n}",
]
SENDERS = ["Åse Ødegård", "Per Ærø", "Bjørn Løvås", "Fjellvik Bygg AS", "Statens vegvesen", "Kari Ås"]
SCREENED_NAME = "Sølvi Hemmelig-Ødegård"
MASK = "*****"
EPOCH = datetime(2024, 1, 1, 8, 0, tzinfo=UTC)


@dataclass
class Generated:
    kode: str
    arkivdel_systemID: str
    saksmapper: int
    journalposter: int
    dokumentobjekter: int
    exported_documents: int
    document_bytes: int
    screened: int
    endringer: int


class _Ids:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def system_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


# Real PDFs (the validator's templates), each made unique and of the asked size by a padded comment.
PDFA = (REPO / "fixtures" / "sample-extracts" / "templates" / "brev-pdfa-2b.pdf").read_bytes()
PLAIN_PDF = (REPO / "fixtures" / "sample-extracts" / "templates" / "notat-pdf-1.3.pdf").read_bytes()


@dataclass(frozen=True)
class _Blob:
    sha256: str
    size: int


def _put(documents: DocumentStore, content: bytes) -> _Blob:
    """Into the document store's layout, without its fsyncs: generated data needs no crash safety."""
    sha = hashlib.sha256(content).hexdigest()
    path = documents.path_for(sha)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return _Blob(sha, len(content))


def generate(
    store_url: str,
    documents_root: Path,
    *,
    registrations: int = 300,
    mean_document_bytes: int = 20_000,
    seed: int = 1,
    kode: str = "fjellvik",
    navn: str = "Fjellvik kommune",
    start: date = date(2020, 1, 1),
    end: date = date(2023, 12, 31),
    batch: int = 5000,
    open_period: bool = False,
    open_cases: float = 0.0,
    progress=None,
) -> Generated:
    """Write a closed period of `registrations` journalposter into the store at `store_url`.

    With `open_period` the arkivdel is still `Aktiv periode` (nothing closed, no closing
    logged), and a share `open_cases` of the cases is `Under behandling`, half of
    them with their newest journalpost in the review queue (status M).
    """
    rng = random.Random(seed)
    ids = _Ids(rng)
    documents = DocumentStore(documents_root)
    store = Store.open(store_url)
    engine = store.engine
    now = datetime(end.year + 1, 1, 15, 9, 0, tzinfo=UTC)
    actor = "noarkpipe"
    stats = Generated(kode, "", 0, 0, 0, 0, 0, 0, 0)
    pending: dict[type, list[dict]] = {}

    def add(table, row: dict) -> None:
        pending.setdefault(table, []).append(row)
        if len(pending[table]) >= batch:
            flush_all()  # parents before children: the store checks foreign keys

    order = [
        tables.Arkivskaper, tables.Arkiv, tables.Arkivdel, tables.Klassifikasjonssystem, tables.Klasse,
        tables.Saksmappe, tables.Journalpost, tables.Korrespondansepart, tables.Dokumentbeskrivelse,
        tables.Dokumentobjekt, tables.Konvertering, tables.Endringslogg,
    ]

    def flush_all() -> None:
        with engine.begin() as connection:
            for table in order:
                rows = pending.pop(table, [])
                if rows:
                    connection.execute(insert(table), rows)

    with engine.begin() as connection:
        offsets = {t: connection.exec_driver_sql(f"SELECT COALESCE(MAX(id), 0) FROM {t.__tablename__}").scalar() for t in order}

    counters = {t: offsets[t] for t in order}

    def next_id(table) -> int:
        counters[table] += 1
        return counters[table]

    skaper_id = next_id(tables.Arkivskaper)
    add(tables.Arkivskaper, {"id": skaper_id, "arkivskaperID": kode, "arkivskaperNavn": navn})
    arkiv_id = next_id(tables.Arkiv)
    add(tables.Arkiv, {
        "id": arkiv_id, "systemID": ids.system_id(), "arkivskaper_id": skaper_id, "tittel": f"{navn}s arkiv",
        "arkivstatus": "Opprettet", "opprettetDato": EPOCH, "opprettetAv": actor,
    })
    arkivdel_id = next_id(tables.Arkivdel)
    arkivdel_sid = ids.system_id()
    stats.arkivdel_systemID = arkivdel_sid
    add(tables.Arkivdel, {
        "id": arkivdel_id, "systemID": arkivdel_sid, "arkiv_id": arkiv_id,
        "tittel": f"Sakarkiv {navn} {start.year}-" + ("" if open_period else f"{end.year}"),
        "arkivdelstatus": "Aktiv periode" if open_period else "Avsluttet periode",
        "arkivperiodeStartDato": start, "arkivperiodeSluttDato": None if open_period else end,
        "opprettetDato": EPOCH, "opprettetAv": actor, "avsluttetDato": None if open_period else now,
        "avsluttetAv": None if open_period else "arkivar", "referanseForloeper": None, "referanseArvtaker": None,
    })
    if not open_period:
        add(tables.Endringslogg, {
            "id": next_id(tables.Endringslogg), "arkivskaper_id": None, "referanseArkivenhet": arkivdel_sid,
            "referanseMetadata": "arkivdelstatus", "endretDato": now, "endretAv": "arkivar",
            "tidligereVerdi": "Aktiv periode", "nyVerdi": "Avsluttet periode",
        })
        stats.endringer += 1
    system_id = next_id(tables.Klassifikasjonssystem)
    add(tables.Klassifikasjonssystem, {
        "id": system_id, "systemID": ids.system_id(), "arkivdel_id": arkivdel_id,
        "klassifikasjonstype": "Funksjonsbasert, hierarkisk", "tittel": "Arkivnøkkel for kommunene (K-koder)",
        "opprettetDato": EPOCH, "opprettetAv": actor,
    })
    klasse_ids = []
    for klasse_id, tittel in KLASSER:
        row_id = next_id(tables.Klasse)
        klasse_ids.append(row_id)
        add(tables.Klasse, {
            "id": row_id, "systemID": ids.system_id(), "klassifikasjonssystem_id": system_id, "klasseID": klasse_id,
            "tittel": tittel, "opprettetDato": EPOCH, "opprettetAv": actor,
        })

    days = (end - start).days + 1
    journal_numbers: dict[int, int] = {}
    case_numbers: dict[int, int] = {}
    made = 0
    while made < registrations:
        size = min(rng.randint(1, 5), registrations - made)
        day = start + timedelta(days=int(days * made / registrations))
        saksaar = day.year
        case_numbers[saksaar] = case_numbers.get(saksaar, 0) + 1
        case_id = next_id(tables.Saksmappe)
        case_sid = ids.system_id()
        screened = rng.random() < 0.08
        still_open = rng.random() < open_cases
        in_review = still_open and rng.random() < 0.5
        title = rng.choice(TITLES).format(n=case_id)
        opened = datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC)
        add(tables.Saksmappe, {
            "id": case_id, "systemID": case_sid, "arkivskaper_id": skaper_id, "arkivdel_id": arkivdel_id,
            "klasse_id": rng.choice(klasse_ids), "mappeID": f"{saksaar}/{case_numbers[saksaar]}",
            "saksaar": saksaar, "sakssekvensnummer": case_numbers[saksaar],
            "tittel": f"{title} – {SCREENED_NAME}" if screened else title,
            "offentligTittel": f"{title} – {MASK}" if screened else None,
            "tilgangsrestriksjon": "13" if screened else None,
            "skjermingshjemmel": "Offl. § 13 jf. fvl. § 13 første ledd nr. 1" if screened else None,
            "skjermingMetadata": "Skjerming tittel mappe - utvalgte ord" if screened else None,
            "saksdato": day, "saksstatus": "Under behandling" if still_open else "Avsluttet",
            "administrativEnhet": "Plan og bygg", "saksansvarlig": "Kari Saksbehandler", "opprettetDato": opened,
            "opprettetAv": actor, "avsluttetDato": None if still_open else now - timedelta(days=10),
            "avsluttetAv": None if still_open else "arkivar", "referanseArkivdel": None,
        })
        stats.saksmapper += 1
        stats.screened += screened
        for number in range(1, size + 1):
            journalaar = day.year
            journal_numbers[journalaar] = journal_numbers.get(journalaar, 0) + 1
            jp_id = next_id(tables.Journalpost)
            jp_sid = ids.system_id()
            sender = rng.choice(SENDERS)
            jp_title = f"{title} – {SCREENED_NAME}" if screened else title
            add(tables.Journalpost, {
                "id": jp_id, "systemID": jp_sid, "arkivskaper_id": skaper_id, "saksmappe_id": case_id,
                "registreringsID": f"{saksaar}/{case_numbers[saksaar]}-{number}", "journalaar": journalaar,
                "journalsekvensnummer": journal_numbers[journalaar], "journalpostnummer": number,
                "journalposttype": "Inngående dokument",
                "journalstatus": (
                    "Midlertidig registrering av innkommet dokument" if in_review and number == size else "Journalført"
                ),
                "journaldato": day,
                "mottattDato": opened, "dokumentetsDato": day, "tittel": jp_title,
                "offentligTittel": f"{title} – {MASK}" if screened else None,
                "tilgangsrestriksjon": "13" if screened else None,
                "skjermingshjemmel": "Offl. § 13 jf. fvl. § 13 første ledd nr. 1" if screened else None,
                "skjermingMetadata": "Skjerming tittel registrering - utvalgte ord" if screened else None,
                "classification_note": "generated", "opprettetDato": opened, "opprettetAv": actor,
            })
            add(tables.Korrespondansepart, {
                "id": next_id(tables.Korrespondansepart), "systemID": ids.system_id(), "journalpost_id": jp_id,
                "korrespondanseparttype": "Avsender", "korrespondansepartNavn": sender,
                "epostadresse": f"post{jp_id}@example.no", "postadresse": "Storgata 1", "postnummer": "9999",
                "poststed": "Fjellvik", "organisasjonsnummer": "999888777" if sender.endswith("AS") else None,
            })
            if rng.random() < 0.05:
                add(tables.Endringslogg, {
                    "id": next_id(tables.Endringslogg), "arkivskaper_id": skaper_id, "referanseArkivenhet": jp_sid,
                    "referanseMetadata": "journalstatus", "endretDato": opened + timedelta(hours=3),
                    "endretAv": "kari", "tidligereVerdi": "Midlertidig registrering av innkommet dokument",
                    "nyVerdi": "Journalført",
                })
                stats.endringer += 1
            for dokumentnummer in range(1, rng.randint(1, 3) + 1):
                db_id = next_id(tables.Dokumentbeskrivelse)
                add(tables.Dokumentbeskrivelse, {
                    "id": db_id, "systemID": ids.system_id(), "journalpost_id": jp_id, "dokumenttype": "Brev",
                    "dokumentstatus": "Dokumentet er ferdigstilt",
                    "tittel": "Søknad" if dokumentnummer == 1 else f"Vedlegg {dokumentnummer - 1} – kart og tegninger",
                    "tilknyttetRegistreringSom": "Hoveddokument" if dokumentnummer == 1 else "Vedlegg",
                    "dokumentnummer": dokumentnummer, "tilknyttetDato": opened, "tilknyttetAv": actor,
                    "opprettetDato": opened, "opprettetAv": actor,
                })
                # 30 % arrived as plain PDF and have a PDF/A copy; the rest arrived as PDF/A.
                archived = rng.random() < 0.3
                variants = [("Produksjonsformat", "fmt/18" if archived else "fmt/477")]
                if archived:
                    variants.append(("Arkivformat", "fmt/477"))
                for variant, fmt in variants:
                    size_bytes = max(len(PDFA), int(rng.expovariate(1 / mean_document_bytes)))
                    template = PDFA if fmt == "fmt/477" else PLAIN_PDF
                    content = padded_pdf(template, f"{jp_sid}/{dokumentnummer}/{variant}", size_bytes)
                    blob = _put(documents, content)
                    do_id = next_id(tables.Dokumentobjekt)
                    add(tables.Dokumentobjekt, {
                        "id": do_id, "systemID": ids.system_id(), "dokumentbeskrivelse_id": db_id,
                        "versjonsnummer": 1, "variantformat": variant, "format": fmt,
                        "formatDetaljer": "Acrobat PDF/A - Portable Document Format 2b" if fmt == "fmt/477" else None,
                        "mimeType": "application/pdf", "filnavn": f"dokument-{dokumentnummer}.pdf", "sjekksum": blob.sha256,
                        "sjekksumAlgoritme": "SHA-256", "filstoerrelse": blob.size, "opprettetDato": opened,
                        "opprettetAv": actor,
                    })
                    stats.dokumentobjekter += 1
                    if variant == "Arkivformat":
                        add(tables.Konvertering, {
                            "id": next_id(tables.Konvertering), "dokumentobjekt_id": do_id,
                            "konvertertDato": opened + timedelta(minutes=5), "konvertertAv": actor,
                            "konvertertFraFormat": "fmt/18", "konvertertTilFormat": "fmt/477",
                            "konverteringsverktoey": "Ghostscript 10.0.0, OCRmyPDF 17.13.0",
                        })
                    if variant == "Arkivformat" or not archived:
                        stats.exported_documents += 1
                        stats.document_bytes += blob.size
            stats.journalposter += 1
            made += 1
            if progress and made % 1000 == 0:
                progress(made)
    flush_all()
    store.dispose()
    return stats


def corrupt_one_document(documents_root: Path) -> Path:
    """Flip the bytes of one stored document (same size): its checksum no longer matches."""
    victim = next(p for p in sorted(documents_root.rglob("*")) if p.is_file() and not p.name.startswith("."))
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    return victim


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


