"""The e-mail's typeset PDF is the same whether its fonts were parsed for it or once per process.

`render_email` takes DejaVu from a font parsed once per worker process
(`pdfa._add_dejavu`) instead of having fpdf2 parse the file for every
document. What each document embeds must still be its own: the glyphs it
uses, no more (a subset carried over from the document before would put
another letter's characters into this one's file), no fewer. And the
subset is cut from DejaVu reduced once per process to the common scripts
(`pdfa._common_outlines`) when that holds every glyph: the same bytes again.
"""

from __future__ import annotations

import re
from pathlib import Path

import pikepdf
from fontTools.ttLib import TTFont

from helpers.convertfactory import email_text
from noarkpipe.convert import typeset as pdfa

OTHER = "Fra:   Łukasz <l@example.pl>\nEmne:  Ærlig talt\n\nŁódź, ∑ 1–3 ½ — ☃ Жизнь 漢字 (no glyph)\n"
_DATED = re.compile(rb"(/CreationDate \(D:)[^)]*|(/ID \[)[^\]]*")


def _without_dates(path: Path) -> bytes:
    # The only bytes that depend on when a file was made (the file /ID is a hash over the date too);
    # the same length at every moment.
    return _DATED.sub(lambda match: match.group(1) or match.group(2), path.read_bytes())


def _embedded_fonts(path: Path) -> list[bytes]:
    with pikepdf.open(path) as pdf:
        return sorted(obj.read_bytes() for obj in pdf.objects if isinstance(obj, pikepdf.Stream) and "/Length1" in obj)


def test_each_document_embeds_only_its_own_glyphs(tmp_path: Path) -> None:
    letter = email_text()
    first, other, again = tmp_path / "first.pdf", tmp_path / "other.pdf", tmp_path / "again.pdf"
    pdfa.render_email(letter, first)
    pdfa.render_email(OTHER, other)
    pdfa.render_email(letter, again)
    assert _without_dates(again) == _without_dates(first)
    assert _embedded_fonts(other) != _embedded_fonts(first)


def test_same_bytes_as_fpdf2_parsing_the_font_file(tmp_path: Path, monkeypatch) -> None:
    cached = {}
    for text, name in ((email_text(), "letter"), (OTHER, "other")):
        cached[name] = pdfa.render_email(text, tmp_path / f"{name}-cached.pdf")
    # No parsed font: the fall-back, fpdf2's own add_font for every document.
    monkeypatch.setattr(pdfa, "_parsed_font", lambda style, filename: None)
    for text, name in ((email_text(), "letter"), (OTHER, "other")):
        parsed = pdfa.render_email(text, tmp_path / f"{name}-fpdf2.pdf")
        assert _without_dates(parsed) == _without_dates(cached[name]), name


def test_same_bytes_cut_from_the_whole_font(tmp_path: Path, monkeypatch) -> None:
    letter = "Fra:   Áillohaš Čárri <a@example.no>\nEmne:  Søknad – «gnr. 41»\n\nBuorre beaivi! Ștefan, €5 … 1–3\n"
    common = pdfa.render_email(letter, tmp_path / "common.pdf")
    monkeypatch.setattr(pdfa, "_cut_from_common_outlines", lambda pdf, fonts: None)
    whole = pdfa.render_email(letter, tmp_path / "whole.pdf")
    assert _without_dates(common) == _without_dates(whole)


def test_common_outlines_hold_norwegian_and_sami_not_everything() -> None:
    _data, names = pdfa._common_outlines("DejaVuSans.ttf")
    with TTFont(pdfa._font_file("DejaVuSans.ttf"), lazy=True) as font:
        cmap = font.getBestCmap()
        whole = len(font.getGlyphOrder())
    assert {cmap[ord(ch)] for ch in "æøåÆØÅ čđŋšŧžá ǧǩǯ șț €–«»…"} <= names
    # A letter with a snowman or in Cyrillic keeps the whole font (the tests above).
    assert cmap[ord("☃")] not in names and cmap[ord("Ж")] not in names
    assert len(names) < whole / 2
