"""The findings' messages in bokmål or English: every template translated, and the reports rendered in the chosen language."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from lxml import html as lxml_html

from helpers import extractfactory as factory
from noarkpipe.validate.messages import Message, joined, msg, placeholders
from noarkpipe.validate.texts import texts

REPO = Path(__file__).resolve().parents[1]
VALIDATE = REPO / "src" / "noarkpipe" / "validate"


def _templates() -> dict[str, str]:
    """Every msg("...") template in the validator's source -> where it is, read with ast (no import needed)."""
    found = {}
    for source in sorted(VALIDATE.rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "msg":
                where = f"{source.relative_to(REPO)}:{node.lineno}"
                first = node.args[0] if node.args else None
                assert isinstance(first, ast.Constant) and isinstance(first.value, str), (
                    f"{where}: the template must be a string literal, so it can be translated")
                found.setdefault(first.value, where)
    return found


def _wordless(template: str) -> bool:
    """'{entities}' or '{raw!r} {problem}': only placeholders and punctuation, nothing to translate."""
    return not re.sub(r"\{[^}]*\}", "", template).strip(" ;,:()…")


def test_every_template_has_a_norwegian_entry_with_the_same_placeholders():
    catalogue = tomllib.loads((VALIDATE / "texts" / "nb.toml").read_text(encoding="utf-8"))["messages"]
    templates = _templates()
    assert len(templates) > 150  # the scan found the check modules' messages, not nothing
    untranslated = [f"{where}: {template!r}" for template, where in templates.items()
                    if not _wordless(template) and template not in catalogue]
    assert not untranslated, "add to texts/nb.toml [messages]:\n" + "\n".join(untranslated)
    for template, translated in catalogue.items():
        assert template in templates, f"nb.toml translates {template!r}, which no msg() uses any more"
        assert placeholders(translated) == placeholders(template), template
        assert translated != template or not re.search(r"\b(the|is|not|and|of)\b", template), template


def test_a_message_renders_in_either_language_and_survives_the_scratch_table():
    problem = msg("an absolute path")
    message = msg("{what}; reported, not followed or read",
                  what=msg("{problem} pointing at {link!r}", problem=problem, link="/etc/passwd"))
    listed = msg("{ref} (PDF/A-{part}): {failed}", ref="a.pdf", part="2", failed=joined("; ", ["6.1.2: x", "6.2: y"]))
    nb = texts("nb")

    assert str(message) == "an absolute path pointing at '/etc/passwd'; reported, not followed or read"
    assert nb.message(message) == "en absolutt sti som peker på '/etc/passwd'; rapportert, ikke fulgt eller lest"
    for original in (message, listed):
        again = Message.decode(original.encode())
        assert again == original and nb.message(again) == nb.message(original)
    assert texts("en").message(listed) == "a.pdf (PDF/A-2): 6.1.2: x; 6.2: y"


def test_a_translation_with_a_wrong_placeholder_still_reports_the_finding_in_english():
    broken = msg("differs from {original}", original="content/arkivuttrekk.xml")
    assert broken.render({"differs from {original}": "er ikke lik {originalen}"}) == str(broken)
    assert broken.render({}) == "differs from content/arkivuttrekk.xml"


def _cli(*args):
    env = {key: value for key, value in os.environ.items() if key not in ("LANG", "LC_ALL", "LC_MESSAGES")}
    return subprocess.run([sys.executable, "-m", "noarkpipe.cli", "validate", *map(str, args)],
                          check=False, capture_output=True, text=True, timeout=300, env=env)


def _details(console: str) -> str:
    """The console table's last column (first finding or summary), its wrapped lines joined again."""
    return " ".join(line.split("│")[-2].strip() for line in console.splitlines() if line.count("│") == 8)


@pytest.fixture(scope="module")
def defective(tmp_path_factory):
    spec = factory.ExtractSpec(version="v5.0", registrations=16,
                               defects={"missing_document", "wrong_checksum", "empty_folder", "schema_error"})
    return factory.build_extract(tmp_path_factory.mktemp("avvik"), spec)


@pytest.fixture(scope="module")
def reports(defective, tmp_path_factory):
    """The console, JSON, HTML and CSV reports of one defective extract, in each language."""
    out = tmp_path_factory.mktemp("rapporter")
    found = {}
    for lang in ("nb", "en"):
        done = _cli(defective.content, "--lang", lang, "--max-identify", "1", "--json", out / f"{lang}.json",
                    "--html", out / f"{lang}.html", "--csv", out / f"{lang}.csv")
        assert done.returncode == 12, done.stderr
        data = json.loads((out / f"{lang}.json").read_text(encoding="utf-8"))
        page = lxml_html.fromstring((out / f"{lang}.html").read_bytes()).text_content()
        found[lang] = (_details(done.stdout), {r["id"]: r for r in data["results"]}, page,
                       (out / f"{lang}.csv").read_text(encoding="utf-8-sig"))
    return found


def test_norwegian_reports_show_norwegian_findings(defective, reports):
    console, results, page, table = reports["nb"]
    folder = defective.marks["empty_folder"]["systemID"]
    missing = results["DOC-01"]["examples"][0]

    assert "som ikke finnes i uttrekket" in missing["message"]
    assert missing["message_en"].endswith("which is not in the extract")
    assert missing["template"] == "references {raw!r}, which is not in the extract{hint}"
    assert missing["params"]["raw"] == defective.marks["missing_document"]["file"]
    assert "som ikke finnes i uttrekket" in console and "which is not" not in console
    assert f"(systemID {folder}) har ingen registreringer" in page
    assert "men filens SHA-256 er" in page and "skjemafeil: " in page
    assert "has no registrations" not in page and "the file's SHA-256" not in page
    assert f"(systemID {folder}) har ingen registreringer" in table
    assert results["DOC-04"]["summary"] == "ingen tomme filer" and results["DOC-04"]["summary_en"] == "no empty files"


def test_english_reports_keep_the_english_messages(defective, reports):
    console, results, page, table = reports["en"]
    folder = defective.marks["empty_folder"]["systemID"]
    relative = defective.marks["missing_document"]["file"]

    for result in results.values():
        for example in result["examples"]:
            assert example["message"] == example["message_en"]
    assert results["DOC-01"]["examples"][0]["message"] == f"references {relative!r}, which is not in the extract"
    assert f"references {relative!r}, which is not in the extract" in console
    assert f"(systemID {folder}) has no registrations" in page and "the file's SHA-256 is" in page
    assert f"(systemID {folder}) has no registrations" in table
    assert results["DOC-04"]["summary"] == "no empty files"
    # the templates and values are the same whatever the language, for scripts
    nb_results = reports["nb"][1]
    assert [e["template"] for e in results["DOC-05"]["examples"]] == [
        e["template"] for e in nb_results["DOC-05"]["examples"]]
    assert [e["message_en"] for e in results["HIER-03"]["examples"]] == [
        e["message_en"] for e in nb_results["HIER-03"]["examples"]]
