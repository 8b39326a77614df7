"""The letter comes first: a part without archival copy is journaled as received and flagged, never the item lost.

Everything runs for real: `noarkpipe init`, `noarkpipe run` and the review
commands as a post room would call them, with fido, OCRmyPDF, tesseract and
the process pool. One e-mail carries a good PDF, random bytes named .bin and
a zero-byte file; the run journals it for review, and the archivist drops one
part, replaces the other and approves. Beside it: the export's merknad for a
gap approved as it is, parts with the same bytes or names, a scan batch with
one damaged page, and a bounce joining the case of the message it is about.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tarfile
import zipfile
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from alembic import command
from lxml import etree
from PIL import Image
from sqlalchemy import inspect, select

from helpers import convertfactory as factory
from helpers import scanfactory
from helpers.inbox import drop, make_eml
from noarkpipe import api
from noarkpipe.clock import utcnow
from noarkpipe.config import DEFAULT_CONFIG_NAME, load_settings
from noarkpipe.core.codes import Journalstatus
from noarkpipe.core.submission import Party, Source, Submission
from noarkpipe.errors import ExitCode
from noarkpipe.export.documents import StoredObject, selected
from noarkpipe.journal.journaling import ensure_structure, journal_submission
from noarkpipe.run.nightly import NightlyRun
from noarkpipe.run.results import Outcome
from noarkpipe.store import tables
from noarkpipe.store.docstore import DocumentStore
from noarkpipe.store.engine import Store, _alembic_config, make_engine
from noarkpipe.xml.schemas import safe_parser, xml_schema

REVIEW = Journalstatus.midlertidig_registrering.value
NOISE = hashlib.sha256(b"ikke et dokument").digest() * 64  # 2 KiB no format has a signature for
NS = {"a": "http://www.arkivverket.no/standarder/noark5/arkivstruktur"}


def _cli(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "noarkpipe.cli", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, check=False,
    )


def _posts(settings) -> list[dict]:
    """Every journalpost with its documents and their objects, as plain dicts."""
    store = Store.open(settings.store_url)
    try:
        with store.read() as session:
            return [
                {
                    "number": f"{p.journalaar}/{p.journalsekvensnummer}",
                    "status": p.journalstatus,
                    "note": p.classification_note,
                    "saksmappe_id": p.saksmappe_id,
                    "message_id": p.message_id,
                    "documents": [
                        {
                            "nummer": d.dokumentnummer,
                            "gap": d.archival_gap,
                            "objects": [
                                (o.versjonsnummer, o.variantformat, o.filnavn, o.sjekksum, o.mimeType, o.format)
                                for o in d.dokumentobjekter
                            ],
                        }
                        for d in p.dokumentbeskrivelser
                    ],
                }
                for p in session.scalars(select(tables.Journalpost).order_by(tables.Journalpost.id))
            ]
    finally:
        store.dispose()


def _changes(settings) -> list[tuple[str, str | None, str | None]]:
    store = Store.open(settings.store_url)
    try:
        with store.read() as session:
            return [
                (c.referanseMetadata, c.tidligereVerdi, c.nyVerdi)
                for c in session.scalars(select(tables.Endringslogg).order_by(tables.Endringslogg.id))
            ]
    finally:
        store.dispose()


# --- The store ------------------------------------------------------------------------------------


def test_migration_0006_adds_the_gap_and_the_message_id_to_a_store_in_use(tmp_path):
    url = f"sqlite:///{tmp_path / 'journal.sqlite'}"
    old = Store(make_engine(url))
    with old.engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "0005")
    assert old.schema_revision() == "0005"
    old.dispose()
    store = Store.open(url)  # a store opened by this noarkpipe migrates itself
    try:
        assert store.schema_revision() == store.head_revision() != "0005"
        columns = {c["name"] for c in inspect(store.engine).get_columns("dokumentbeskrivelse")}
        assert "archival_gap" in columns
        indexes = inspect(store.engine).get_indexes("journalpost")
        assert any(index["column_names"] == ["message_id"] for index in indexes)
    finally:
        store.dispose()


# --- One e-mail, end to end through the CLI --------------------------------------------------------


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    """`noarkpipe init`, an e-mail with a PDF, noise named .bin and an empty file, `noarkpipe run --json`."""
    root = tmp_path_factory.mktemp("brevet-forst")
    assert _cli("init", root / "site").returncode == 0
    config = root / "site" / DEFAULT_CONFIG_NAME
    settings = load_settings(config)
    pdf = factory.text_pdf(root / "brukstillatelse.pdf").read_bytes()
    drop(settings, "fjellvik", "vedlegg.eml", make_eml(subject="Søknad om brukstillatelse", attachments=[
        ("Brukstillatelse.pdf", pdf, "application/pdf"),
        ("data.bin", NOISE, "application/octet-stream"),
        ("tom.txt", b"", "text/plain"),
    ]))
    run = _cli("run", "-c", config, "--json")
    return {"config": config, "settings": settings, "run": run, "root": root}


def test_the_letter_is_journaled_for_review_with_its_parts_as_received(night):
    run = night["run"]
    assert run.returncode == ExitCode.ok, run.stderr  # nothing quarantined
    summary = json.loads(run.stdout)
    [item] = summary["items"]
    assert item["outcome"] == Outcome.needs_review and item["journalstatus"] == REVIEW
    assert summary["documents_without_archival_copy"] == 2 and summary["conversion_failures"] == 2
    gaps = {gap["document"]: gap["reason"] for gap in item["archival_gaps"]}
    assert set(gaps) == {"data.bin", "tom.txt"}
    assert "unknown format" in gaps["data.bin"] and "cannot convert" in gaps["data.bin"]
    assert "empty (0 bytes)" in gaps["tom.txt"] and "ask the sender" in gaps["tom.txt"]

    [post] = _posts(night["settings"])
    assert post["status"] == REVIEW and "data.bin" in post["note"] and "tom.txt" in post["note"]
    by_name = {d["objects"][0][2]: d for d in post["documents"]}
    for name, content in (("data.bin", NOISE), ("tom.txt", b"")):
        document = by_name[name]
        [(version, variant, _name, checksum, mime, fmt)] = document["objects"]  # no Arkivformat
        assert (version, variant) == (1, "Produksjonsformat")
        assert checksum == hashlib.sha256(content).hexdigest() and mime and fmt
        assert document["gap"] == gaps[name]
        assert DocumentStore(night["settings"].documents_dir).verify(checksum)
    assert [o[1] for o in by_name["Brukstillatelse.pdf"]["objects"]] == ["Produksjonsformat", "Arkivformat"]
    assert by_name["Brukstillatelse.pdf"]["gap"] is None
    assert not list(night["settings"].creator("fjellvik").quarantine.iterdir())


def test_the_reasons_are_in_review_show_and_the_run_report(night):
    settings = night["settings"]
    [post] = _posts(settings)
    shown = _cli("review", "show", "-c", night["config"], "-a", "fjellvik", post["number"])
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.count("NO ARCHIVAL COPY") == 2
    assert "unknown format" in shown.stdout and "empty (0 bytes)" in shown.stdout
    listed = json.loads(_cli("review", "list", "-c", night["config"], "-a", "fjellvik", "--json").stdout)
    assert [len(i["archival_gaps"]) for i in listed] == [2]

    [report_json] = settings.reports_dir.glob("run-*.json")
    report = json.loads(report_json.read_text(encoding="utf-8"))
    assert report["documents_without_archival_copy"] == 2
    [registered] = report["registered"]
    assert any(line.startswith("data.bin: ") for line in registered["archival_gaps"])
    html = report_json.with_suffix(".html").read_text(encoding="utf-8")
    assert "Documents without an archival copy: 2" in html and "tom.txt: " in html


def test_classify_explain_says_which_parts_get_no_archival_copy(night, tmp_path):
    eml = tmp_path / "brev.eml"
    eml.write_bytes(make_eml(subject="Spørsmål", attachments=[("data.bin", NOISE, "application/octet-stream")]))
    explained = _cli("classify", "-c", night["config"], "-a", "fjellvik", "--explain", eml)
    assert explained.returncode == 0, explained.stderr
    assert "data.bin (attachment): NO ARCHIVAL COPY: unknown format" in explained.stdout
    assert "goes to review (M)" in explained.stdout


def test_the_archivist_drops_one_part_replaces_the_other_and_approves(night):
    config, settings = night["config"], night["settings"]
    [post] = _posts(settings)
    number = post["number"]
    by_name = {d["objects"][0][2]: d["nummer"] for d in post["documents"]}

    # Approving with a gap open needs --accept-gap: nothing changes without it.
    refused = _cli("review", "approve", "-c", config, "-a", "fjellvik", "--by", "kari", number)
    assert refused.returncode == ExitCode.bad_args and "--accept-gap" in refused.stderr
    assert _posts(settings)[0]["status"] == REVIEW

    dropped = _cli("review", "drop-part", "-c", config, "-a", "fjellvik", "--by", "kari", number,
                   by_name["tom.txt"], "--reason", "tom fil, avsender varslet")
    assert dropped.returncode == 0, dropped.stderr
    quarantine = settings.creator("fjellvik").quarantine
    [kept] = [p for p in quarantine.iterdir() if not p.name.endswith(".reason.txt")]
    assert kept.name == "tom.txt" and kept.read_bytes() == b""
    reason = (quarantine / "tom.txt.reason.txt").read_text(encoding="utf-8")
    assert "tom fil, avsender varslet" in reason and number in reason

    replacement = night["root"] / "data.pdf"
    factory.text_pdf(replacement)
    replaced = _cli("review", "replace-part", "-c", config, "-a", "fjellvik", "--by", "kari", number,
                    by_name["data.bin"], replacement, timeout=600)
    assert replaced.returncode == 0, replaced.stderr

    [post] = _posts(settings)
    assert [d["nummer"] for d in post["documents"]] == [n for n in sorted(by_name.values()) if n != by_name["tom.txt"]]
    document = next(d for d in post["documents"] if d["nummer"] == by_name["data.bin"])
    assert document["gap"] is None
    variants = [(o[0], o[1]) for o in document["objects"]]
    assert variants == [(1, "Produksjonsformat"), (2, "Produksjonsformat"), (2, "Arkivformat")]
    assert document["objects"][0][3] == hashlib.sha256(NOISE).hexdigest()  # what came first is kept
    assert document["objects"][1][3] == hashlib.sha256(replacement.read_bytes()).hexdigest()
    changes = _changes(settings)
    assert ("dokument fjernet", None, "tom fil, avsender varslet") in changes
    assert any(field == "archival_gap" and before and after is None for field, before, after in changes)

    approved = _cli("review", "approve", "-c", config, "-a", "fjellvik", "--by", "kari", number)
    assert approved.returncode == 0, approved.stderr
    assert _posts(settings)[0]["status"] == Journalstatus.journalfoert.value


# --- A gap approved as it is, in the export -------------------------------------------------------


def test_a_gap_approved_as_it_is_is_logged_and_exported_as_a_merknad(installation, tmp_path):
    drop(installation, "fjellvik", "signatur.eml", make_eml(subject="Svar på nabovarsel", attachments=[
        ("signatur.bin", NOISE, "application/octet-stream"),
    ]))
    summary = api.run(installation)
    [item] = summary.items
    assert item.outcome is Outcome.needs_review and [g.document for g in item.archival_gaps] == ["signatur.bin"]
    api.review_decide(installation, "approve", item.journalpost, kode="fjellvik", by="kari", accept_gap=True)
    assert any(
        field == "arkivformat" and "signatur.bin" in after and "godkjent" in after
        for field, _before, after in _changes(installation)
    )
    api.export(installation, tmp_path / "ut", kode="fjellvik", force=True, identify_formats=False)
    [tar_path] = (tmp_path / "ut").glob("*.tar")
    with tarfile.open(tar_path) as tar:
        [member] = [m for m in tar.getmembers() if m.name.endswith("content/arkivstruktur.xml")]
        data = tar.extractfile(member).read()
    document = etree.fromstring(data, safe_parser())
    for revision in ("v5.0", "v5.0-2019"):
        schema = xml_schema(f"noark5/{revision}/arkivstruktur.xsd")
        assert schema.validate(etree.ElementTree(document)), (revision, schema.error_log)
    [merknad] = document.findall(".//a:dokumentbeskrivelse/a:merknad", NS)
    assert merknad.findtext("a:merknadstype", namespaces=NS) == "Mangler arkivformat"
    text = merknad.findtext("a:merknadstekst", namespaces=NS)
    assert "ikke arkivformat" in text and "unknown format" in text
    gapped = merknad.getparent()
    assert [o.findtext("a:variantformat", namespaces=NS) for o in gapped.findall("a:dokumentobjekt", NS)] == [
        "Produksjonsformat"
    ]
    # The e-mail's own text has its archival copy and no merknad.
    assert len(document.findall(".//a:dokumentbeskrivelse", NS)) == 2


# --- Parts with the same bytes or the same names --------------------------------------------------


def _png(image: Image.Image, path: Path) -> bytes:
    image.save(path, format="PNG")
    return path.read_bytes()


def _inline_mail(parts: list[tuple[str | None, bytes, str]]) -> bytes:
    """An HTML-less Outlook-style message: text, then inline images by Content-ID, some without a name."""
    message = EmailMessage()
    message["From"] = "Åse Ødegård <ase.odegard@example.no>"
    message["To"] = "postmottak@fjellvik.kommune.no"
    message["Subject"] = "Bilder fra befaring"
    message["Message-ID"] = "<befaring-1@example.no>"
    message.set_content("Hei,\n\nBildene fra befaringen ligger ved.\n\nÅse")
    for name, content, cid in parts:
        message.add_attachment(content, maintype="image", subtype="png", cid=f"<{cid}>", disposition="inline")
        part = message.get_payload()[-1]
        if name is not None:
            part.set_param("filename", name, header="Content-Disposition")
            part.set_param("name", name, header="Content-Type")
        else:
            del part["Content-Disposition"]
            part["Content-Disposition"] = "inline"
    return message.as_bytes()


def test_parts_with_the_same_bytes_or_names_each_get_their_own_stable_copy(installation, tmp_path):
    first = _png(scanfactory.scanned(scanfactory.render_letter(scanfactory.MILJO)[0], 220), tmp_path / "a.png")
    second = _png(scanfactory.scanned(scanfactory.render_letter(scanfactory.RORLEGGER)[0], 210), tmp_path / "b.png")
    parts = [
        ("C:\\TEMP\\nsmailEG.png", first, "a1@example.no"),
        ("C:\\TEMP\\nsmail39.png", second, "b1@example.no"),
        ("kopi.png", first, "a2@example.no"),  # the same bytes under another name
        ("C:\\TEMP\\nsmail39.png", second, "b2@example.no"),  # the same bytes and the same name
        (None, first, "a3@example.no"),  # no name at all
    ]
    drop(installation, "fjellvik", "befaring.eml", _inline_mail(parts))
    store = Store.open(installation.store_url)
    executor = factory.CountingExecutor()
    try:
        summary = NightlyRun(installation, store, executor=executor).run()
    finally:
        executor.close()
        store.dispose()
    [item] = summary.items
    assert item.outcome in (Outcome.journaled, Outcome.needs_review), item.reason
    assert not item.archival_gaps and summary.documents_without_archival_copy == 0
    # One conversion per distinct content: the e-mail's text and the two images.
    assert len({job.key for job in executor.jobs}) == len(executor.jobs) == 3

    [post] = _posts(installation)
    images = [d for d in post["documents"] if d["nummer"] > 1]
    assert len(images) == 5
    names = [d["objects"][0][2] for d in images]
    assert len(set(names)) == 5, names
    documents = DocumentStore(installation.documents_dir)
    copy_of = {}
    for document in images:
        by_variant = {o[1]: o for o in document["objects"]}
        original, copy = by_variant["Produksjonsformat"], by_variant["Arkivformat"]
        assert copy[3] != original[3] and documents.verify(copy[3])  # its own copy, intact in the store
        copy_of.setdefault(original[3], set()).add(copy[3])
    digests = {hashlib.sha256(first).hexdigest(), hashlib.sha256(second).hexdigest()}
    assert set(copy_of) == digests
    assert all(len(copies) == 1 for copies in copy_of.values())  # the same bytes: the same verified copy
    assert len(set().union(*copy_of.values())) == 2
    assert list((installation.work_dir / "fjellvik").iterdir()) == []


# --- A scan batch with one damaged page -----------------------------------------------------------


def _tiff_with_damaged_page(path: Path, damaged: int) -> Path:
    """A three-page scan batch (deflate TIFF) whose page `damaged` (0-based) has garbage for its image data."""
    pages = [scanfactory.scanned(page, 400 + n) for n, page in enumerate(
        [scanfactory.render_letter(scanfactory.RORLEGGER)[0], scanfactory.blank_sheet(),
         scanfactory.render_letter(scanfactory.MILJO)[0]]
    )]
    pages[0].save(path, format="TIFF", save_all=True, append_images=pages[1:], compression="tiff_adobe_deflate",
                  dpi=(scanfactory.DPI, scanfactory.DPI))
    with Image.open(path) as image:
        image.seek(damaged)
        offsets, counts = image.tag_v2[273], image.tag_v2[279]
    with path.open("r+b") as handle:
        for offset, count in zip(offsets, counts, strict=True):
            handle.seek(offset)
            handle.write(bytes((n * 37 + 11) % 256 for n in range(count)))
    return path


def test_a_scan_batch_with_an_unreadable_page_keeps_its_letters_and_flags_the_batch(installation, tmp_path):
    batch = _tiff_with_damaged_page(tmp_path / "skanning.tif", damaged=1)
    drop(installation, "fjellvik", "skanner/skanning.tif", batch.read_bytes())
    summary = api.run(installation)
    assert summary.quarantined == 0, [i.reason for i in summary.items]
    assert [i.outcome for i in summary.items] == [Outcome.needs_review] * 3
    letters = [i for i in summary.items if not i.archival_gaps]
    [unreadable] = [i for i in summary.items if i.archival_gaps]
    assert len(letters) == 2 and "(letter 2 of 3)" in unreadable.origin_name
    assert "page 2 of the scan batch cannot be read" in unreadable.archival_gaps[0].reason
    for letter in letters:
        assert "check that no page of this letter" in letter.reason

    posts = _posts(installation)
    readable = [p for p in posts if not p["documents"][0]["gap"]]
    assert all([o[1] for o in p["documents"][0]["objects"]] == ["Produksjonsformat", "Arkivformat"] for p in readable)
    [page] = [p for p in posts if p["documents"][0]["gap"]]
    [(_v, variant, _name, checksum, _mime, _fmt)] = page["documents"][0]["objects"]
    # The damaged frame cannot be cut out of the TIFF: the whole file is kept as that page's document.
    assert variant == "Produksjonsformat" and checksum == hashlib.sha256(batch.read_bytes()).hexdigest()


# --- An e-form delivery with one damaged attachment ----------------------------------------------


def test_an_eform_with_a_damaged_attachment_is_journaled_with_the_form_and_flagged(installation, tmp_path):
    form_pdf = (Path(__file__).resolve().parents[1] / "fixtures" / "sample-eforms" / "skadedyr-FS-2026-120777.pdf")
    photo = _png(scanfactory.scanned(scanfactory.render_letter(scanfactory.MILJO)[0], 230), tmp_path / "foto.png")
    damaged = photo[: len(photo) // 3]  # cut off on the way, as a failed upload leaves it
    manifest = {
        "formType": "melding-skadedyr", "title": "Melding om skadedyr", "submissionId": "FS-9",
        "submittedAt": "2026-11-22T19:42:10+01:00",
        "submitter": {"type": "person", "name": "Jørgen Bråten", "email": "jorgen@example.no"},
        "fields": [{"name": "skadedyr", "label": "Type skadedyr", "value": "Rotter"}],
        "documents": [
            {"filename": "skjema.pdf", "mediaType": "application/pdf", "role": "main"},
            {"filename": "foto.png", "mediaType": "image/png", "role": "attachment", "title": "Bilde av skaden"},
        ],
    }
    delivery = tmp_path / "skadedyr.zip"
    with zipfile.ZipFile(delivery, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False))
        zipped.writestr("skjema.pdf", form_pdf.read_bytes())
        zipped.writestr("foto.png", damaged)
    drop(installation, "fjellvik", "skjema/skadedyr.zip", delivery.read_bytes())
    summary = api.run(installation)
    [item] = summary.items
    assert item.outcome is Outcome.needs_review, item.reason
    assert [gap.document for gap in item.archival_gaps] == ["foto.png"]
    [post] = _posts(installation)
    by_name = {d["objects"][0][2]: d for d in post["documents"]}
    assert [o[1] for o in by_name["skjema.pdf"]["objects"]] == ["Produksjonsformat", "Arkivformat"]
    [original] = by_name["foto.png"]["objects"]
    assert original[1] == "Produksjonsformat" and original[3] == hashlib.sha256(damaged).hexdigest()


# --- A bounce joins the case of the message it is about -------------------------------------------


def test_a_notice_joins_the_case_of_the_message_it_refers_to(installation):
    api.run(installation)  # the arkivskaper's structure
    drop(installation, "fjellvik", "brev.eml", make_eml(subject="Søknad om tilskudd"))
    api.run(installation)
    [sent] = _posts(installation)
    assert sent["message_id"]
    store = Store.open(installation.store_url)
    try:
        with store.write("test") as session:
            structure = ensure_structure(session, installation.creator("fjellvik"), "test", utcnow())
            notice = Submission(
                source=Source.email, origin_name="retur.eml", subject="Undelivered Mail Returned to Sender",
                sender=Party(email="mailer-daemon@example.no"), refers_to_message_id=sent["message_id"],
            )
            post, placement = journal_submission(session, structure, notice, [], actor="test", now=utcnow())
            assert post.saksmappe_id == sent["saksmappe_id"] and post.journalstatus == REVIEW
            assert sent["number"] in placement.reason and sent["number"] in post.classification_note
            stranger = notice.model_copy(update={"refers_to_message_id": "<ukjent@example.no>"})
            other, _ = journal_submission(session, structure, stranger, [], actor="test", now=utcnow())
            assert other.saksmappe_id != sent["saksmappe_id"]
    finally:
        store.dispose()


# --- Export of a replaced part --------------------------------------------------------------------


def test_a_replaced_part_is_exported_as_its_new_version_only():
    def obj(id, variant, version):
        return StoredObject(id, 10, f"00000000-0000-4000-8000-{id:012d}", version, variant, "fmt/477",
                            "application/pdf", "data.bin", hashlib.sha256(str(id).encode()).hexdigest(), 100,
                            2026, 345, 2, "SHA-256", datetime(2027, 1, 1, tzinfo=UTC), "noarkpipe")

    replaced = [obj(1, "Produksjonsformat", 1), obj(2, "Produksjonsformat", 2), obj(3, "Arkivformat", 2)]
    assert [o.id for o in selected(replaced)] == [3]
    # Without the replacement the original is all there is, and it goes in (with the merknad).
    assert [o.id for o in selected(replaced[:1])] == [1]
