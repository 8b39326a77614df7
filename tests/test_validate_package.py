"""`noarkpipe validate` on DIAS deposit packages: tars read in place, submission descriptions, hostile packages.

The tars are built by tests/extractfactory.py the way Arkade packs them
(one UUID top folder, dias-mets.xml, log.xml, administrative_metadata/,
content/) with the submission description beside them. Hostile members
(path traversal, absolute paths, links, devices, FIFOs) and hostile XML
(external entities, entity expansion, a text node of many megabytes) must
be reported and never followed, expanded or allowed to exhaust memory.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tarfile
import threading
from pathlib import Path

import pytest

from helpers import extractfactory as factory
from noarkpipe.errors import InputFileError
from noarkpipe.validate import ValidateOptions, validate

PACKAGE_CHECKS = ("PKG-01", "PKG-02", "PKG-03", "PKG-04", "PKG-05", "PKG-06")


def run(path, progress=None, **options):
    options.setdefault("max_identify", 2)
    return validate(ValidateOptions(path=path, **options), progress)


def failed(report) -> set[str]:
    return {result.id for result in report.results if result.status == "failed"}


def shown(result) -> str:
    return "\n".join(example.text() for example in result.examples)


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    """A good DIAS package of a v5.0 extract, with its submission description."""
    return factory.build_dias_package(tmp_path_factory.mktemp("dias"), factory.ExtractSpec(registrations=20))


def test_a_good_dias_tar_passes_every_check(package):
    report = run(package.tar)

    assert report.passed and not report.warnings, [r.examples[:2] for r in report.errors + report.warnings]
    assert report.input_kind == "dias-tar"
    assert report.package_uuid == package.package_uuid
    assert report.submission_description == str(package.submission_description)
    assert all(report.result(check_id).status == "passed" for check_id in PACKAGE_CHECKS)
    assert report.result("PKG-04").data["actual"] == factory._file_sha256(package.tar)
    assert report.result("PKG-05").data["listed"] == report.files - 1  # everything but dias-mets.xml itself
    validated = {entry["file"].rsplit("/", 1)[-1]: entry["schema"] for entry in report.result("STR-03").data["files"]}
    assert validated["dias-mets.xml"] == "dias/dias-mets.xsd"
    assert validated["log.xml"] == validated["dias-premis.xml"] == "dias/dias-premis.xsd"
    assert validated[package.submission_description.name] == "dias/submissionDescription.xsd"
    assert report.result("CNT-04").data["registrering"] == 20


def test_the_tar_is_read_in_place_never_unpacked(package, monkeypatch, tmp_path):
    scratch_root = tmp_path / "tmp"
    scratch_root.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch_root))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    seen: dict[str, int] = {}

    def progress(phase, done, total):
        if phase == "Reading the package":
            seen.update((p.name, p.stat().st_size) for p in scratch_root.rglob("*") if p.is_file())

    before = {p.name for p in package.tar.parent.iterdir()}
    report = run(package.tar, progress=progress, max_identify=1)

    assert report.passed
    # indexes, and the reading process's job, progress and result: nothing of the package's content
    assert seen and all(name.endswith(".sqlite") or (name.startswith("reader.") and size < 64 * 1024)
                        for name, size in seen.items()), seen
    assert not list(scratch_root.iterdir())  # the scratch folder is removed afterwards
    assert {p.name for p in package.tar.parent.iterdir()} == before
    # the tar's checksum needs every byte once; the XML is not read a second time for the checks: only
    # the small files judged by content are (schemas, the ADDML, the heads that tell the version, one
    # identified document) and the submission description beside the tar
    with tarfile.open(package.tar) as tar:
        sizes = {info.name.rsplit("/", 1)[-1]: info.size for info in tar.getmembers() if info.isfile()}
    small = (sum(size for name, size in sizes.items() if name.endswith(".xsd")) + 2 * sizes["arkivuttrekk.xml"]
             + 256 * 1024 + 64 * 1024 + max(size for name, size in sizes.items() if name.endswith(".pdf"))
             + package.submission_description.stat().st_size)
    assert package.tar.stat().st_size <= report.bytes_read <= package.tar.stat().st_size + small


def _reading_processes() -> list[int]:
    """Our own children that are noarkpipe's reading process (validate/reader.py)."""
    found = []
    for task in Path("/proc/self/task").iterdir():
        for pid in (task / "children").read_text().split():
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"noarkpipe.validate.reader" in command:
                found.append(int(pid))
    return found


def test_a_reading_process_that_dies_stops_the_validation_with_its_exit_code(package, monkeypatch, tmp_path):
    import signal

    from noarkpipe.errors import NoarkpipeError

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    killed = []

    def progress(phase, done, total):
        if phase == "Reading the package" and not killed:
            for pid in _reading_processes():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    with pytest.raises(NoarkpipeError, match="reading process .* stopped with exit code -9") as raised:
        run(package.tar, progress=progress)
    assert killed and "killed" in raised.value.hint
    assert not list(tmp_path.iterdir())  # scratch removed, nothing left running
    assert not _reading_processes()


def test_the_unpacked_package_folder_validates_too(package, tmp_path):
    with tarfile.open(package.tar) as tar:
        tar.extractall(tmp_path, filter="data")
    report = run(tmp_path / package.package_uuid)

    assert report.input_kind == "dias-folder"
    assert report.passed
    assert report.result("PKG-04").status == "not_run"  # the checksum is the tar's


def test_the_older_info_xml_is_accepted(tmp_path):
    built = factory.build_dias_package(tmp_path, factory.ExtractSpec(registrations=12), description="info")
    report = run(built.tar)

    assert report.submission_description.endswith("info.xml")
    assert report.result("PKG-03").status == "passed"
    assert report.result("PKG-04").status == "passed"
    assert report.passed


def test_without_a_submission_description_the_tar_checksum_is_shown_not_judged(tmp_path):
    built = factory.build_dias_package(tmp_path, factory.ExtractSpec(registrations=12), description="none")
    report = run(built.tar)

    assert report.passed
    assert report.result("PKG-03").status == report.result("PKG-04").status == "not_run"
    assert factory._file_sha256(built.tar) in report.result("PKG-04").summary


def test_an_explicit_submission_description_is_used(tmp_path, package):
    elsewhere = tmp_path / "beskrivelse.xml"
    shutil.copyfile(package.submission_description, elsewhere)
    report = run(package.tar, submission_description=elsewhere)

    assert report.submission_description == str(elsewhere)
    assert report.result("PKG-04").status == "passed"
    with pytest.raises(InputFileError, match="submission description not found"):
        run(package.tar, submission_description=tmp_path / "finnes-ikke.xml")


@pytest.mark.parametrize("defect, check_id", [
    ("tar_checksum", "PKG-04"),
    ("mets_missing_entry", "PKG-05"),
    ("mets_extra_entry", "PKG-05"),
    ("mets_checksum", "PKG-05"),
    ("addml_copy_differs", "PKG-06"),
])
def test_each_package_defect_fails_its_check(tmp_path, defect, check_id):
    built = factory.build_dias_package(tmp_path, factory.ExtractSpec(registrations=12, defects={defect}))
    report = run(built.tar)

    assert failed(report) == {check_id}
    mark = built.extract.marks[defect]
    assert next(iter(mark.values())) in shown(report.result(check_id))


def test_a_submission_description_for_another_package_is_reported(tmp_path, package):
    other = tmp_path / "annen.xml"
    other.write_text(package.submission_description.read_text(encoding="utf-8")
                     .replace(package.package_uuid, "00000000-1111-4222-8333-444444444444"), encoding="utf-8")
    report = run(package.tar, submission_description=other)

    assert "names package" in shown(report.result("PKG-03"))


@pytest.mark.parametrize("kind", ["traversal", "absolute", "symlink", "hardlink", "device", "fifo"])
def test_hostile_tar_members_are_reported_and_never_followed(tmp_path, kind):
    built = factory.build_dias_package(tmp_path / "pakke", factory.ExtractSpec(registrations=12), hostile=(kind,))
    for leftover in Path("/tmp").glob("noarkpipe-evil*"):
        leftover.unlink()
    report = run(built.tar, submission_description=None)

    unsafe = report.result("PKG-01")
    assert unsafe.status == "failed" and unsafe.count == 1
    assert "reported, not followed" in shown(unsafe)
    assert not list(Path("/tmp").glob("noarkpipe-evil*"))
    assert "root:x:0:0" not in report.model_dump_json()
    assert failed(report) - {"PKG-04"} == {"PKG-01"}  # the other members are still checked; hostile ones ignored


def test_symlinks_and_fifos_in_an_extract_folder_are_reported_and_not_opened(tmp_path):
    extract = factory.build_extract(tmp_path / "u", factory.ExtractSpec(registrations=12))
    (extract.content / "dokumenter" / "passord.pdf").symlink_to("/etc/passwd")
    os.mkfifo(extract.content / "dokumenter" / "ror")
    reports = []
    worker = threading.Thread(target=lambda: reports.append(run(extract.content)), daemon=True)
    worker.start()
    worker.join(60)

    assert reports, "validation hung: something opened the FIFO"
    unsafe = reports[0].result("PKG-01")
    assert unsafe.count == 2
    assert "symbolic link pointing at '/etc/passwd'" in shown(unsafe) and "FIFO" in shown(unsafe)


def test_a_cut_off_tar_is_reported(tmp_path):
    built = factory.build_dias_package(tmp_path, factory.ExtractSpec(registrations=12), description="none")
    data = built.tar.read_bytes()
    cut = tmp_path / "avkuttet.tar"
    cut.write_bytes(data[: len(data) // 2 + 700])
    report = run(cut)

    assert "cut off" in shown(report.result("PKG-01")) or report.result("STR-01").status == "failed"
    assert not report.passed


def test_a_gzipped_tar_is_refused_with_a_hint(tmp_path, package):
    packed = tmp_path / "pakke.tar.gz"
    with open(package.tar, "rb") as source, gzip.open(packed, "wb") as target:
        shutil.copyfileobj(source, target)
    with pytest.raises(InputFileError) as refused:
        run(packed)
    assert "gunzip" in str(refused.value)


def _with_doctype(extract, declarations: str, title: str) -> None:
    structure = extract.content / "arkivstruktur.xml"
    text = structure.read_text(encoding="utf-8")
    text = text.replace("<arkiv ", f"<!DOCTYPE arkiv [\n{declarations}]>\n<arkiv ", 1)
    text = text.replace("<tittel>Fjellvik kommunes sakarkiv</tittel>", f"<tittel>{title}</tittel>", 1)
    structure.write_text(text, encoding="utf-8")


def test_an_external_entity_is_reported_and_never_resolved(tmp_path):
    extract = factory.build_extract(tmp_path / "u", factory.ExtractSpec(registrations=12))
    _with_doctype(extract, '<!ENTITY passord SYSTEM "file:///etc/passwd">\n', "Arkiv &passord;")
    report = run(extract.content)

    unsafe = shown(report.result("STR-06"))
    assert "passord (external: file:///etc/passwd)" in unsafe and "nothing in it was loaded" in unsafe
    assert "root:x:0:0" not in report.model_dump_json()
    assert report.result("CNT-04").data["registrering"] == 12  # the rest of the file is still checked


def test_an_entity_expansion_bomb_is_refused_not_expanded(tmp_path):
    extract = factory.build_extract(tmp_path / "u", factory.ExtractSpec(registrations=12))
    levels = "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">\n' for i in range(8))
    _with_doctype(extract, '<!ENTITY a "aaaaaaaaaa">\n' + levels, "&i;")
    report = run(extract.content)

    assert "entities declared: a, b, c" in shown(report.result("STR-06"))
    assert "amplification" in shown(report.result("STR-02"))
    assert "aaaaaaaaaaaaaaaaaaaa" not in report.model_dump_json()
    assert not report.passed


def test_a_gigantic_text_node_is_refused_without_exhausting_memory(tmp_path):
    extract = factory.build_extract(tmp_path / "u", factory.ExtractSpec(registrations=12))
    structure = extract.content / "arkivstruktur.xml"
    text = structure.read_text(encoding="utf-8")
    huge = "Æ" * (6 * 1024 * 1024)  # 12 MB of UTF-8 in one text node, on one line
    structure.write_text(text.replace("<tittel>Fjellvik kommunes sakarkiv</tittel>", f"<tittel>{huge}</tittel>", 1),
                         encoding="utf-8")
    report = run(extract.content)

    assert "arkivstruktur.xml" in shown(report.result("STR-02"))
    assert not report.passed


def test_an_extract_written_on_one_line_still_validates(tmp_path):
    extract = factory.build_extract(tmp_path / "u", factory.ExtractSpec(registrations=12))
    structure = extract.content / "arkivstruktur.xml"
    head, _, body = structure.read_text(encoding="utf-8").partition("\n")
    structure.write_text(head + "\n" + body.replace("\n", ""), encoding="utf-8")
    addml = extract.content / "arkivuttrekk.xml"
    old = factory._file_sha256(structure)
    addml.write_text(addml.read_text(encoding="utf-8"), encoding="utf-8")
    report = run(extract.content)

    assert failed(report) == {"ADDML-01"}  # the bytes changed, the checksum in the ADDML did not
    assert old in shown(report.result("ADDML-01"))
