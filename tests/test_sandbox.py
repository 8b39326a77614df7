"""Converters run with no network, write nothing outside the work area, and die with whoever started them.

A listener on this machine's loopback counts every connection made to it.
Office documents that link an image on it (a `.docx` relationship with
TargetMode="External", an `.odt` `draw:image` with an `http://` href) are
converted to PDF/A through the real conversion path, as the nightly run's
workers do, and the listener must see nothing, while the letter still gets
its verified archival copy. A control shows plain LibreOffice does fetch
from the listener, so the documents are hostile indeed; each of the two
walls (the sandbox, LibreOffice's locked-down profile) is shown to hold on
its own. The sandbox itself is tried with a program that only connects, and
OCRmyPDF's tesseract is watched running in a network namespace of its own.

Temporaries: conversions run with the test process's HOME and TMPDIR
pointed at an empty folder, which must stay empty.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import subprocess
import tempfile
import threading
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader

from helpers import convertfactory as factory
from helpers import fakes
from helpers.loopback import Listener
from noarkpipe import api
from noarkpipe._exec import libreoffice, sandbox, tesseract
from noarkpipe.config import load_settings
from noarkpipe.convert import (
    ConversionJob,
    ConversionOptions,
    archival_copy,
    convert_document,
)
from noarkpipe.errors import MissingDependencyError
from noarkpipe.run.converting import conversion_options

LETTER = "Klage på vedtak om eiendomsskatt for Øvre Fjellvei 3"
NOTICE = "Søknad om tilskudd til kulturtiltak på Øvre Seim"


@pytest.fixture
def listener():
    with Listener() as running:
        yield running


def docx_linking_image(path: Path, url: str) -> Path:
    """A Word document whose only picture is a relationship to `url` (TargetMode="External")."""
    main = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
    relationships = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    package = "http://schemas.openxmlformats.org/package/2006/relationships"
    picture = "http://schemas.openxmlformats.org/drawingml/2006/picture"
    drawing = "http://schemas.openxmlformats.org/drawingml/2006/main"
    with zipfile.ZipFile(path, "w") as docx:
        docx.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/word/document.xml" ContentType="{main}"/></Types>',
        )
        docx.writestr(
            "_rels/.rels",
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{package}">'
            f'<Relationship Id="rId1" Type="{relationships}/officeDocument" Target="word/document.xml"/>'
            "</Relationships>",
        )
        docx.writestr(
            "word/_rels/document.xml.rels",
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{package}">'
            f'<Relationship Id="rId5" Type="{relationships}/image" Target="{url}" TargetMode="External"/>'
            "</Relationships>",
        )
        docx.writestr(
            "word/document.xml",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
            f'xmlns:r="{relationships}" '
            'xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" '
            f'xmlns:a="{drawing}" xmlns:pic="{picture}"><w:body>'
            f"<w:p><w:r><w:t>{LETTER}</w:t></w:r></w:p>"
            '<w:p><w:r><w:drawing><wp:inline><wp:extent cx="952500" cy="952500"/><wp:docPr id="1" name="Logo"/>'
            f'<a:graphic><a:graphicData uri="{picture}"><pic:pic>'
            '<pic:nvPicPr><pic:cNvPr id="1" name="logo.png"/><pic:cNvPicPr/></pic:nvPicPr>'
            '<pic:blipFill><a:blip r:link="rId5"/><a:stretch><a:fillRect/></a:stretch></pic:blipFill>'
            '<pic:spPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="952500" cy="952500"/></a:xfrm>'
            '<a:prstGeom prst="rect"><a:avLst/></a:prstGeom></pic:spPr>'
            "</pic:pic></a:graphicData></a:graphic></wp:inline></w:drawing></w:r></w:p>"
            "</w:body></w:document>",
        )
    return path


def odt_linking_image(path: Path, url: str) -> Path:
    """An OpenDocument text whose only picture is a link to `url`, to be embedded on load."""
    with zipfile.ZipFile(path, "w") as odt:
        odt.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text")
        odt.writestr(
            "META-INF/manifest.xml",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
            'manifest:version="1.2">'
            '<manifest:file-entry manifest:full-path="/" '
            'manifest:media-type="application/vnd.oasis.opendocument.text"/>'
            '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
            "</manifest:manifest>",
        )
        odt.writestr(
            "content.xml",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
            'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
            'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
            'xmlns:xlink="http://www.w3.org/1999/xlink" '
            'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" office:version="1.2">'
            f"<office:body><office:text><text:p>{NOTICE}</text:p>"
            '<text:p><draw:frame draw:name="Logo" text:anchor-type="as-char" svg:width="2cm" svg:height="2cm">'
            f'<draw:image xlink:href="{url}" xlink:type="simple" xlink:show="embed" xlink:actuate="onLoad"/>'
            "</draw:frame></text:p></office:text></office:body></office:document-content>",
        )
    return path


HOSTILE = {"docx": (docx_linking_image, LETTER), "odt": (odt_linking_image, NOTICE)}


def _text(pdf: Path) -> str:
    return " ".join(page.extract_text() or "" for page in PdfReader(pdf).pages)


# --- The documents are hostile: plain LibreOffice fetches what they link to ---------------------


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_plain_libreoffice_fetches_the_linked_image(kind, listener, tmp_path):
    make, _ = HOSTILE[kind]
    document = make(tmp_path / f"brev.{kind}", listener.url(f"logo-{kind}.png"))
    subprocess.run(
        [
            "soffice", f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}", "--headless", "--norestore",
            "--convert-to", "pdf", "--outdir", str(tmp_path / "out"), str(document),
        ],
        capture_output=True, timeout=120, check=False, env=sandbox.environment(tmp_path / "home", os.environ),
    )
    connections, requests = listener.seen()
    assert connections > 0
    assert ("GET", f"/logo-{kind}.png") in requests


# --- Through the real conversion path: nothing fetched, the letter still kept -------------------


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_linked_image_is_not_fetched_and_the_letter_gets_its_copy(kind, listener, tmp_path):
    make, words = HOSTILE[kind]
    document = make(tmp_path / f"brev.{kind}", listener.url(f"logo-{kind}.png"))
    job = ConversionJob(
        source=document, source_sha256="0" * 64, filename=document.name, email_body=False,
        target=tmp_path / "arkiv", scratch=tmp_path / "scratch", options=ConversionOptions(),
    )
    outcome = convert_document(job)
    assert listener.seen() == (0, [])
    assert outcome.failure is None, outcome.failure
    result = outcome.result
    assert result.action == "converted" and result.tool.startswith("LibreOffice")
    assert result.verification.passed
    assert result.to_format.puid == "fmt/477"  # PDF/A-2b
    assert words in _text(result.output)


def test_the_locked_down_profile_alone_fetches_nothing(listener, tmp_path):
    """The second wall: with the sandbox off, LibreOffice's own settings still load no linked content."""
    document = docx_linking_image(tmp_path / "brev.docx", listener.url("logo.png"))
    result = archival_copy(document, scratch=tmp_path / "scratch", options=ConversionOptions(sandbox="off"))
    assert listener.seen() == (0, [])
    assert result.verification.passed
    # LibreOffice kept the settings when it rewrote the profile on exit, so a reused profile has them.
    profile = next((tmp_path / "scratch").glob("libreoffice-profile-*"))
    settings = (profile / "user" / "registrymodifications.xcu").read_text(encoding="utf-8")
    for path, name, value in libreoffice.LOCKED_DOWN:
        assert libreoffice._item(path, name, value) in settings


def test_the_sandbox_alone_fetches_nothing(listener, tmp_path, monkeypatch):
    """The first wall: LibreOffice with a profile that allows everything, in the sandbox, reaches nothing."""
    monkeypatch.setattr(libreoffice, "LOCKED_DOWN", ())
    document = odt_linking_image(tmp_path / "brev.odt", listener.url("logo.png"))
    result = archival_copy(document, scratch=tmp_path / "scratch", options=ConversionOptions())
    assert listener.seen() == (0, [])
    assert NOTICE in _text(result.output)


# --- The sandbox itself ------------------------------------------------------------------------

SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin")
"""Debian's, outside the folders the sandbox hides (a virtualenv's may point into /root)."""
CONNECT = (
    "import socket, sys\n"
    "try:\n"
    "    socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=5).close()\n"
    "except OSError as exc:\n"
    "    print(type(exc).__name__); sys.exit(3)\n"
    "print('connected')\n"
)


def test_a_program_in_the_sandbox_cannot_reach_the_listener(listener, tmp_path):
    argv = [SYSTEM_PYTHON, "-c", CONNECT, str(listener.port)]
    args, env = sandbox.confine(argv, "bwrap", home=tmp_path / "home")
    inside = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert inside.returncode == 3, inside.stdout + inside.stderr
    assert listener.seen() == (0, [])
    # The same program outside the sandbox does reach it: the listener would have seen it.
    args, env = sandbox.confine(argv, "off", home=tmp_path / "home")
    outside = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert outside.stdout.strip() == "connected"
    assert listener.seen()[0] == 1


def test_the_sandbox_writes_only_where_it_is_told(tmp_path):
    allowed, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    allowed.mkdir()
    elsewhere.mkdir()
    script = (
        "import sys, pathlib\n"
        "for target in sys.argv[1:]:\n"
        "    try:\n"
        "        pathlib.Path(target).write_text('x'); print('wrote', target)\n"
        "    except OSError as exc:\n"
        "        print('refused', target, type(exc).__name__)\n"
    )
    targets = [allowed / "ok.txt", elsewhere / "no.txt", Path("/var/tmp") / f"noarkpipe-{os.getpid()}.txt"]
    args, env = sandbox.confine(
        [SYSTEM_PYTHON, "-c", script, *map(str, targets)], "bwrap", home=allowed / "home", writable=[allowed]
    )
    completed = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60, check=True)
    assert (allowed / "ok.txt").read_text() == "x"
    assert not (elsewhere / "no.txt").exists()
    assert not targets[2].exists()
    assert completed.stdout.count("refused") == 2, completed.stdout


def test_homes_are_hidden_in_the_sandbox(tmp_path):
    args, env = sandbox.confine([SYSTEM_PYTHON, "-c", "import os; print(os.listdir('/root'))"], "bwrap", home=None)
    completed = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60, check=True)
    assert completed.stdout.strip() == "[]"


def test_bwrap_arguments_unshare_the_network_and_mount_in_order():
    args = sandbox.bwrap_args(
        "/usr/bin/bwrap", ["gs", "-q"], writable=[Path("/data/work")], readable=[Path("/data/in.pdf")],
        hidden=[Path("/home")],
    )
    assert {"--unshare-net", "--unshare-pid", "--die-with-parent", "--new-session"} <= set(args)
    assert args[-3:] == ["--", "gs", "-q"]
    # Later mounts cover earlier ones: the root read-only first, what may be written last.
    order = [args.index(flag) for flag in ("--ro-bind", "--tmpfs", "--ro-bind-try", "--bind")]
    assert order == sorted(order)


def test_a_python_child_in_its_own_namespaces_cannot_reach_the_listener(listener):
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_connect_from_own_namespaces, args=(sender, listener.port))
    child.start()
    sender.close()
    outcome = receiver.recv()
    child.join()
    assert outcome != "connected"
    assert listener.seen() == (0, [])


def test_a_python_child_in_its_own_namespaces_writes_only_where_it_is_told(tmp_path):
    allowed, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    allowed.mkdir()
    elsewhere.mkdir()
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_write_from_own_namespaces, args=(sender, allowed, elsewhere))
    child.start()
    sender.close()
    outcome = receiver.recv()
    child.join()
    assert outcome == {"work": "wrote", "elsewhere": "refused"}
    assert (allowed / "x.txt").read_text() == "x"
    assert list(elsewhere.iterdir()) == []


def _write_from_own_namespaces(sender, allowed: Path, elsewhere: Path) -> None:
    sandbox.enter_own_namespaces("bwrap", [allowed])
    outcome = {}
    for key, folder in (("work", allowed), ("elsewhere", elsewhere)):
        try:
            (folder / "x.txt").write_text("x")
            outcome[key] = "wrote"
        except OSError:
            outcome[key] = "refused"
    sender.send(outcome)


def _connect_from_own_namespaces(sender, port: int) -> None:
    import socket

    sandbox.enter_own_namespaces("bwrap")
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        sender.send("connected")
    except OSError as exc:
        sender.send(type(exc).__name__)


def test_ocrmypdfs_tesseract_runs_without_network(tmp_path):
    scan = factory.scanned_pdf(tmp_path / "klage-skannet.pdf")
    ours = os.readlink("/proc/self/ns/net")
    seen: dict[int, str | None] = {}
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            for pid in _descendants(os.getpid()):
                if _name(pid) == "tesseract" and pid not in seen:
                    try:
                        command = Path(f"/proc/{pid}/cmdline").read_bytes()
                        namespace = os.readlink(f"/proc/{pid}/ns/net")
                    except OSError:
                        continue
                    # The version and language probes read no document and run outside.
                    if b"--version" not in command and b"--list-langs" not in command:
                        seen[pid] = namespace
            time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        result = archival_copy(scan, scratch=tmp_path / "scratch")
    finally:
        stop.set()
        watcher.join()
    assert "OCRmyPDF" in result.tool
    assert seen, "no tesseract was seen running"
    assert ours not in seen.values()


def _descendants(root: int) -> set[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier and pid not in found}
        found |= frontier
    return found


def _name(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat[stat.index("(") + 1 : stat.rindex(")")]


# --- When the sandbox cannot be had ------------------------------------------------------------


@pytest.fixture
def fresh_probe():
    sandbox._working_bwrap.cache_clear()
    yield
    sandbox._working_bwrap.cache_clear()


def test_no_bwrap_is_a_missing_dependency_naming_the_package(fresh_probe, monkeypatch):
    monkeypatch.setattr(sandbox, "PROGRAM", "bwrap-not-installed")
    with pytest.raises(MissingDependencyError) as missing:
        sandbox.require("bwrap")
    assert "apt-get install bubblewrap" in str(missing.value)
    assert 'sandbox = "off"' in str(missing.value)


def test_a_bwrap_that_cannot_make_namespaces_is_refused_with_its_message(fresh_probe, tmp_path, monkeypatch):
    fakes.faulty_bwrap(tmp_path / "bin", monkeypatch, "echo 'bwrap: No permissions to creating new namespace' >&2\nexit 1\n")
    with pytest.raises(MissingDependencyError, match="No permissions to creating new namespace") as refused:
        sandbox.require("bwrap")
    assert "user namespaces" in refused.value.hint


def test_a_bwrap_that_leaves_the_network_shared_is_refused(fresh_probe, tmp_path, monkeypatch):
    # Runs the command, but in this machine's namespaces.
    fakes.faulty_bwrap(tmp_path / "bin", monkeypatch, 'while [ "$1" != "--" ]; do shift; done\nshift\nexec "$@"\n')
    with pytest.raises(MissingDependencyError, match="would have network"):
        sandbox.require("bwrap")


def test_a_conversion_without_a_sandbox_is_refused_not_run_unconfined(fresh_probe, tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox, "PROGRAM", "bwrap-not-installed")
    source = tmp_path / "klage.rtf"
    source.write_text(factory.RTF, encoding="ascii")
    job = ConversionJob(
        source=source, source_sha256="0" * 64, filename=source.name, email_body=False,
        target=tmp_path / "arkiv", scratch=tmp_path / "scratch", options=ConversionOptions(),
    )
    outcome = convert_document(job)
    assert outcome.failure_kind == "missing_dependency"
    assert "bubblewrap" in outcome.failure
    assert not (tmp_path / "arkiv").exists() or not any((tmp_path / "arkiv").glob("*.pdf"))


def test_off_is_warned_about(caplog):
    with caplog.at_level(logging.WARNING, logger="noarkpipe._exec.sandbox"):
        sandbox.require("off")
    assert "unsafe" in caplog.text and 'sandbox = "off"' in caplog.text


def test_the_setting_reaches_the_conversion(tmp_path):
    config_path = api.init(tmp_path / "site")
    assert conversion_options(load_settings(config_path)).sandbox == "bwrap"
    text = config_path.read_text(encoding="utf-8").replace('sandbox = "bwrap"', 'sandbox = "off"')
    config_path.write_text(text, encoding="utf-8")
    assert conversion_options(load_settings(config_path)).sandbox == "off"


# --- Temporaries stay in the work area ---------------------------------------------------------


@pytest.mark.parametrize("mode", ["bwrap", "off"])
def test_converters_write_no_temporaries_to_home_or_tmpdir(mode, tmp_path, monkeypatch):
    watched = tmp_path / "watched"
    watched.mkdir()
    samples = tmp_path / "samples"
    samples.mkdir()
    documents = {
        "docx": factory.office_documents(samples / "office")["docx"],  # LibreOffice
        "standard fonts": factory.standard_font_pdf(samples / "vedtak.pdf"),  # Ghostscript, then pikepdf
        "scan": factory.scanned_pdf(samples / "klage-skannet.pdf"),  # OCRmyPDF, tesseract
    }
    monkeypatch.setenv("HOME", str(watched))
    monkeypatch.setenv("TMPDIR", str(watched))
    monkeypatch.setattr(tempfile, "tempdir", None)
    tools = []
    for document in documents.values():
        result = archival_copy(document, scratch=tmp_path / "scratch", options=ConversionOptions(sandbox=mode))
        tools.append(result.tool)
    png = factory.png_scan(samples / "page.png")
    text = tesseract.page_text(tesseract.require("nor"), png.read_bytes(), "nor", 300, sandbox_mode=mode)
    assert "Ghostscript" in " ".join(tools) and "OCRmyPDF" in " ".join(tools) and "LibreOffice" in tools[0]
    assert text.strip()
    # multiprocessing's folder for the sockets of this process's own fork server is not a converter's.
    written = [path for path in watched.rglob("*") if not path.relative_to(watched).parts[0].startswith("pymp-")]
    assert written == []
    # What the conversions left in the work area: the archival copies and LibreOffice's profile, for reuse.
    left = {path.name.split("-")[0] for path in (tmp_path / "scratch").iterdir()}
    assert left <= {"convert", "libreoffice"}, left


@pytest.mark.parametrize("mode", ["bwrap", "off"])
def test_scanned_mail_is_read_in_the_sandbox_the_setting_asks_for(mode, fresh_probe, tmp_path, monkeypatch):
    from helpers import scanfactory
    from noarkpipe.intake import IntakeContext
    from noarkpipe.intake.scan import parse_scan

    page = scanfactory.text_page(["Klage på vedtak om eiendomsskatt", "Øvre Fjellvei 3, Fjellvik"])
    path = scanfactory.write_image(page, tmp_path / "brev.png")
    context = IntakeContext(
        origin_name=path.name, received=datetime.now(UTC), scratch=tmp_path / "scratch", sandbox=mode
    )
    # A machine without bubblewrap: the OCR of scanned mail needs it unless the setting says "off".
    monkeypatch.setattr(sandbox, "PROGRAM", "bwrap-not-installed")
    if mode == "bwrap":
        with pytest.raises(MissingDependencyError, match="bubblewrap"):
            parse_scan(path, context)
    else:
        (submission,) = parse_scan(path, context)
        assert "eiendomsskatt" in submission.body_text
