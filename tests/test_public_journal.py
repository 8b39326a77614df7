"""The public journal: nothing screened ever reaches offentligJournal.xml or the HTML postliste.

A real journal store is filled through the journaling functions with an
adversarial corpus, screened the way journaling screens (decide_screening on
the submission), and some rows deliberately left unscreened to exercise the
defence in depth. The published bytes are then searched for every secret in
several views: as written, with entities resolved, with whitespace removed,
and with the identity-number finder itself.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import select

from noarkpipe import api
from noarkpipe.classify.screening import MASK, PublicField, decide_screening, public_text, screening_input
from noarkpipe.classify.screenrules import default_screening_rules
from noarkpipe.config import load_settings
from noarkpipe.core.codes import Journalstatus
from noarkpipe.core.identity import find_identity_numbers, find_known_number
from noarkpipe.core.submission import (
    DocumentRole,
    Party,
    Source,
    Submission,
    SubmissionDocument,
)
from noarkpipe.errors import PublicJournalLeakError, SchemaValidationError
from noarkpipe.journal.journaling import (
    StoredDocument,
    ensure_structure,
    journal_submission,
)
from noarkpipe.publish import (
    EmptyPublicJournalError,
    PublicEntry,
    check_offentlig_journal,
    public_entries,
    public_journal_header,
    write_html,
    write_offentlig_journal,
)
from noarkpipe.publish import rescreening as public
from noarkpipe.store import tables
from noarkpipe.store.docstore import StoredBlob
from noarkpipe.store.engine import Store
from noarkpipe.xml.schemas import assert_valid, noark5_schema, safe_parser

RULES = default_screening_rules()
FIRST_DAY, LAST_DAY = date(2026, 11, 20), date(2026, 11, 21)
BEFORE = date(2026, 11, 19)
NS = {"oj": "http://www.arkivverket.no/standarder/noark5/offentligJournal"}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

# ---------------------------------------------------------------- identity numbers, built independently


def with_check_digits(first_nine: str) -> str | None:
    k1 = (11 - sum(int(d) * w for d, w in zip(first_nine, (3, 7, 6, 1, 8, 9, 4, 5, 2))) % 11) % 11
    if k1 == 10:
        return None
    k2 = (
        11 - sum(int(d) * w for d, w in zip(first_nine + str(k1), (5, 4, 3, 2, 7, 6, 5, 4, 3, 2))) % 11
    ) % 11
    return None if k2 == 10 else f"{first_nine}{k1}{k2}"


def number(ddmmyy: str, start: int) -> str:
    return next(n for i in range(start, 1000) if (n := with_check_digits(f"{ddmmyy}{i:03d}")))


FNR = [
    number(born, 100 + 37 * i) for i, born in enumerate(["010190", "150575", "300699", "240302", "111180"])
]
DNR = [number("410190", 400), number("551285", 500)]  # day + 40
HNR = number("015090", 600)  # month + 40
TENOR = number("018190", 700)  # month + 80: Skatteetaten's synthetic numbers
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def spaced(n: str) -> str:
    return f"{n[:6]} {n[6:]}"


# ---------------------------------------------------------------- the corpus


@dataclass
class Item:
    key: str
    subject: str
    sender: str | None = None
    orgnr: str | None = None
    status: Journalstatus = Journalstatus.journalfoert
    day: date = FIRST_DAY
    screen: bool = True  # False: the row's screening columns are left unset (a journaling bug)
    quote: str | None = None  # key of an earlier item whose case this one quotes
    klasse: str | None = None
    document_title: str | None = None
    copies: tuple[str, ...] = ()  # extra private parties (Kopimottaker)
    creator: str = "fjellvik"


CORPUS = [
    # Public items: titles and senders must survive as they are.
    Item("org", "Søknad om byggetillatelse gnr 12 bnr 7", "Statens vegvesen", orgnr="971032081"),
    Item("privat", "Klage på parkeringsgebyr", "Eirik Fjeld"),
    Item(
        "script", '<script>alert("x")</script> Tilbud & pris < 100 kr', "Brødrene Dahl AS", orgnr="912345678"
    ),
    Item("kontroll", "Faktura\x0b nr 5 og\x1f 6", "Kontor & Co AS", orgnr="923456789"),
    # Identity numbers in every spelling.
    Item("fnr-kompakt", f"Innsyn i skattesak {FNR[0]}", "Gunnar Vik"),
    Item("fnr-mellomrom", f"Søknad om parkeringstillatelse {spaced(FNR[1])}", "Hilde Moe"),
    Item("fnr-punktum", f"Klage, født {FNR[2][:2]}.{FNR[2][2:4]}.{FNR[2][4:6]} {FNR[2][6:9]} {FNR[2][9:]}"),
    Item("fnr-bindestrek", f"Henvendelse {FNR[3][:6]}-{FNR[3][6:]}", "Rune Lie"),
    Item("fnr-nbsp", f"Skjema{FNR[4][:6]}\u00a0{FNR[4][6:]}", "Siri Bakke"),
    Item("fnr-linjeskift", f"Søknad\n{FNR[0][:6]}\n{FNR[0][6:]}", "Arne Holm"),
    Item("fnr-crlf", f"Brev {FNR[1][:6]}\r\n{FNR[1][6:]}", "Kjell Aas"),
    Item("fnr-myk", f"Vedr. {FNR[2][:4]}\u00ad{FNR[2][4:6]}\u2009{FNR[2][6:]}", "Mona Lund"),
    Item("fnr-fullbredde", f"Melding {FNR[3].translate(FULL_WIDTH)}", "Odd Berg"),
    Item("fnr-par", f"Ref {' '.join([FNR[4][0:2], FNR[4][2:4], FNR[4][4:6], FNR[4][6:8], FNR[4][8:]])}"),
    Item("dnr-kompakt", f"Arbeidstillatelse D-nr {DNR[0]}", "Piotr Nowak"),
    Item("dnr-mellomrom", f"Bostedsattest {spaced(DNR[1])}", "Ana Silva"),
    Item("hnr", f"Henvisning {HNR}", "Legekontoret Sentrum", orgnr="934567890"),
    Item("tenor", f"Test av skjema {TENOR}", "Testbruker Tenor"),
    Item("avsender-nummer", "Søknad om utsatt frist", f"Gro Lien {spaced(DNR[0])}"),
    Item("vedlegg-nummer", "Innsendt skjema", "Vidar Sand", document_title=f"Vedlegg {FNR[1]}"),
    # Names of private persons in confidential matters.
    Item("barnevern", "Bekymringsmelding – Kari Nordmann", "Kari Nordmann", copies=("Nils Nilsen",)),
    Item("nynorsk", "Melding til barneverntenesta om Åse Ødegård", "Åse Ødegård"),
    Item("eieform", "Åse Ødegårds søknad om sykehjemsplass", "Åse Ødegård"),
    Item("kamel", "Sykmelding PerHansen", "Per Hansen"),
    Item("bindestreknavn", "Oppsigelse av arbeidsforhold – Kristin Berg-Hansen", "Kristin Berg-Hansen"),
    Item("store-bokstaver", "ADVARSEL TIL JON-ARE LØKKEN", "Jon-Are Løkken"),
    Item("translitterert", "Søknad på stilling som lærer – Lars Odegaard", "Lars Ødegaard"),
    Item("nav", "Brev fra NAV om Ingrid Solberg", "Ingrid Solberg"),
    Item("epikrise", "Epikrise fra sykehuset", "Helse Nord RHF", orgnr="883658752"),
    # Defence in depth: screening columns never set.
    Item("uskjermet-nummer", f"Søknad om startstøtte {spaced(FNR[0])}", "Trond Hauge", screen=False),
    Item("uskjermet-navn", "Bekymringsmelding om nabo", "Bjørn Østbø", screen=False),
    Item("uskjermet-klasse", "Henvendelse", "Berit Dahl", screen=False, klasse="G00"),
    Item("uskjermet-vedlegg", "Innsendt skjema", "Tor Rød", screen=False, document_title=f"Skjema {DNR[1]}"),
    # A case's secrets reach every row of the case.
    Item("sak-offentlig", "Søknad om ferdigattest gnr 5 bnr 2", "Tone Viken"),
    Item("sak-legeerklaering", "Legeerklæring", "Tone Viken", quote="sak-offentlig"),
    Item(
        "sak-med-nummer",
        "Ettersendt dokumentasjon",
        "Statens kartverk",
        orgnr="971040238",
        quote="fnr-kompakt",
    ),
    # Never published.
    Item("utenfor", "UTENFOR-PERIODEN søknad", "Unni Utenfor", day=BEFORE),
    Item(
        "midlertidig",
        "I-KØ-MIDLERTIDIG søknad",
        "Mette Midlertidig",
        status=Journalstatus.midlertidig_registrering,
    ),
    Item("utgaar", "UTGÅR-SØKNAD", "Ulf Utgår", status=Journalstatus.utgaar),
    Item("reservert", "RESERVERT-NUMMER", "Rita Reservert", status=Journalstatus.reservert_dokument),
    Item("annen-kommune", "STRANDBY-SØKNAD", "Sture Strand", creator="strandby"),
]
EXCLUDED = {"utenfor", "midlertidig", "utgaar", "reservert", "annen-kommune"}
PUBLISHED = [item for item in CORPUS if item.key not in EXCLUDED]

SECRET_NUMBERS = [*FNR, *DNR, HNR, TENOR]
SECRET_NAMES = [
    "Kari Nordmann",
    "Nordmann",
    "Nils Nilsen",
    "Nilsen",
    "Ødegård",
    "Odegard",
    "Oedegaard",
    "Ødegårds",
    "Per Hansen",
    "PerHansen",
    "Berg-Hansen",
    "Hansen",
    "Kristin",
    "Løkken",
    "LØKKEN",
    "Jon-Are",
    "Lars Ødegaard",
    "Odegaard",
    "Ingrid Solberg",
    "Solberg",
    "Bjørn Østbø",
    "Østbø",
    "Berit Dahl",
    "Tone Viken",
    "Viken",
    "Helse Nord RHF",
]
KEPT = {
    "org": ("Søknad om byggetillatelse gnr 12 bnr 7", "Statens vegvesen"),
    "privat": ("Klage på parkeringsgebyr", "Eirik Fjeld"),
    "script": ('<script>alert("x")</script> Tilbud & pris < 100 kr', "Brødrene Dahl AS"),
}


# ---------------------------------------------------------------- the store


def _submission(item: Item, body: str) -> tuple[Submission, list[StoredDocument]]:
    documents = []
    if item.document_title:
        document = SubmissionDocument(
            filename="vedlegg.pdf",
            media_type="application/pdf",
            content=b"%PDF-1.7",
            role=DocumentRole.main,
            title=item.document_title,
        )
        documents.append(
            StoredDocument(
                document,
                StoredBlob(sha256="0" * 64, size=8, path=Path("vedlegg.pdf")),
                "application/pdf",
                "PDF",
            )
        )
    submission = Submission(
        source=Source.email,
        origin_name=f"{item.key}.eml",
        sender=Party(name=item.sender, organisasjonsnummer=item.orgnr) if item.sender else None,
        subject=item.subject,
        body_text=body,
        documents=[stored.document for stored in documents],
    )
    return submission, documents


def _journal(session, settings, item: Item, cases: dict[str, tables.Saksmappe]) -> None:
    """Journal one item, then set status and screening as the nightly journaling does."""
    now = datetime(item.day.year, item.day.month, item.day.day, 9, 0, tzinfo=UTC)
    structure = ensure_structure(session, settings.creator(item.creator), "test", now)
    body = ""
    if item.quote:
        quoted = cases[item.quote]
        body = f"Deres ref: {quoted.saksaar}/{quoted.sakssekvensnummer}"
    submission, documents = _submission(item, body)
    journalpost, placement = journal_submission(
        session, structure, submission, documents, actor="test", now=now
    )
    saksmappe = journalpost.saksmappe
    new_case = placement.saksmappe is None
    if item.klasse:
        saksmappe.klasse_id = structure.klasse_ids[item.klasse]
    for name in item.copies:
        session.add(
            tables.Korrespondansepart(
                journalpost_id=journalpost.id,
                korrespondanseparttype="Kopimottaker",
                korrespondansepartNavn=name,
            )
        )
    journalpost.journalstatus = item.status.value
    klasse = session.get(tables.Klasse, saksmappe.klasse_id)
    decision = decide_screening(
        screening_input(
            submission, tittel=journalpost.tittel, klasse_id=klasse.klasseID, private_names=item.copies
        ),
        RULES,
    )
    if decision.screened and item.screen:
        skjerming = {
            "tilgangsrestriksjon": decision.tilgangsrestriksjon,
            "skjermingshjemmel": decision.skjermingshjemmel,
            "skjermingMetadata": "\n".join(m.value for m in decision.skjermingMetadata),
        }
        for key, value in skjerming.items():
            setattr(journalpost, key, value)
        journalpost.offentligTittel = decision.offentlig_tittel
        if new_case:
            for key, value in skjerming.items():
                setattr(saksmappe, key, value)
            saksmappe.offentligTittel = public_text(saksmappe.tittel, decision, PublicField.tittel_mappe)
    session.flush()
    cases[item.key] = saksmappe


@pytest.fixture(scope="module")
def journal(tmp_path_factory):
    """The store filled with the corpus, and the ids needed to publish from it."""
    root = tmp_path_factory.mktemp("public")
    settings = load_settings(api.init(root / "site"))
    store = Store.open(f"sqlite:///{root}/s.sqlite")
    cases: dict[str, tables.Saksmappe] = {}
    with store.write("test") as session:
        for item in CORPUS:
            _journal(session, settings, item, cases)
    with store.read() as session:
        arkivskaper_id = session.scalar(
            select(tables.Arkivskaper.id).where(tables.Arkivskaper.arkivskaperID == "fjellvik")
        )
    yield store, arkivskaper_id
    store.dispose()


def _publish(journal, folder: Path, first=FIRST_DAY, last=LAST_DAY) -> tuple[Path, Path]:
    store, arkivskaper_id = journal
    xml_path, html_path = folder / "offentligJournal.xml", folder / "postliste.html"
    with store.read() as session:
        header = public_journal_header(session, arkivskaper_id, first, last)
        write_offentlig_journal(public_entries(session, arkivskaper_id, first, last), xml_path, header=header)
        write_html(public_entries(session, arkivskaper_id, first, last), html_path, header=header)
    return xml_path, html_path


@pytest.fixture(scope="module")
def published(journal, tmp_path_factory):
    return _publish(journal, tmp_path_factory.mktemp("out"))


def _views(path: Path) -> dict[str, str]:
    """The file as written, with entities resolved, and both without whitespace; systemIDs blanked.

    A systemID is a random UUID whose hex digits can, by chance, spell a valid
    number; it is generated, never data about anyone.
    """
    text = UUID.sub("-", path.read_bytes().decode("utf-8"))
    unescaped = html.unescape(text)
    return {
        "raw": text,
        "unescaped": unescaped,
        "raw-compact": re.sub(r"\s", "", text),
        "unescaped-compact": re.sub(r"\s", "", unescaped),
    }


def _registreringer(xml_path: Path) -> list[etree._Element]:
    return etree.parse(str(xml_path), safe_parser()).getroot().findall("oj:journalregistrering", NS)


def _entry(xml_path: Path, title_start: str) -> etree._Element:
    """The journalregistrering whose case was opened with this subject (case titles stay put)."""
    for registrering in _registreringer(xml_path):
        if registrering.findtext("oj:saksmappe/oj:offentligTittel", namespaces=NS).startswith(title_start):
            return registrering
    raise AssertionError(f"no entry for {title_start!r}")


# ---------------------------------------------------------------- tests


def test_xml_validates_against_the_official_schema(published):
    xml_path, _ = published
    # Both revisions of v5.0: a municipality's publishing portal may embed either.
    for revision in ("v5.0", "v5.0-2019"):
        assert_valid(etree.parse(str(xml_path), safe_parser()), noark5_schema("offentligJournal", revision))
    root = etree.parse(str(xml_path), safe_parser()).getroot()
    assert root.findtext("oj:journalhode/oj:antallJournalposter", namespaces=NS) == str(len(PUBLISHED))
    assert root.findtext("oj:journalhode/oj:arkivskaper/oj:arkivskaperID", namespaces=NS) == "fjellvik"
    assert check_offentlig_journal(xml_path).antall == len(PUBLISHED)


@pytest.mark.parametrize("which", ["xml", "html"])
def test_no_identity_number_in_any_view(published, which):
    path = published[0] if which == "xml" else published[1]
    for view, text in _views(path).items():
        assert find_identity_numbers(text) == [], view
        for secret in SECRET_NUMBERS:
            assert secret not in text, view
            assert find_known_number(text, secret) == [], view


@pytest.mark.parametrize("which", ["xml", "html"])
def test_no_screened_name_in_any_view(published, which):
    path = published[0] if which == "xml" else published[1]
    for view, text in _views(path).items():
        for name in SECRET_NAMES:
            compact = re.sub(r"\s", "", name) if "compact" in view else name
            assert not re.search(rf"(?<!\w){re.escape(compact)}(?!\w)", text, re.IGNORECASE), (view, name)


def test_public_entries_keep_their_titles_and_senders(published):
    xml_path, html_path = published
    page = html_path.read_text(encoding="utf-8")
    for subject, sender in KEPT.values():
        registrering = _entry(xml_path, subject)
        assert registrering.findtext("oj:journalpost/oj:offentligTittel", namespaces=NS) == subject
        assert (
            registrering.findtext(
                "oj:journalpost/oj:korrespondansepart/oj:korrespondansepartNavn", namespaces=NS
            )
            == sender
        )
        assert registrering.find("oj:journalpost/oj:tilgangsrestriksjon", NS) is None
        assert html.escape(subject) in page and html.escape(sender) in page
    assert "<script>" not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "Faktura  nr 5 og  6" in page  # characters XML cannot carry became spaces


def test_screened_entries_are_marked_and_masked(published):
    xml_path, _ = published
    for subject in ("Bekymringsmelding", "Innsyn i skattesak", "Søknad om startstøtte", "Henvendelse"):
        journalpost = _entry(xml_path, subject).find("oj:journalpost", NS)
        assert journalpost.findtext("oj:tilgangsrestriksjon", namespaces=NS), subject
        assert journalpost.findtext("oj:skjermingshjemmel", namespaces=NS), subject
        assert journalpost.findtext("oj:skjermingMetadata", namespaces=NS).startswith("Skjerming"), subject
    barnevern = _entry(xml_path, "Bekymringsmelding –").find("oj:journalpost", NS)
    names = barnevern.findall("oj:korrespondansepart/oj:korrespondansepartNavn", NS)
    assert [n.text for n in names] == [MASK, MASK]
    assert barnevern.findtext("oj:offentligTittel", namespaces=NS) == f"Bekymringsmelding – {MASK}"
    # One value fits the schema: the one about the journalpost, not the case.
    assert (
        barnevern.findtext("oj:skjermingMetadata", namespaces=NS)
        == "Skjerming tittel registrering - utvalgte ord"
    )
    # Never screened when journaled: the defence in depth still masks and marks it.
    unset = _entry(xml_path, "Bekymringsmelding om nabo").find("oj:journalpost", NS)
    assert unset.findtext("oj:korrespondansepart/oj:korrespondansepartNavn", namespaces=NS) == MASK
    assert unset.findtext("oj:tilgangsrestriksjon", namespaces=NS) == "13"


def test_a_case_shares_its_secrets_with_every_row(published):
    xml_path, _ = published
    # The case was opened by an unscreened item; a screened document joined it later.
    rows = [
        r
        for r in _registreringer(xml_path)
        if r.findtext("oj:saksmappe/oj:offentligTittel", namespaces=NS).startswith("Søknad om ferdigattest")
    ]
    assert len(rows) == 2
    for row in rows:
        assert (
            row.findtext("oj:journalpost/oj:korrespondansepart/oj:korrespondansepartNavn", namespaces=NS)
            == MASK
        )
        assert row.find("oj:journalpost/oj:tilgangsrestriksjon", NS) is not None
    # A harmless document in a case whose title holds a number shows the case title masked.
    numbered = next(
        r
        for r in _registreringer(xml_path)
        if r.findtext("oj:journalpost/oj:offentligTittel", namespaces=NS) == "Ettersendt dokumentasjon"
    )
    assert numbered.findtext("oj:saksmappe/oj:offentligTittel", namespaces=NS) == f"Innsyn i skattesak {MASK}"
    assert (
        numbered.findtext("oj:journalpost/oj:korrespondansepart/oj:korrespondansepartNavn", namespaces=NS)
        == "Statens kartverk"
    )


def test_only_journalfoert_entries_in_the_period_are_published(published):
    xml_path, _ = published
    for path in published:
        text = path.read_text(encoding="utf-8")
        for marker in (
            "UTENFOR-PERIODEN",
            "I-KØ-MIDLERTIDIG",
            "UTGÅR-SØKNAD",
            "RESERVERT-NUMMER",
            "STRANDBY",
        ):
            assert marker not in text and html.escape(marker) not in text, (path.name, marker)
    numbers = [
        (
            int(r.findtext("oj:journalpost/oj:journalaar", namespaces=NS)),
            int(r.findtext("oj:journalpost/oj:journalsekvensnummer", namespaces=NS)),
        )
        for r in _registreringer(xml_path)
    ]
    assert numbers == sorted(numbers) and len(numbers) == len(PUBLISHED)
    dates = {r.findtext("oj:journalpost/oj:journaldato", namespaces=NS) for r in _registreringer(xml_path)}
    assert dates == {FIRST_DAY.isoformat()}


def test_html_summary_counts_entries_and_screened(published):
    xml_path, html_path = published
    page = html_path.read_text(encoding="utf-8")
    summary = re.search(r'<p class="oppsummering">(\d+) journalposter, (\d+) skjermet\.</p>', page)
    screened = sum(
        r.find("oj:journalpost/oj:tilgangsrestriksjon", NS) is not None for r in _registreringer(xml_path)
    )
    assert summary and int(summary[1]) == len(PUBLISHED) == page.count("<tr") - 1
    assert int(summary[2]) == screened == page.count('class="skjermet-rad"')
    assert len(PUBLISHED) - screened == len(KEPT) + 1  # and the invoice with control characters
    for heading in ("Journaldato", "Journalnr.", "Saksnr.", "Dok.nr.", "Tittel", "Avsender/mottaker", "Type"):
        assert f">{heading}</th>" in page
    assert not re.search(r"<script|src=|href=|@import|url\(", page, re.IGNORECASE)


def test_a_forced_leak_is_refused_and_leaves_no_file(journal, tmp_path, monkeypatch):
    monkeypatch.setattr(public, "public_text", lambda text, decision, field=PublicField.other: text)
    with pytest.raises(PublicJournalLeakError, match=r"(journalpost|saksmappe) 2026/\d+: ") as caught:
        _publish(journal, tmp_path)
    assert not any(secret in str(caught.value) for secret in SECRET_NUMBERS + SECRET_NAMES)
    assert list(tmp_path.iterdir()) == []


def test_the_final_scan_catches_what_slipped_past_every_string_guard(journal, tmp_path, monkeypatch):
    monkeypatch.setattr(public, "public_text", lambda text, decision, field=PublicField.other: text)
    monkeypatch.setattr(public, "assert_public_safe", lambda text, secrets: None)
    store, arkivskaper_id = journal
    for write in (write_offentlig_journal, write_html):
        target = tmp_path / "out"
        with store.read() as session, pytest.raises(PublicJournalLeakError) as caught:
            header = public_journal_header(session, arkivskaper_id, FIRST_DAY, LAST_DAY)
            write(public_entries(session, arkivskaper_id, FIRST_DAY, LAST_DAY), target, header=header)
        assert "line" in str(caught.value) and not any(n in str(caught.value) for n in SECRET_NUMBERS)
        assert list(tmp_path.iterdir()) == []


def test_public_entries_cannot_be_built_around_screening():
    with pytest.raises(ValueError, match="public_entries"):
        PublicEntry(
            systemID="12345678-1234-1234-1234-123456789012",
            journalaar=2026,
            journalsekvensnummer=1,
            journalpostnummer=1,
            journalposttype="Inngående dokument",
            journaldato=FIRST_DAY,
            offentligTittel=f"Søknad {FNR[0]}",
            saksaar=2026,
            sakssekvensnummer=1,
            saksmappeOffentligTittel="Sak",
        )


def test_an_empty_period_gives_an_html_page_but_no_xml(journal, tmp_path):
    store, arkivskaper_id = journal
    day = date(2026, 1, 5)
    with store.read() as session:
        header = public_journal_header(session, arkivskaper_id, day, day)
        with pytest.raises(EmptyPublicJournalError):
            write_offentlig_journal(
                public_entries(session, arkivskaper_id, day, day), tmp_path / "o.xml", header=header
            )
        summary = write_html(
            public_entries(session, arkivskaper_id, day, day), tmp_path / "p.html", header=header
        )
    assert summary.antall == 0 and [p.name for p in tmp_path.iterdir()] == ["p.html"]
    assert "Ingen journalposter i perioden" in (tmp_path / "p.html").read_text(encoding="utf-8")


def test_an_invalid_file_is_reported_with_line_numbers(published, tmp_path):
    xml_path, _ = published
    lines = xml_path.read_text(encoding="utf-8").splitlines(keepends=True)
    broken = tmp_path / "offentligJournal.xml"
    lines[3] = re.sub(r"<korrespondansepart>.*</korrespondansepart>", "", lines[3])
    broken.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(SchemaValidationError) as caught:
        check_offentlig_journal(broken)
    assert "line 4" in str(caught.value)


def test_writing_to_a_stream_gets_only_checked_bytes(journal, tmp_path):
    store, arkivskaper_id = journal
    target = tmp_path / "stream.xml"
    with store.read() as session, open(target, "wb") as stream:
        header = public_journal_header(session, arkivskaper_id, FIRST_DAY, LAST_DAY)
        summary = write_offentlig_journal(
            public_entries(session, arkivskaper_id, FIRST_DAY, LAST_DAY), stream, header=header
        )
    assert summary.antall == len(PUBLISHED)
    assert check_offentlig_journal(target) == summary
