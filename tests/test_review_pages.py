"""The review desk's reads: a letter's documents, its pages as images, its files, the cases and classes it may belong to.

One installation made by `noarkpipe init`, one nightly run over generated
e-mails (a PDF letter with a hostile file name, a program that gets no
archival copy, letters about the same property from the same sender and from
a neighbour); every read then runs against that real store and document store.
"""

from __future__ import annotations

import hashlib
import io
import shutil

import pytest
from PIL import Image
from sqlalchemy import select

from helpers import convertfactory
from helpers.inbox import drop, make_eml
from noarkpipe import api
from noarkpipe.classify import learned
from noarkpipe.classify.policy import model_path
from noarkpipe.clock import utcnow
from noarkpipe.config import load_settings
from noarkpipe.errors import ReviewError, StoreError
from noarkpipe.journal import period, review
from noarkpipe.services import review_pages
from noarkpipe.services.installation import Installation
from noarkpipe.store import tables

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ASE = "Åse Ødegård <ase.odegard@example.no>"
HOSTILE_NAME = '../../brev\t"x";.pdf'

LETTERS = {
    # The first letter about the property: the eiendomsskatt rule journals it (J) in a case of its own.
    "1-first.eml": {"subject": "Eiendomsskatt gnr. 41 bnr. 12", "sender": ASE,
                    "body": "Hei,\n\nspørsmål om eiendomsskatt for gnr. 41 bnr. 12, se vedlagt brev.\n"},
    # Same sender, same property; its case is closed before the desk looks.
    "2-closed.eml": {"subject": "Klage på taksten for gnr. 41 bnr. 12", "sender": ASE},
    # The letter on the desk: the same address in other letter case under another name, the property without dots.
    "3-second.eml": {"subject": "Spørsmål om taksten, gnr 41 bnr 12", "sender": "A. Ødegård <Ase.Odegard@Example.no>"},
    "4-neighbour.eml": {"subject": "Merknad om gjerde mot gnr/bnr 41/12", "sender": "Ola Nabo <ola.nabo@example.no>"},
    "5-feiing.eml": {"subject": "Spørsmål om feiing", "sender": ASE},
    # The same name in capitals, from another address.
    "6-feiing-again.eml": {"subject": "Sv: Spørsmål om feiing 2026", "sender": "ÅSE ØDEGÅRD <aase@example.org>"},
    "7-program.eml": {"subject": "Nytt program til servicetorget", "sender": "Per Data <per@example.no>"},
    # Screened at intake (barnevern, a child's name): its case may be suggested, its title may not be shown.
    "8-screened.eml": {"subject": "Bekymringsmelding til barnevernet om Tiril, gnr. 41 bnr. 12",
                       "sender": "Mona Berg <mona.berg@example.no>"},
}


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    root = tmp_path_factory.mktemp("review-pages")
    settings = load_settings(api.init(root / "site"))
    letter = convertfactory.text_pdf(root / "brev.pdf").read_bytes()
    program = convertfactory.windows_executable(root / "program.exe").read_bytes()
    attachments = {
        "1-first.eml": [(HOSTILE_NAME, letter, "application/pdf")],
        "7-program.eml": [("program.exe", program, "application/octet-stream")],
    }
    for name, fields in LETTERS.items():
        drop(settings, "fjellvik", name, make_eml(**fields, attachments=attachments.get(name, [])))
    # The same sender and property in the other municipality: never a case of Fjellvik's.
    drop(settings, "strandby", "9-strandby.eml", make_eml(subject="Eiendomsskatt gnr. 41 bnr. 12", sender=ASE))
    summary = api.run(settings)
    numbers = {item.origin_name: item.journalpost for item in summary.items}
    assert set(numbers) == {*LETTERS, "9-strandby.eml"} and all(numbers.values()), summary.items
    opened = Installation(settings)
    yield opened, numbers, letter
    opened.close()


def _case(opened, number):
    with opened.store.read() as session:
        return review.find_journalpost(session, "fjellvik", number).saksmappe.mappeID


def _document_two(opened, numbers):
    return review_pages.document_views(opened, "fjellvik", numbers["1-first.eml"])[1]


# ---------------------------------------------------------------- pure parts


@pytest.mark.parametrize("text", [
    "Eiendomsskatt gnr. 41 bnr. 12", "gnr 41 bnr 12", "GNR 41 BNR 12", "matrikkel gnr. 41, bnr. 12",
    "gnr/bnr 41/12", "gnr./bnr. 41/12", "g/bnr 41/12", "Gnr. 41/bnr. 12", "gårdsnummer 41 og bruksnummer 12",
    "gnr. 041 bnr. 012 fnr. 3", "Gnr/Bnr: 41/12/0/0",
])
def test_the_ways_a_property_is_written_give_one_gnr_bnr_pair(text):
    assert review.find_properties(text) == [(41, 12)]


def test_numbers_without_gnr_bnr_words_are_no_property():
    assert review.find_properties("Byggesak 41/12, saksnr 2026/41") == []
    assert review.find_properties("Magnr 41 bnr 12") == []
    assert review.find_properties("gnr. 41 bnr. 12 og gnr. 3 bnr. 145") == [(41, 12), (3, 145)]


def test_the_title_key_drops_numbers_references_and_reply_prefixes():
    assert review.title_key("Sv: RE: Spørsmål om feiing, Deres ref. 2026/14-2") == "spørsmål om feiing"
    assert review.title_key("Spørsmål om FEIING 2026") == "spørsmål om feiing"
    assert review.title_key("Vår ref: Klage") == "klage"


# ---------------------------------------------------------------- documents


def test_documents_list_every_variant_with_its_checksum(desk):
    opened, numbers, letter = desk
    views = review_pages.document_views(opened, "fjellvik", numbers["1-first.eml"])
    assert [(v.dokumentnummer, v.tilknyttetRegistreringSom) for v in views] == [(1, "Hoveddokument"), (2, "Vedlegg")]
    attachment = views[1]
    assert [v.variantformat for v in attachment.variants] == ["Produksjonsformat", "Arkivformat"]
    received, copy = attachment.variants
    assert received.sha256 == hashlib.sha256(letter).hexdigest() and received.size == len(letter)
    assert attachment.archival_copy == copy and copy.mime == "application/pdf" and copy.format == "fmt/477"
    stored = opened.settings.documents_dir / copy.sha256[:2] / copy.sha256[2:4] / copy.sha256
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == copy.sha256 and stored.stat().st_size == copy.size
    assert attachment.model_dump()["archival_copy"]["sha256"] == copy.sha256  # what the web app serialises

    program = review_pages.document_views(opened, "fjellvik", numbers["7-program.eml"])[1]
    assert program.archival_copy is None and program.archival_gap
    assert [v.variantformat for v in program.variants] == ["Produksjonsformat"]


# ---------------------------------------------------------------- pages


def test_a_page_of_the_archival_copy_is_a_png_of_the_width_asked(desk):
    opened, numbers, _ = desk
    first = review_pages.page_image(opened, "fjellvik", numbers["1-first.eml"], 2, page=1, width=1000)
    assert first.png.startswith(PNG_SIGNATURE) and (first.page, first.pages) == (1, 3)
    image = Image.open(io.BytesIO(first.png))
    assert image.format == "PNG" and image.width == 1000
    assert abs(image.height - 1000 * 297 / 210) <= 2  # A4 upright
    darkest, lightest = image.convert("L").getextrema()
    assert lightest == 255 and darkest < 80  # white paper with text on it, not a blank page

    last = review_pages.page_image(opened, "fjellvik", numbers["1-first.eml"], 2, page=3, width=600)
    assert Image.open(io.BytesIO(last.png)).width == 600 and last.pages == 3
    assert last.png != first.png
    narrow = review_pages.page_image(opened, "fjellvik", numbers["1-first.eml"], 2, page=1, width=10)
    wide = review_pages.page_image(opened, "fjellvik", numbers["1-first.eml"], 2, page=1, width=99999)
    assert Image.open(io.BytesIO(narrow.png)).width == 200 and Image.open(io.BytesIO(wide.png)).width == 2000
    # The e-mail text's archival copy is shown the same way.
    body = review_pages.page_image(opened, "fjellvik", numbers["3-second.eml"], 1, page=1)
    assert body.png.startswith(PNG_SIGNATURE) and body.pages == 1


def test_the_page_count_is_what_page_image_can_show(desk):
    opened, numbers, _ = desk
    shutil.rmtree(opened.settings.data_dir / "cache" / "pages", ignore_errors=True)
    assert review_pages.page_count(opened, "fjellvik", numbers["1-first.eml"], 2) == 3  # counted by PDFium
    assert review_pages.page_count(opened, "fjellvik", numbers["1-first.eml"], 2) == 3  # from the cache
    assert review_pages.page_count(opened, "fjellvik", numbers["1-first.eml"], 1) == 1
    assert review_pages.page_count(opened, "fjellvik", numbers["7-program.eml"], 2) == 0  # no archival copy
    with pytest.raises(ReviewError, match="has no document 3"):
        review_pages.page_count(opened, "fjellvik", numbers["1-first.eml"], 3)


def test_pages_are_cached_by_checksum_page_and_width_and_the_cache_may_go(desk):
    opened, numbers, _ = desk
    number = numbers["1-first.eml"]
    sha = _document_two(opened, numbers).archival_copy.sha256
    cache = opened.settings.data_dir / "cache" / "pages"
    shutil.rmtree(cache, ignore_errors=True)
    rendered = review_pages.page_image(opened, "fjellvik", number, 2, page=2, width=700)
    cached = cache / sha[:2] / f"{sha}-2-700.png"
    assert cached.read_bytes() == rendered.png
    assert not [p for p in cached.parent.iterdir() if p.name.startswith(".")]  # no temporary left behind

    # The second call reads the cache file: what is there is what it returns.
    marker = io.BytesIO()
    Image.new("RGB", (7, 7), "red").save(marker, format="PNG")
    cached.write_bytes(marker.getvalue())
    again = review_pages.page_image(opened, "fjellvik", number, 2, page=2, width=700)
    assert again.png == marker.getvalue() and (again.page, again.pages) == (2, 3)

    shutil.rmtree(cache)
    redrawn = review_pages.page_image(opened, "fjellvik", number, 2, page=2, width=700)
    assert redrawn.png == rendered.png and cached.is_file()


def test_pages_that_are_not_there_are_refused(desk):
    opened, numbers, _ = desk
    number = numbers["1-first.eml"]
    for page in (0, 4):  # the second time with the page count from the cache
        with pytest.raises(ReviewError, match=f"has 3 page\\(s\\), no page {page}"):
            review_pages.page_image(opened, "fjellvik", number, 2, page=page)
    shutil.rmtree(opened.settings.data_dir / "cache" / "pages", ignore_errors=True)
    with pytest.raises(ReviewError, match="no page 4"):
        review_pages.page_image(opened, "fjellvik", number, 2, page=4)
    with pytest.raises(ReviewError, match="has no document 9"):
        review_pages.page_image(opened, "fjellvik", number, 9, page=1)
    with pytest.raises(ReviewError, match="no archival copy to show"):
        review_pages.page_image(opened, "fjellvik", numbers["7-program.eml"], 2, page=1)
    with pytest.raises(ReviewError, match="no journalpost 2026/999"):
        review_pages.page_image(opened, "fjellvik", "2026/999", 1, page=1)
    # A file the journal names but the document store lost is the store's failure, not the caller's.
    sha = _document_two(opened, numbers).archival_copy.sha256
    stored = opened.settings.documents_dir / sha[:2] / sha[2:4] / sha
    aside = stored.rename(stored.with_name("aside"))
    try:
        with pytest.raises(StoreError, match=f"no file '{sha}'"):
            review_pages.page_image(opened, "fjellvik", number, 2, page=1)
    finally:
        aside.rename(stored)


# ---------------------------------------------------------------- files


def test_the_original_comes_from_the_journalposts_own_objects_under_a_safe_name(desk):
    opened, numbers, letter = desk
    number = numbers["1-first.eml"]
    path, name, mime = review_pages.original_file(opened, "fjellvik", number, 2)
    assert path.read_bytes() == letter and path.is_relative_to(opened.settings.documents_dir)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name and mime == "application/pdf"
    assert name.endswith(".pdf") and not set(name) & set('/\\"\t\r\n')

    copy_path, _, copy_mime = review_pages.original_file(opened, "fjellvik", number, 2, 1, "Arkivformat")
    assert copy_path.name == _document_two(opened, numbers).archival_copy.sha256 and copy_mime == "application/pdf"
    assert copy_path.read_bytes().startswith(b"%PDF")

    # A name the store holds as some sender or system wrote it, as hostile as it gets.
    with opened.store.write("test") as session:
        post = review.find_journalpost(session, "fjellvik", number)
        received = post.dokumentbeskrivelser[1].dokumentobjekter[0]
        received.filnavn, received.mimeType = '..\\..\\etc/pass\r\nwd\x00\u202e"fdp.exe".pdf', "text/html;\r\nx-evil=1"
    path, name, mime = review_pages.original_file(opened, "fjellvik", number, 2)
    assert path.read_bytes() == letter
    assert not any(c in '/\\"' or ord(c) < 32 or c == "\u202e" for c in name) and name.endswith(".pdf")
    assert "etc" not in name and mime == "application/octet-stream"

    with pytest.raises(ReviewError, match="no version 2 Produksjonsformat"):
        review_pages.original_file(opened, "fjellvik", number, 2, versjonsnummer=2)
    with pytest.raises(ReviewError, match="no Skjult"):
        review_pages.original_file(opened, "fjellvik", number, 2, variantformat="Skjult")
    with pytest.raises(ReviewError, match="has no document 3"):
        review_pages.original_file(opened, "fjellvik", number, 3)
    with pytest.raises(ReviewError, match="no Arkivformat"):
        review_pages.original_file(opened, "fjellvik", numbers["7-program.eml"], 2, variantformat="Arkivformat")


# ---------------------------------------------------------------- cases


def test_similar_cases_find_the_open_case_of_the_same_sender_and_property(desk):
    opened, numbers, _ = desk
    first, closed, neighbour, screened = (
        _case(opened, numbers[n]) for n in ("1-first.eml", "2-closed.eml", "4-neighbour.eml", "8-screened.eml")
    )
    with opened.store.read() as session:
        before = review.similar_cases(session, "fjellvik", numbers["3-second.eml"])
    assert {s.saksnummer: s.why for s in before} == {
        first: "samme avsender og gnr. 41 bnr. 12",
        closed: "samme avsender og gnr. 41 bnr. 12",
        neighbour: "samme eiendom, gnr. 41 bnr. 12",
        screened: "samme eiendom, gnr. 41 bnr. 12",
    }
    assert {s.saksnummer for s in before[-2:]} == {neighbour, screened}  # any sender's after the same sender's

    with opened.store.write("kari.arkivar") as session:
        review.approve(session, "fjellvik", numbers["2-closed.eml"], actor="kari.arkivar")
        assert period.close_cases(session, "fjellvik", [closed], by="kari.arkivar", now=utcnow()).closed
        # The archivist masks the child's name, which screening did not know for a name, in the case's public title.
        masked = session.scalar(select(tables.Saksmappe).where(tables.Saksmappe.mappeID == screened))
        masked.offentligTittel = masked.offentligTittel.replace("Tiril", "*****")
    with opened.store.read() as session:
        after = review.similar_cases(session, "fjellvik", numbers["3-second.eml"])
        feiing = review.similar_cases(session, "fjellvik", numbers["6-feiing-again.eml"])
        strangers = review.similar_cases(session, "fjellvik", numbers["7-program.eml"])
        one = review.similar_cases(session, "fjellvik", numbers["3-second.eml"], limit=1)
        klasse = session.scalar(select(tables.Saksmappe).where(tables.Saksmappe.mappeID == first)).klasse.klasseID
        restriction = session.scalar(select(tables.Saksmappe).where(tables.Saksmappe.mappeID == screened)).tilgangsrestriksjon
    assert [(s.saksnummer, s.why) for s in after] == [
        (first, "samme avsender og gnr. 41 bnr. 12"),
        (neighbour, "samme eiendom, gnr. 41 bnr. 12"),
        (screened, "samme eiendom, gnr. 41 bnr. 12"),
    ]
    top, _, hidden = after
    assert (top.tittel, top.klasse, top.saksstatus, top.skjermet) == (
        "Eiendomsskatt gnr. 41 bnr. 12", klasse, "Under behandling", False)
    # Screened: flagged for the desk to keep from users not cleared, and named by its public title only.
    assert restriction and hidden.skjermet and "Tiril" not in hidden.tittel + hidden.why
    assert hidden.tittel == "Bekymringsmelding til barnevernet om *****, gnr. 41 bnr. 12"
    assert [s.saksnummer for s in one] == [first]
    # Same sender, a title that differs only by a reply prefix and a year; no other letter of hers.
    assert [(s.saksnummer, s.why) for s in feiing] == [(_case(opened, numbers["5-feiing.eml"]), "samme avsender og lik tittel")]
    assert strangers == []


# ---------------------------------------------------------------- classes


def _examples() -> list[learned.TrainingExample]:
    titles = {
        "232": ["Eiendomsskatt for gnr. {n} bnr. {m}", "Klage på eiendomsskatt {n}", "Takst og eiendomsskatt bnr. {m}"],
        "A20": ["Søknad om barnehageplass for barn {n}", "Barnehageplass fra august {n}", "Endring av barnehageplass {m}"],
        "M10": ["Vannlekkasje i gate {n}", "Vannforsyning og vannlekkasje {m}", "Kokevarsel vannforsyning {n}"],
        "X99": ["Zorblax fnugg {n}", "Fnugg zorblax vrang {m}", "Zorblax vrang {n}"],  # a class this archive lacks
    }
    return [
        learned.TrainingExample(text=template.format(n=n, m=n + 7), klasse_id=klasse, case=f"{klasse}-{n % 6}")
        for klasse, templates in titles.items() for template in templates for n in range(6)
    ]


def test_class_suggestions_come_from_the_trained_model_with_the_class_titles(desk):
    opened, numbers, _ = desk
    number = numbers["1-first.eml"]
    assert review_pages.class_suggestions(opened, "fjellvik", number) == []  # nothing trained yet
    report = learned.train(_examples())
    path = model_path(opened.settings, "fjellvik")
    report.model.save(path)
    try:
        suggested = review_pages.class_suggestions(opened, "fjellvik", number)
        assert len(suggested) == 3 and suggested[0][:2] == ("232", "Eiendomsskatt")
        confidences = [c for _, _, c in suggested]
        assert confidences == sorted(confidences, reverse=True) and all(0 <= c <= 1 for c in confidences)
        # What the nightly run would have been told for this letter.
        nightly = report.model.suggest(learned.compose_text("Eiendomsskatt gnr. 41 bnr. 12"))
        assert (nightly.klasse_id, nightly.confidence) == (suggested[0][0], pytest.approx(suggested[0][2]))
        everything = review_pages.class_suggestions(opened, "fjellvik", number, limit=10)
        assert {k for k, _, _ in everything} == {"232", "A20", "M10"}  # X99 is in no classification system here
        assert "X99" in report.model.classes
    finally:
        path.unlink()
    assert review_pages.class_suggestions(opened, "fjellvik", number) == []  # a model taken away is not remembered
