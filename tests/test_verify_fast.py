"""The archival copy's structural checks, read by pikepdf, catch what they are there to catch.

`verify.verify_pdfa` opens the copy once with pikepdf (qpdf) for the checks
on its structure: encryption, the page count, the XMP pdfaid claim and the
walk for fonts without a font program. Each case below is a real PDF,
typeset by fpdf2 or put together with pikepdf, and each failing case has a
twin that differs only in the one thing the check looks at, so a check
that failed everything, or passed everything, would not get through.

The fonts walk must find a font wherever a page can use one: on the page,
in its inherited resources, in a form XObject (nested too), a tiling
pattern, a Type 3 font's glyphs, a Type 0 font's descendant, and in an
annotation's appearance streams (/N, /R, /D, each a stream or one per
state). What it cannot read fails the check; it never passes unseen.

The text comparison counts the letters two texts share as difflib's
quick_ratio does, to the same number.

The conversion side is here too: a PDF whose every page has text and every
font embedded is made PDF/A from the document opened once, with no
prepared copy written in between.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from difflib import SequenceMatcher
from pathlib import Path

import pikepdf
import pytest
from fpdf import FPDF

from helpers import convertfactory as factory
from noarkpipe.convert.normalise import pdf_to_pdfa
from noarkpipe.convert.options import ConversionOptions
from noarkpipe.convert.steps import Deadline
from noarkpipe.errors import InputFileError
from noarkpipe.files import verify
from noarkpipe.files.verify import Check, page_texts, pdfa_claim_of, text_check, unembedded_fonts, verify_pdfa

Font = Callable[[pikepdf.Pdf], pikepdf.Object]
TEXT = b"BT /F1 12 Tf 72 720 Td (Hei fra Fjellvik) Tj ET"


def _checks(path: Path, *, pages: int | None = 1, profile: str = "2b") -> dict[str, Check]:
    report = verify_pdfa(path, expected_pages=pages, profile=profile)  # type: ignore[arg-type]
    return {check.id: check for check in report.checks}


def _helvetica(pdf: pikepdf.Pdf) -> pikepdf.Object:
    """A standard 14 font named without its program, as PDF/A forbids."""
    return pdf.make_indirect(pikepdf.Dictionary(
        Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica,
        Encoding=pikepdf.Name.WinAnsiEncoding,
    ))


def _embedded(pdf: pikepdf.Pdf) -> pikepdf.Object:
    """A TrueType font with a font program (only its presence is looked at here)."""
    descriptor = pdf.make_indirect(pikepdf.Dictionary(
        Type=pikepdf.Name.FontDescriptor, FontName=pikepdf.Name("/AAAAAA+Embedded"),
        FontFile2=pdf.make_stream(b"\x00\x01\x00\x00 glyphs"),
    ))
    return pdf.make_indirect(pikepdf.Dictionary(
        Type=pikepdf.Name.Font, Subtype=pikepdf.Name.TrueType, BaseFont=pikepdf.Name("/AAAAAA+Embedded"),
        FontDescriptor=descriptor,
    ))


def _form(pdf: pikepdf.Pdf, resources: pikepdf.Dictionary, content: bytes = TEXT) -> pikepdf.Object:
    return pdf.make_stream(
        content, Type=pikepdf.Name.XObject, Subtype=pikepdf.Name.Form,
        BBox=pikepdf.Array([0, 0, 595, 842]), Resources=resources,
    )


def _fonts(font: pikepdf.Object) -> pikepdf.Dictionary:
    return pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))


def _write(path: Path, build: Callable[[pikepdf.Pdf, pikepdf.Page], None]) -> Path:
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    page = pdf.pages[0]
    page.obj.Contents = pdf.make_stream(b"q Q")
    build(pdf, page)
    pdf.save(path)
    return path


def on_the_page(pdf, page, font: Font) -> None:
    page.obj.Resources = _fonts(font(pdf))
    page.obj.Contents = pdf.make_stream(TEXT)


def inherited_from_the_page_tree(pdf, page, font: Font) -> None:
    pdf.Root.Pages.Resources = _fonts(font(pdf))
    del page.obj["/Resources"]
    page.obj.Contents = pdf.make_stream(TEXT)


def in_a_form_xobject(pdf, page, font: Font) -> None:
    page.obj.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Fm0=_form(pdf, _fonts(font(pdf)))))
    page.obj.Contents = pdf.make_stream(b"/Fm0 Do")


def in_a_form_inside_a_form(pdf, page, font: Font) -> None:
    inner = _form(pdf, _fonts(font(pdf)))
    outer = _form(pdf, pikepdf.Dictionary(XObject=pikepdf.Dictionary(Fm1=inner)), b"/Fm1 Do")
    page.obj.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Fm0=outer))
    page.obj.Contents = pdf.make_stream(b"/Fm0 Do")


def in_a_tiling_pattern(pdf, page, font: Font) -> None:
    pattern = pdf.make_stream(
        TEXT, Type=pikepdf.Name.Pattern, PatternType=1, PaintType=1, TilingType=1,
        BBox=pikepdf.Array([0, 0, 100, 100]), XStep=100, YStep=100, Resources=_fonts(font(pdf)),
    )
    page.obj.Resources = pikepdf.Dictionary(Pattern=pikepdf.Dictionary(P0=pattern))
    page.obj.Contents = pdf.make_stream(b"/Pattern cs /P0 scn 0 0 595 842 re f")


def in_type3_glyphs(pdf, page, font: Font) -> None:
    glyph = pdf.make_stream(b"0 0 d0 " + TEXT)
    type3 = pdf.make_indirect(pikepdf.Dictionary(
        Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type3, FontBBox=pikepdf.Array([0, 0, 1000, 1000]),
        FontMatrix=pikepdf.Array([0.001, 0, 0, 0.001, 0, 0]), CharProcs=pikepdf.Dictionary(a=glyph),
        Encoding=pikepdf.Dictionary(Differences=pikepdf.Array([97, pikepdf.Name.a])), FirstChar=97, LastChar=97,
        Widths=pikepdf.Array([1000]), Resources=_fonts(font(pdf)),
    ))
    page.obj.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(T3=type3))
    page.obj.Contents = pdf.make_stream(b"BT /T3 12 Tf 72 720 Td (a) Tj ET")


def as_a_type0_descendant(pdf, page, font: Font) -> None:
    descendant = font(pdf)
    descendant.Subtype = pikepdf.Name.CIDFontType2
    type0 = pdf.make_indirect(pikepdf.Dictionary(
        Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type0, BaseFont=pikepdf.Name("/Composite"),
        Encoding=pikepdf.Name("/Identity-H"), DescendantFonts=pikepdf.Array([descendant]),
    ))
    page.obj.Resources = _fonts(type0)
    page.obj.Contents = pdf.make_stream(TEXT)


def _annotation(pdf, page, appearance: pikepdf.Dictionary) -> None:
    page.obj.Annots = pdf.make_indirect(pikepdf.Array([pdf.make_indirect(pikepdf.Dictionary(
        Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.FreeText, Rect=pikepdf.Array([72, 600, 300, 650]),
        Contents=pikepdf.String("Merknad"), AP=appearance,
    ))]))


def in_a_normal_appearance(pdf, page, font: Font) -> None:
    _annotation(pdf, page, pikepdf.Dictionary(N=_form(pdf, _fonts(font(pdf)))))


def in_one_state_of_a_normal_appearance(pdf, page, font: Font) -> None:
    # A check box: /Off draws nothing, /Yes draws its mark in the font.
    states = pikepdf.Dictionary(Off=_form(pdf, pikepdf.Dictionary(), b""), Yes=_form(pdf, _fonts(font(pdf))))
    _annotation(pdf, page, pikepdf.Dictionary(N=states))


def in_a_rollover_appearance(pdf, page, font: Font) -> None:
    plain = _form(pdf, pikepdf.Dictionary(), b"")
    _annotation(pdf, page, pikepdf.Dictionary(N=plain, R=_form(pdf, _fonts(font(pdf)))))


def in_one_state_of_a_down_appearance(pdf, page, font: Font) -> None:
    plain = _form(pdf, pikepdf.Dictionary(), b"")
    states = pikepdf.Dictionary(Off=plain, On=_form(pdf, _fonts(font(pdf))))
    _annotation(pdf, page, pikepdf.Dictionary(N=plain, D=states))


PLACES = [
    on_the_page, inherited_from_the_page_tree, in_a_form_xobject, in_a_form_inside_a_form, in_a_tiling_pattern,
    in_type3_glyphs, as_a_type0_descendant, in_a_normal_appearance, in_one_state_of_a_normal_appearance,
    in_a_rollover_appearance, in_one_state_of_a_down_appearance,
]


@pytest.mark.parametrize("place", PLACES, ids=[place.__name__ for place in PLACES])
def test_a_font_without_its_program_is_found_wherever_it_is_used(tmp_path, place):
    without = _write(tmp_path / "without.pdf", lambda pdf, page: place(pdf, page, _helvetica))
    embedded = _write(tmp_path / "embedded.pdf", lambda pdf, page: place(pdf, page, _embedded))

    name = "Composite" if place is as_a_type0_descendant else "Helvetica"
    assert unembedded_fonts(without) == (name,)
    assert _checks(without)["fonts_embedded"] == Check(id="fonts_embedded", outcome="failed", detail=f"not embedded: {name}")
    assert unembedded_fonts(embedded) == ()
    assert _checks(embedded)["fonts_embedded"].outcome == "passed"


def test_an_fpdf2_core_font_is_not_embedded(tmp_path):
    helvetica = factory.standard_font_pdf(tmp_path / "helvetica.pdf")
    dejavu = factory.text_pdf(tmp_path / "dejavu.pdf")

    assert unembedded_fonts(helvetica) == ("Helvetica",)
    with pikepdf.open(helvetica) as pdf:
        assert unembedded_fonts(pdf) == ("Helvetica",), "an open document is walked as its file is"
    assert _checks(helvetica)["fonts_embedded"].detail == "not embedded: Helvetica"
    assert unembedded_fonts(dejavu) == ()
    assert _checks(dejavu, pages=3)["fonts_embedded"].detail == "every font used is embedded"


def _fpdf2_core_font(pdf: pikepdf.Pdf, family: str, folder: Path) -> pikepdf.Dictionary:
    """The /Font resources fpdf2 writes for a line in one of its core fonts, copied into `pdf`."""
    core = FPDF(format="A4")
    core.add_page()
    core.set_font(family, size=10)
    core.cell(0, 6, "Merknad fra saksbehandler")
    core.output(str(folder / f"{family}.pdf"))
    with pikepdf.open(folder / f"{family}.pdf") as written:
        return pikepdf.Dictionary({
            name: pdf.copy_foreign(font) for name, font in written.pages[0].Resources.Font.items()
        })


def test_fpdf2_core_fonts_in_a_form_and_an_annotation_appearance_are_found(tmp_path):
    # The pages' own text is in embedded DejaVu; Courier and Times are used only by the form and the appearance.
    source = factory.text_pdf(tmp_path / "dejavu.pdf")
    with pikepdf.open(source) as pdf:
        courier = _fpdf2_core_font(pdf, "Courier", tmp_path)
        times = _fpdf2_core_font(pdf, "Times", tmp_path)
        page = pdf.pages[2]
        page.Resources.XObject = pikepdf.Dictionary(Fm0=_form(pdf, pikepdf.Dictionary(Font=courier)))
        page.obj.Annots = pdf.make_indirect(pikepdf.Array([pdf.make_indirect(pikepdf.Dictionary(
            Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.FreeText, Rect=pikepdf.Array([72, 600, 90, 618]),
            AP=pikepdf.Dictionary(N=pikepdf.Dictionary(Off=_form(pdf, pikepdf.Dictionary(Font=times)))),
        ))]))
        pdf.save(tmp_path / "mixed.pdf")

    assert unembedded_fonts(source) == ()
    assert unembedded_fonts(tmp_path / "mixed.pdf") == ("Courier", "Times-Roman")
    assert _checks(tmp_path / "mixed.pdf", pages=3)["fonts_embedded"].detail == "not embedded: Courier, Times-Roman"


def _font_is_a_name(pdf, page) -> None:
    on_the_page(pdf, page, _embedded)
    page.obj.Resources.Font.F1 = pikepdf.Name.Helvetica


def _fonts_in_an_array(pdf, page) -> None:
    on_the_page(pdf, page, _embedded)
    page.obj.Resources.Font = pikepdf.Array([page.obj.Resources.Font.F1])


def _xobject_is_a_number(pdf, page) -> None:
    in_a_form_xobject(pdf, page, _embedded)
    page.obj.Resources.XObject.Fm0 = 7


def _appearance_is_a_name(pdf, page) -> None:
    in_a_normal_appearance(pdf, page, _embedded)
    page.obj.Annots[0].AP.N = pikepdf.Name.Merknad


def _appearance_state_is_a_dictionary(pdf, page) -> None:
    in_one_state_of_a_normal_appearance(pdf, page, _embedded)
    page.obj.Annots[0].AP.N.Yes = pikepdf.Dictionary(Resources=_fonts(_helvetica(pdf)))


BROKEN = [_font_is_a_name, _fonts_in_an_array, _xobject_is_a_number, _appearance_is_a_name,
          _appearance_state_is_a_dictionary]


@pytest.mark.parametrize("broken", BROKEN, ids=[broken.__name__.strip("_") for broken in BROKEN])
def test_what_the_fonts_walk_cannot_read_fails_the_check(tmp_path, broken):
    path = _write(tmp_path / "broken.pdf", broken)

    fonts = _checks(path)["fonts_embedded"]
    assert fonts.outcome == "failed"
    assert fonts.detail.startswith("the fonts could not be inspected: ")
    assert unembedded_fonts(path) == (), "for the choice of route only; the copy's check is what refuses it"


def test_a_font_that_refers_to_no_object_fails_the_check(tmp_path):
    path = tmp_path / "dangling.pdf"
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    on_the_page(pdf, pdf.pages[0], _helvetica)
    # Uncompressed, one object a line: the reference can be changed in place, the cross-reference table still holds.
    pdf.save(path, qdf=True, object_stream_mode=pikepdf.ObjectStreamMode.disable, compress_streams=False)
    with pikepdf.open(path) as saved:
        number, objects = saved.pages[0].Resources.Font.F1.objgen[0], len(saved.objects)
    missing = 10 ** len(str(number)) - 1
    assert missing > objects
    content = path.read_bytes()
    assert content.count(f"/F1 {number} 0 R".encode()) == 1
    path.write_bytes(content.replace(f"/F1 {number} 0 R".encode(), f"/F1 {missing} 0 R".encode()))

    assert _checks(path)["fonts_embedded"] == Check(
        id="fonts_embedded", outcome="failed",
        detail="the fonts could not be inspected: the font /F1 is null, not a font dictionary",
    )


@pytest.mark.parametrize("user_password", ["", "hemmelig"], ids=["owner-restrictions-only", "user-password"])
def test_an_encrypted_pdf_fails_and_is_refused_for_conversion(tmp_path, user_password):
    source = factory.text_pdf(tmp_path / "tekst.pdf")
    encrypted = tmp_path / "kryptert.pdf"
    with pikepdf.open(source) as pdf:
        pdf.save(encrypted, encryption=pikepdf.Encryption(owner="eier", user=user_password))

    report = verify_pdfa(encrypted, expected_pages=3, profile="2b")
    assert [(check.id, check.outcome) for check in report.checks] == [("opens", "passed"), ("not_encrypted", "failed")]
    assert report.pages is None
    assert [check.outcome for check in verify_pdfa(source, expected_pages=3, profile="2b").checks[:2]] == [
        "passed", "passed"
    ]
    with pytest.raises(InputFileError, match="the PDF is encrypted; PDF/A forbids encryption") as refused:
        pdf_to_pdfa(encrypted, tmp_path / "copy.pdf", tmp_path, ConversionOptions(), Deadline(60),
                    expected_pages=None, first_tools=())
    assert refused.value.hint == "ask the sender for a copy without password or restrictions"
    assert not (tmp_path / "copy.pdf").exists()


def test_a_missing_pdfaid_claim_fails(tmp_path):
    no_metadata = factory.text_pdf(tmp_path / "tekst.pdf")
    without_claim = tmp_path / "uten-pdfaid.pdf"
    with pikepdf.open(no_metadata) as pdf:
        with pdf.open_metadata(set_pikepdf_as_editor=False) as meta:
            meta["dc:title"] = "Søknad om brukstillatelse"
        pdf.save(without_claim)
    claiming = factory.claims_pdfa(no_metadata, tmp_path / "pdfa.pdf")

    assert _checks(no_metadata, pages=3)["pdfa_identification"].detail == "no XMP metadata stream"
    identification = _checks(without_claim, pages=3)["pdfa_identification"]
    assert identification == Check(
        id="pdfa_identification", outcome="failed", detail="the XMP metadata has no pdfaid:part"
    )
    assert pdfa_claim_of(without_claim) == (None, None)
    assert _checks(claiming, pages=3)["pdfa_identification"] == Check(
        id="pdfa_identification", outcome="passed", detail="claims PDF/A-2b"
    )
    assert _checks(claiming, pages=3, profile="1b")["pdfa_identification"].detail == "claims PDF/A-2b, expected PDF/A-1b"
    assert pdfa_claim_of(claiming) == ("2", "B")


def test_a_page_count_other_than_the_source_fails(tmp_path):
    three = factory.text_pdf(tmp_path / "tekst.pdf")

    assert _checks(three, pages=2)["page_count"] == Check(
        id="page_count", outcome="failed", detail="3 page(s), but the source has 2"
    )
    assert _checks(three, pages=3)["page_count"] == Check(id="page_count", outcome="passed", detail="3 page(s), as the source")
    assert _checks(three)["opens"].detail == "pikepdf reads 3 page(s)"


def test_page_texts_are_for_the_pages_pikepdf_counts(tmp_path):
    three = factory.text_pdf(tmp_path / "tekst.pdf")

    texts = page_texts(three, 3)
    assert [heading in text for heading, text in zip([h for h, _ in factory.LETTER_PAGES], texts)] == [True] * 3
    with pytest.raises(ValueError, match="pikepdf counts 4 page"):
        page_texts(three, 4)


def test_the_text_comparison_is_difflibs_quick_ratio_to_the_last_bit():
    rng = random.Random(19005)
    alphabet = "abcdeæøå0123456789"
    pairs = [("", ""), ("", "abc"), ("abc", ""), ("abc", "abc"), ("aab", "abb")]
    for _ in range(300):
        wanted = "".join(rng.choices(alphabet, k=rng.randrange(0, 400)))
        kept = "".join(ch for ch in wanted if rng.random() > rng.choice([0.0, 0.05, 0.1, 0.5]))
        pairs.append((wanted, kept + "".join(rng.choices(alphabet, k=rng.randrange(0, 20)))))
    for wanted, found in pairs:
        assert verify._shared(wanted, found) == SequenceMatcher(None, wanted, found, autojunk=False).quick_ratio()


def test_text_missing_from_a_page_fails_the_text_check():
    page = "Søknad om midlertidig brukstillatelse for bolig i Bjørkeveien 7, gnr. 12 bnr. 3"
    assert text_check([page, "Side 2"], [page, ""]).outcome == "passed"
    assert text_check([page[:50], "Side 2"], [page, ""]) == Check(
        id="text_layer", outcome="failed", detail="text missing or changed on page 1 (80% of the expected text)"
    )
    assert text_check(["", ""], ["", ""]).outcome == "not_checked"


def test_a_pdf_with_text_and_embedded_fonts_is_made_pdfa_from_one_open_document(tmp_path):
    source = factory.text_pdf(tmp_path / "tekst.pdf")
    work = tmp_path / "work"
    work.mkdir()

    tools, report, warnings = pdf_to_pdfa(
        source, tmp_path / "copy.pdf", work, ConversionOptions(), Deadline(60), expected_pages=None, first_tools=()
    )

    assert [tool.name for tool in tools] == ["pikepdf"]
    assert report.passed and warnings == ()
    assert {check.id: check.outcome for check in report.checks} == {
        "opens": "passed", "not_encrypted": "passed", "page_count": "passed", "pdfa_identification": "passed",
        "fonts_embedded": "passed", "text_layer": "passed", "pdfa_rules": "passed",
    }
    assert list(work.iterdir()) == [], "no prepared copy is written when pikepdf makes the PDF/A"
    with pikepdf.open(tmp_path / "copy.pdf") as copy:
        assert "/OpenAction" not in copy.Root, "fpdf2's opening view is dropped, as PDF/A validation wants"
        assert len(copy.pages) == 3
