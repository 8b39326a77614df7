"""The journals of an exported package as the depot's tool reads them: one journalpost rejected, three files agree.

Arkade 5's N5.59 compares antallJournalposter of offentligJournal.xml and
loependeJournal.xml (and, with a sharp period separation, the journalposter
of arkivstruktur.xml); Noark 5 v5.0 has the extract's public journal list
the running journal's entries with screened information left out. A period
in which one journalpost was rejected (journalstatus Utgår) once gave 8, 8
and 7; the validator's JRN-06 is the same comparison.
"""

from __future__ import annotations

import tarfile
from datetime import UTC, datetime

from lxml import etree
from sqlalchemy import select, update

from helpers.exportfactory import generate
from noarkpipe import api
from noarkpipe.store import tables
from noarkpipe.store.engine import Store
from noarkpipe.validate import ValidateOptions, validate
from noarkpipe.xml import schemas

WHEN = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def _member(tar_path, suffix: str) -> bytes:
    with tarfile.open(tar_path) as tar:
        [member] = [m for m in tar.getmembers() if m.name.endswith(suffix)]
        return tar.extractfile(member).read()


def test_a_period_with_a_rejected_journalpost_exports_journals_that_agree(installation, tmp_path):
    generate(installation.store_url, installation.documents_dir, registrations=8, seed=5)
    store = Store.open(installation.store_url)
    with store.write("test") as session:
        rejected = session.scalar(select(tables.Journalpost.systemID).order_by(tables.Journalpost.id).offset(3))
        session.execute(update(tables.Journalpost).where(tables.Journalpost.systemID == rejected)
                        .values(journalstatus="Utgår"))
    store.dispose()

    result = api.export(installation, tmp_path / "out", kode="fjellvik", timestamp=WHEN)

    structure = etree.fromstring(_member(result.tar, "content/arkivstruktur.xml"), schemas.safe_parser())
    journalposter = [r for r in structure.iter("{*}registrering")
                     if r.get("{http://www.w3.org/2001/XMLSchema-instance}type") == "journalpost"]
    counts = {}
    for name in ("loependeJournal", "offentligJournal"):
        journal = etree.fromstring(_member(result.tar, f"content/{name}.xml"), schemas.safe_parser())
        entries = [e.findtext("{*}journalpost/{*}systemID") for e in journal.iter("{*}journalregistrering")]
        assert journal.findtext("{*}journalhode/{*}antallJournalposter") == str(len(entries))
        counts[name] = entries
    assert len(journalposter) == 8
    assert counts["offentligJournal"] == counts["loependeJournal"]
    assert rejected in counts["offentligJournal"], "a rejected journalpost is still a numbered entry of the journal"

    report = validate(ValidateOptions(path=result.tar, max_identify=1))
    found = report.result("JRN-06")
    assert found.status == "passed", found.examples
    assert found.data == {"arkivstruktur": 8, "loependeJournal": "8", "offentligJournal": "8",
                          "sharp": found.data["sharp"]}
    assert report.result("JRN-07").status == "passed", report.result("JRN-07").examples
    assert report.passed, [(r.id, r.examples[:2]) for r in report.errors]
