"""`noarkpipe validate` on extract folders of all three Noark 5 versions, good and deliberately broken.

Extracts come from tests/extractfactory.py (not from noarkpipe's exporter:
the validator must judge what other systems deliver). A clean extract of
each version must pass every check; each injected defect must make exactly
the checks it concerns fail, and point at the element or file the defect
was put in.
"""

from __future__ import annotations

import re

import pytest

from helpers import extractfactory as factory
from noarkpipe.validate import ValidateOptions, validate
from noarkpipe.validate.checks import all_checks

DIAS_ONLY = {"tar_checksum", "mets_missing_entry", "mets_extra_entry", "mets_checksum", "addml_copy_differs"}

# defect -> (the checks that must fail, the mark key whose value a finding must show)
EXPECTED = {
    "missing_document": ({"DOC-01"}, "file"),
    "unreferenced_file": ({"DOC-02"}, "file"),
    "file_referenced_twice": ({"DOC-03"}, "file"),
    "zero_byte_file": ({"DOC-04"}, "file"),
    "wrong_checksum": ({"DOC-05"}, "file"),
    "wrong_size": ({"DOC-06"}, "file"),
    "backslash_paths": ({"DOC-07"}, None),
    "unaccepted_format": ({"FMT-02"}, "file"),
    "false_pdfa": ({"FMT-02", "FMT-03", "FMT-04"}, "file"),
    "extension_mismatch": ({"FMT-03"}, "file"),
    # two registrations with one systemID also make the journal comparison ambiguous
    "duplicate_systemid": ({"ID-01", "JRN-02", "JRN-03"}, "systemID"),
    "crossref_dangling": ({"ID-02"}, "target"),
    "changelog_dangling": ({"LOG-01"}, "systemID"),
    "systemid_class_reused_for_folder": ({"ID-01"}, "systemID"),
    "secondary_reference_dangling": ({"ID-04"}, "systemID"),
    "shared_class_differs": ({"ID-01"}, "systemID"),
    "empty_class": ({"HIER-02"}, "systemID"),
    "class_mixed": ({"HIER-01", "STR-03"}, "klasseID"),
    "empty_folder": ({"HIER-03"}, "systemID"),
    "registration_without_documents": ({"HIER-04"}, "systemID"),
    "document_without_objects": ({"HIER-05"}, "systemID"),
    # with the sharp period separation the extract states, it is outside the journals' period too
    "outside_period": ({"HIER-06", "JRN-07"}, "systemID"),
    # the journalpost whose entry was replaced is then missing from the running journal
    "journal_entry_missing": ({"JRN-01", "JRN-05"}, "systemID"),
    "code_value_unknown": ({"CNT-07"}, "value"),
    "empty_element": ({"STR-07"}, "systemID"),
    "journal_key_mismatch": ({"JRN-02"}, "journalnummer"),
    # the stated number then differs from the public journal's and the structure's too (as Arkade's N5.59 reads it)
    "journal_count": ({"JRN-04", "JRN-06"}, "stated"),
    "public_journal_short": ({"JRN-06"}, "stated"),
    # the journals carry the valid date, so they disagree with arkivstruktur too
    "schema_error": ({"STR-03", "JRN-02", "JRN-03"}, "value"),
    "not_well_formed": ({"STR-02"}, "file"),
    "altered_xsd": ({"STR-04"}, "file"),
    "altered_xsd_element": ({"STR-04"}, "element"),
    "missing_loependejournal": ({"STR-01"}, None),
    "addml_checksum": ({"ADDML-01"}, "file"),
    "addml_count": ({"ADDML-02"}, "stated"),
    "addml_empty_checksum": ({"ADDML-01"}, "file"),
    "addml_no_document_count": ({"ADDML-03"}, "element"),
    "addml_flag_contradicts": ({"ADDML-05"}, "flag"),
    "doctype": ({"STR-06"}, None),
}
# valid extracts in other systems' conventions -> (spec, the warnings they must give); none may give an error
UNUSUAL = {
    "v5.0 schemas with LF line endings (published with CRLF)": ({"version": "v5.0", "schema_form": "lf"}, set()),
    "v3.1 schemas with LF line endings": ({"version": "v3.1", "schema_form": "lf"}, set()),
    "v5.0-2019 schemas with CRLF line endings (kept with LF)": (
        {"version": "v5.0", "schema_folder": "v5.0-2019", "schema_form": "crlf"}, set()),
    "v4.0 schemas with a byte-order mark": ({"version": "v4.0", "schema_form": "bom"}, set()),
    "schemas without final newline, spaces at line ends": ({"version": "v3.1", "schema_form": "trailing"}, set()),
    "v5.0 classification system shared by two arkivdeler": ({"version": "v5.0", "shared_classification": True}, set()),
    "v3.1 classification system shared by two arkivdeler": ({"version": "v3.1", "shared_classification": True}, set()),
    "v5.0 secondary classification system (no content of its own)": (
        {"version": "v5.0", "secondary_classification": True}, set()),
    "v3.1 secondary classification system (no content of its own)": (
        {"version": "v3.1", "secondary_classification": True}, set()),
    "v5.0 journalpost rejected as Utgår without documents": (
        {"version": "v5.0", "cancelled_without_documents": True}, set()),
    "v4.0 journalpost rejected as Utgår without documents": (
        {"version": "v4.0", "cancelled_without_documents": True}, set()),
    "v3.1 change log about document objects and the arkivskaper": (
        {"version": "v3.1", "changelog_without_system_ids": True}, {"LOG-02"}),
    "v4.0 change log about document objects and the arkivskaper": (
        {"version": "v4.0", "changelog_without_system_ids": True}, {"LOG-02"}),
    "v5.0 change log about the arkivskaper": ({"version": "v5.0", "changelog_without_system_ids": True}, {"LOG-02"}),
}
# before v5.0, format is free text ("RA-PDF"), so there is no declared PUID to compare
# and v4.0 and v3.1 restrict journalstatus to the code list in the schema itself
OLDER_VERSIONS = {"false_pdfa": {"FMT-02", "FMT-04"}, "code_value_unknown": {"CNT-07", "STR-03"}}


def run(path, **options):
    return validate(ValidateOptions(path=path, **options))


def failed(report) -> set[str]:
    return {result.id for result in report.results if result.status == "failed"}


def shown(result) -> str:
    return "\n".join(example.text() for example in result.examples)


def test_every_defect_has_an_expectation():
    assert set(EXPECTED) | DIAS_ONLY == set(factory.DEFECTS)


def test_check_ids_are_unique_and_described():
    checks = all_checks()
    assert len({c.id for c in checks}) == len(checks)
    for definition in checks:
        assert re.fullmatch(r"[A-Z]+-\d\d", definition.id), definition.id
        assert definition.name and len(definition.description) > 30


def test_every_arkade_test_is_answered_by_a_check_and_every_arkade_id_is_one_of_its_tests():
    from noarkpipe.validate.arkade import ARKADE_TESTS
    from noarkpipe.validate.checks import arkade_coverage

    assert len(ARKADE_TESTS) == 54
    named = {test for definition in all_checks() for test in definition.arkade}
    assert named <= set(ARKADE_TESTS), named - set(ARKADE_TESTS)
    assert [test for test, checks in arkade_coverage().items() if not checks] == []


@pytest.mark.parametrize("version", factory.VERSIONS)
def test_a_clean_extract_of_each_version_passes(tmp_path, version):
    extract = factory.build_extract(tmp_path / "uttrekk", factory.ExtractSpec(version=version, registrations=40))
    report = run(extract.content, max_identify=0)

    assert report.passed, [r.examples[:2] for r in report.errors]
    assert not report.warnings, [r.examples[:2] for r in report.warnings]
    assert report.input_kind == "extract-folder"
    assert report.version.noark == version
    assert report.version.addml == ("8.3" if version == "v5.0" else "8.2")
    not_run = {r.id for r in report.results if r.status == "not_run"}
    assert not_run == {"PKG-02", "PKG-03", "PKG-04", "PKG-05", "PKG-06"}

    registrations = report.result("CNT-04").data
    assert registrations["registrering"] == extract.counts["registrering"] == 40
    assert registrations["per_year"] == {str(year): count for year, count in extract.per_year.items()}
    assert report.result("CNT-05").data["dokumentobjekt"] == extract.counts["dokumentobjekt"]
    assert report.result("CNT-03").data["mappe"] == extract.counts["mappe"]
    other = report.result("CNT-06").data["counts"]
    assert other["merknad"] == extract.counts["merknad"] and other["konvertering"] == extract.counts["konvertering"]
    assert report.result("DOC-05").data["verified"] == extract.counts["dokumentobjekt"]
    assert report.result("JRN-01").data["entries"] == extract.counts["journalpost"]
    formats = {entry["puid"]: entry["files"] for entry in report.result("FMT-01").data["formats"]}
    assert formats == {"fmt/477": extract.counts["dokumentbeskrivelse"] - formats["x-fmt/111"],
                       "x-fmt/111": formats["x-fmt/111"]}
    assert report.result("FMT-04").data["checked"] == formats["fmt/477"]
    assert report.result("ADDML-02").data["compared"]


@pytest.mark.parametrize("defect", sorted(EXPECTED))
@pytest.mark.parametrize("version", factory.VERSIONS)
def test_each_defect_fails_exactly_its_checks(tmp_path, version, defect):
    spec = factory.ExtractSpec(version=version, registrations=16, defects={defect})
    extract = factory.build_extract(tmp_path / "uttrekk", spec)
    expected, mark_key = EXPECTED[defect]
    if version != "v5.0":
        expected = OLDER_VERSIONS.get(defect, expected)
    identify_all = defect in ("unaccepted_format", "false_pdfa", "extension_mismatch")
    report = run(extract.content, max_identify=0 if identify_all else 1)

    assert failed(report) == expected
    if mark_key is not None:
        value = extract.marks[defect][mark_key]
        first = report.result(min(expected))
        assert value in shown(first), shown(first)


@pytest.mark.parametrize("case", sorted(UNUSUAL))
def test_a_valid_extract_in_another_systems_conventions_gives_no_error(tmp_path, case):
    options, warnings = UNUSUAL[case]
    extract = factory.build_extract(tmp_path / "u", factory.ExtractSpec(registrations=16, **options))
    report = run(extract.content, max_identify=1)

    assert report.passed, [(r.id, shown(r)) for r in report.errors]
    assert {r.id for r in report.warnings} == warnings, [(r.id, shown(r)) for r in report.warnings]
    assert report.version.noark == options["version"]


def test_schemas_in_other_byte_forms_are_recognised_by_content_and_named(tmp_path):
    spec = factory.ExtractSpec(version="v3.1", registrations=16, schema_form="trailing")
    report = run(factory.build_extract(tmp_path / "u", spec).content, max_identify=1)

    assert "arkivstruktur.xsd" in report.result("STR-04").data["same_content_other_bytes"]
    assert any("noark5/v3.1/arkivstruktur.xsd" in line for line in report.result("STR-05").data["evidence"])


def test_the_official_v3_1_schema_is_known_in_both_byte_forms():
    from noarkpipe.validate.official import official_byte_checksums

    known = official_byte_checksums()
    # as Arkivverket publishes it (CRLF, stated by independent extracts' arkivuttrekk.xml) and with LF
    assert known["b89da6c744a8559a2311cef78c966b4be9497ecb62c08fc7e9d3b9ae1569e3ce"] == "noark5/v3.1/arkivstruktur.xsd"
    assert known["f099781ffeb81b5a16bc9fcb89e3b2b28047f4cd75ebd2583fa120be09b75b20"] == "noark5/v3.1/arkivstruktur.xsd"


def test_a_changed_schema_element_is_named_with_its_line(tmp_path):
    spec = factory.ExtractSpec(version="v5.0", registrations=16, schema_form="lf", defects={"altered_xsd_element"})
    extract = factory.build_extract(tmp_path / "u", spec)
    finding = run(extract.content, max_identify=1).result("STR-04").examples[0]

    assert finding.file == "arkivstruktur.xsd"
    assert finding.path.endswith("/complexType[@name='arkiv']/sequence/element[@name='systemID']")
    line = (extract.content / "arkivstruktur.xsd").read_text(encoding="utf-8").splitlines()[finding.line - 1]
    assert 'name="systemID"' in line and 'minOccurs="0"' in line


def test_a_shared_classification_system_is_one_entity_and_its_classes_are_not_empty(tmp_path):
    spec = factory.ExtractSpec(version="v5.0", registrations=16, shared_classification=True)
    extract = factory.build_extract(tmp_path / "u", spec)
    report = run(extract.content, max_identify=1)

    # the system and its 4 + 7 classes are each written under both arkivdeler
    assert report.result("ID-01").data["shared"] == 1 + 11
    assert report.result("HIER-02").status == "passed"
    assert report.result("CNT-01").data["arkivdel"] == 2


def test_change_log_entries_about_entities_without_systemid_say_why(tmp_path):
    spec = factory.ExtractSpec(version="v3.1", registrations=16, changelog_without_system_ids=True,
                               defects={"changelog_dangling"})
    report = run(factory.build_extract(tmp_path / "u", spec).content, max_identify=1)

    assert report.result("LOG-01").count == 1  # the journalstatus change of an entity that is not there
    unresolvable = report.result("LOG-02")
    assert unresolvable.count == 3
    assert "dokumentobjekt, which has no systemID in a v3.1" in shown(unresolvable)
    assert "arkivskaper" in shown(unresolvable)


def test_a_finding_names_file_line_and_element_path(tmp_path):
    extract = factory.build_extract(tmp_path / "u", factory.ExtractSpec(registrations=16, defects={"wrong_size"}))
    finding = run(extract.content, max_identify=1).result("DOC-06").examples[0]

    assert finding.file == "arkivstruktur.xml"
    assert re.fullmatch(r"/arkiv/arkivdel\[1\]/klassifikasjonssystem\[1\](/klasse\[\d+\])+/mappe\[\d+\]"
                        r"/registrering\[\d+\]/dokumentbeskrivelse\[1\]/dokumentobjekt\[1\]", finding.path)
    lines = (extract.content / "arkivstruktur.xml").read_text(encoding="utf-8").splitlines()
    assert extract.marks["wrong_size"]["file"] in "\n".join(lines[finding.line - 1:finding.line + 2])


@pytest.mark.parametrize("folder", ["v5.0", "v5.0-2019"])
def test_a_v5_0_extract_with_the_schemas_of_either_revision_passes(tmp_path, folder):
    # Many tools still embed the 2019 revision of v5.0; it is as official as the 2023 one.
    spec = factory.ExtractSpec(version="v5.0", registrations=16, schema_folder=folder)
    extract = factory.build_extract(tmp_path / "u", spec)
    report = run(extract.content, max_identify=1)

    assert report.passed, [r.examples[:2] for r in report.errors]
    assert report.result("STR-04").status == "passed"
    assert report.version.noark == "v5.0"
    assert any(f"noark5/{folder}/arkivstruktur.xsd" in line for line in report.result("STR-05").data["evidence"])


def test_an_iso_8859_1_extract_from_an_older_system_passes_and_reads_norwegian_letters(tmp_path):
    spec = factory.ExtractSpec(version="v3.1", registrations=16, encoding="iso-8859-1", defects={"empty_class"})
    extract = factory.build_extract(tmp_path / "u", spec)
    assert b"encoding=\"iso-8859-1\"" in (extract.content / "arkivstruktur.xml").read_bytes()[:60]
    report = run(extract.content, max_identify=1)

    assert failed(report) == {"HIER-02"}
    assert "«Utgått klasse – ikke i bruk»" in shown(report.result("HIER-02"))


def test_windows_backslash_references_are_read_and_reported(tmp_path):
    extract = factory.build_extract(tmp_path / "u", factory.ExtractSpec(registrations=16, defects={"backslash_paths"}))
    report = run(extract.content, max_identify=1)

    assert report.result("DOC-01").status == "passed"
    assert report.result("DOC-05").data["verified"] == extract.counts["dokumentobjekt"]
    assert report.result("DOC-07").count == extract.counts["dokumentobjekt"]
    assert "dokumenter\\\\" in shown(report.result("DOC-07"))


def test_a_reference_out_of_the_extract_is_reported_not_followed(tmp_path):
    extract = factory.build_extract(tmp_path / "u", factory.ExtractSpec(registrations=16))
    structure = extract.content / "arkivstruktur.xml"
    text = structure.read_text(encoding="utf-8")
    first = re.search(r"<referanseDokumentfil>([^<]+)</referanseDokumentfil>", text).group(1)
    structure.write_text(text.replace(first, "../../../../etc/passwd", 1), encoding="utf-8")
    report = run(extract.content, max_identify=1)

    assert "points outside the extract" in shown(report.result("DOC-01"))
    assert "root:" not in report.model_dump_json()


def test_a_reference_differing_only_in_case_says_so(tmp_path):
    extract = factory.build_extract(tmp_path / "u", factory.ExtractSpec(registrations=16))
    structure = extract.content / "arkivstruktur.xml"
    text = structure.read_text(encoding="utf-8")
    first = re.search(r"<referanseDokumentfil>([^<]+)</referanseDokumentfil>", text).group(1)
    structure.write_text(text.replace(first, first.upper(), 1), encoding="utf-8")
    report = run(extract.content, max_identify=1)

    assert "the letter case differs" in shown(report.result("DOC-01"))


def test_conflicting_version_indications_are_reported(tmp_path):
    extract = factory.build_extract(tmp_path / "u", factory.ExtractSpec(version="v5.0", registrations=16))
    addml = extract.content / "arkivuttrekk.xml"
    addml.write_text(addml.read_text(encoding="utf-8").replace("<value>5.0</value>", "<value>4.0</value>", 1),
                     encoding="utf-8")
    report = run(extract.content, max_identify=1)

    assert report.version.noark == "v5.0"  # the official v5.0 schemas in the extract outweigh the ADDML
    assert failed(report) == {"STR-05"}
    assert "4.0" in shown(report.result("STR-05"))


def test_an_older_extract_labelled_v5_0_is_validated_as_labelled_and_the_mismatch_explained(tmp_path):
    extract = factory.build_extract(tmp_path / "u", factory.ExtractSpec(version="v3.1", registrations=16))
    addml = extract.content / "arkivuttrekk.xml"
    addml.write_text(addml.read_text(encoding="utf-8").replace("<value>3.1</value>", "<value>5.0</value>", 1),
                     encoding="utf-8")
    (extract.content / "arkivstruktur.xsd").unlink()
    report = run(extract.content, max_identify=1)

    assert report.version.noark == "v5.0"
    assert report.result("STR-03").count > 0
    assert "before v5.0" in shown(report.result("STR-05"))


def test_schema_errors_beyond_the_cap_stop_validation_but_not_the_other_checks(tmp_path, monkeypatch):
    from noarkpipe.validate import walker

    monkeypatch.setattr(walker, "MAX_SCHEMA_ERRORS", 5)
    extract = factory.build_extract(tmp_path / "u", factory.ExtractSpec(version="v3.1", registrations=30))
    (extract.content / "arkivstruktur.xsd").unlink()
    addml = extract.content / "arkivuttrekk.xml"
    addml.write_text(addml.read_text(encoding="utf-8").replace("<value>3.1</value>", "<value>5.0</value>", 1),
                     encoding="utf-8")
    report = run(extract.content, max_identify=1)

    validity = report.result("STR-03")
    in_structure = [e for e in validity.examples if e.file == "arkivstruktur.xml"]
    assert len(in_structure) == 5 + 1  # five errors, and the note that validation stopped
    assert "validation stopped" in in_structure[-1].message
    # every entity was dispatched exactly once despite the second reading
    assert report.result("CNT-04").data["registrering"] == 30
    assert report.result("CNT-05").data["dokumentobjekt"] == extract.counts["dokumentobjekt"]
    assert report.result("ID-01").status == "passed"


def test_a_folder_without_an_extract_is_unusable_input(tmp_path):
    from noarkpipe.errors import InputFileError

    (tmp_path / "noe").mkdir()
    (tmp_path / "noe" / "brev.pdf").write_bytes(b"%PDF-1.4\n")
    with pytest.raises(InputFileError, match="no Noark 5 extract found"):
        run(tmp_path / "noe")
    with pytest.raises(InputFileError, match="no such file"):
        run(tmp_path / "finnes-ikke")
