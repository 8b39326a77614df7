"""A forwarded e-mail's archival copy: laid out by the e-mail intake in the parse child, typeset by conversion.

The nightly run reads an item in the parse child (run/reading.py), where the
e-mail intake lays out each forwarded message's main document; it is kept in
the item's archival folder with the documents, read back with them, and the
conversion job typesets that file. Conversion never reads an e-mail itself.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pypdf import PdfReader

from helpers.inbox import SAMPLE_INBOX
from noarkpipe import api
from noarkpipe.config import load_settings
from noarkpipe.convert import ConversionJob, ConversionOutcome, convert_document
from noarkpipe.core.context import IntakeContext
from noarkpipe.core.email_document import MAIN_FILENAME
from noarkpipe.intake.email import parse_eml
from noarkpipe.run.converting import Conversions, conversion_options
from noarkpipe.run.execution import TaskOutcome, run_task
from noarkpipe.run.reading import RENDERED, parse_item, read_parsed, rendered_path
from noarkpipe.services.parts import _forwarded_main

FORWARDED = SAMPLE_INBOX / "fjellvik" / "06-videresendt-vannlekkasje.eml"


@dataclass
class _Done:
    result: TaskOutcome[ConversionOutcome]

    def done(self) -> bool:
        return True

    def outcome(self) -> TaskOutcome[ConversionOutcome]:
        return self.result


class _Inline:
    """An executor that runs each job at once, in this process, and keeps the jobs it was given."""

    workers = 1

    def __init__(self) -> None:
        self.jobs: list = []

    def submit(self, function, job):
        self.jobs.append(job)
        return _Done(run_task(function, job))

    def close(self, *, cancel: bool = False) -> None:
        pass


def _context(tmp_path: Path) -> IntakeContext:
    (tmp_path / "scratch").mkdir(exist_ok=True)
    return IntakeContext(origin_name=FORWARDED.name, received=datetime(2026, 11, 23, 8, tzinfo=UTC), scratch=tmp_path / "scratch")


def test_the_nightly_copy_of_a_forwarded_email_is_typeset_from_the_main_document_intake_laid_out(tmp_path):
    folder = tmp_path / "item"
    parse_item(FORWARDED, FORWARDED.name, _context(tmp_path), folder)
    parsed = read_parsed(folder)
    assert parsed is not None
    [submission], [blobs] = parsed.submissions, parsed.documents
    [(forwarded, blob)] = [(d, b) for d, b in zip(submission.documents, blobs) if d.media_type == "message/rfc822"]
    assert forwarded.rendered is not None and forwarded.rendered.filename == MAIN_FILENAME
    assert forwarded.rendered.content == b""  # the description holds no bytes; they are in the archival folder
    kept = rendered_path(folder, blob, forwarded.rendered)
    assert kept.parent.parent == folder / RENDERED
    # The very document the e-mail intake makes of the forwarded message read on its own: the copy is as before.
    alone = tmp_path / "alone.eml"
    alone.write_bytes((folder / "received" / blob).read_bytes())
    assert kept.read_bytes() == parse_eml(alone, _context(tmp_path))[0].main_document.content

    settings = load_settings(api.init(tmp_path / "installation"))
    executor = _Inline()
    converted = Conversions(settings, executor, preload=()).submit(folder, forwarded, blob, executor, {})
    [job] = executor.jobs
    assert job.rendered == kept
    outcome = converted.outcome().value
    assert outcome.failure is None, outcome.failure
    assert outcome.result.tool == "noarkpipe e-mail reader + fpdf2 + pikepdf"
    text = "\n".join(page.extract_text() for page in PdfReader(outcome.result.output).pages)
    assert "Fra: Ola Hansen <ola.hansen@example.net>" in text and "utenfor Fjellvegen 22" in text


def test_a_parsed_item_whose_laid_out_document_is_missing_is_read_again(tmp_path):
    folder = tmp_path / "item"
    parse_item(FORWARDED, FORWARDED.name, _context(tmp_path), folder)
    [kept] = (folder / RENDERED).glob("*/*")
    kept.unlink()
    assert read_parsed(folder) is None


def test_a_forwarded_message_that_is_no_email_gets_the_reason_as_its_gap(tmp_path):
    from noarkpipe.core.submission import DocumentRole, SubmissionDocument
    from noarkpipe.intake.email import with_forwarded_main

    document = SubmissionDocument(
        filename="videresendt.eml", media_type="message/rfc822", content=b"X-Nothing: here\n\ntekst\n",
        role=DocumentRole.attachment, title="Videresendt melding",
    )
    laid_out = with_forwarded_main(document, _context(tmp_path))
    assert laid_out.rendered is None and "not an RFC 5322 e-mail" in laid_out.archival_gap


def test_conversion_does_not_import_the_intake():
    probe = "import sys, noarkpipe.convert; print(sorted(m for m in sys.modules if m.startswith('noarkpipe.intake')))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_a_replacement_eml_from_the_archivist_is_laid_out_like_a_forwarded_one(installation, tmp_path):
    settings = load_settings(installation.config_path)
    scratch = tmp_path / "replace"
    scratch.mkdir()
    laid_out = _forwarded_main(FORWARDED, scratch, settings)
    assert laid_out is not None and laid_out.name == MAIN_FILENAME
    context = IntakeContext(origin_name=FORWARDED.name, received=datetime.now(UTC), scratch=tmp_path / "direct")
    context.scratch.mkdir()
    assert laid_out.read_bytes() == parse_eml(FORWARDED, context)[0].main_document.content
    job = ConversionJob(
        source=FORWARDED, source_sha256="0" * 64, filename=FORWARDED.name, email_body=False,
        target=tmp_path / "copy", scratch=tmp_path / "work", options=conversion_options(settings), rendered=laid_out,
    )
    outcome = convert_document(job)
    assert outcome.result is not None, outcome.failure
    copy = outcome.result.output if outcome.result.output else next(job.target.rglob("*.pdf"))
    text = "".join(page.extract_text() for page in PdfReader(copy).pages)
    assert "vann" in text.lower()
    pdf = tmp_path / "brev.pdf"
    pdf.write_bytes(b"%PDF-1.4\n")
    assert _forwarded_main(pdf, scratch, settings) is None


def test_a_parser_bug_on_a_forwarded_message_costs_that_part_not_the_letter(tmp_path, monkeypatch):
    from noarkpipe.core.submission import DocumentRole, SubmissionDocument
    from noarkpipe.intake import email

    def broken(raw, context):
        raise ValueError("unexpected header shape")

    monkeypatch.setattr(email, "_read", broken)
    context = IntakeContext(origin_name="brev.eml", received=datetime.now(UTC), scratch=tmp_path)
    document = SubmissionDocument(filename="videresendt.eml", media_type="message/rfc822", content=FORWARDED.read_bytes(),
                                  role=DocumentRole.attachment, title="Videresendt melding")
    kept = email.with_forwarded_main(document, context)
    assert kept.rendered is None and kept.content == document.content
    assert "ValueError: unexpected header shape" in kept.archival_gap and "kept as received" in kept.archival_gap
