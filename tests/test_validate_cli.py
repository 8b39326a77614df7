"""`noarkpipe validate` end to end as an auditor runs it: exit codes, console, JSON, HTML, README, samples."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import html as lxml_html

from helpers import extractfactory as factory
from noarkpipe.validate import ValidateOptions, validate
from noarkpipe.validate.checks import all_checks, checks_table

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "fixtures" / "sample-extracts"


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "noarkpipe.cli", "validate", *map(str, args)],
                          check=False, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    spec = factory.ExtractSpec(registrations=20, defects={"missing_document", "empty_folder", "schema_error"})
    return factory.build_dias_package(tmp_path_factory.mktemp("brutt"), spec)


def test_a_clean_package_exits_0_and_writes_both_reports(tmp_path):
    built = factory.build_dias_package(tmp_path / "ok", factory.ExtractSpec(registrations=16))
    done = _cli(built.tar, "--json", tmp_path / "r.json", "--html", tmp_path / "r.html", "--no-progress")

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "VERDICT: PASSED errors=0 warnings=0"
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert report["package_uuid"] == built.package_uuid
    assert {r["id"] for r in report["results"]} == {c.id for c in all_checks()}
    assert (tmp_path / "r.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert not list(tmp_path.glob(".*.partial"))


def test_errors_exit_12_and_the_console_names_them(broken, tmp_path):
    done = _cli(broken.tar, "--no-progress")

    assert done.returncode == 12
    assert "DOC-01" in done.stdout and "STR-03" in done.stdout and "HIER-03" in done.stdout
    assert broken.extract.marks["missing_document"]["file"] in done.stdout
    # rich must not eat "[facet ...]" or other brackets from messages as markup
    assert "atomic type" in done.stdout
    assert done.stdout.splitlines()[-1].startswith("VERDICT: FAILED errors=")


def test_json_to_standard_output(broken):
    done = _cli(broken.tar, "--json", "-")

    assert done.returncode == 12
    report = json.loads(done.stdout)
    result = {r["id"]: r for r in report["results"]}
    assert result["DOC-01"]["status"] == "failed" and result["DOC-01"]["count"] == 1
    assert result["HIER-03"]["severity"] == "warning"
    assert result["CNT-04"]["data"]["registrering"] == broken.extract.counts["registrering"]


def test_unusable_input_exits_4_with_a_hint(tmp_path):
    missing = _cli(tmp_path / "finnes-ikke.tar")
    assert missing.returncode == 4 and "no such file or folder" in missing.stderr
    (tmp_path / "tull.tar").write_bytes(b"dette er ikke en tar\n" * 50)
    garbage = _cli(tmp_path / "tull.tar")
    assert garbage.returncode == 4 and "not a readable tar" in garbage.stderr


def test_the_html_report_is_self_contained_escaped_and_shows_the_findings(tmp_path):
    spec = factory.ExtractSpec(registrations=20, defects={"empty_folder", "unaccepted_format"})
    extract = factory.build_extract(tmp_path / "u", spec)
    structure = extract.content / "arkivstruktur.xml"
    hostile_title = "<script>alert('x')</script> & <img src=http://example.com/x.png>"
    structure.write_text(structure.read_text(encoding="utf-8").replace(
        "Anskaffelse av sak- og arkivsystem", hostile_title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"), 1),
        encoding="utf-8")
    out = tmp_path / "rapport.html"
    done = _cli(extract.content, "--html", out, "--max-identify", "0")
    page = out.read_text(encoding="utf-8")

    assert done.returncode == 12
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;" in page
    tree = lxml_html.fromstring(page.encode("utf-8"))
    assert not tree.xpath("//script | //img | //link | //iframe | //object")
    assert all(value.startswith("#") for value in tree.xpath("//@src | //@href"))  # nothing fetched from anywhere
    assert tree.xpath("//h3[@id='HIER-03']") and tree.xpath("//h3[@id='FMT-02']")
    assert len(tree.xpath("//svg")) == 2  # registrations per year, formats
    years = set(tree.xpath("//svg[1]//text/text()"))
    assert {str(year) for year in extract.per_year} <= years
    assert "fmt/17" in page


def test_the_readme_lists_every_check_as_the_code_defines_it():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert checks_table() in readme, "README check table out of date: paste validate.checks.checks_table()"


def test_the_readme_documents_the_exit_codes_of_validate():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert re.search(r"^\| 12 \| validation_errors \|", readme, re.MULTILINE)


def test_the_sample_extract_folder_passes():
    report = validate(ValidateOptions(path=SAMPLES / "fjellvik-sakarkiv-v5.0", max_identify=0))
    assert report.passed and not report.warnings, [r.examples[:2] for r in report.errors + report.warnings]
    assert report.version.noark == "v5.0"


def test_the_sample_dias_package_passes_with_its_submission_description():
    tars = list((SAMPLES / "dias").glob("*.tar"))
    assert len(tars) == 1
    report = validate(ValidateOptions(path=tars[0], max_identify=0))
    assert report.passed and not report.warnings, [r.examples[:2] for r in report.errors + report.warnings]
    assert report.result("PKG-04").status == "passed"
    assert report.submission_description == str(tars[0].with_suffix(".xml"))
