"""`noarkpipe export` after a real night: the sample inbox through `noarkpipe run`, the period closed, the package checked.

Everything a depot would check is recomputed here from the delivered files
alone: the tar layout against docs/package-anatomy.md, every XML file against
its official schema, the XSDs byte for byte, the checksums and counts in
arkivuttrekk.xml and dias-mets.xml, the tar's SHA-256 in the submission
description, every referanseDokumentfil, screening in offentligJournal.xml,
and that a second export is byte-identical.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tarfile
from collections import Counter
from datetime import datetime

import pytest
from lxml import etree

from helpers.inbox import SAMPLE_INBOX, drop, make_eml, oslo_today
from noarkpipe import api
from noarkpipe.config import load_settings
from noarkpipe.xml import schemas
from test_journal_screening import _fnr

TIMESTAMP = "2027-01-05T10:00:00+00:00"
EPOCH = int(datetime.fromisoformat(TIMESTAMP).timestamp())
FNR = _fnr("290296", "512")
SECRET_NAME = "Sølvi Hemmelig-Ødegård"
NS = {
    "a": "http://www.arkivverket.no/standarder/noark5/arkivstruktur",
    "addml": "http://www.arkivverket.no/standarder/addml",
    "dias": "http://arkivverket.no/standarder/METS",
    "mets": "http://www.loc.gov/METS/",
    "xlink": "http://www.w3.org/1999/xlink",
}
CONTENT_SCHEMAS = {
    "arkivstruktur.xml": "noark5/v5.0/arkivstruktur.xsd",
    "endringslogg.xml": "noark5/v5.0/endringslogg.xsd",
    "loependeJournal.xml": "noark5/v5.0/loependeJournal.xsd",
    "offentligJournal.xml": "noark5/v5.0/offentligJournal.xsd",
    "arkivuttrekk.xml": "addml/addml-8.3.xsd",
}
SHIPPED_XSDS = {
    "content/arkivstruktur.xsd": "noark5/v5.0/arkivstruktur.xsd",
    "content/metadatakatalog.xsd": "noark5/v5.0/metadatakatalog.xsd",
    "content/endringslogg.xsd": "noark5/v5.0/endringslogg.xsd",
    "content/loependeJournal.xsd": "noark5/v5.0/loependeJournal.xsd",
    "content/offentligJournal.xsd": "noark5/v5.0/offentligJournal.xsd",
    "content/addml.xsd": "addml/addml-8.3.xsd",
    "administrative_metadata/addml.xsd": "addml/addml-8.3.xsd",
    "administrative_metadata/dias-premis.xsd": "dias/dias-premis.xsd",
    "dias-mets.xsd": "dias/dias-mets.xsd",
}


def _cli(*args, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "noarkpipe.cli", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, check=False,
    )


@pytest.fixture(scope="module")
def delivered(tmp_path_factory):
    """A night of mail journaled by `noarkpipe run`, reviewed, the period closed and exported twice."""
    root = tmp_path_factory.mktemp("export")
    settings = load_settings(api.init(root / "site"))
    # The night's mail of one municipality (the other's would only cost time: it is not exported).
    for eml in sorted((SAMPLE_INBOX / "fjellvik").glob("*.eml")):
        shutil.copy2(eml, settings.creator("fjellvik").inbox / eml.name)
    drop(settings, "fjellvik", "90-startlaan.eml", make_eml(
        subject=f"Søknad om startlån, fnr. {FNR[:6]} {FNR[6:]}", sender=f"{SECRET_NAME} <solvi@example.no>",
    ))
    config = settings.config_path
    run = _cli("run", "-c", config, "--quiet")
    assert run.returncode in (0, 10), run.stderr
    # The morning's review: everything waiting is approved, so every case can be closed.
    for item in api.review_list(settings, "fjellvik"):
        api.review_decide(settings, "approve", item.journalnummer, kode="fjellvik", by="kari")
    closing = _cli("period", "close-cases", "--all", "-c", config, "-a", "fjellvik", "--by", "kari")
    assert closing.returncode == 0, closing.stderr
    ended = _cli("period", "close", "-c", config, "-a", "fjellvik", "--end", oslo_today().isoformat(), "--by", "kari")
    assert ended.returncode == 0, ended.stderr
    first = _cli("export", "-c", config, "-a", "fjellvik", "--out", root / "out", "--timestamp", TIMESTAMP,
                 "--info-xml", "--json")
    assert first.returncode == 0, first.stderr
    second = _cli("export", "-c", config, "-a", "fjellvik", "--out", root / "again", "--timestamp", TIMESTAMP, "-q")
    assert second.returncode == 0, second.stderr
    [tar_path] = (root / "out").glob("*.tar")
    return {"root": root, "settings": settings, "tar": tar_path, "out": root / "out", "again": root / "again",
            "result": first.stdout}


@pytest.fixture(scope="module")
def members(delivered):
    with tarfile.open(delivered["tar"]) as tar:
        return {m.name: (m, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()}


def _uuid(delivered) -> str:
    return delivered["tar"].stem


def _file(members, uuid: str, path: str) -> bytes:
    return members[f"{uuid}/{path}"][1]


def _parse(data: bytes) -> etree._Element:
    return etree.fromstring(data, schemas.safe_parser())


def test_the_tar_has_exactly_the_layout_of_the_package_anatomy(delivered, members):
    uuid = _uuid(delivered)
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", uuid)
    assert (delivered["out"] / f"{uuid}.xml").is_file() and (delivered["out"] / "info.xml").is_file()
    assert sorted(p.name for p in delivered["out"].iterdir()) == sorted([f"{uuid}.tar", f"{uuid}.xml", "info.xml"])
    names = set(members)
    assert all(name == uuid or name.startswith(f"{uuid}/") for name in names), "one top folder named by the UUID"
    files = {name.removeprefix(f"{uuid}/") for name, (m, _) in members.items() if m.isfile()}
    folders = {"" if name == uuid else name.removeprefix(f"{uuid}/") for name, (m, _) in members.items() if m.isdir()}
    expected = {
        "dias-mets.xml", "dias-mets.xsd", "log.xml",
        "administrative_metadata/addml.xml", "administrative_metadata/addml.xsd",
        "administrative_metadata/dias-premis.xml", "administrative_metadata/dias-premis.xsd",
        "administrative_metadata/documentfile-formatinfo.csv",
        "content/arkivstruktur.xml", "content/arkivstruktur.xsd", "content/metadatakatalog.xsd",
        "content/arkivuttrekk.xml", "content/addml.xsd", "content/endringslogg.xml", "content/endringslogg.xsd",
        "content/loependeJournal.xml", "content/loependeJournal.xsd", "content/offentligJournal.xml",
        "content/offentligJournal.xsd",
    }
    documents = {f for f in files if f.startswith("content/dokumenter/")}
    assert files - documents == expected
    assert documents and all(re.fullmatch(r"content/dokumenter/\d{4}/\d{4}-\d{6}-\d{2}-v\d+-[PAS]\.[a-z0-9]+", d)
                             for d in documents)
    assert {"", "administrative_metadata", "descriptive_metadata", "content", "content/dokumenter"} <= folders
    assert all(m.uid == 0 and m.gid == 0 and m.uname == "" and m.mtime == EPOCH for m, _ in members.values())
    # A folder comes before everything in it, so a streaming reader can unpack in order.
    order = [m.name for m, _ in members.values()]
    for name in order:
        parent = name.rsplit("/", 1)[0]
        if parent != name and parent in members:
            assert order.index(parent) < order.index(name)


def test_every_xml_file_validates_against_its_official_schema(delivered, members):
    uuid = _uuid(delivered)
    for name, schema in CONTENT_SCHEMAS.items():
        assert schemas.validation_problems(_parse(_file(members, uuid, f"content/{name}")), schema) == [], name
    checks = {
        "dias-mets.xml": "dias/dias-mets.xsd",
        "log.xml": "dias/dias-premis.xsd",
        "administrative_metadata/dias-premis.xml": "dias/dias-premis.xsd",
        "administrative_metadata/addml.xml": "addml/addml-8.3.xsd",
    }
    for name, schema in checks.items():
        assert schemas.validation_problems(_parse(_file(members, uuid, name)), schema) == [], name
    description = _parse((delivered["out"] / f"{uuid}.xml").read_bytes())
    assert schemas.validation_problems(description, "dias/submissionDescription.xsd") == []
    info = _parse((delivered["out"] / "info.xml").read_bytes())
    assert schemas.validation_problems(info, "dias/info.xsd") == []
    # The shipped XSDs are the official ones, byte for byte.
    for name, schema in SHIPPED_XSDS.items():
        assert _file(members, uuid, name) == schemas.schema_path(schema).read_bytes(), name


def test_the_noark_files_are_valid_against_the_2019_revision_of_v5_0_too(delivered, members):
    # A depot's tool may embed either v5.0 revision: what we write must pass both.
    uuid = _uuid(delivered)
    for name, schema in CONTENT_SCHEMAS.items():
        if schema.startswith("noark5/v5.0/"):
            earlier = schema.replace("noark5/v5.0/", "noark5/v5.0-2019/")
            assert schemas.validation_problems(_parse(_file(members, uuid, f"content/{name}")), earlier) == [], name


def test_addml_checksums_and_counts_match_the_files(delivered, members):
    uuid = _uuid(delivered)
    addml = _parse(_file(members, uuid, "content/arkivuttrekk.xml"))
    assert _file(members, uuid, "administrative_metadata/addml.xml") == _file(members, uuid, "content/arkivuttrekk.xml")
    objects = addml.findall(".//addml:dataObject/addml:dataObjects/addml:dataObject", NS)
    assert sorted(o.get("name") for o in objects) == ["arkivstruktur", "endringslogg", "loependeJournal", "offentligJournal"]

    def prop(parent, name):
        return parent.find(f"addml:properties/addml:property[@name='{name}']", NS)

    for obj in objects:
        file_prop = prop(obj, "file")
        name = prop(file_prop, "name").findtext("addml:value", namespaces=NS)
        data = _file(members, uuid, f"content/{name}")
        digest = hashlib.sha256(data).hexdigest()
        checksum = prop(file_prop, "checksum")
        assert prop(checksum, "algorithm").findtext("addml:value", namespaces=NS) == "SHA-256"
        assert prop(checksum, "value").findtext("addml:value", namespaces=NS) == digest
        assert prop(file_prop, "checksumValue").findtext("addml:value", namespaces=NS) == digest
        for schema in obj.findall("addml:properties/addml:property[@name='schema']", NS):
            schema_file = prop(schema, "file")
            xsd_name = prop(schema_file, "name").findtext("addml:value", namespaces=NS)
            xsd_digest = hashlib.sha256(_file(members, uuid, f"content/{xsd_name}")).hexdigest()
            assert prop(prop(schema_file, "checksum"), "value").findtext("addml:value", namespaces=NS) == xsd_digest
        counted = Counter(etree.QName(e).localname for e in _parse(data).iter())
        occurrences = obj.findall("addml:properties/addml:property[@name='info']/addml:properties/"
                                  "addml:property[@name='numberOfOccurrences']", NS)
        assert occurrences
        for occurrence in occurrences:
            element = occurrence.findtext("addml:value", namespaces=NS)
            value = int(prop(occurrence, "value").findtext("addml:value", namespaces=NS))
            assert value == counted[element], (name, element)
    documents = [n for n, (m, _) in members.items() if m.isfile() and "/content/dokumenter/" in n]
    files = addml.find(".//addml:property[@name='antallDokumentfiler']", NS).findtext("addml:value", namespaces=NS)
    assert int(files) == len(documents)


def test_dias_mets_lists_every_file_with_its_size_and_checksum(delivered, members):
    uuid = _uuid(delivered)
    mets = _parse(_file(members, uuid, "dias-mets.xml"))
    assert mets.get("OBJID") == f"UUID:{uuid}" and mets.get("TYPE") == "SIP"
    assert re.fullmatch(r"noarkpipe \(20\d\d - 20\d\d\)", mets.get("LABEL"))
    listed = {}
    for entry in mets.iterfind(".//dias:file", NS):
        href = entry.find("dias:FLocat", NS).get(f"{{{NS['xlink']}}}href")
        assert href.startswith("file:")
        assert href not in listed
        listed[href.removeprefix("file:")] = (int(entry.get("SIZE")), entry.get("CHECKSUM"), entry.get("CHECKSUMTYPE"))
    actual = {
        name.removeprefix(f"{uuid}/"): (len(data), hashlib.sha256(data).hexdigest(), "SHA-256")
        for name, (m, data) in members.items()
        if m.isfile() and name != f"{uuid}/dias-mets.xml"
    }
    assert listed == actual
    roles = {(a.get("ROLE"), a.get("OTHERROLE"), a.get("TYPE")) for a in mets.iterfind(".//dias:agent", NS)}
    assert ("PRESERVATION", None, "ORGANIZATION") in roles and ("OTHER", "SUBMITTER", "INDIVIDUAL") in roles
    alt = {a.get("TYPE"): a.text for a in mets.iterfind(".//dias:altRecordID", NS)}
    assert alt["SUBMISSIONAGREEMENT"] == "Avtale om deponering 2024/17"
    assert {"STARTDATE", "ENDDATE", "DELIVERYSPECIFICATION"} <= set(alt)
    depot = [a.findtext("dias:name", namespaces=NS) for a in mets.iterfind(".//dias:agent[@ROLE='PRESERVATION']", NS)]
    assert depot == ["IKA Eksempel IKS"]


def test_the_submission_description_holds_the_sha256_of_the_tar(delivered):
    uuid = _uuid(delivered)
    tar_bytes = delivered["tar"].read_bytes()
    description = _parse((delivered["out"] / f"{uuid}.xml").read_bytes())
    [entry] = [f for f in description.iterfind(".//mets:file", NS)
               if f.find("mets:FLocat", NS).get(f"{{{NS['xlink']}}}href") == f"file:{uuid}.tar"]
    assert entry.get("CHECKSUM") == hashlib.sha256(tar_bytes).hexdigest()
    assert entry.get("CHECKSUMTYPE") == "SHA-256" and int(entry.get("SIZE")) == len(tar_bytes)
    assert description.get("OBJID") == f"UUID:{uuid}"
    info = _parse((delivered["out"] / "info.xml").read_bytes())
    assert info.get("pakkeID") == uuid
    assert info.findtext(".//{www.arkivverket.no/standarder/info}sjekksum") == hashlib.sha256(tar_bytes).hexdigest()


def test_every_referenced_document_is_in_the_tar_with_its_checksum(delivered, members):
    uuid = _uuid(delivered)
    structure = _parse(_file(members, uuid, "content/arkivstruktur.xml"))
    objects = structure.findall(".//a:dokumentobjekt", NS)
    assert objects
    referenced = set()
    for obj in objects:
        path = obj.findtext("a:referanseDokumentfil", namespaces=NS)
        data = _file(members, uuid, f"content/{path}")
        assert hashlib.sha256(data).hexdigest() == obj.findtext("a:sjekksum", namespaces=NS)
        assert len(data) == int(obj.findtext("a:filstoerrelse", namespaces=NS))
        referenced.add(path)
    in_tar = {n.removeprefix(f"{uuid}/content/") for n, (m, _) in members.items() if m.isfile() and "/dokumenter/" in n}
    assert referenced == in_tar, "no unreferenced and no missing document files"
    # The archival copies are delivered; the production originals they were made from are not.
    variants = Counter(o.findtext("a:variantformat", namespaces=NS) for o in objects)
    assert variants["Arkivformat"] >= 1
    conversions = structure.findall(".//a:dokumentobjekt/a:konvertering", NS)
    assert conversions, "how each archival copy was made goes with it"
    for conversion in conversions:
        obj = conversion.getparent()
        assert obj.findtext("a:variantformat", namespaces=NS) == "Arkivformat"
        assert conversion.findtext("a:konvertertTilFormat", namespaces=NS) == obj.findtext("a:format", namespaces=NS)
    rows = _file(members, uuid, "administrative_metadata/documentfile-formatinfo.csv").decode().splitlines()
    assert rows[0] == "File name,File extension,Format ID,Format name,Format version,Error"
    assert sorted(r.split(",")[0] for r in rows[1:]) == sorted(referenced)


def test_the_closed_period_holds_closed_cases_and_points_at_its_successor(delivered, members):
    uuid = _uuid(delivered)
    structure = _parse(_file(members, uuid, "content/arkivstruktur.xml"))
    [arkivdel] = structure.findall("a:arkivdel", NS)
    assert arkivdel.findtext("a:arkivdelstatus", namespaces=NS) == "Avsluttet periode"
    assert arkivdel.findtext("a:referanseArvtaker", namespaces=NS)
    assert arkivdel.findtext("a:arkivperiodeSluttDato", namespaces=NS) == oslo_today().isoformat()
    statuses = {m.findtext("a:saksstatus", namespaces=NS) for m in structure.iterfind(".//a:mappe", NS)}
    assert statuses <= {"Avsluttet", "Utgår"} and statuses
    changes = _parse(_file(members, uuid, "content/endringslogg.xml"))
    closing = [e for e in changes if e.findtext("{*}referanseArkivenhet") == arkivdel.findtext("a:systemID", namespaces=NS)
               and e.findtext("{*}referanseMetadata") == "arkivdelstatus"]
    assert [c.findtext("{*}nyVerdi") for c in closing] == ["Avsluttet periode"]


def test_screened_data_is_absent_from_offentlig_journal_but_kept_in_the_extract(delivered, members):
    uuid = _uuid(delivered)
    public = _file(members, uuid, "content/offentligJournal.xml").decode("utf-8")
    structure = _file(members, uuid, "content/arkivstruktur.xml").decode("utf-8")
    assert FNR[:6] in structure, "the extract itself is complete: the screened title is kept"
    flat = re.sub(r"\D", "", public)
    assert FNR not in flat and FNR[:6] not in public and SECRET_NAME not in public
    assert "*****" in public
    assert "Søknad om startlån" in public


def test_a_second_export_is_byte_identical(delivered):
    again = delivered["again"]
    for name in (delivered["tar"].name, f"{delivered['tar'].stem}.xml"):
        assert (again / name).read_bytes() == (delivered["out"] / name).read_bytes(), name


def test_the_package_passes_noarkpipe_validate(delivered):
    done = _cli("validate", delivered["tar"], "--json", "-")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def test_no_temporary_files_are_left_behind(delivered):
    for folder in (delivered["out"], delivered["again"]):
        assert not [p for p in folder.iterdir() if p.name.startswith(".")]


def test_export_of_the_same_package_again_into_the_same_folder_is_refused(delivered):
    done = _cli("export", "-c", delivered["settings"].config_path, "-a", "fjellvik", "--out", delivered["out"],
                "--timestamp", TIMESTAMP)
    assert done.returncode == 13
    assert "already exists" in done.stderr
    assert not [p for p in delivered["out"].iterdir() if p.name.startswith(".")]
