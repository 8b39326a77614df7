"""What `noarkpipe export` refuses, and that a refused or broken export leaves nothing behind.

The archive is generated straight into the store (exportfactory), so each
case is set up in a fraction of a second: an open period, a missing or
damaged document, a full disk, an interrupted run, hostile text.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import subprocess
import sys
import tarfile
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import select, update

from helpers.exportfactory import corrupt_one_document, generate
from helpers.inbox import oslo_today
from noarkpipe import api
from noarkpipe.errors import ConfigError, ExportRefusedError
from noarkpipe.export import package
from noarkpipe.store import tables
from noarkpipe.store.docstore import DocumentStore
from noarkpipe.store.engine import Store
from noarkpipe.xml import schemas

WHEN = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
A = "{http://www.arkivverket.no/standarder/noark5/arkivstruktur}"


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "noarkpipe.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=300, check=False, env=env)


def _left_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture
def closed(installation):
    generate(installation.store_url, installation.documents_dir, registrations=40, seed=3)
    return installation


@pytest.fixture
def active(installation):
    generate(installation.store_url, installation.documents_dir, registrations=40, seed=4, open_period=True,
             open_cases=0.4, start=date(2025, 1, 1), end=date(2025, 12, 31))
    return installation


def _member(tar_path: Path, suffix: str) -> bytes:
    with tarfile.open(tar_path) as tar:
        [member] = [m for m in tar.getmembers() if m.name.endswith(suffix)]
        return tar.extractfile(member).read()


def test_an_active_period_is_refused_and_nothing_is_written(active, tmp_path):
    out = tmp_path / "out"
    done = _cli("export", "-c", active.config_path, "-a", "fjellvik", "--out", out)
    assert done.returncode == 13
    assert "no closed arkivdel" in done.stderr and "--force" in done.stderr
    [arkivdel] = api.period_list(active, "fjellvik")
    named = _cli("export", "-c", active.config_path, "-a", "fjellvik", "--out", out, "--arkivdel", arkivdel.systemID)
    assert named.returncode == 13 and "'Aktiv periode', not 'Avsluttet periode'" in named.stderr
    assert _left_in(out) == []


def test_force_makes_a_valid_test_extract_that_says_what_it_is(active, tmp_path):
    result = api.export(active, tmp_path / "out", kode="fjellvik", force=True, timestamp=WHEN)
    assert result.test_extract and any("prøveuttrekk" in w for w in result.warnings)
    structure = etree.fromstring(_member(result.tar, "content/arkivstruktur.xml"), schemas.safe_parser())
    assert schemas.validation_problems(structure, "noark5/v5.0/arkivstruktur.xsd") == []
    arkivdel = structure.find(f"{A}arkivdel")
    assert arkivdel.findtext(f"{A}arkivdelstatus") == "Aktiv periode"
    assert arkivdel.findtext(f"{A}avsluttetAv") == "noarkpipe (prøveuttrekk)"
    statuses = {m.findtext(f"{A}saksstatus") for m in structure.iter(f"{A}mappe")}
    assert "Under behandling" in statuses, "an open case is delivered as open, not passed off as closed"
    log = _member(result.tar, "log.xml").decode()
    assert "prøveuttrekk" in log
    # The review queue is in the running journal but never in the public one.
    running = _member(result.tar, "content/loependeJournal.xml").decode()
    public = _member(result.tar, "content/offentligJournal.xml").decode()
    assert running.count("<journalregistrering>") == 40
    assert public.count("<journalregistrering>") < 40


def test_missing_or_resized_documents_are_refused_with_their_journal_numbers(closed, tmp_path):
    store = Store.open(closed.store_url)
    with store.read() as session:
        copies = session.scalars(
            select(tables.Dokumentobjekt.sjekksum).where(tables.Dokumentobjekt.variantformat == "Arkivformat")
        ).all()
    store.dispose()
    victims = [DocumentStore(closed.documents_dir).path_for(sha) for sha in copies[:2]]
    victims[0].unlink()
    victims[1].write_bytes(victims[1].read_bytes() + b"extra")
    out = tmp_path / "out"
    done = _cli("export", "-c", closed.config_path, "-a", "fjellvik", "--out", out)
    assert done.returncode == 13
    assert "2 document file(s) of the extract are missing from the document store or have the wrong size" in done.stderr
    assert "journalpost 20" in done.stderr and "the store says" in done.stderr
    assert "restore them" in done.stderr
    assert _left_in(out) == []


def test_a_damaged_document_stops_the_export_and_no_partial_package_is_left(closed, tmp_path):
    victim = corrupt_one_document(closed.documents_dir)
    out = tmp_path / "out"
    with pytest.raises(ExportRefusedError, match="does not match its checksum") as caught:
        api.export(closed, out, kode="fjellvik", timestamp=WHEN)
    assert victim.name in str(caught.value)
    assert _left_in(out) == []


def test_too_little_free_disk_is_refused_before_anything_is_written(closed, tmp_path, monkeypatch):
    real = package.shutil.disk_usage

    def small_disk(path):
        usage = real(path)
        return usage._replace(free=1_000_000)

    monkeypatch.setattr(package.shutil, "disk_usage", small_disk)
    out = tmp_path / "out"
    with pytest.raises(ExportRefusedError, match=r"not enough free disk .* GB needed, 0\.00 GB free"):
        api.export(closed, out, kode="fjellvik", timestamp=WHEN)
    assert _left_in(out) == []


def test_an_interrupted_export_removes_everything_it_started(closed, tmp_path):
    def stop(stage, done, total):
        if stage == "Documents" and done:
            raise KeyboardInterrupt

    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        api.export(closed, out, kode="fjellvik", timestamp=WHEN, progress=stop)
    assert _left_in(out) == []


def test_the_same_options_give_the_same_bytes_and_another_time_another_package(closed, tmp_path):
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(int(WHEN.timestamp())))
    for name in ("a", "b"):
        done = _cli("export", "-c", closed.config_path, "-a", "fjellvik", "--out", tmp_path / name, "-q", env=env)
        assert done.returncode == 0, done.stderr
    [first] = (tmp_path / "a").glob("*.tar")
    assert first.read_bytes() == (tmp_path / "b" / first.name).read_bytes()
    assert (tmp_path / "a" / f"{first.stem}.xml").read_bytes() == (tmp_path / "b" / f"{first.stem}.xml").read_bytes()
    later = api.export(closed, tmp_path / "c", kode="fjellvik", timestamp=datetime(2027, 3, 2, tzinfo=UTC))
    assert later.uuid != first.stem
    chosen = "6f0d8a1e-5b7c-4d2e-9f3a-1b2c3d4e5f60"
    given = api.export(closed, tmp_path / "d", kode="fjellvik", timestamp=WHEN, package_id=chosen)
    assert given.tar.name == f"{chosen}.tar"
    assert given.tar_sha256 == hashlib.sha256(given.tar.read_bytes()).hexdigest()


def test_bad_options_are_named(closed, tmp_path):
    out = tmp_path / "out"
    wrong_uuid = _cli("export", "-c", closed.config_path, "-a", "fjellvik", "--out", out, "--uuid", "not-a-uuid")
    assert wrong_uuid.returncode == 3 and "--uuid 'not-a-uuid' is not a UUID" in wrong_uuid.stderr
    unknown = _cli("export", "-c", closed.config_path, "-a", "fjellvik", "--out", out, "--arkivdel", "Sakarkiv 1990")
    assert unknown.returncode == 13 and "no arkivdel 'Sakarkiv 1990'" in unknown.stderr
    assert "Sakarkiv Fjellvik kommune 2020-2023" in unknown.stderr
    nobody = _cli("export", "-c", closed.config_path, "-a", "strandby", "--out", out)
    assert nobody.returncode == 13 and "journaled nothing yet" in nobody.stderr
    assert _left_in(out) == []


def test_the_package_time_comes_from_the_option_then_source_date_epoch_never_the_clock(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1798761600")
    assert api.package_time() == datetime(2027, 1, 1, tzinfo=UTC)
    assert api.package_time(datetime(2027, 5, 17, 12, 0)) == datetime(2027, 5, 17, 12, 0, tzinfo=UTC)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "i går")
    with pytest.raises(ConfigError, match="SOURCE_DATE_EPOCH='i går' is not a time"):
        api.package_time()
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert api.package_time() is None, "without either, the export takes the time from the data"


def test_without_a_depot_in_the_config_the_export_says_what_to_add(closed, tmp_path):
    text = closed.config_path.read_text(encoding="utf-8")
    start = text.index("[depot]")
    end = text.index("\n\n", start)
    closed.config_path.write_text(text[:start] + text[end:], encoding="utf-8")
    done = _cli("export", "-c", closed.config_path, "-a", "fjellvik", "--out", tmp_path / "out")
    assert done.returncode == 3 and "[depot] is missing" in done.stderr and "navn" in done.stderr
    with pytest.raises(ConfigError):
        api.export(closed.config_path, tmp_path / "out", kode="fjellvik")


def test_hostile_text_in_the_store_still_gives_valid_xml(closed, tmp_path):
    nasty = "Søknad\x07 om <script>alert('x')</script> ]]> &amp; \U0001F600 e\u0301 \ufffe slutt"
    store = Store.open(closed.store_url)
    with store.write("test") as session:
        session.execute(update(tables.Journalpost).where(tables.Journalpost.id == 1).values(tittel=nasty))
        session.execute(update(tables.Korrespondansepart).where(tables.Korrespondansepart.id == 1)
                        .values(korrespondansepartNavn="Ærlig \x00Ødegård"))
        case_id = session.scalar(select(tables.Journalpost.saksmappe_id).where(tables.Journalpost.id == 1))
        session.execute(update(tables.Saksmappe).where(tables.Saksmappe.id == case_id).values(tittel=nasty))
    store.dispose()
    result = api.export(closed, tmp_path / "out", kode="fjellvik", timestamp=WHEN)
    for name, schema in (("arkivstruktur", "arkivstruktur"), ("loependeJournal", "loependeJournal"),
                         ("offentligJournal", "offentligJournal")):
        document = etree.fromstring(_member(result.tar, f"content/{name}.xml"), schemas.safe_parser())
        assert schemas.validation_problems(document, f"noark5/v5.0/{schema}.xsd") == [], name
    text = _member(result.tar, "content/arkivstruktur.xml").decode()
    assert "Søknad  om &lt;script&gt;alert('x')&lt;/script&gt; ]]&gt; &amp;amp; \U0001F600 e\u0301   slutt" in text
    assert "Ærlig  Ødegård" in text


def test_an_empty_closed_period_is_refused(installation, tmp_path):
    api.run(installation)  # creates the archive structure from the config, journals nothing
    done = api.period_close(installation, oslo_today(), kode="fjellvik", by="kari")
    with pytest.raises(ExportRefusedError, match="holds no journalposter"):
        api.export(installation, tmp_path / "out", kode="fjellvik", arkivdeler=(done.closed.systemID,))


def test_two_closed_periods_in_one_package_point_at_each_other(active, tmp_path):
    first = api.period_close(active, date(2025, 6, 30), kode="fjellvik", by="kari")
    second = api.period_close(active, oslo_today(), kode="fjellvik", by="kari")
    assert second.closed.tittel == "Sakarkiv Fjellvik kommune 01.07.2025-", "a successor's title is its own"
    result = api.export(active, tmp_path / "out", kode="fjellvik", timestamp=WHEN,
                        arkivdeler=(second.closed.tittel, first.closed.systemID))
    structure = etree.fromstring(_member(result.tar, "content/arkivstruktur.xml"), schemas.safe_parser())
    assert schemas.validation_problems(structure, "noark5/v5.0/arkivstruktur.xsd") == []
    arkivdeler = structure.findall(f"{A}arkivdel")
    assert [a.findtext(f"{A}systemID") for a in arkivdeler] == [first.closed.systemID, second.closed.systemID]
    assert arkivdeler[1].findtext(f"{A}referanseForloeper") == first.closed.systemID
    assert arkivdeler[0].findtext(f"{A}referanseArvtaker") == second.closed.systemID
    for arkivdel in arkivdeler:
        references = {m.findtext(f"{A}referanseArkivdel") for m in arkivdel.iter(f"{A}mappe")}
        assert references == {arkivdel.findtext(f"{A}systemID")}, "every mappe refers to its own arkivdel"
    moved_once = set(first.moved) - set(second.moved)
    counts = result.counts
    in_both = first.closed.journalposter + api.period_list(active, "fjellvik")[1].journalposter
    assert counts["arkivstruktur.registrering"] == counts["loependeJournal.journalregistrering"] == in_both
    assert second.successor.journalposter == 40 - in_both > 0, "cases still open moved on to the third period"
    changes = _member(result.tar, "content/endringslogg.xml").decode()
    assert changes.count("<referanseMetadata>referanseArkivdel</referanseMetadata>") == len(moved_once) > 0
    assert f"<tidligereVerdi>{first.closed.systemID}</tidligereVerdi>" in changes
    addml = _member(result.tar, "content/arkivuttrekk.xml").decode()
    assert "<value>skarpt</value>" in addml


def test_the_public_journal_written_in_a_second_process_gives_the_same_package(closed, tmp_path, monkeypatch):
    inline = api.export(closed, tmp_path / "inline", kode="fjellvik", timestamp=WHEN)
    monkeypatch.setattr(package, "_PARALLEL_PUBLIC_JOURNAL", 1)
    parallel = api.export(closed, tmp_path / "parallel", kode="fjellvik", timestamp=WHEN)
    assert parallel.tar.read_bytes() == inline.tar.read_bytes()


def test_a_second_export_of_the_same_package_does_not_touch_the_first_ones_files(closed, tmp_path):
    chosen = "0b1e7c52-1f7e-4a53-9d2b-5c6f7a8b9c0d"
    out = tmp_path / "out"
    claimed = out / f".{chosen}.staging"
    claimed.mkdir(parents=True)
    (claimed / "arkivstruktur.xml").write_text("being written")
    with pytest.raises(ExportRefusedError, match="another export of this package is running"):
        api.export(closed, out, kode="fjellvik", timestamp=WHEN, package_id=chosen)
    assert (claimed / "arkivstruktur.xml").read_text() == "being written"


def test_an_interrupt_also_stops_the_public_journal_process(closed, tmp_path, monkeypatch):
    monkeypatch.setattr(package, "_PARALLEL_PUBLIC_JOURNAL", 1)

    def stop(stage, done, total):
        if stage == "arkivstruktur.xml" and done:
            raise KeyboardInterrupt

    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        api.export(closed, out, kode="fjellvik", timestamp=WHEN, progress=stop)
    assert _left_in(out) == []
    assert not [c for c in multiprocessing.active_children() if c.is_alive()]
