"""The bundled samples: every e-form and scan in fixtures/ gives the fields and split it promises."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pypdf
import pytest

from helpers.inbox import SAMPLE_INBOX
from noarkpipe.core.context import IntakeContext
from noarkpipe.core.submission import DocumentRole, Source
from noarkpipe.intake.dispatch import choose_parser

FIXTURES = SAMPLE_INBOX.parent
EFORMS = FIXTURES / "sample-eforms"
SCANS = FIXTURES / "sample-scans"


def _context(tmp_path, name):
    return IntakeContext(origin_name=name, received=datetime(2026, 11, 23, 1, tzinfo=UTC), scratch=tmp_path / "s")


@pytest.mark.parametrize(
    "files, form_type, sender, attachments",
    [
        (["byggesak-fjellvik-ett-trinn.xml"], "byggesak-ett-trinn", "Fjellvik Bygg og Anlegg AS", 1),
        (["startlan-latin1.xml"], "startlan", "Øystein Ærø", 0),
        (["barnehageplass-FS-2026-120051.zip"], "barnehageplass", None, 1),
        (["gravemelding-FS-2026-121377.zip"], "gravemelding", "Fjellvik Fiber AS", 1),
        (["skadedyr-FS-2026-120777.json", "skadedyr-FS-2026-120777.pdf"], "melding-skadedyr", "Jørgen Bråten", 0),
        (["ildsted-FS-2026-121310.json", "ildsted-FS-2026-121310.pdf"], "melding-ildsted", "Ragnhild Sæbø", 0),
    ],
)
def test_sample_eforms_of_each_shape(tmp_path, files, form_type, sender, attachments):
    if len(files) == 1:
        path = EFORMS / files[0]
    else:  # a JSON + PDF pair is claimed as one bundle folder
        path = tmp_path / "bundle"
        path.mkdir()
        for name in files:
            (path / name).write_bytes((EFORMS / name).read_bytes())
    source, parse = choose_parser(path, files[0])
    assert source is Source.eform
    [submission] = parse(path, _context(tmp_path, files[0]))
    assert submission.form_type == form_type
    if sender:
        assert submission.sender.name == sender
    roles = [d.role for d in submission.documents]
    assert roles[0] is DocumentRole.main and submission.documents[0].content.startswith(b"%PDF")
    assert submission.documents[1].filename.endswith(".xml")  # the form data, in an archival format
    assert len(roles) == 2 + attachments
    assert submission.form_data and submission.sent is not None


@pytest.mark.parametrize(
    "name, letters, pages",
    [
        ("skanning-2026-11-20.pdf", 3, [1, 2, 1]),  # split at a blank page and a QR sheet
        ("enkeltbrev-2026-11-20.tif", 1, [2]),      # one letter, no separators
        ("brev-foto-2026-11-21.jpg", 1, [1]),
    ],
)
def test_sample_scans_split_into_letters_with_text(tmp_path, name, letters, pages):
    source, parse = choose_parser(SCANS / name, name)
    assert source is Source.scan
    context = IntakeContext(
        origin_name=name, received=datetime(2026, 11, 23, 1, tzinfo=UTC), scratch=tmp_path / "s", ocr_languages="nor"
    )
    submissions = parse(SCANS / name, context)
    assert len(submissions) == letters
    assert [len(pypdf.PdfReader(io.BytesIO(s.main_document.content)).pages) for s in submissions] == pages
    for submission in submissions:
        assert submission.source is Source.scan and len(submission.body_text) > 100
    texts = " ".join(s.body_text for s in submissions)
    assert "Fjellvik" in texts
    if name.startswith("enkeltbrev"):
        [letter] = submissions
        assert letter.sent is not None and letter.sent.date() <= date(2026, 11, 30)
