"""Bokmål or English: one rule for choosing, complete catalogs, and the run report and the review commands in both.

The suite runs under a C/POSIX locale, where everything stays English; the
tests here ask for bokmål through the config's `[noarkpipe] lang` (or the
locale variables of a command they start) and check that a person then
reads Norwegian, and that what programs read (the JSON) does not change.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from babel.messages.extract import extract
from babel.messages.pofile import read_po
from click.testing import CliRunner
from lxml import html as lxml_html

from helpers.inbox import drop, make_eml
from noarkpipe import api
from noarkpipe.cli import cli, present
from noarkpipe.config import load_settings
from noarkpipe.core import language
from noarkpipe.core.language import LOCALE_VARIABLES
from noarkpipe.desk import i18n
from noarkpipe.errors import ReviewError
from noarkpipe.ops.mail import _plain_text, _subject, report_message
from noarkpipe.ops.report import RunReport, render_html
from noarkpipe.validate.texts import choose_lang

SOURCE = Path(api.__file__).resolve().parent
WITHOUT_LOCALE = {key: value for key, value in os.environ.items() if key not in LOCALE_VARIABLES}

# -- the rule ----------------------------------------------------------------------------------

RULE = [
    ("en", "nb", {"LANG": "nb_NO.UTF-8"}, "en"),
    (None, "nb", {"LANG": "en_GB.UTF-8"}, "nb"),
    (None, "en", {"LANG": "nb_NO.UTF-8"}, "en"),
    (None, None, {"LANG": "nb_NO.UTF-8"}, "nb"),
    (None, None, {"LANG": "nn_NO.UTF-8"}, "nb"),
    (None, None, {"LANG": "no_NO"}, "nb"),
    (None, None, {"LC_ALL": "C.UTF-8", "LANG": "nb_NO.UTF-8"}, "en"),
    (None, None, {"LC_ALL": "", "LANG": "nb_NO.UTF-8"}, "nb"),
    (None, None, {"LC_MESSAGES": "nb_NO.UTF-8", "LANG": "en_US.UTF-8"}, "nb"),
    (None, None, {"LANG": "sv_SE.UTF-8"}, "en"),
    (None, None, {"LANG": "C"}, "en"),
    (None, None, {}, "en"),
]


@pytest.mark.parametrize(("explicit", "configured", "environ", "expected"), RULE)
def test_option_then_config_then_locale_then_english(explicit, configured, environ, expected):
    assert language.choose(explicit, configured, environ) == expected
    # The validator's reports keep their name for the rule, and it is the same rule.
    assert choose_lang(explicit, configured, environ) == expected


def test_a_default_is_used_only_when_nothing_else_decides():
    assert language.choose(None, None, {}, default="nb") == "nb"
    assert language.choose(None, None, {"LANG": "C.UTF-8"}, default="nb") == "en"
    assert language.choose(None, "en", {}, default="nb") == "en"


def test_an_unknown_language_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="'de'; choose one of nb, en"):
        language.choose("de", None, {})
    with pytest.raises(ValueError, match="'sv'"):
        language.choose(None, "sv", {})


def test_the_desk_speaks_bokmal_whatever_the_locale(monkeypatch):
    monkeypatch.setenv("LC_ALL", "en_US.UTF-8")
    assert i18n.choose(None, None) == i18n.DEFAULT == "nb"
    assert i18n.choose("en", "nb") == "en"
    assert i18n.choose(None, "en") == "en"
    assert i18n.choose("klingon", "en") == "en"  # a cookie is the browser's to send: a strange one is passed over
    assert i18n.choose("", None) == "nb"
    assert i18n.LANGUAGES == ("nb", "en")


# -- the translator ----------------------------------------------------------------------------

def test_english_is_the_source_and_bokmal_comes_from_the_catalog():
    english = language.translator("noarkpipe.cli", "locale/{lang}.po", "en")
    bokmal = language.translator("noarkpipe.cli", "locale/{lang}.po", "nb")
    assert english("Review queue (%(count)s)", count=3) == "Review queue (3)"
    assert bokmal("Review queue (%(count)s)", count=3) == "Kontrollkø (3)"
    assert bokmal("noarkpipe: error: %(message)s", message="x") == "noarkpipe: feil: x"  # 'message' is a value too
    assert bokmal("not in any catalog") == "not in any catalog"
    assert bokmal("100%") == "100%"  # no values: not formatted
    assert language.catalog("noarkpipe.cli", "locale/{lang}.po", "en") == {}
    # The desk's own API reads its catalog through the same code.
    assert i18n.translator("nb")("Approve") == "Godkjenn" and i18n.catalog("nb")["Review queue"] == "Kontrollkø"
    assert i18n.translator("en")("%(number)s journaled.", number="2026/3") == "2026/3 journaled."


def test_a_catalog_is_read_once():
    language.translator("noarkpipe.ops", "locale/{lang}.po", "nb")
    before = language.catalog.cache_info()
    for _ in range(3):
        language.translator("noarkpipe.ops", "locale/{lang}.po", "nb")("Problems")
    after = language.catalog.cache_info()
    assert after.misses == before.misses and after.hits == before.hits + 3


@pytest.mark.parametrize("args", [["--help"], ["review", "--help"]])
def test_help_does_not_load_babel(args):
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "noarkpipe.cli", *args],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "noarkpipe.cli.review" in imported  # the measurement saw the review commands load
    assert not {name for name in imported if name.split(".")[0] == "babel"}


# -- the catalogs ------------------------------------------------------------------------------

CATALOGS = {
    "ops": (["ops/report.py", "ops/mail.py"], {"_": None, "N_": None, "say": None}),
    "cli": (["cli/present.py", "cli/review.py"], {"_": None, "N_": None}),
}
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _marked(sources: list[str], keywords: dict) -> set[str]:
    """Every text marked for translation in `sources`, as Babel's extractor finds it."""
    found = set()
    for source in sources:
        with (SOURCE / source).open("rb") as handle:
            for _line, message, _comments, _context in extract("python", handle, keywords=keywords):
                if isinstance(message, str) and message:
                    found.add(message)
    return found


def _catalog(package: str):
    with (SOURCE / package / "locale" / "nb.po").open("rb") as handle:
        return read_po(handle, locale="nb")


@pytest.mark.parametrize("package", sorted(CATALOGS))
def test_every_marked_text_has_its_bokmal_and_the_catalog_nothing_else(package):
    sources, keywords = CATALOGS[package]
    marked = _marked(sources, keywords)
    assert len(marked) > 40  # the extractor saw the texts (an f-string hides a call from it)
    catalog = _catalog(package)
    translated = {m.id: m.string for m in catalog if m.id and m.string and not m.fuzzy}
    assert sorted(marked - set(translated)) == []  # untranslated: add them to locale/nb.po
    assert sorted(set(translated) - marked) == []  # kept for a text no longer in the code
    assert not [m.id for m in catalog if m.id and m.fuzzy]


@pytest.mark.parametrize("package", ["ops", "cli", "desk"])
def test_translations_keep_the_placeholders_of_their_english(package):
    for message in _catalog(package):
        if not message.id:
            continue
        assert sorted(PLACEHOLDER.findall(message.string)) == sorted(PLACEHOLDER.findall(message.id)), message.id
        values = dict.fromkeys(PLACEHOLDER.findall(message.id), "x")
        if values:  # formats, without a stray %
            assert "%" not in message.string % values


def _review_errors() -> list[tuple[str, str]]:
    """(where, a sample text) for every ReviewError message and hint the journal and the review services raise.

    The desk's corrections (`review.edit`) included: a command that makes them prints them the same way.
    """
    found = []
    for source in ("journal/review.py", "services/parts.py"):
        for node in ast.walk(ast.parse((SOURCE / source).read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if name != "ReviewError":
                continue
            for text in [node.args[0], *(k.value for k in node.keywords if k.arg == "hint")]:
                if isinstance(text, ast.Constant):
                    found.append((f"{source}:{node.lineno}", text.value))
                else:
                    assert isinstance(text, ast.JoinedStr), f"{source}:{node.lineno}"
                    found.append((f"{source}:{node.lineno}", "".join(
                        part.value if isinstance(part, ast.Constant) else "«v»" for part in text.values)))
    return found


def test_every_review_error_the_journal_raises_is_printed_in_bokmal(capsys):
    errors = _review_errors()
    assert len(errors) > 20
    unmatched = [(where, text) for where, text in errors if present.error_template(text) is None]
    assert unmatched == []  # add the template to cli/present.py REVIEW_ERRORS and its bokmål to cli/locale/nb.po
    for _where, text in errors:
        present.review_error(ReviewError(text), "nb")
        shown = capsys.readouterr().err
        assert shown.startswith("noarkpipe: feil: ") and text not in shown
        assert shown.count("«v»") == text.count("«v»")  # every value kept
        present.review_error(ReviewError(text), "en")
        assert capsys.readouterr().err == f"noarkpipe: error: {text}\n"


def test_an_error_without_template_stays_english_and_keeps_its_hint(capsys):
    present.review_error(ReviewError("something new went wrong", hint="try again"), "nb")
    assert capsys.readouterr().err == "noarkpipe: feil: something new went wrong\n  tips: try again\n"


# -- a real night, in bokmål -------------------------------------------------------------------

def _set_lang(config: Path, lang: str | None) -> None:
    """The config's [noarkpipe] lang, as an archivist edits it: the sample's commented line, or a line of its own."""
    text = re.sub(r'(?m)^#? ?lang = "\w+"\n', "", config.read_text(encoding="utf-8"))
    if lang is not None:
        text = text.replace("[noarkpipe]\n", f'[noarkpipe]\nlang = "{lang}"\n', 1)
    config.write_text(text, encoding="utf-8")
    assert load_settings(config).lang == lang


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    """`noarkpipe init`, lang = "nb", and one run: three e-mails for review, an empty file quarantined."""
    config = api.init(tmp_path_factory.mktemp("language") / "site")
    _set_lang(config, "nb")
    settings = load_settings(config)
    for name, subject in [("feiing.eml", "Spørsmål om feiing på Øvre Ås"), ("reklame.eml", "Reklame for kontorstoler"),
                          ("tegning.eml", "Ettersendt tegning")]:
        drop(settings, "fjellvik", name, make_eml(subject=subject, body=f"Om {subject}"))
    drop(settings, "fjellvik", "tom.eml", b"")
    summary = api.run(settings)
    assert summary.needs_review == 3 and summary.quarantined == 1, summary.items
    return settings, summary


def _report(settings, summary) -> tuple[dict, str]:
    json_path = settings.reports_dir / f"run-{summary.run_id:06d}.json"
    return json.loads(json_path.read_text(encoding="utf-8")), json_path.with_suffix(".html").read_text(encoding="utf-8")


def _headings(page) -> list[str]:
    return [h.text_content() for h in page.xpath("//h2")]


def test_the_run_report_is_in_bokmal_and_its_json_unchanged(night):
    settings, summary = night
    data, text = _report(settings, summary)
    # The JSON: the same keys and tokens in every language, and which language the page is in.
    assert data["lang"] == "nb" and set(data) == set(RunReport.model_fields)
    assert data["outcome"] == "completed" and data["exit_name"] == "items_quarantined"
    assert {r["outcome"] for r in data["registered"]} == {"needs_review"}
    page = lxml_html.fromstring(text)
    assert page.get("lang") == "nb" and page.findtext(".//title") == f"noarkpipe-kjøring {summary.run_id}"
    headings = _headings(page)
    for heading in ("Per arkivskaper", "Kontrollkø: 3 nye i natt", "Dokumenter uten arkivformat: 0", "I karantene: 1",
                    "Journalført: 0", "Tid per trinn"):
        assert heading in headings, headings
    meta = page.xpath('//p[@class="meta"]')[0].text_content()
    assert re.match(r"Startet \d\d\.\d\d\.\d{4} \d\d:\d\d:\d\d \(norsk tid\) på .+, tok \d+,\d s; fullført: "
                    r"items_quarantined \(avslutningskode 10\)\.", meta), meta
    headers = {th.text_content() for th in page.xpath("//th")}
    assert {"journalført", "til kontroll", "i karantene", "i kontrollkøen nå", "fil", "årsak", "hvorfor"} <= headers
    outcomes, stages = page.xpath("//svg")
    assert outcomes.get("aria-label") == "Utfall per arkivskaper" and stages.get("aria-label") == "Sekunder per trinn"
    assert {"journalført", "til kontroll", "i karantene", "duplikat"} <= set(outcomes.xpath(".//text()"))
    stage_texts = stages.xpath(".//text()")
    assert "lese inn" in stage_texts and "klassifisere og journalføre" in stage_texts
    assert any(re.fullmatch(r"\d+,\d\d s \(\d+×\)", t) for t in stage_texts)  # decimal comma
    body = page.text_content()
    assert "Spørsmål om feiing på Øvre Ås" in body and "tom.eml" in body
    for english in ("Review queue", "Quarantined", "Time per stage", "Started", "journaled", "needs review"):
        assert english not in body


def test_the_same_report_in_english(night):
    settings, summary = night
    data, _text = _report(settings, summary)
    report = RunReport.model_validate(data).model_copy(update={"lang": "en"})
    page = lxml_html.fromstring(render_html(report))
    assert page.get("lang") == "en" and page.findtext(".//title") == f"noarkpipe run {summary.run_id}"
    headings = _headings(page)
    assert {"Review queue: 3 new tonight", "Quarantined: 1", "Time per stage"} <= set(headings), headings
    assert re.match(r"Started .+ \(Norwegian time\) on .+, took \d+\.\d s; completed: ",
                    page.xpath('//p[@class="meta"]')[0].text_content())
    body = page.text_content()
    for bokmal in ("Kontrollkø", "karantene", "Tid per trinn", "journalført"):
        assert bokmal not in body


def test_the_report_mail_speaks_the_reports_language(night):
    settings, summary = night
    data, text = _report(settings, summary)
    report = RunReport.model_validate(data)
    assert _subject(report) == f"noarkpipe-kjøring {summary.run_id}: 0 journalført, 3 til kontroll, 1 i karantene"
    plain = _plain_text(report)
    assert "Fjellvik kommune: 0 journalført, 3 til kontroll (3 i kontrollkøen nå), 1 i karantene, 0 duplikater." in plain
    assert "\nI karantene:\n  fjellvik: tom.eml: " in plain and ": fullført, avslutningskode 10 (items_quarantined)." in plain
    assert "Hele rapporten er HTML-delen av denne e-posten; JSON-rapporten er vedlagt." in plain
    # The Subject survives the trip through a mail server, æøå and all.
    message = message_from_bytes(report_message(settings.report, report, text, json.dumps(data)).as_bytes(),
                                 policy=policy.default)
    assert message["Subject"] == _subject(report)
    english = report.model_copy(update={"lang": "en"})
    assert _subject(english) == f"noarkpipe run {summary.run_id}: 0 journaled, 3 to review, 1 quarantined"
    assert "Fjellvik kommune: 0 journaled, 3 for review (queue now 3), 1 quarantined, 0 duplicates." in _plain_text(english)


def test_without_lang_the_report_follows_the_locale_and_lang_en_overrides_it(tmp_path, monkeypatch):
    config = api.init(tmp_path / "site")
    for variable in LOCALE_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("LANG", "nb_NO.UTF-8")
    languages = []
    for n, lang in enumerate([None, "en"]):
        _set_lang(config, lang)
        settings = load_settings(config)
        drop(settings, "strandby", f"tom-{n}.eml", b"")  # quarantined: a quick night
        data, text = _report(settings, api.run(settings))
        languages.append((data["lang"], lxml_html.fromstring(text).findtext(".//h1")))
    assert languages == [("nb", "noarkpipe-kjøring 1"), ("en", "noarkpipe run 2")]


# -- the review commands -----------------------------------------------------------------------

def _review(config: Path, *args: str, **locale: str):
    """`noarkpipe review ARGS` in this process (the command's own code, a second's imports saved), under `locale`."""
    env = dict.fromkeys(LOCALE_VARIABLES) | locale
    done = CliRunner().invoke(cli, ["review", *args, "-c", str(config), "-a", "fjellvik"], env=env)
    assert done.exception is None or isinstance(done.exception, SystemExit), done.exception
    return done


def _review_process(config: Path, *args: str, **locale: str) -> subprocess.CompletedProcess:
    """The same as the installed command runs it, in a process of its own."""
    return subprocess.run([sys.executable, "-m", "noarkpipe.cli", "review", *args, "-c", str(config), "-a", "fjellvik"],
                          capture_output=True, text=True, timeout=120, env={**WITHOUT_LOCALE, **locale})


def _number(summary, name: str) -> str:
    return next(i.journalpost for i in summary.items if i.origin_name == name)


def test_review_list_and_show_in_bokmal(night):
    settings, summary = night
    _set_lang(settings.config_path, "nb")
    listed = _review_process(settings.config_path, "list")
    assert listed.returncode == 0, listed.stderr
    queued = len(api.review_list(settings, "fjellvik"))
    assert f"Kontrollkø ({queued})" in listed.stdout
    for column in ("journalnr.", "dato", "tittel", "avsender", "klasse", "skjermet", "hvorfor den venter"):
        assert column in listed.stdout
    assert "Review queue" not in listed.stdout and "Spørsmål om feiing på Øvre Ås" in listed.stdout

    number = _number(summary, "feiing.eml")
    shown = _review(settings.config_path, "show", number)
    assert shown.exit_code == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith(f"Journalpost {number} (")
    labels = [line.split(":")[0].strip() for line in lines[1:7]]
    assert labels == ["Tittel", "Sak", "Avsender", "Mottatt", "Skjerming", "Hvorfor den venter"]
    assert len({len(line) - len(line.split(":", 1)[1].lstrip()) for line in lines[1:7]}) == 1  # the values aligned
    assert "  Skjerming:          ingen" in lines and "  Dokumenter:" in lines
    assert any("(klasse 000)" in line for line in lines) and "Title:" not in shown.stdout


def test_review_errors_and_decisions_in_bokmal(night):
    settings, summary = night
    _set_lang(settings.config_path, "nb")
    missing = _review_process(settings.config_path, "approve", "2026/9999")
    assert missing.returncode == 2 and missing.stderr == "noarkpipe: feil: fjellvik: ingen journalpost 2026/9999\n"
    bad = _review(settings.config_path, "show", "2026/x")
    assert bad.exit_code == 2
    assert bad.stderr == ("noarkpipe: feil: '2026/x' er ikke et journal- eller saksnummer\n"
                          "  tips: skriv det som ÅR/NUMMER, f.eks. 2026/345\n")
    number = _number(summary, "reklame.eml")
    rejected = _review(settings.config_path, "reject", number, "--reason", "reklame", "--by", "kari")
    assert rejected.exit_code == 0, rejected.stderr
    assert re.fullmatch(rf"{number} \({number}-1\): Utgår, klasse 000\n", rejected.stdout)


def test_review_in_english_and_the_json_the_same_in_both(night):
    settings, summary = night
    number = _number(summary, "tegning.eml")
    _set_lang(settings.config_path, "nb")
    json_nb = _review(settings.config_path, "list", "--json").stdout
    _set_lang(settings.config_path, "en")
    try:
        assert _review(settings.config_path, "list", "--json").stdout == json_nb and json.loads(json_nb)
        listed = _review(settings.config_path, "list")
        assert "Review queue (" in listed.stdout and "why it waits" in listed.stdout and "Kontrollkø" not in listed.stdout
        shown = _review(settings.config_path, "show", number).stdout
        assert "  Title:        Ettersendt tegning" in shown and "  Documents:" in shown and "Tittel:" not in shown
        missing = _review(settings.config_path, "approve", "2026/9999")
        assert missing.exit_code == 2 and missing.stderr == "noarkpipe: error: fjellvik: no journalpost 2026/9999\n"
    finally:
        _set_lang(settings.config_path, "nb")


def test_without_lang_the_review_commands_follow_the_locale(night):
    settings, _summary = night
    _set_lang(settings.config_path, None)
    try:
        assert "Kontrollkø (" in _review(settings.config_path, "list", LANG="nb_NO.UTF-8").stdout
        assert "Kontrollkø (" in _review(settings.config_path, "list", LANG="nn_NO.UTF-8").stdout
        assert "Review queue (" in _review(settings.config_path, "list", LC_ALL="C", LANG="nb_NO.UTF-8").stdout
        assert "Review queue (" in _review(settings.config_path, "list").stdout
    finally:
        _set_lang(settings.config_path, "nb")
