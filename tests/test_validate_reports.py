"""Reports an auditor can send: bokmål and English, every finding (CSV), per-arkivdel counts, verdict, --explain.

The extracts come from tests/extractfactory.py; the figures the reports
show are checked against the factory's own counts or an independent lxml
count of the XML, never against numbers written into the test. The
browser test (`test_the_html_report_prints_in_a_real_browser`) renders the
HTML report in headless Chromium, as a depot's reader would print it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import tracemalloc
import unicodedata
from pathlib import Path

import pytest
from lxml import etree
from lxml import html as lxml_html

from helpers import extractfactory as factory
from noarkpipe import api
from noarkpipe.config import load_settings
from noarkpipe.errors import ConfigError
from noarkpipe.validate import CheckDef, Severity, ValidateOptions, validate
from noarkpipe.validate.checks import all_checks
from noarkpipe.validate.findings import FINDINGS_COLUMNS, FINDINGS_TABLE, Findings
from noarkpipe.validate.html import render
from noarkpipe.validate.ledger import Ledger
from noarkpipe.validate.report import CSV_COLUMNS, write_findings_csv
from noarkpipe.validate.texts import choose_lang, localize, texts, verdict_line

REPO = Path(__file__).resolve().parents[1]
TEXTS = REPO / "src" / "noarkpipe" / "validate" / "texts"
VERDICT = re.compile(r"^VERDICT: (PASSED|FAILED) errors=(\d+) warnings=(\d+)$")
N5 = "{http://www.arkivverket.no/standarder/noark5/arkivstruktur}"


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "noarkpipe.cli", "validate", *map(str, args)],
                          check=False, capture_output=True, text=True, timeout=300, env=env)


def _env(**values):
    env = {key: value for key, value in os.environ.items() if key not in ("LANG", "LC_ALL", "LC_MESSAGES")}
    return env | values


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    """A v5.0 extract with many findings of one check (DOC-01: a dozen document files removed) and a few others."""
    spec = factory.ExtractSpec(registrations=30, defects={"empty_folder", "schema_error"})
    extract = factory.build_extract(tmp_path_factory.mktemp("mangler"), spec)
    removed = sorted((extract.content / "dokumenter").iterdir())[:12]
    for path in removed:
        path.unlink()
    return extract, removed


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """A valid extract of two arkivdeler (one classification system shared by both)."""
    spec = factory.ExtractSpec(registrations=40, shared_classification=True)
    return factory.build_extract(tmp_path_factory.mktemp("to-arkivdeler"), spec)


# -- the texts ------------------------------------------------------------------------------

def test_every_check_has_a_norwegian_name_and_description():
    nb = tomllib.loads((TEXTS / "nb.toml").read_text(encoding="utf-8"))["checks"]
    ids = {check.id for check in all_checks()}
    missing = sorted(i for i in ids if not nb.get(i, {}).get("name") or not nb.get(i, {}).get("description"))
    assert not missing, f"add [checks.\"ID\"] name and description to validate/texts/nb.toml for {missing}"
    assert not set(nb) - ids, f"nb.toml has texts for checks that do not exist: {sorted(set(nb) - ids)}"


def test_both_languages_have_the_same_report_strings_with_the_same_placeholders():
    def fields(value):
        forms = value.values() if isinstance(value, dict) else [value]
        return {frozenset(re.findall(r"{(\w+)", form)) for form in forms}

    en = tomllib.loads((TEXTS / "en.toml").read_text(encoding="utf-8"))["report"]
    nb = tomllib.loads((TEXTS / "nb.toml").read_text(encoding="utf-8"))["report"]
    assert set(en) == set(nb)
    for key in en:
        assert fields(en[key]) == fields(nb[key]), key


def test_explanations_fall_back_to_the_english_text_then_the_description():
    unknown = CheckDef(id="ZZ-01", name="Made up", severity=Severity.error, description="Looks at nothing.")
    assert texts("nb").why(unknown) == "Looks at nothing." and texts("nb").causes(unknown) is None
    assert texts("nb").name(unknown) == "Made up"
    for check in all_checks():
        assert texts("en").why(check) and texts("nb").why(check)


@pytest.mark.parametrize(("explicit", "configured", "environ", "expected"), [
    ("en", "nb", {"LANG": "nb_NO.UTF-8"}, "en"),
    (None, "nb", {"LANG": "en_GB.UTF-8"}, "nb"),
    (None, None, {"LANG": "nb_NO.UTF-8"}, "nb"),
    (None, None, {"LANG": "nn_NO.UTF-8"}, "nb"),
    (None, None, {"LANG": "no_NO"}, "nb"),
    (None, None, {"LC_ALL": "C.UTF-8", "LANG": "nb_NO.UTF-8"}, "en"),
    (None, None, {"LC_MESSAGES": "nb_NO.UTF-8", "LANG": "en_US.UTF-8"}, "nb"),
    (None, None, {"LANG": "sv_SE.UTF-8"}, "en"),
    (None, None, {}, "en"),
])
def test_the_language_is_chosen_from_option_config_locale(explicit, configured, environ, expected):
    assert choose_lang(explicit, configured, environ) == expected


def _config(tmp_path, lang_line):
    path = tmp_path / "noarkpipe.toml"
    path.write_text(f"[noarkpipe]\n{lang_line}\n" + """
[[arkivskaper]]
kode = "fjellvik"
navn = "Fjellvik kommune"
[arkivskaper.arkiv]
tittel = "Arkiv"
[arkivskaper.arkivdel]
tittel = "Sakarkiv"
start = 2024-01-01
[arkivskaper.klassifikasjonssystem]
default_klasse = "000"
klasser = [{klasseID = "000", tittel = "Generelt"}]
""", encoding="utf-8")
    return path


def test_the_config_key_sets_the_language_and_is_checked(tmp_path):
    assert load_settings(_config(tmp_path, 'lang = "nb"')).lang == "nb"
    assert load_settings(_config(tmp_path, "")).lang is None
    with pytest.raises(ConfigError, match="lang"):
        load_settings(_config(tmp_path, 'lang = "de"'))


# -- every finding ----------------------------------------------------------------------------

def test_max_examples_caps_the_examples_and_zero_keeps_every_one(faulty):
    extract, removed = faulty
    capped = validate(ValidateOptions(path=extract.content, max_identify=1, max_examples=3)).result("DOC-01")
    every = validate(ValidateOptions(path=extract.content, max_identify=1, max_examples=0)).result("DOC-01")

    assert capped.count == every.count == len(removed)
    assert len(capped.examples) == 3
    assert len(every.examples) == len(removed)
    assert {Path(example.message.split("'")[1]).name for example in every.examples} == {p.name for p in removed}


def test_the_csv_holds_every_finding_grouped_by_file_and_line(faulty, tmp_path):
    extract, removed = faulty
    target = tmp_path / "avvik" / "alle.csv"
    report = validate(ValidateOptions(path=extract.content, max_identify=1, max_examples=2, findings_csv=target))

    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a spreadsheet opened by double-click reads UTF-8
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == sum(result.count for result in report.results)
    by_check = {check.id: check for check in all_checks()}
    for row in rows:
        check = by_check[row["check_id"]]
        assert row["severity"] == check.severity.value and row["arkade"] == " ".join(check.arkade)
    missing = [row for row in rows if row["check_id"] == "DOC-01"]
    assert len(missing) == len(removed) > len(report.result("DOC-01").examples)
    assert {Path(row["message"].split("'")[1]).name for row in missing} == {p.name for p in removed}
    # grouped: each file's rows together, in line order
    files = [row["file"] for row in rows]
    assert files == sorted(files)
    for name in set(files):
        lines = [int(row["line"] or 0) for row in rows if row["file"] == name]
        assert lines == sorted(lines), name
    assert all(row["path"].startswith("/arkiv/") for row in missing)
    assert not list(target.parent.glob(".*.partial"))


def test_findings_go_to_disk_and_the_csv_is_written_as_a_stream(tmp_path):
    ledger = Ledger(tmp_path / "f.sqlite")
    ledger.table(FINDINGS_TABLE, FINDINGS_COLUMNS)
    check = CheckDef(id="DOC-01", name="x", severity=Severity.error, description="x", arkade=("N5.31",))
    findings = Findings(check, max_examples=3, sink=ledger)
    for number in range(20_000):
        findings.add(f"finding {number}", file="arkivstruktur.xml", line=20_000 - number, path="/arkiv")
    ledger.flush()
    assert len(findings.examples) == 3 and findings.count == 20_000
    assert ledger.scalar(f"SELECT count(*) FROM {FINDINGS_TABLE}") == 20_000

    rows = (("DOC-01", ("N5.31",), "error", "arkivstruktur.xml", number, "/arkiv", "x" * 80)
            for number in range(200_000))
    tracemalloc.start()
    written = write_findings_csv(rows, tmp_path / "alle.csv")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert written == 200_000
    assert peak < 2_000_000, f"{peak} bytes: the rows were held in memory"
    assert (tmp_path / "alle.csv").stat().st_size > 200_000 * 80


# -- verdict, languages, per arkivdel ---------------------------------------------------------

def test_the_verdict_line_is_last_and_the_same_in_both_languages(faulty, tmp_path):
    extract, _ = faulty
    outputs = {lang: _cli(extract.content, "--lang", lang, "--max-identify", "1", "--json", tmp_path / f"{lang}.json")
               for lang in ("nb", "en")}
    for lang, done in outputs.items():
        assert done.returncode == 12, done.stderr
        report = json.loads((tmp_path / f"{lang}.json").read_text(encoding="utf-8"))
        errors = sum(1 for r in report["results"] if r["status"] == "failed" and r["severity"] == "error")
        warnings = sum(1 for r in report["results"] if r["status"] == "failed" and r["severity"] == "warning")
        assert done.stdout.splitlines()[-1] == f"VERDICT: FAILED errors={errors} warnings={warnings}"
    assert outputs["nb"].stdout.splitlines()[-1] == outputs["en"].stdout.splitlines()[-1]
    assert "kontroller fant feil" in outputs["nb"].stdout and "Tomme mapper" in outputs["nb"].stdout
    assert "checks failed with errors" in outputs["en"].stdout and "Empty folders" in outputs["en"].stdout


def test_a_passing_extract_says_passed(shared):
    done = _cli(shared.content, "--max-identify", "1", env=_env(LANG="nb_NO.UTF-8"))
    assert done.returncode == 0, done.stdout
    assert VERDICT.match(done.stdout.splitlines()[-1]).group(1, 2) == ("PASSED", "0")
    assert "Ingen feil" in done.stdout  # the locale chose bokmål


def test_the_language_comes_from_the_config_unless_given(faulty, tmp_path):
    extract, _ = faulty
    config = _config(tmp_path, 'lang = "nb"')
    by_config = _cli(extract.content, "--config", config, "--max-identify", "1", env=_env(LANG="en_GB.UTF-8"))
    overridden = _cli(extract.content, "--config", config, "--lang", "en", "--max-identify", "1")
    assert "Refererte filer finnes" in by_config.stdout
    assert "Referenced files present" in overridden.stdout


def test_the_norwegian_json_keeps_the_machine_tokens(faulty, tmp_path):
    extract, _ = faulty
    report = api.validate(extract.content, lang="nb", max_identify=1, json_path=tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    result = {r["id"]: r for r in data["results"]}
    assert data["lang"] == "nb"
    assert result["DOC-01"]["name"] == "Refererte filer finnes" and result["DOC-01"]["status"] == "failed"
    assert result["DOC-01"]["severity"] == "error"
    assert result["DOC-02"]["summary"] != "no findings" or result["DOC-02"]["status"] != "passed"
    assert verdict_line(report).startswith("VERDICT: FAILED")


def _independent_counts(structure: Path) -> list[dict[str, int]]:
    """Per arkivdel, from the whole tree (the test extract is small): the oracle for the streamed tally."""
    tree = etree.parse(str(structure))
    found = []
    for arkivdel in tree.iter(f"{N5}arkivdel"):
        found.append({
            "systemID": arkivdel.findtext(f"{N5}systemID"),
            "mapper": sum(1 for _ in arkivdel.iter(f"{N5}mappe")),
            "registreringer": sum(1 for _ in arkivdel.iter(f"{N5}registrering")),
            "dokumentbeskrivelser": sum(1 for _ in arkivdel.iter(f"{N5}dokumentbeskrivelse")),
            "dokumentobjekter": sum(1 for _ in arkivdel.iter(f"{N5}dokumentobjekt")),
        })
    return found


def test_counts_per_arkivdel(shared):
    report = validate(ValidateOptions(path=shared.content, max_identify=1))

    expected = _independent_counts(shared.content / "arkivstruktur.xml")
    assert len(expected) == 2 and all(part["mapper"] for part in expected)
    assert [a.model_dump(include=set(expected[0])) for a in report.arkivdeler] == expected
    assert sum(a.registreringer for a in report.arkivdeler) == shared.counts["registrering"]
    assert [a.tittel for a in report.arkivdeler] == [f"Sakarkiv 2019–2022, del {n}" for n in (1, 2)]
    assert all(a.arkivperiodeStartDato and a.arkivdelstatus for a in report.arkivdeler)

    page = lxml_html.fromstring(render(localize(report, "nb")).encode("utf-8"))
    table = page.xpath("//h2[.='Per arkivdel']/following-sibling::table[1]")[0]
    cells = [[cell.text_content() for cell in row.xpath("td")] for row in table.xpath("tbody/tr")]
    assert cells[-1][0] == "Sum" and cells[-1][4] == str(shared.counts["registrering"])
    assert table.xpath("tbody/tr/td[1]/span[contains(@class, 'systemid')]/text()") == [
        f"systemID {part['systemID']}" for part in expected]


# -- the HTML report --------------------------------------------------------------------------

def test_the_html_report_in_norwegian_with_arkade_ids_and_no_external_reference(faulty, tmp_path):
    extract, _ = faulty
    report = api.validate(extract.content, lang="nb", max_identify=0, html_path=tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    tree = lxml_html.fromstring(page.encode("utf-8"))

    assert tree.get("lang") == "nb"
    body_text = tree.text_content()
    assert body_text.index(verdict_line(report)) < body_text.index("Oversikt")  # the verdict first
    assert "Valideringsrapport" in body_text and "ikke bestått" in body_text and "Registreringer per år" in body_text
    rows = {row.xpath("td[1]")[0].text_content(): row for row in
            tree.xpath("//h2[.='Kontroller']/following-sibling::table[1]/tbody/tr")}
    assert set(rows) == {check.id for check in all_checks()}
    for check in all_checks():
        assert rows[check.id].xpath("td[2]")[0].text_content() == ", ".join(check.arkade)
    # self-contained: nothing to fetch, nothing to run, no URL at all
    assert not tree.xpath("//script | //img | //link | //iframe | //object | //embed | //@*[starts-with(name(), 'on')]")
    assert all(value.startswith("#") for value in tree.xpath("//@src | //@href"))
    assert not re.search(r"https?://|url\(|@import", page)
    assert "@media print" in page and "@page" in page


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _browser(tmp_path: Path, *args: str) -> None:
    profile = tmp_path / "profil"
    done = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}", *args],
        check=False, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed (scripts/test.sh installs it)")
def test_the_html_report_prints_in_a_real_browser(faulty, tmp_path):
    from PIL import Image
    from pypdf import PdfReader

    extract, _ = faulty
    page = tmp_path / "rapport.html"
    report = api.validate(extract.content, lang="nb", max_identify=0, html_path=page)
    pdf, shot = tmp_path / "rapport.pdf", tmp_path / "rapport.png"
    _browser(tmp_path, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri())
    _browser(tmp_path, "--window-size=1200,1600", "--hide-scrollbars", f"--screenshot={shot}", page.as_uri())

    reader = PdfReader(pdf)
    # NFKC: a PDF may still hold "fi" as one ligature glyph
    flat = unicodedata.normalize("NFKC", re.sub(r"\s+", " ", " ".join(p.extract_text() for p in reader.pages)))
    assert verdict_line(report) in flat
    assert "Registreringer per år" in flat and "Filformater" in flat
    assert "Per arkivdel" in flat and "Refererte filer finnes" in flat
    assert len(reader.pages) >= 2  # the findings start on a page of their own
    first_page = re.sub(r"\s+", " ", reader.pages[0].extract_text())
    assert verdict_line(report) in first_page
    width = float(reader.pages[0].mediabox.width)
    assert abs(width - 595) < 3  # A4 portrait, as @page asks

    image = Image.open(shot).convert("RGB")
    assert image.size == (1200, 1600)
    colours = image.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 50, "the screenshot is blank"
    # the verdict box is drawn in its failure colour near the top
    top = image.crop((0, 0, 1200, 300)).getcolors(maxcolors=1 << 20) or []
    assert any(r > 240 and 220 < g < 240 and 220 < b < 240 for _, (r, g, b) in top)


# -- --explain ---------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["nb", "en"])
def test_explain_every_check(lang):
    words = texts(lang)
    for check in all_checks():
        text = api.explain_check(check.id.lower(), lang=lang)
        assert text.startswith(f"{check.id}  {words.name(check)}")
        assert words.description(check) in text and words.why(check) in text
        assert words.severity(check.severity.value) in text
        for arkade in check.arkade:
            assert arkade in text


def test_explain_on_the_command_line_and_an_unknown_id():
    known = _cli("--explain", "DOC-05", "--lang", "nb")
    assert known.returncode == 0
    assert "Vanlige årsaker" in known.stdout and "MD5" in known.stdout

    unknown = _cli("--explain", "DOC-99", "--lang", "en")
    assert unknown.returncode == 2
    assert "unknown check id 'DOC-99'" in unknown.stderr
    assert all(check.id in unknown.stderr for check in all_checks())

    nothing = _cli()
    assert nothing.returncode == 2 and "PATH" in nothing.stderr


def test_the_readme_documents_the_report_options_and_the_verdict_line():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Validating a deposit package"):readme.index("### Performance: validation")]
    for option in ("--lang", "--csv", "--max-examples", "--explain", "--config"):
        assert option in section, option
    documented = re.findall(r"VERDICT: (?:PASSED|FAILED) errors=\d+ warnings=\d+", section)
    assert documented and all(VERDICT.match(line) for line in documented)
    assert ", ".join(CSV_COLUMNS) in section
