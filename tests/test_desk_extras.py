"""The desk's runs, quarantine and public-journal pages: the service layer over a real night, and the templates.

One installation for the module, made by `noarkpipe init`, and a real
nightly run (`noarkpipe run`) over four e-mails: a building application
(journaled), a child-welfare report whose subject names its sender
(screened, then approved so it is published), an empty file and one with
more header fields than [intake] max_headers allows (both quarantined).
The test of releasing comes last in the file: it changes the quarantine and
runs a second night. Path refusals, bundles, hostile reason files and a
release across file systems are tried on a fresh installation with
quarantine entries written by the run's own `quarantine_item`.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from babel.messages.pofile import read_po
from jinja2 import Environment, PackageLoader, select_autoescape
from jinja2.ext import babel_extract
from lxml import html as lxml_html

from helpers.inbox import SAMPLE_INBOX, make_eml, oslo_today
from noarkpipe import api
from noarkpipe.clock import LOCAL_TIME
from noarkpipe.config import load_settings
from noarkpipe.desk import i18n
from noarkpipe.errors import ReviewError
from noarkpipe.run import workarea
from noarkpipe.services import desk_extras
from noarkpipe.services.desk_users import DeskUser, Grant
from noarkpipe.services.installation import Installation

KODE = "fjellvik"
SENDER = "Åse Lund"
SCREENED_TITLE = f"Bekymringsmelding til barnevernet fra {SENDER}"
SCREENED_FILE = "bekymring-barnevern.eml"
PUBLIC_TITLE = email.message_from_bytes(
    (SAMPLE_INBOX / KODE / "01-byggesak-soknad.eml").read_bytes(), policy=email.policy.default
)["Subject"]
TEMPLATES = ("runs.html", "quarantine.html", "journal.html")


def _cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "noarkpipe.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=600, check=False)


def _many_headers(count: int) -> bytes:
    letter = make_eml(subject="Mange felt i hodet", body="Hei,\n\nen helt vanlig melding.\n")
    filler = b"".join(b"X-Felt-%d: verdi\n" % n for n in range(count))
    return letter.replace(b"Subject:", filler + b"Subject:", 1)


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    root = tmp_path_factory.mktemp("extras")
    config = api.init(root / "site")
    settings = load_settings(config)
    inbox = settings.creator(KODE).inbox
    shutil.copy2(SAMPLE_INBOX / KODE / "01-byggesak-soknad.eml", inbox / "01-byggesak.eml")
    (inbox / SCREENED_FILE).write_bytes(make_eml(
        subject=SCREENED_TITLE, sender=f"{SENDER} <ase.lund@example.no>",
        body="Hei,\n\nJeg sender en bekymringsmelding til barnevernet.\n\nHilsen Åse\n",
    ))
    (inbox / "tom.eml").write_bytes(b"")
    (inbox / "mange-felt.eml").write_bytes(_many_headers(600))
    old = datetime(2020, 1, 2, 3, 4, tzinfo=LOCAL_TIME).timestamp()
    os.utime(inbox / "mange-felt.eml", (old, old))  # a rename keeps the mtime: the list must not show this
    before = datetime.now(LOCAL_TIME)
    run = _cli("run", "-q", "-c", config)
    assert run.returncode == 10, run.stderr  # items_quarantined
    screened = [item for item in api.review_list(config, KODE) if item.skjermet]
    assert len(screened) == 1 and screened[0].tittel == SCREENED_TITLE
    api.review_decide(config, "approve", screened[0].journalnummer, kode=KODE, by="kari")
    opened = Installation(settings)
    yield SimpleNamespace(config=config, settings=settings, opened=opened, before=before,
                          screened=screened[0].journalnummer)
    opened.close()


# ---------------------------------------------------------------- runs


def test_recent_runs_lists_the_run_with_its_report_files_and_counts(night):
    runs = desk_extras.recent_runs(night.opened)
    assert [run.run_id for run in runs] == [1]
    run = runs[0]
    assert run.outcome == "completed" and run.exit_code == 10 and run.exit_name == "items_quarantined"
    assert run.counts == {"journaled": 1, "needs_review": 1, "quarantined": 2, "duplicates": 0}
    assert run.html == night.settings.reports_dir / "run-000001.html" and run.html.is_file()
    assert run.json_path == night.settings.reports_dir / "run-000001.json"
    assert json.loads(run.json_path.read_text(encoding="utf-8"))["run_id"] == 1
    assert run.started >= night.before and run.finished and run.finished >= run.started
    assert desk_extras.recent_runs(night.opened, limit=0) == []


def test_the_report_page_is_the_runs_own_and_says_it_shows_screened_file_names(night):
    page = desk_extras.run_report_html(night.opened, 1)
    assert page == (night.settings.reports_dir / "run-000001.html").read_text(encoding="utf-8")
    assert "tom.eml" in page and "max_headers = 500" in page  # what the report quotes, in either language
    # The title is the public one, but the file name beside the screened journalpost is not screened:
    assert SCREENED_TITLE not in page and SCREENED_FILE in page
    access = desk_extras.report_access(night.opened, 1)
    assert access.creators == {KODE} and access.screened == {KODE}
    assert desk_extras.report_has_screened_content(night.opened, 1)
    with pytest.raises(ReviewError, match="run 99 has no report"):
        desk_extras.run_report_html(night.opened, 99)
    assert desk_extras.report_access(night.opened, 99).screened == {a.kode for a in night.settings.arkivskaper}


# ---------------------------------------------------------------- quarantine


def test_quarantine_lists_the_items_with_their_reasons_newest_first(night):
    files = desk_extras.quarantine(night.opened, KODE)
    assert sorted(f.name for f in files) == ["mange-felt.eml", "tom.eml"]
    assert [f.quarantined for f in files] == sorted((f.quarantined for f in files), reverse=True)
    by_name = {f.name: f for f in files}
    empty, headers = by_name["tom.eml"], by_name["mange-felt.eml"]
    assert empty.size == 0 and "empty file" in (empty.reason or "")
    assert "more than 500 fields, over max_headers = 500" in (headers.reason or "")
    assert "\n  hint: " in (headers.reason or "") and "raise max_headers" in (headers.reason or "")
    assert headers.size == (night.settings.creator(KODE).quarantine / "mange-felt.eml").stat().st_size
    assert all(f.kind == "file" and f.releasable and not f.releases for f in files)
    assert all(f.quarantined >= night.before for f in files)  # not the file's own mtime of 2020
    assert desk_extras.quarantine(night.opened, "strandby") == []


# ---------------------------------------------------------------- the public journal


def test_journal_preview_is_the_published_page_without_the_screened_title(night, tmp_path):
    today = oslo_today()
    page = desk_extras.journal_preview(night.opened, KODE, today, today)
    published = api.publish_journal(night.config, today, today, tmp_path / "published", KODE)
    assert page == Path(published.html).read_text(encoding="utf-8")
    assert published.entries == 2 and published.screened == 1
    assert PUBLIC_TITLE in page and "Bekymringsmelding til barnevernet fra *****" in page
    assert SCREENED_TITLE not in page and SENDER not in page and "Skjermet" in page
    assert not list(night.settings.work_dir.glob(".journal-preview-*"))  # nothing left behind
    with pytest.raises(ReviewError, match="before it begins"):
        desk_extras.journal_preview(night.opened, KODE, today, today.replace(year=today.year - 1))


# ---------------------------------------------------------------- templates


def _environment() -> Environment:
    # As the desk's app makes it (desk/app.py create_app).
    templates = Environment(loader=PackageLoader("noarkpipe.desk", "templates"), autoescape=select_autoescape(["html"]))
    templates.filters["day"] = lambda value: f"{value:%d.%m.%Y}" if value else ""
    templates.filters["moment"] = lambda value: f"{value.astimezone(LOCAL_TIME):%d.%m.%Y %H:%M}" if value else ""
    return templates


def _render(name: str, lang: i18n.Language, **context) -> lxml_html.HtmlElement:
    user = DeskUser(username="kari", name="Kari Arkivar", grants=(Grant(arkivskaper=KODE, role="arkivar", cleared=True),),
                    disabled=False)
    text = _environment().get_template(name).render(
        _=i18n.translator(lang), lang=lang, languages=i18n.LANGUAGES, user=user, kodes=[KODE], csrf="the-token",
        flash=None, version="test", path=f"/{name}", **{"kode": KODE, **context},
    )
    return lxml_html.fromstring(text)


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_the_three_pages_render_in_both_languages(night, lang):
    said = {"nb": ("De siste kjøringene", "Slipp tilbake til innboksen", "Offentlig journal"),
            "en": ("The last runs", "Release into the inbox", "Public journal")}[lang]

    runs = _render("runs.html", lang, runs=desk_extras.recent_runs(night.opened), kode=None)
    assert said[0] in runs.findtext(".//h1")
    assert runs.xpath("//table[@id='runs']//a/@href") == ["/runs/1"]
    assert ("noe er satt i karantene" if lang == "nb" else "items quarantined") in runs.text_content()

    files = desk_extras.quarantine(night.opened, KODE)
    page = _render("quarantine.html", lang, files=files, may_decide=True)
    forms = page.xpath("//form[contains(@class, 'release-form')]")
    assert [f.get("action") for f in forms] == [f"/quarantine/{KODE}/release"] * 2
    assert sorted(f.xpath(".//input[@name='name']/@value")[0] for f in forms) == ["mange-felt.eml", "tom.eml"]
    assert all(f.get("method") == "post" and f.xpath(".//input[@name='csrf']/@value") == ["the-token"] for f in forms)
    assert said[1] in page.text_content() and "max_headers = 500" in page.text_content()
    looking = _render("quarantine.html", lang, files=files, may_decide=False)
    assert not looking.xpath("//form[contains(@class, 'release-form')]") and looking.get_element_by_id("read-only") is not None

    today = oslo_today()
    journal = _render("journal.html", lang, date_from=today, date_to=today)
    frame = journal.get_element_by_id("preview")
    assert frame.get("src") == f"/journal/{KODE}/preview?from={today.isoformat()}&to={today.isoformat()}"
    assert frame.get("sandbox") == "" and said[2] in journal.findtext(".//h1")
    period = journal.get_element_by_id("period")
    assert period.get("method") == "get" and period.xpath(".//input/@name") == ["from", "to"]
    empty = _render("journal.html", lang, date_from=None, date_to=None)
    assert not empty.xpath("//iframe") and empty.get_element_by_id("choose") is not None


def test_every_text_of_the_three_pages_has_its_bokmal_translation():
    with (Path(i18n.__file__).parent / "locale" / "nb.po").open("rb") as handle:
        catalog = {m.id: m for m in read_po(handle, locale="nb") if m.id}
    folder = Path(i18n.__file__).parent / "templates"
    missing, unflagged = [], []
    for name in TEMPLATES:
        with (folder / name).open("rb") as handle:
            for _line, _function, message, _comments in babel_extract(handle, ("_",), [], {}):
                text = message if isinstance(message, str) else message[0]
                entry = catalog.get(text)
                if entry is None or not entry.string:
                    missing.append(text)
                elif "%(" in text and "python-format" not in entry.flags:
                    unflagged.append(text)
    assert not missing and not unflagged


# ---------------------------------------------------------------- releasing (changes the module's night: last)


def test_release_puts_the_items_back_and_the_next_run_takes_them_again(night, caplog):
    caplog.set_level(logging.INFO, logger="noarkpipe.desk")
    creator = night.settings.creator(KODE)
    back = desk_extras.release(night.opened, KODE, "tom.eml", "kari")
    assert back == creator.inbox / "tom.eml" and back.is_file() and back.stat().st_size == 0
    assert not (creator.quarantine / "tom.eml").exists() and not (creator.quarantine / "tom.eml.reason.txt").exists()
    [record] = creator.quarantine.glob("tom.eml.released-*.reason.txt")
    kept = record.read_text(encoding="utf-8")
    assert "reason: empty file" in kept and "released_by: kari" in kept
    assert any("kari released tom.eml of fjellvik" in r.getMessage() for r in caplog.records)
    with pytest.raises(ReviewError, match="not an item in the quarantine"):
        desk_extras.release(night.opened, KODE, "tom.eml", "kari")

    # The fix for the other one: the limit raised, as its reason's hint says; then it is released.
    config = night.config.read_text(encoding="utf-8")
    assert "max_headers = 500 " in config
    night.config.write_text(config.replace("max_headers = 500 ", "max_headers = 1000", 1), encoding="utf-8")
    desk_extras.release(night.opened, KODE, "mange-felt.eml", "kari")
    assert [f.name for f in desk_extras.quarantine(night.opened, KODE)] == []

    second = _cli("run", "-q", "-c", night.config)
    assert second.returncode == 10, second.stderr  # the empty file is quarantined again
    files = desk_extras.quarantine(night.opened, KODE)
    assert [f.name for f in files] == ["tom.eml"]
    again = files[0]
    assert "empty file" in (again.reason or "") and len(again.releases) == 1
    assert again.releases[0].by == "kari" and "empty file" in (again.releases[0].reason or "")
    assert again.releases[0].released and again.releases[0].released <= again.quarantined

    runs = desk_extras.recent_runs(night.opened)
    assert [run.run_id for run in runs] == [2, 1]
    assert runs[0].counts["quarantined"] == 1 and runs[0].counts["journaled"] + runs[0].counts["needs_review"] == 1
    report = json.loads(runs[0].json_path.read_text(encoding="utf-8"))
    assert [(i["item"], i["outcome"]) for i in report["registered"]] in (
        [("mange-felt.eml", "journaled")], [("mange-felt.eml", "needs_review")]
    )
    access = desk_extras.report_access(night.opened, 2)
    assert access.creators == {KODE} and access.screened == frozenset()
    assert not desk_extras.report_has_screened_content(night.opened, 2)
    assert not list(creator.inbox.iterdir())


# ---------------------------------------------------------------- refusals, bundles, other file systems


def _quarantined(settings, tmp_path: Path, name: str, content: bytes | dict[str, bytes] | Path, reason: str) -> Path:
    """An entry put into quarantine the way the run does it (`workarea.quarantine_item`)."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    claimed = work / f"20261203T000000000000-{abs(hash(name)) % 10**8:08d}{workarea.CLAIM_SEPARATOR}{name}"
    if isinstance(content, Path):
        claimed.symlink_to(content)
    elif isinstance(content, dict):
        claimed.mkdir()
        for part, data in content.items():
            (claimed / part).write_bytes(data)
    else:
        claimed.write_bytes(content)
    return workarea.quarantine_item(claimed, settings.creator(KODE).quarantine, name, reason, "0" * 64)


def test_release_refuses_paths_links_and_names_that_wait_in_the_inbox(installation, tmp_path):
    creator = installation.creator(KODE)
    secret = tmp_path / "secret.txt"
    secret.write_text("reason: not for the desk\n", encoding="utf-8")
    _quarantined(installation, tmp_path, "a.eml", b"From: x\n\nhei\n", "broken")
    linked = _quarantined(installation, tmp_path, "lenke.eml", secret, "not a regular file: a symbolic link")
    (creator.quarantine / "utenfor.eml").symlink_to(secret)  # put there by hand, no reason file
    opened = Installation(installation)
    try:
        for name in ("../x", "../../etc/passwd", "/etc/passwd", str(creator.quarantine / "a.eml"), "sub/a.eml",
                     "a.eml.reason.txt", ".", "..", "", "mangler.eml"):
            with pytest.raises(ReviewError, match="not an item in the quarantine"):
                desk_extras.release(opened, KODE, name, "kari")
        for name in ("lenke.eml", "utenfor.eml"):
            with pytest.raises(ReviewError, match="symbolic link"):
                desk_extras.release(opened, KODE, name, "kari")
        assert linked.is_symlink() and secret.read_text(encoding="utf-8") == "reason: not for the desk\n"
        (creator.inbox / "a.eml").write_bytes(b"another letter")
        with pytest.raises(ReviewError, match="already waits in the inbox"):
            desk_extras.release(opened, KODE, "a.eml", "kari")
        assert (creator.inbox / "a.eml").read_bytes() == b"another letter"
        assert (creator.quarantine / "a.eml").is_file() and (creator.quarantine / "a.eml.reason.txt").is_file()
        listed = {f.name: f for f in desk_extras.quarantine(opened, KODE)}
        assert set(listed) == {"a.eml", "lenke.eml", "utenfor.eml"}
        assert listed["lenke.eml"].kind == "other" and not listed["lenke.eml"].releasable
        assert listed["utenfor.eml"].reason is None and listed["a.eml"].reason == "broken"
        assert not list(tmp_path.glob("*.released-*"))
    finally:
        opened.close()


def test_reason_files_are_read_without_following_links_and_only_so_far(installation, tmp_path):
    creator = installation.creator(KODE)
    secret = tmp_path / "secret.txt"
    secret.write_text("reason: the secret outside\n", encoding="utf-8")
    _quarantined(installation, tmp_path, "b.eml", b"x", "to be replaced")
    (creator.quarantine / "b.eml.reason.txt").unlink()
    (creator.quarantine / "b.eml.reason.txt").symlink_to(secret)
    _quarantined(installation, tmp_path, "c.eml", b"x", "lang " * 40_000)
    opened = Installation(installation)
    try:
        listed = {f.name: f for f in desk_extras.quarantine(opened, KODE)}
        assert listed["b.eml"].reason is None
        long_reason = listed["c.eml"].reason or ""
        assert long_reason.startswith("lang lang") and len(long_reason.encode()) <= desk_extras.MAX_REASON_BYTES
        desk_extras.release(opened, KODE, "b.eml", "kari")  # the linked reason file is moved, never opened
        assert secret.read_text(encoding="utf-8") == "reason: the secret outside\n"
        assert (creator.inbox / "b.eml").read_bytes() == b"x"
    finally:
        opened.close()


def test_a_bundle_goes_back_whole_and_the_run_sees_one_item(installation, tmp_path):
    parts = {"skjema.json": '{"skjema": "søknad"}'.encode(), "skjema.pdf": b"%PDF-1.4\n%%EOF\n"}
    _quarantined(installation, tmp_path, "skjema.json", parts, "the e-form cannot be read")
    opened = Installation(installation)
    try:
        [bundle] = desk_extras.quarantine(opened, KODE)
        assert (bundle.name, bundle.kind, bundle.releasable) == ("skjema", "folder", True)
        assert bundle.size == sum(map(len, parts.values()))
        assert bundle.reason == "the e-form cannot be read"
        back = desk_extras.release(opened, KODE, "skjema", "kari")
        inbox = installation.creator(KODE).inbox
        assert back == inbox / "skjema" and {p.name: p.read_bytes() for p in back.iterdir()} == parts
        assert workarea.inbox_items(inbox) == [(back / "skjema.json", back / "skjema.pdf")]
    finally:
        opened.close()


def test_release_across_file_systems_copies_syncs_and_renames(installation, tmp_path):
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs /dev/shm on a file system of its own")
    inbox = shm / f"noarkpipe-test-inbox-{os.getpid()}"
    inbox.mkdir()
    try:
        creators = tuple(a.model_copy(update={"inbox": inbox}) if a.kode == KODE else a for a in installation.arkivskaper)
        settings = installation.model_copy(update={"arkivskaper": creators})
        letter = make_eml(subject="Over to filsystemer")
        _quarantined(settings, tmp_path, "d.eml", letter, "moved across")
        _quarantined(settings, tmp_path, "pakke.json", {"pakke.json": b"{}", "pakke.pdf": b"%PDF"}, "bundle")
        opened = Installation(settings)
        try:
            assert desk_extras.release(opened, KODE, "d.eml", "kari").read_bytes() == letter
            assert {p.name for p in desk_extras.release(opened, KODE, "pakke", "kari").iterdir()} == {"pakke.json", "pakke.pdf"}
        finally:
            opened.close()
        assert sorted(p.name for p in inbox.iterdir()) == ["d.eml", "pakke"]  # no hidden copy left over
        quarantine = settings.creator(KODE).quarantine
        assert sorted(p.name for p in quarantine.iterdir() if not p.name.endswith(".reason.txt")) == []
        assert len(list(quarantine.glob("*.released-*.reason.txt"))) == 2
    finally:
        shutil.rmtree(inbox, ignore_errors=True)
