"""The streaming pass itself: schema errors placed on the right line, entities dispatched once, broken files."""

from __future__ import annotations

import re
from functools import partial

from helpers import extractfactory as factory
from noarkpipe.validate.walker import CHUNK, Subscriptions, walk
from noarkpipe.xml.schemas import xml_schema


def _walk(path, schema="noark5/v5.0/arkivstruktur.xsd"):
    subs = Subscriptions()
    ended = []
    subs.end("registrering", lambda frame: ended.append((frame.line, frame.path(), frame.get("systemID"))))
    subs.track(["arkivdel", "klassifikasjonssystem", "klasse", "mappe", "dokumentbeskrivelse", "dokumentobjekt"])
    problems = []
    outcome = walk(partial(open, path, "rb"), path.name, subs, xml_schema(schema) if schema else None,
                   problems.append)
    return outcome, problems, ended


def _line_of(lines: list[str], needle: str, start: int = 0) -> int:
    for number, line in enumerate(lines[start:], start=start + 1):
        if needle in line:
            return number
    raise AssertionError(needle)


def test_several_schema_errors_in_one_block_each_get_their_own_line(tmp_path):
    extract = factory.build_extract(tmp_path / "u", factory.ExtractSpec(registrations=24))
    structure = extract.content / "arkivstruktur.xml"
    text = structure.read_text(encoding="utf-8")
    dates = re.findall(r"<journaldato>([^<]+)</journaldato>", text)
    # three neighbouring journalposts: two with the same bad value, one with a stray element
    text = text.replace(f"<journaldato>{dates[3]}</journaldato>", "<journaldato>2020-02-30</journaldato>", 1)
    text = text.replace(f"<journaldato>{dates[4]}</journaldato>", "<journaldato>2020-02-30</journaldato>", 1)
    text = text.replace(f"<journaldato>{dates[5]}</journaldato>",
                        f"<journaldato>{dates[5]}</journaldato><uventet>x</uventet>", 1)
    structure.write_text(text, encoding="utf-8")
    assert len(text.encode()) > CHUNK  # the errors are reported per block, so the test needs several
    lines = text.splitlines()
    first = _line_of(lines, "<journaldato>2020-02-30</journaldato>")
    second = _line_of(lines, "<journaldato>2020-02-30</journaldato>", first)
    third = _line_of(lines, "<uventet>")

    outcome, problems, _ = _walk(structure)

    assert outcome.schema_errors == 3
    assert [(p.line, p.path.rsplit("/", 1)[-1]) for p in problems] == [
        (first, "journaldato"), (second, "journaldato"), (third, "uventet")]
    assert all(p.path.startswith("/arkiv/arkivdel[1]/klassifikasjonssystem[1]/klasse[") for p in problems)


def test_entities_are_dispatched_once_with_their_line_and_path(tmp_path):
    extract = factory.build_extract(tmp_path / "u", factory.ExtractSpec(registrations=24))
    structure = extract.content / "arkivstruktur.xml"
    outcome, problems, ended = _walk(structure)

    assert not problems and outcome.well_formed
    assert len(ended) == len({system_id for _, _, system_id in ended}) == 24
    assert outcome.counts["registrering"] == 24 and outcome.counts["dokumentobjekt"] == extract.counts["dokumentobjekt"]
    lines = structure.read_text(encoding="utf-8").splitlines()
    for line, path, system_id in ended:
        assert "<registrering" in lines[line - 1] and system_id in lines[line - 1]
        assert re.fullmatch(r"/arkiv/arkivdel\[1\]/klassifikasjonssystem\[1\]/klasse\[\d\]/klasse\[\d\]/mappe\[\d+\]"
                            r"/registrering\[\d+\]", path)


def test_a_file_broken_half_way_reports_the_line_and_keeps_what_came_before(tmp_path):
    extract = factory.build_extract(tmp_path / "u", factory.ExtractSpec(registrations=60))
    structure = extract.content / "arkivstruktur.xml"
    lines = structure.read_text(encoding="utf-8").splitlines()
    broken_at = next(n for n in range(len(lines) // 2, len(lines)) if "</tittel>" in lines[n])
    lines[broken_at] = lines[broken_at].replace("</tittel>", "</titel>", 1)
    structure.write_text("\n".join(lines) + "\n", encoding="utf-8")

    for schema in ("noark5/v5.0/arkivstruktur.xsd", None):
        outcome, problems, ended = _walk(structure, schema)
        assert not outcome.well_formed
        errors = [p for p in problems if p.kind == "not_well_formed"]
        assert len(errors) == 1 and errors[0].line == broken_at + 1, errors
        assert 0 < len(ended) < 60
