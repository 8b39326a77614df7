"""Reproducible packages, and the fast paths of the export that must make exactly the bytes of the slow ones.

The same closed store gives the same package with no options, whatever the
wall clock says (the time comes from the arkivdel's closing); a package
whose content differs in one registration gets another UUID. The text
serialiser and the tar headers are compared byte for byte with what lxml and
tarfile make, and the validation done while a file is written still rejects
a file the schema rejects.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from datetime import UTC, datetime

import pytest
from lxml import etree
from sqlalchemy import select, update

from helpers.exportfactory import generate
from noarkpipe import api, clock
from noarkpipe.errors import SchemaValidationError
from noarkpipe.export.arkivstruktur import Closing, saksmappe_entity
from noarkpipe.export.store_reader import iter_cases, resolve_scope, snapshot
from noarkpipe.export.tarstream import _ustar_header
from noarkpipe.export.xmltext import entity_text
from noarkpipe.store import tables
from noarkpipe.store.engine import Store
from noarkpipe.xml.entity_xml import NSMAP, write_entity
from noarkpipe.xml.schemas import noark5_schema
from noarkpipe.xml.streaming import StreamCheck, validate_and_count


@pytest.fixture
def closed(installation):
    generate(installation.store_url, installation.documents_dir, registrations=40, seed=3)
    return installation


def _export_at(installation, out, wall_clock: datetime, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    monkeypatch.setattr(clock, "utcnow", lambda: wall_clock)
    monkeypatch.setattr(api, "utcnow", lambda: wall_clock)
    return api.export(installation.config_path, out, kode="fjellvik")


def _arkivdel_closing(installation) -> datetime:
    with Store.open(installation.store_url).read() as session:
        [closing] = session.scalars(select(tables.Arkivdel.avsluttetDato)).all()
    return closing.astimezone(UTC).replace(microsecond=0)


def test_two_exports_at_different_times_give_the_same_bytes(closed, tmp_path, monkeypatch):
    first = _export_at(closed, tmp_path / "a", datetime(2027, 1, 5, 10, 0, tzinfo=UTC), monkeypatch)
    second = _export_at(closed, tmp_path / "b", datetime(2031, 6, 30, 23, 59, 59, tzinfo=UTC), monkeypatch)
    assert first.uuid == second.uuid
    assert first.tar.read_bytes() == second.tar.read_bytes()
    assert first.submission_description.read_bytes() == second.submission_description.read_bytes()
    closing = _arkivdel_closing(closed)
    with tarfile.open(first.tar) as tar:
        assert {m.mtime for m in tar.getmembers()} == {int(closing.timestamp())}, "the time is the closing's"


def test_one_changed_registration_gives_another_uuid(closed, tmp_path, monkeypatch):
    when = datetime(2027, 1, 5, 10, 0, tzinfo=UTC)
    before = _export_at(closed, tmp_path / "a", when, monkeypatch)
    store = Store.open(closed.store_url)
    with store.write("test") as session:
        first = session.scalar(select(tables.Journalpost.id).order_by(tables.Journalpost.id).limit(1))
        session.execute(update(tables.Journalpost).where(tables.Journalpost.id == first).values(tittel="Endret tittel"))
    after = _export_at(closed, tmp_path / "b", when, monkeypatch)
    assert after.uuid != before.uuid
    assert after.tar_sha256 != before.tar_sha256


def test_the_text_serialiser_writes_the_bytes_lxml_writes(closed):
    hostile = "Søknad & <svar> ]]> linje\r\nto \U0001F600"
    store = Store.open(closed.store_url)
    with store.write("test") as session:
        session.execute(update(tables.Journalpost).values(tittel=hostile))
    closing = Closing(datetime(2027, 1, 5, tzinfo=UTC), "arkivar")
    compared = 0
    with snapshot(closed.store_url) as session:
        scope = resolve_scope(session, "fjellvik", (), force=False)
        arkivdel = scope.arkivdeler[0]
        for klasse_id in session.scalars(select(tables.Saksmappe.klasse_id).distinct()):
            for bundle in iter_cases(session, arkivdel.id, klasse_id):
                saksmappe = saksmappe_entity(bundle, closing, "Postmottak", arkivdel.systemID)
                expected = io.BytesIO()
                root = f"{{{NSMAP[None]}}}arkiv"
                with etree.xmlfile(expected, encoding="UTF-8") as xf, xf.element(root, nsmap=NSMAP):
                    write_entity(xf, saksmappe)
                body = expected.getvalue()
                body = body[body.index(b">") + 1 : body.rindex(b"</arkiv>")]
                assert entity_text(saksmappe).encode() == body
                compared += 1
    assert compared > 5


@pytest.mark.parametrize(
    ("name", "directory", "size", "mtime"),
    [
        ("3f2b8c1e-0000-4000-8000-000000000001/content/dokumenter/2026/2026-000345-02-v1-A.pdf", False, 23456,
         1_800_000_000),
        ("3f2b8c1e-0000-4000-8000-000000000001/content/", True, 0, 1_767_225_600),
        ("a" * 100, False, 8**11 - 1, 0),
    ],
)
def test_the_fast_tar_header_is_the_header_tarfile_writes(name, directory, size, mtime):
    info = tarfile.TarInfo(name.rstrip("/"))
    info.mtime, info.uid, info.gid, info.uname, info.gname = mtime, 0, 0, "", ""
    info.type, info.mode, info.size = (tarfile.DIRTYPE, 0o755, 0) if directory else (tarfile.REGTYPE, 0o644, size)
    expected = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    assert _ustar_header(name, info.mode, info.size, mtime, directory) == expected
    assert _ustar_header("b" * 101, 0o644, 1, 0, False) is None, "a long name is left to tarfile (pax)"


def _journal(entries: str) -> bytes:
    ns = "http://www.arkivverket.no/standarder/noark5/endringslogg"
    return f"<?xml version='1.0' encoding='UTF-8'?>\n<endringslogg xmlns=\"{ns}\">{entries}</endringslogg>".encode()


ENDRING = (
    "<endring><referanseArkivenhet>5d9b5b4e-6b8b-4c43-9a53-4b0a8b8b8b8b</referanseArkivenhet>"
    "<referanseMetadata>tittel</referanseMetadata><endretDato>2026-01-01T10:00:00+00:00</endretDato>"
    "<endretAv>arkivar</endretAv><tidligereVerdi>a</tidligereVerdi><nyVerdi>b</nyVerdi></endring>\n"
)


def test_validation_while_writing_counts_like_a_second_pass_and_still_rejects(tmp_path):
    schema = noark5_schema("endringslogg")
    good = tmp_path / "good.xml"
    with open(good, "wb") as handle, StreamCheck(handle, good, schema, ("endring",)) as out:
        for piece in (_journal(ENDRING * 5000)[i : i + 7000] for i in range(0, len(_journal(ENDRING * 5000)), 7000)):
            out.write(piece)
        counts, digest = out.finish()
    assert counts["endring"] == 5000 == validate_and_count(good, schema)["endring"]
    assert digest == hashlib.sha256(good.read_bytes()).hexdigest()

    bad = tmp_path / "bad.xml"
    broken = ENDRING.replace("<endretAv>arkivar</endretAv>", "")
    with open(bad, "wb") as handle, StreamCheck(handle, bad, schema, ("endring",)) as out:
        out.write(_journal(ENDRING * 3 + broken))
        with pytest.raises(SchemaValidationError, match="endretAv"):
            out.finish()
    with pytest.raises(SchemaValidationError):
        validate_and_count(bad, schema, ("endring",))
