"""The review desk as archivists use it: `noarkpipe desk serve` on loopback, the quickstart's mail, real logins.

One installation for the module: the quickstart's sample e-mails for
Fjellvik plus a screened letter (a child-welfare report), through a real
nightly run; users made with `noarkpipe desk user add`; the desk started
as the README says and asked over HTTP (requests) and in Chromium
(Selenium driving Debian's chromium and chromedriver, headless: no browser
is downloaded). Every decision is then looked up in the change log.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
import requests

from noarkpipe import api

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "korrekt hest batteri"
SCREENED_TITLE = "Bekymringsmelding til barnevernet om Tiril"
USERS = {
    # username: (role, cleared)
    "kari": ("arkivar", True),
    "ola": ("arkivar", False),
    "lars": ("leser", True),
}


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "noarkpipe.cli", *args], capture_output=True, text=True,
                          env=env, check=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _property_letter(n: int) -> bytes:
    """Two letters from one sender about one property, the second sent a day later: intake opens two cases."""
    message = EmailMessage()
    message["From"] = "Per Hansen <per.hansen@example.no>"
    message["To"] = "postmottak@fjellvik.kommune.no"
    message["Subject"] = ("Spørsmål om grensepåvisning, gnr. 41 bnr. 12", "Grensepåvisning gnr 41 bnr 12 - kart")[n]
    message["Date"] = ("Mon, 30 Nov 2026 09:00:00 +0100", "Tue, 01 Dec 2026 10:00:00 +0100")[n]
    message["Message-ID"] = f"<desk-property-{n}@example.no>"
    message.set_content(("Når kan kommunen påvise grensen?", "Her er kartet jeg nevnte.")[n] + "\n\nPer Hansen\n")
    return message.as_bytes()


GAP_TITLE = "Dokumentasjon til søknad om ferdigattest"


def _letter_with_parts_without_copies() -> bytes:
    """A letter whose two attachments no archival copy can be made of: it waits in review with two gaps."""
    message = EmailMessage()
    message["From"] = "Byggmester Olsen <post@olsenbygg.example.no>"
    message["To"] = "postmottak@fjellvik.kommune.no"
    message["Subject"] = GAP_TITLE
    message["Date"] = "Tue, 01 Dec 2026 11:00:00 +0100"
    message["Message-ID"] = "<desk-gaps-1@example.no>"
    message.set_content("Vedlagt er målingene og tegningen.\n\nOlsen\n")
    message.add_attachment(os.urandom(2048), maintype="application", subtype="octet-stream", filename="maalinger.bin")
    message.add_attachment(os.urandom(3000), maintype="application", subtype="octet-stream", filename="tegning.dwg")
    return message.as_bytes()


def _screened_letter() -> bytes:
    message = EmailMessage()
    message["From"] = "Helsesøster Åse Lund <ase.lund@example.no>"
    message["To"] = "postmottak@fjellvik.kommune.no"
    message["Subject"] = SCREENED_TITLE
    message["Date"] = "Tue, 01 Dec 2026 08:12:00 +0100"
    message["Message-ID"] = "<desk-screened-1@example.no>"
    message.set_content("Hei,\n\nJeg sender en bekymringsmelding til barnevernet om Tiril (7 år).\n\nHilsen Åse\n")
    return message.as_bytes()


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    root = tmp_path_factory.mktemp("desk")
    config = api.init(root / "site")
    inbox = root / "site/data/inbox/fjellvik"
    # The quickstart's demo data for Fjellvik (scripts/quickstart.sh): e-mail, e-forms, scanned letters.
    for letter in sorted((REPO / "fixtures/sample-inbox/fjellvik").glob("*.eml")):
        shutil.copy(letter, inbox / letter.name)
    for folder, source, patterns in (("skjema", "sample-eforms", ("*.xml", "*.zip", "*.json", "*.pdf")),
                                     ("skanner", "sample-scans", ("*.pdf", "*.tif", "*.jpg"))):
        (inbox / folder).mkdir()
        for pattern in patterns:
            for delivery in sorted((REPO / "fixtures" / source).glob(pattern)):
                shutil.copy(delivery, inbox / folder / delivery.name)
    (inbox / "zz-bekymring.eml").write_bytes(_screened_letter())
    (inbox / "tom-fil.pdf").write_bytes(b"")
    for n in (0, 1):
        (inbox / f"zz-eiendom-{n}.eml").write_bytes(_property_letter(n))
    (inbox / "zz-vedlegg.eml").write_bytes(_letter_with_parts_without_copies())  # quarantined: nothing to journal
    run = _cli("run", "-q", "-c", str(config))
    assert run.returncode in (0, 10), run.stderr
    env = dict(os.environ, DESK_PASSWORD=PASSWORD)
    for username, (role, cleared) in USERS.items():
        made = _cli("desk", "user", "add", username, "--name", username.title() + " Testesen", "--role", role,
                    "--arkivskaper", "fjellvik", *(["--cleared"] if cleared else []), "--password-env", "DESK_PASSWORD",
                    "-c", str(config), env=env)
        assert made.returncode == 0, made.stderr
    # Single sign-on as a proxy on this host would do it: the header is believed from loopback only.
    with open(config, "a", encoding="utf-8") as handle:
        handle.write('\n[desk]\ntrusted_user_header = "X-Remote-User"\ntrusted_proxies = ["127.0.0.1"]\n')
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "noarkpipe.cli", "desk", "serve", "-c", str(config),
                               "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(base + "/healthz", timeout=2).ok:
                break
        except requests.ConnectionError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise AssertionError(f"the desk did not start: {server.communicate()[1]}")
        time.sleep(0.2)
    yield {"base": base, "config": config, "root": root}
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
    assert server.returncode == 0, server.stderr.read() if server.stderr else ""


def _queue(desk) -> list:
    return api.review_list(desk["config"], "fjellvik")


def _screened(desk):
    return next(item for item in _queue(desk) if item.skjermet)


def _session(desk, username: str) -> tuple[requests.Session, str]:
    """A logged-in HTTP session and its CSRF token."""
    session = requests.Session()
    form = session.get(desk["base"] + "/login")
    token = _csrf(form.text)
    answer = session.post(desk["base"] + "/login",
                          data={"username": username, "password": PASSWORD, "csrf": token, "next": "/"})
    assert answer.ok and "/queue/fjellvik" in answer.url, answer.text[:500]
    return session, _csrf(answer.text)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


# ---------------------------------------------------------------- over HTTP


def test_the_login_page_is_in_bokmal_and_guarded(desk):
    page = requests.get(desk["base"] + "/login")
    assert page.status_code == 200
    assert "Logg inn" in page.text and "Brukernavn" in page.text
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["X-Frame-Options"] == "DENY"
    cookie = page.headers["Set-Cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    # Nothing of the queue without a login.
    queue = requests.get(desk["base"] + "/queue/fjellvik", allow_redirects=False)
    assert queue.status_code == 303 and queue.headers["Location"].startswith("/login")


def test_a_wrong_password_is_refused_and_repeated_tries_are_throttled(desk):
    session = requests.Session()
    token = _csrf(session.get(desk["base"] + "/login").text)
    statuses = []
    for _ in range(6):
        answer = session.post(desk["base"] + "/login",
                              data={"username": "per", "password": "feil passord!", "csrf": token})
        statuses.append(answer.status_code)
    assert statuses[:5] == [401] * 5
    assert statuses[5] == 429
    assert "For mange" in answer.text
    # The throttle is per user name: another user still logs in.
    _session(desk, "kari")


def test_a_change_without_the_csrf_token_is_refused_and_changes_nothing(desk):
    session, token = _session(desk, "kari")
    item = _queue(desk)[0]
    url = f"{desk['base']}/item/fjellvik/{item.journalnummer}/approve"
    for data in ({}, {"csrf": "forged"}, {"csrf": token + "x"}):
        answer = session.post(url, data=data, allow_redirects=False)
        assert answer.status_code == 403, data
        assert "CSRF" in answer.text
    # From another site: the browser would not even send the cookie (SameSite=Strict); without it, no session.
    foreign = requests.post(url, data={"csrf": token}, allow_redirects=False)
    assert foreign.status_code in (303, 403)
    assert api.review_show(desk["config"], item.journalnummer, "fjellvik").journalstatus == item.journalstatus


def test_a_reader_sees_the_queue_but_cannot_decide(desk):
    session, token = _session(desk, "lars")
    item = next(entry for entry in _queue(desk) if not entry.skjermet)
    page = session.get(f"{desk['base']}/item/fjellvik/{item.journalnummer}")
    assert page.status_code == 200
    assert item.tittel in page.text
    assert 'id="approve"' not in page.text and 'id="read-only"' in page.text
    answer = session.post(f"{desk['base']}/item/fjellvik/{item.journalnummer}/approve", data={"csrf": token},
                          allow_redirects=False)
    assert answer.status_code == 403
    assert "leser" in answer.text
    assert api.review_show(desk["config"], item.journalnummer, "fjellvik").journalstatus == item.journalstatus


def test_a_screened_item_is_hidden_from_a_user_not_cleared(desk):
    screened = _screened(desk)
    assert SCREENED_TITLE in screened.tittel
    ola, token = _session(desk, "ola")
    queue = ola.get(desk["base"] + "/queue/fjellvik")
    assert queue.status_code == 200
    assert "Tiril" not in queue.text and "Skjermet journalpost" in queue.text
    item = f"{desk['base']}/item/fjellvik/{screened.journalnummer}"
    for url in (item, item + "/doc/1/page/1.png", item + "/doc/1/original"):
        answer = ola.get(url)
        assert answer.status_code == 403, url
        assert "Tiril" not in answer.text and b"%PDF" not in answer.content
    decided = ola.post(item + "/reject", data={"csrf": token, "reason": "test"}, allow_redirects=False)
    assert decided.status_code == 403
    # A search does not leak the title either.
    searched = ola.get(desk["base"] + "/queue/fjellvik", params={"q": "Tiril"}).text
    assert SCREENED_TITLE not in searched and f'data-number="{screened.journalnummer}"' not in searched
    # The cleared archivist sees it all: the title, the page, the original as a download.
    kari, _ = _session(desk, "kari")
    page = kari.get(item)
    assert page.status_code == 200 and "Tiril" in page.text
    image = kari.get(item + "/doc/1/page/1.png")
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    original = kari.get(item + "/doc/1/original")
    assert original.status_code == 200 and original.headers["Content-Disposition"].startswith("attachment")


def test_an_archivist_corrects_title_parties_and_screening_and_each_change_is_logged(desk):
    session, token = _session(desk, "kari")
    item = next(entry for entry in _queue(desk) if not entry.skjermet and "lysløype" in entry.tittel)
    url = f"{desk['base']}/item/fjellvik/{item.journalnummer}"
    before = api.review_show(desk["config"], item.journalnummer, "fjellvik")
    sender = before.parter[0]
    form = {
        "csrf": token, "tittel": "Søknad om tilskudd til lysløype i Fjellvik", "offentligTittel": "",
        "skjerming": "", "party-0-id": str(sender.id), "party-0-type": "Avsender",
        "party-0-navn": sender.navn, "party-0-epost": "post@fjellvaeringen.no",
        "party-1-id": "", "party-1-type": "Kopimottaker", "party-1-navn": "Fjellvik idrettsråd", "party-1-epost": "",
    }
    answer = session.post(url + "/edit", data=form)
    assert answer.ok and "er rettet" in answer.text
    after = api.review_show(desk["config"], item.journalnummer, "fjellvik")
    assert after.tittel == "Søknad om tilskudd til lysløype i Fjellvik"
    assert after.saksmappe_tittel == after.tittel  # the case made for this letter follows its title
    assert [(p.korrespondanseparttype, p.navn, p.epost) for p in after.parter] == [
        ("Avsender", sender.navn, "post@fjellvaeringen.no"), ("Kopimottaker", "Fjellvik idrettsråd", None)]
    # Screening needs a public title; with one, the item is screened with the rule's hjemmel.
    hjemmel = re.search(r'<option value="(13\|Offl\. § 13 jf\. bvl[^"]*)"', answer.text).group(1)
    refused = session.post(url + "/edit", data={"csrf": token, "tittel": after.tittel, "offentligTittel": "",
                                                "skjerming": hjemmel})
    assert refused.status_code == 409 and "offentligTittel" in refused.text
    screened = session.post(url + "/edit", data={"csrf": token, "tittel": after.tittel, "skjerming": hjemmel,
                                                 "offentligTittel": "Søknad om tilskudd"})
    assert screened.ok
    now = api.review_show(desk["config"], item.journalnummer, "fjellvik")
    assert now.skjermet and now.skjermingshjemmel.startswith("Offl. § 13 jf. bvl.") and now.offentligTittel == "Søknad om tilskudd"
    # Lifting takes a reason, kept in the change log.
    assert session.post(url + "/edit", data={"csrf": token, "tittel": now.tittel, "skjerming": "lift",
                                             "offentligTittel": ""}).status_code == 409
    lifted = session.post(url + "/edit", data={"csrf": token, "tittel": now.tittel, "skjerming": "lift",
                                               "lift_reason": "feil hjemmel", "offentligTittel": ""})
    assert lifted.ok
    final = api.review_show(desk["config"], item.journalnummer, "fjellvik")
    assert not final.skjermet and final.journalstatus == before.journalstatus
    logged = "\n".join(final.endringer)
    assert " kari: tittel " in logged and "opphevet: feil hjemmel" in logged
    assert " kari: skjermingshjemmel " in logged
    # A reader may not correct.
    lars, lars_token = _session(desk, "lars")
    assert lars.post(url + "/edit", data={"csrf": lars_token, "tittel": "x"}).status_code == 403


def test_the_second_letter_about_a_property_is_offered_the_first_letters_case_in_one_click(desk):
    kari, token = _session(desk, "kari")
    letters = [entry for entry in _queue(desk) if "41" in entry.tittel and "12" in entry.tittel]
    assert len(letters) == 2, [entry.tittel for entry in _queue(desk)]
    first, second = letters
    saksnummer = _saksnummer_of(desk, first.journalnummer)
    # "Finn en sak" finds it by its number and by words of its title.
    for query in (saksnummer, "grensepåvisning 41"):
        found = kari.get(f"{desk['base']}/cases/fjellvik", params={"q": query})
        assert found.status_code == 200 and f"<strong>{saksnummer}</strong>" in found.text, query
    assert "<strong>" not in kari.get(f"{desk['base']}/cases/fjellvik", params={"q": "finnesikke"}).text
    page = kari.get(f"{desk['base']}/item/fjellvik/{second.journalnummer}")
    suggestions = re.search(r'id="similar-cases">(.*?)</div>', page.text, re.S)
    assert suggestions and f'value="{saksnummer}"' in suggestions.group(1)
    assert "samme avsender og gnr. 41 bnr. 12" in suggestions.group(1)
    answer = kari.post(f"{desk['base']}/item/fjellvik/{second.journalnummer}/attach",
                       data={"csrf": token, "saksnummer": saksnummer})
    assert answer.ok
    assert _saksnummer_of(desk, second.journalnummer) == saksnummer
    assert api.review_show(desk["config"], second.journalnummer, "fjellvik").journalstatus == "Journalført"


def test_parts_without_archival_copy_are_dropped_or_replaced_from_the_desk(desk, tmp_path):
    from fpdf import FPDF

    kari, token = _session(desk, "kari")
    item = next(entry for entry in _queue(desk) if entry.tittel == GAP_TITLE)
    assert len(item.archival_gaps) == 2
    url = f"{desk['base']}/item/fjellvik/{item.journalnummer}"
    page = kari.get(url)
    assert page.text.count('class="part"') == 2 and 'id="accept-gap"' in page.text
    # Approving as it is needs the box ticked.
    refused = kari.post(url + "/approve", data={"csrf": token})
    assert refused.status_code == 409 and "accept" in refused.text.lower()
    numbers = sorted(int(gap.split(".")[0]) for gap in item.archival_gaps)
    dropped = kari.post(url + "/drop-part", data={"csrf": token, "dokument": numbers[0], "reason": "ulesbar fil"})
    assert dropped.ok and "karantene" in dropped.text
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=14)
    pdf.cell(text="Tegning av garasje, målestokk 1:100")
    replacement = tmp_path / "tegning.pdf"
    replacement.write_bytes(bytes(pdf.output()))
    with replacement.open("rb") as handle:
        replaced = kari.post(url + "/replace-part", data={"csrf": token, "dokument": numbers[1]},
                             files={"file": ("tegning.pdf", handle, "application/pdf")})
    assert replaced.ok, replaced.text[-2000:]
    after = api.review_show(desk["config"], item.journalnummer, "fjellvik")
    assert after.archival_gaps == []
    assert not any(line.startswith(f"{numbers[0]}.") for line in after.dokumenter)
    assert any("tegning.pdf" in line for line in after.dokumenter)
    logged = "\n".join(after.endringer)
    assert " kari: " in logged and "ulesbar fil" in logged
    assert kari.post(url + "/approve", data={"csrf": token}).ok
    assert api.review_show(desk["config"], item.journalnummer, "fjellvik").journalstatus == "Journalført"


def test_no_access_to_another_arkivskaper_or_a_page_that_is_not_there(desk):
    kari, _ = _session(desk, "kari")
    assert kari.get(desk["base"] + "/queue/strandby").status_code == 403
    assert kari.get(desk["base"] + "/item/fjellvik/2026/99999").status_code == 404
    item = _queue(desk)[0]
    assert kari.get(f"{desk['base']}/item/fjellvik/{item.journalnummer}/doc/77/page/1.png").status_code == 404


def test_single_sign_on_through_a_trusted_proxy_header(desk):
    item = next(entry for entry in _queue(desk) if not entry.skjermet)
    proxied = requests.Session()
    proxied.headers["X-Remote-User"] = "Kari"
    queue = proxied.get(desk["base"] + "/queue/fjellvik")
    assert queue.status_code == 200 and "Kari Testesen (kari)" in queue.text
    # Still no change without the session's CSRF token, and the roles are the desk's own.
    url = f"{desk['base']}/item/fjellvik/{item.journalnummer}/approve"
    assert proxied.post(url, data={}, allow_redirects=False).status_code == 403
    reader = requests.Session()
    reader.headers["X-Remote-User"] = "lars"
    token = _csrf(reader.get(f"{desk['base']}/item/fjellvik/{item.journalnummer}").text)
    assert reader.post(url, data={"csrf": token}, allow_redirects=False).status_code == 403
    # A name the desk does not know gets nothing.
    stranger = requests.get(desk["base"] + "/queue/fjellvik", headers={"X-Remote-User": "mallory"}, allow_redirects=False)
    assert stranger.status_code == 303 and stranger.headers["Location"].startswith("/login")
    assert api.review_show(desk["config"], item.journalnummer, "fjellvik").journalstatus == item.journalstatus


def test_runs_quarantine_and_the_public_journal_preview(desk):
    kari, token = _session(desk, "kari")
    runs = kari.get(desk["base"] + "/runs")
    assert runs.status_code == 200 and 'data-run="1"' in runs.text
    report = kari.get(desk["base"] + "/runs/1")
    assert report.status_code == 200 and "tom-fil.pdf" in report.text
    assert "'unsafe-inline'" in report.headers["Content-Security-Policy"]
    # The report names a screened item's files: not for an archivist without clearance.
    ola, _ = _session(desk, "ola")
    assert ola.get(desk["base"] + "/runs/1").status_code == 403
    assert ola.get(desk["base"] + "/quarantine/fjellvik").status_code == 403
    # The quarantine with its reason; a reader may look but not release.
    page = kari.get(desk["base"] + "/quarantine/fjellvik")
    assert page.status_code == 200 and 'data-name="tom-fil.pdf"' in page.text
    lars, lars_token = _session(desk, "lars")
    assert lars.post(desk["base"] + "/quarantine/fjellvik/release", data={"csrf": lars_token, "name": "tom-fil.pdf"},
                     allow_redirects=False).status_code == 403
    assert kari.post(desk["base"] + "/quarantine/fjellvik/release", data={"name": "tom-fil.pdf"},
                     allow_redirects=False).status_code == 403  # no CSRF token
    refused = kari.post(desk["base"] + "/quarantine/fjellvik/release", data={"csrf": token, "name": "../noarkpipe.toml"})
    assert refused.status_code == 409
    released = kari.post(desk["base"] + "/quarantine/fjellvik/release", data={"csrf": token, "name": "tom-fil.pdf"})
    assert released.ok and "tom-fil.pdf" in released.text and 'data-name="tom-fil.pdf"' not in released.text
    assert (desk["root"] / "site/data/inbox/fjellvik/tom-fil.pdf").is_file()
    (desk["root"] / "site/data/inbox/fjellvik/tom-fil.pdf").unlink()
    # The public journal as it will be published: journaled entries, nothing screened.
    journal = kari.get(desk["base"] + "/journal/fjellvik", params={"from": "2026-01-01", "to": "2026-12-31"})
    assert journal.status_code == 200 and "frame-src 'self'" in journal.headers["Content-Security-Policy"]
    preview = ola.get(desk["base"] + "/journal/fjellvik/preview", params={"from": "2026-01-01", "to": "2026-12-31"})
    assert preview.status_code == 200 and preview.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "Tiril" not in preview.text
    public = _journaled_public_titles(desk)
    assert public and all(title in preview.text for title in public)


def _journaled_public_titles(desk) -> list[str]:
    from sqlalchemy import select

    from noarkpipe.services.installation import installation
    from noarkpipe.store import tables

    with installation(desk["config"]) as opened, opened.store.read() as session:
        posts = session.scalars(select(tables.Journalpost).where(tables.Journalpost.journalstatus == "Journalført"))
        return [post.tittel for post in posts if post.tilgangsrestriksjon is None]


def test_a_second_desk_on_a_port_in_use_says_so_and_exits_3(desk):
    port = desk["base"].rsplit(":", 1)[1]
    second = _cli("desk", "serve", "-c", str(desk["config"]), "--port", port)
    assert second.returncode == 3
    assert f"cannot listen on 127.0.0.1 port {port}" in second.stderr and "--port" in second.stderr


def test_english_on_request(desk):
    session, token = _session(desk, "kari")
    answer = session.post(desk["base"] + "/language", data={"csrf": token, "lang": "en", "next": "/queue/fjellvik"})
    assert answer.ok and "Review queue" in answer.text and "Kontrollkø" not in answer.text
    session.post(desk["base"] + "/language", data={"csrf": _csrf(answer.text), "lang": "nb", "next": "/"})


# ---------------------------------------------------------------- in a browser


def _browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        if os.environ.get("NOARKPIPE_REQUIRE_BROWSER"):
            pytest.fail("chromium and chromedriver are required (scripts/test.sh installs them)")
        pytest.skip("chromium and chromium-driver are not installed (scripts/test.sh installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,1000", "--lang=nb-NO", "--disable-background-networking"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(driver), options=options)


@pytest.fixture
def browser():
    driver = _browser()
    try:
        yield driver
    finally:
        driver.quit()


def _login(browser, desk, username: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(desk["base"] + "/login")
    browser.find_element(By.ID, "username").send_keys(username)
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "login").click()
    _wait(browser, lambda: "/queue/fjellvik" in browser.current_url)


def _wait(browser, condition, timeout: float = 30) -> None:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # A page being replaced by the next one leaves elements found a moment ago stale: ask again.
    WebDriverWait(browser, timeout, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(
        lambda _driver: condition()
    )


def _shot(browser, name: str) -> None:
    folder = os.environ.get("NOARKPIPE_DESK_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(Path(folder) / name))


def test_in_the_browser_a_forged_form_is_refused(desk, browser):
    from selenium.webdriver.common.by import By

    item = next(entry for entry in _queue(desk) if not entry.skjermet)
    _login(browser, desk, "kari")
    browser.get(f"{desk['base']}/item/fjellvik/{item.journalnummer}")
    # What a forged request looks like to the desk: the right form, a token the session did not give.
    browser.execute_script("document.querySelector('#approve-form input[name=csrf]').value = 'forged';")
    browser.find_element(By.ID, "approve").click()
    _wait(browser, lambda: browser.find_elements(By.ID, "error"))
    assert "CSRF" in browser.find_element(By.ID, "error").text
    assert api.review_show(desk["config"], item.journalnummer, "fjellvik").journalstatus == item.journalstatus


def test_in_the_browser_a_screened_item_stays_hidden_from_an_uncleared_archivist(desk, browser):
    from selenium.webdriver.common.by import By

    screened = _screened(desk)
    _login(browser, desk, "ola")
    row = browser.find_element(By.CSS_SELECTOR, f'#queue tr[data-number="{screened.journalnummer}"]')
    assert "Skjermet journalpost" in row.text and "Tiril" not in browser.page_source
    row.find_element(By.CSS_SELECTOR, "a.open").click()
    _wait(browser, lambda: browser.find_elements(By.ID, "error"))
    assert "skjermet" in browser.find_element(By.ID, "error").text
    assert "Tiril" not in browser.page_source and not browser.find_elements(By.CSS_SELECTOR, "img.page")


def test_an_archivist_clears_the_queue_in_the_browser(desk, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    waiting = _queue(desk)
    assert len(waiting) >= 4
    _login(browser, desk, "kari")
    rows = browser.find_elements(By.CSS_SELECTOR, "#queue tbody tr")
    assert [row.get_attribute("data-number") for row in rows] == [item.journalnummer for item in waiting]
    assert "Kontrollkø" in browser.page_source
    _shot(browser, "desk-queue.png")

    # The first letter: its pages are shown beside its fields; "a" approves it and the next one opens.
    first, second, third = waiting[0], waiting[1], waiting[2]
    rows[0].find_element(By.CSS_SELECTOR, "a.open").click()
    _wait(browser, lambda: browser.current_url.endswith(first.journalnummer))
    page = browser.find_element(By.CSS_SELECTOR, "img.page")
    _wait(browser, lambda: browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", page))
    assert browser.execute_script("return arguments[0].naturalWidth", page) == 1000
    assert first.tittel in browser.find_element(By.ID, "title").text
    _shot(browser, "desk-item.png")
    browser.find_element(By.TAG_NAME, "body").send_keys("a")
    _wait(browser, lambda: browser.current_url.endswith(second.journalnummer))
    assert "journalført" in browser.find_element(By.ID, "flash").text

    # The second: to another class (it stays in review), then rejected with a reason.
    Select(browser.find_element(By.ID, "klasse-select")).select_by_value("L12")
    browser.find_element(By.ID, "reclassify").click()
    _wait(browser, lambda: browser.find_element(By.ID, "klasse").text == "L12")
    browser.find_element(By.TAG_NAME, "body").send_keys("r")
    reason = browser.switch_to.active_element
    assert reason.get_attribute("id") == "reject-reason"
    reason.send_keys("Reklame" + Keys.ENTER)
    _wait(browser, lambda: browser.current_url.endswith(third.journalnummer))

    # The third: into the first letter's case, by its number.
    saksnummer = _saksnummer_of(desk, first.journalnummer)
    browser.find_element(By.ID, "saksnummer").send_keys(saksnummer)
    browser.find_element(By.ID, "attach-button").click()
    _wait(browser, lambda: not browser.current_url.endswith(third.journalnummer))

    # The rest approved one keystroke each, until the queue is empty.
    while "/item/" in browser.current_url:
        current = browser.current_url
        if browser.find_elements(By.ID, "accept-gap"):
            browser.find_element(By.ID, "accept-gap").click()
        browser.find_element(By.TAG_NAME, "body").send_keys("a")
        _wait(browser, lambda current=current: browser.current_url != current)
    assert browser.find_element(By.ID, "empty").text == "Ingenting venter på kontroll."
    assert _queue(desk) == []

    statuses = {number: api.review_show(desk["config"], number, "fjellvik") for number in
                (first.journalnummer, second.journalnummer, third.journalnummer)}
    assert statuses[first.journalnummer].journalstatus == "Journalført"
    assert statuses[second.journalnummer].journalstatus == "Utgår"
    assert statuses[third.journalnummer].journalstatus == "Journalført"
    assert statuses[third.journalnummer].saksmappe_tittel == statuses[first.journalnummer].saksmappe_tittel
    # Every decision is in the change log under the archivist's user name, as `review --by kari` writes it.
    for detail in statuses.values():
        assert any(" kari: " in change for change in detail.endringer), detail.endringer
    assert any("L12" in change for change in statuses[second.journalnummer].endringer)


def _saksnummer_of(desk, journalnummer: str) -> str:
    from noarkpipe.journal.review import find_journalpost
    from noarkpipe.services.installation import installation

    with installation(desk["config"]) as opened, opened.store.read() as session:
        post = find_journalpost(session, "fjellvik", journalnummer)
        return f"{post.saksmappe.saksaar}/{post.saksmappe.sakssekvensnummer}"


def test_a_reader_in_the_browser_gets_no_decision_buttons(desk, browser):
    from selenium.webdriver.common.by import By

    _login(browser, desk, "lars")
    assert browser.find_elements(By.ID, "approve") == []
    links = browser.find_elements(By.CSS_SELECTOR, "#queue a.open")
    if not links:  # the archivist's test may have cleared the queue already
        return
    links[0].click()
    _wait(browser, lambda: "/item/" in browser.current_url)
    assert browser.find_elements(By.ID, "approve") == []
    assert browser.find_element(By.ID, "read-only")
