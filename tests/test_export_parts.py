"""The export's parts on their own: document variants and names, DIAS MIME values, the tar, format rows."""

from __future__ import annotations

import csv
import hashlib
import io
import tarfile
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from noarkpipe.errors import ExportRefusedError
from noarkpipe.export import dias, documents
from noarkpipe.export.documents import (
    NOT_ACCEPTED,
    FormatReport,
    StoredObject,
    extract_names,
    selected,
)
from noarkpipe.export.journals import journal_period
from noarkpipe.export.store_reader import ArkivdelRow, ArkivRow, Scope
from noarkpipe.export.tarstream import PackageTar
from noarkpipe.journal.period import successor_title

WHEN = datetime(2027, 1, 1, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[1]


def _obj(id, variant, *, versjon=1, filnavn="brev.pdf", mime="application/pdf", fmt="fmt/477", sha=None, seq=345,
         dokumentnummer=2):
    return StoredObject(id, 10, f"00000000-0000-4000-8000-{id:012d}", versjon, variant, fmt, mime, filnavn,
                        sha or hashlib.sha256(str(id).encode()).hexdigest(), 100, 2026, seq, dokumentnummer,
                        "SHA-256", WHEN, "noarkpipe")


def test_an_archival_copy_replaces_its_original_version_by_version():
    objects = [
        _obj(1, "Produksjonsformat"), _obj(2, "Arkivformat"),
        _obj(3, "Produksjonsformat", versjon=2),
        _obj(4, "Dokument hvor deler av innholdet er skjermet"),
    ]
    assert [o.id for o in selected(objects)] == [2, 3, 4]
    assert [o.id for o in selected([_obj(7, "Produksjonsformat")])] == [7], "no copy: the original goes in"


def test_file_names_are_plain_ascii_numbers_and_unique():
    objects = [
        _obj(1, "Arkivformat", filnavn="Søknad om løyve – Ærø.PDF"),
        _obj(2, "Arkivformat", filnavn="uten-endelse", mime="text/plain; charset=utf-8"),
        _obj(3, "Arkivformat", filnavn="../../etc/passwd", mime="application/x-ukjent"),
        _obj(4, "Dokument hvor deler av innholdet er skjermet", filnavn="brev.p d\u00e6f"),
    ]
    names = extract_names(objects)
    assert names == {
        1: "dokumenter/2026/2026-000345-02-v1-A.pdf",
        2: "dokumenter/2026/2026-000345-02-v1-A-2.txt",
        3: "dokumenter/2026/2026-000345-02-v1-A-3.bin",
        4: "dokumenter/2026/2026-000345-02-v1-S.pdf",
    }


@pytest.mark.parametrize(("mime", "expected"), [
    ("application/pdf", ("image/pdf", True)),
    ("image/jpeg", ("image/jpg", True)),
    ("image/png", ("image/tiff", True)),
    ("text/plain; charset=utf-8", ("text/plain", True)),
    ("message/rfc822", ("text/plain", True)),
    ("application/json", ("text/plain", True)),
    ("application/xml", ("application/xml", True)),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", ("text/plain", False)),
    (None, ("text/plain", False)),
])
def test_mime_types_map_onto_the_dias_value_list(mime, expected):
    assert dias.dias_mime(mime) == expected


def test_the_tar_is_deterministic_and_checks_each_document(tmp_path):
    document = tmp_path / "doc"
    document.write_bytes(b"%PDF-1.7 \xe6\xf8\xe5" * 1000)
    sha = hashlib.sha256(document.read_bytes()).hexdigest()

    def build() -> tuple[bytes, str]:
        handle = io.BytesIO()
        tar = PackageTar(handle, "3f2b8c1e-0000-4000-8000-000000000001", 1_800_000_000)
        tar.add_dir("content")
        tar.add_file("content/dokumenter/2026/a.pdf", document, document.stat().st_size, expected_sha256=sha)
        tar.add_bytes("log.xml", "<log>æøå</log>".encode())
        size, digest = tar.close()
        assert size == len(handle.getvalue())
        return handle.getvalue(), digest

    first, digest = build()
    assert first == build()[0] and digest == hashlib.sha256(first).hexdigest()
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        names = tar.getnames()
        assert names[:3] == ["3f2b8c1e-0000-4000-8000-000000000001", "3f2b8c1e-0000-4000-8000-000000000001/content",
                             "3f2b8c1e-0000-4000-8000-000000000001/content/dokumenter"]
        assert all(m.mtime == 1_800_000_000 and m.uid == 0 and m.uname == "" for m in tar.getmembers())
    tar = PackageTar(io.BytesIO(), "x", 0)
    with pytest.raises(ExportRefusedError, match="does not match its checksum"):
        tar.add_file("content/b.pdf", document, document.stat().st_size, expected_sha256="0" * 64)
    with pytest.raises(ExportRefusedError, match="became shorter"):
        tar.add_file("content/c.pdf", document, document.stat().st_size + 10)


def test_format_rows_keep_the_order_files_were_added(tmp_path):
    pdfa = REPO / "fixtures" / "sample-extracts" / "templates" / "brev-pdfa-2b.pdf"
    text = tmp_path / "notat.txt"
    text.write_text("Referat fra møte i formannskapet\n", encoding="utf-8")
    unknown = tmp_path / "blob"
    unknown.write_bytes(bytes(range(256)) * 8)
    out = io.StringIO()
    report = FormatReport(out, identify=True, day=date(2027, 1, 1), expected=4)
    report.add("dokumenter/2026/a.pdf", _obj(1, "Arkivformat", fmt="application/pdf", sha="a" * 64), pdfa)
    report.add("dokumenter/2026/b.pdf", _obj(2, "Arkivformat", fmt="fmt/477", sha="b" * 64), pdfa)
    report.add("dokumenter/2026/c.txt", _obj(3, "Produksjonsformat", fmt="text/plain", sha="c" * 64), text)
    report.add("dokumenter/2026/d.bin", _obj(4, "Produksjonsformat", fmt=None, sha="d" * 64), unknown)
    report.finish()
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == ["File name", "File extension", "Format ID", "Format name", "Format version", "Error"]
    assert [r[0] for r in rows[1:]] == [f"dokumenter/2026/{n}" for n in ("a.pdf", "b.pdf", "c.txt", "d.bin")]
    assert rows[1][2] == "fmt/477" and rows[1][5] == "", "identified from the bytes"
    assert rows[2][2] == "fmt/477" and "PDF/A" in rows[2][3], "a stored PRONOM id is taken as it is"
    assert rows[3][2] == "x-fmt/111"
    assert rows[4][2] == "" and rows[4][5] == NOT_ACCEPTED
    assert report.not_accepted == 1


def test_many_files_are_identified_in_worker_processes_and_still_listed_in_order(tmp_path, monkeypatch):
    monkeypatch.setattr(documents, "_POOL_THRESHOLD", 10)
    sources = []
    for n in range(60):
        path = tmp_path / f"f{n}"
        path.write_text(f"Notat nr. {n} om brøyting av Østre Åsvei\n" * (1 + n % 3), encoding="utf-8")
        sources.append(path)
    out = io.StringIO()
    report = FormatReport(out, identify=True, day=date(2027, 1, 1), expected=len(sources))
    assert report._pool is not None
    for n, path in enumerate(sources):
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        report.add(f"dokumenter/2026/{n:03d}.txt", _obj(n + 1, "Produksjonsformat", fmt="text/plain", sha=sha), path)
    report.finish()
    rows = list(csv.reader(io.StringIO(out.getvalue())))[1:]
    assert [r[0] for r in rows] == [f"dokumenter/2026/{n:03d}.txt" for n in range(60)]
    assert {r[2] for r in rows} == {"x-fmt/111"}


def test_the_journal_period_covers_the_arkivdel_and_every_journal_date():
    def arkivdel(start, end):
        return ArkivdelRow(1, "x", "t", "Avsluttet periode", start, end, WHEN, "a", WHEN, "a", None, None)

    scope = Scope(1, "fjellvik", "Fjellvik", ArkivRow("y", "arkiv", "Opprettet", WHEN, "a"),
                  (arkivdel(date(2024, 1, 1), date(2026, 12, 31)),))
    assert journal_period(scope, date(2024, 3, 1), date(2026, 5, 1)) == (date(2024, 1, 1), date(2026, 12, 31))
    assert journal_period(scope, date(2023, 11, 2), date(2027, 1, 3)) == (date(2023, 11, 2), date(2027, 1, 3))


def test_successor_titles_name_a_new_period():
    assert successor_title("Sakarkiv Fjellvik kommune 2024-", date(2028, 1, 1)) == "Sakarkiv Fjellvik kommune 2028-"
    assert successor_title("Sakarkiv 2020–2023", date(2024, 1, 1)) == "Sakarkiv 2024-"
    assert successor_title("Sakarkiv 2024-", date(2024, 7, 1)) == "Sakarkiv 01.07.2024-"
    assert successor_title("Postjournal", date(2024, 7, 1)) == "Postjournal 2024-"
