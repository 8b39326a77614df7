"""`noarkpipe journal publish` as an archivist runs it after the morning's review."""

from __future__ import annotations

import subprocess
import sys

from lxml import etree

from helpers.inbox import drop, make_eml, oslo_today
from noarkpipe import api
from noarkpipe.xml import schemas
from test_journal_screening import _fnr


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "noarkpipe.cli", *map(str, args)], capture_output=True, text=True, timeout=60)


def test_publish_writes_valid_xml_and_html_without_screened_data_or_the_review_queue(installation, tmp_path):
    fnr = _fnr("290296", "512")  # a leap day
    drop(installation, "fjellvik", "1.eml", make_eml(subject=f"Søknad om startlån, fnr. {fnr[:6]}.{fnr[6:]}",
                                                     sender="Åse Ødegård <ase@example.no>"))
    drop(installation, "fjellvik", "2.eml", make_eml(subject="Søknad om dispensasjon for garasje, gnr. 4 bnr. 12",
                                                     sender="Per Hansen <per@example.no>"))
    drop(installation, "fjellvik", "3.eml", make_eml(subject="Takk for hyggelig møte"))
    items = {i.origin_name: i for i in api.run(installation).items}
    api.review_decide(installation, "approve", items["1.eml"].journalpost, kode="fjellvik", by="kari")
    # 3.eml stays in the review queue: it must not be published.
    today = oslo_today().isoformat()
    done = _cli("journal", "publish", "-c", installation.config_path, "-a", "fjellvik",
                "--from", "2026-01-01", "--to", today, "--out", tmp_path / "postliste")
    assert done.returncode == 0, done.stderr
    assert "2 journalposter, 1 skjermet" in done.stdout
    [xml] = (tmp_path / "postliste").glob("*.xml")
    [html] = (tmp_path / "postliste").glob("*.html")
    document = etree.parse(str(xml), schemas.safe_parser())
    assert schemas.validation_problems(document, "noark5/v5.0/offentligJournal.xsd") == []
    for output in (xml.read_text("utf-8"), html.read_text("utf-8")):
        flat = "".join(output.split()).replace(".", "")
        assert fnr not in flat and fnr[:6] not in output
        assert "Søknad om dispensasjon for garasje" in output and "Per Hansen" in output
        assert "Takk for hyggelig møte" not in output
    bad = _cli("journal", "publish", "-c", installation.config_path, "-a", "fjellvik",
               "--from", "2026-12-01", "--to", "2026-11-01", "--out", tmp_path / "x")
    assert bad.returncode == 3 and "before" in bad.stderr
