"""Each `_exec` wrapper against a faulty program (tests/helpers/fakes.py), and the path that failure takes.

A crashing tesseract quarantines the scan it was reading; a hanging
LibreOffice and a failing Ghostscript leave the document without an archival
copy, flagged with the reason, their processes gone; a missing program is a
MissingDependencyError naming what to install, and stops the conversion
instead of flagging the document.
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from helpers import convertfactory as factory
from helpers import fakes, scanfactory
from helpers.inbox import drop
from noarkpipe import api
from noarkpipe._exec import ghostscript, libreoffice, ocrmypdf, probe, tesseract
from noarkpipe.config import load_settings
from noarkpipe.convert import ConversionJob, ConversionOptions, convert_document
from noarkpipe.errors import InputFileError, MissingDependencyError
from noarkpipe.intake import IntakeContext
from noarkpipe.intake.scan import parse_scan
from noarkpipe.run.results import Outcome


def _job(source: Path, tmp_path: Path, **options) -> ConversionJob:
    return ConversionJob(
        source=source, source_sha256=hashlib.sha256(source.read_bytes()).hexdigest(), filename=source.name,
        email_body=False, target=tmp_path / "arkiv", scratch=tmp_path / "scratch",
        options=ConversionOptions(sandbox="off", **options),
    )


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


# --- tesseract that crashes with SIGABRT ----------------------------------------------------------


def test_a_crashing_tesseract_is_a_page_it_could_not_read(tmp_path, monkeypatch):
    program = fakes.crashing_tesseract(tmp_path / "bin", monkeypatch)
    assert tesseract.require("nor+eng") == str(program)
    png = factory.png_scan(tmp_path / "side.png").read_bytes()
    with pytest.raises(InputFileError, match=r"tesseract could not read a page \(exit status -6\)"):
        tesseract.page_text(str(program), png, "nor", 300, sandbox_mode="off")


def test_a_scan_tesseract_crashes_on_is_quarantined_with_the_reason(installation, tmp_path, monkeypatch):
    config = installation.config_path
    config.write_text(config.read_text(encoding="utf-8").replace('sandbox = "bwrap"', 'sandbox = "off"'))
    page = scanfactory.text_page(["Klage på vedtak om eiendomsskatt", "Øvre Fjellvei 3, Fjellvik"])
    drop(installation, "fjellvik", "skanner/brev.png", scanfactory.write_image(page, tmp_path / "brev.png").read_bytes())
    fakes.crashing_tesseract(tmp_path / "bin", monkeypatch)
    summary = api.run(load_settings(config))
    [item] = summary.items
    assert item.outcome is Outcome.quarantined
    assert "tesseract could not read a page" in item.reason


# --- LibreOffice that hangs -----------------------------------------------------------------------


def test_a_hanging_libreoffice_is_stopped_with_its_child(tmp_path, monkeypatch):
    pids = tmp_path / "soffice.pids"
    program = fakes.hanging_libreoffice(tmp_path / "bin", monkeypatch, pids)
    assert libreoffice.require()[0] == str(program)
    source = tmp_path / "klage.rtf"
    source.write_text(factory.RTF, encoding="ascii")
    started = time.monotonic()
    with pytest.raises(InputFileError, match="LibreOffice took longer than 1 seconds"):
        libreoffice.to_pdf(
            str(program), source, tmp_path / "out", family="text", pdfa_part=2, profile=tmp_path / "profile",
            timeout=1, sandbox_mode="off",
        )
    assert time.monotonic() - started < 10
    recorded = [int(line) for line in pids.read_text().split()]
    assert len(recorded) == 2 and not any(_running(pid) for pid in recorded)
    assert not (tmp_path / "profile").exists()  # a killed office's profile is not reused


def test_a_document_libreoffice_hangs_on_is_flagged_without_a_copy(tmp_path, monkeypatch):
    fakes.hanging_libreoffice(tmp_path / "bin", monkeypatch)
    source = tmp_path / "klage.rtf"
    source.write_text(factory.RTF, encoding="ascii")
    outcome = convert_document(_job(source, tmp_path, timeout_s=4))
    assert outcome.failure_kind == "refused"
    assert "not finished within 4 seconds: LibreOffice" in outcome.failure


# --- Ghostscript that exits non-zero --------------------------------------------------------------


def test_a_failing_ghostscript_is_a_pdf_it_could_not_rewrite(tmp_path, monkeypatch):
    program = fakes.failing_ghostscript(tmp_path / "bin", monkeypatch)
    assert ghostscript.require() == (str(program), (10, 2, 1))
    source = factory.standard_font_pdf(tmp_path / "vedtak.pdf")
    with pytest.raises(InputFileError, match=r"exit status 1\): Error: page 1 has an unreadable content stream"):
        ghostscript.embed_fonts(str(program), source, tmp_path / "ut.pdf", timeout=30, sandbox_mode="off")


def test_a_pdf_ghostscript_fails_on_is_flagged_without_a_copy(tmp_path, monkeypatch):
    fakes.failing_ghostscript(tmp_path / "bin", monkeypatch)
    outcome = convert_document(_job(factory.standard_font_pdf(tmp_path / "vedtak.pdf"), tmp_path))
    assert outcome.failure_kind == "refused"
    assert "Ghostscript could not rewrite the PDF" in outcome.failure


# --- a program that is not there ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wrapper", "require", "hint"),
    [
        (ghostscript, ghostscript.require, "apt-get install ghostscript"),
        (libreoffice, libreoffice.require, "apt-get install --no-install-recommends libreoffice-writer-nogui"),
        (tesseract, lambda: tesseract.require("nor+eng"), "apt-get install tesseract-ocr tesseract-ocr-nor"),
        (ocrmypdf, lambda: ocrmypdf.require("nor"), "pip install 'ocrmypdf>=17.13,<18'"),
    ],
    ids=["ghostscript", "libreoffice", "tesseract", "ocrmypdf"],
)
def test_a_missing_tool_names_what_to_install(wrapper, require, hint, monkeypatch):
    fakes.missing(monkeypatch, wrapper)
    with pytest.raises(MissingDependencyError, match=f"^{wrapper.TOOL.name}, .* is not installed") as caught:
        require()
    assert caught.value.hint.startswith(hint)


def test_a_missing_libreoffice_stops_the_conversion_instead_of_flagging_the_document(tmp_path, monkeypatch):
    fakes.missing(monkeypatch, libreoffice)
    source = tmp_path / "klage.rtf"
    source.write_text(factory.RTF, encoding="ascii")
    outcome = convert_document(_job(source, tmp_path))
    assert outcome.failure_kind == "missing_dependency"
    assert "LibreOffice, needed for archival copies of office documents, is not installed" in outcome.failure


def test_a_missing_tesseract_stops_the_scan_before_any_page(tmp_path, monkeypatch):
    fakes.missing(monkeypatch, tesseract)
    path = scanfactory.write_image(scanfactory.text_page(["Klage"]), tmp_path / "brev.png")
    context = IntakeContext(origin_name=path.name, received=datetime.now(UTC), scratch=tmp_path / "s", sandbox="off")
    with pytest.raises(MissingDependencyError, match="tesseract, the OCR program for scanned mail"):
        parse_scan(path, context)


# --- the probe itself ------------------------------------------------------------------------------


def test_a_program_that_is_not_the_tool_is_refused(tmp_path, monkeypatch):
    fakes.fake_program(tmp_path / "bin", "gs", "exit 0\n", version="GPL Ghostscript?")
    fakes.first_on_path(monkeypatch, tmp_path / "bin")
    with pytest.raises(MissingDependencyError, match=r"did not report a Ghostscript version; is it really Ghostscript\?"):
        ghostscript.require()


def test_a_tool_too_old_is_refused_with_both_versions(tmp_path, monkeypatch):
    fakes.fake_program(tmp_path / "bin", "tesseract", "exit 0\n", version="tesseract 4.0.0")
    fakes.first_on_path(monkeypatch, tmp_path / "bin")
    with pytest.raises(MissingDependencyError, match=r"tesseract 4\.0\.0 is too old; noarkpipe needs 4\.1 or newer") as caught:
        tesseract.require("nor+fao")
    assert caught.value.hint == "apt-get install tesseract-ocr tesseract-ocr-nor tesseract-ocr-fao"


def test_an_old_tesseract_printing_on_stderr_is_read(tmp_path, monkeypatch):
    program = fakes.fake_program(tmp_path / "bin", "tesseract", (
        'if [ "$1" = "--version" ]; then echo "tesseract 4.1.1" >&2; fi\n'
        'if [ "$1" = "--list-langs" ]; then echo nor >&2; fi\n'
    ))
    fakes.first_on_path(monkeypatch, tmp_path / "bin")
    assert probe.require(tesseract.TOOL) == (str(program), (4, 1, 1))
    assert tesseract.require("nor") == str(program)
