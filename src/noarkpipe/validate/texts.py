"""The report's words in Norwegian (bokmål) or English, read from resource files.

A depot writes to the records creator in Norwegian and may forward our
report as it is, so every fixed word a report shows (headings, statuses,
severities, the verdict, the default summaries) and every check's name,
description and explanation exists in both languages. They live in
`texts/nb.toml` and `texts/en.toml`, not in the check modules, the way
Arkade keeps its display texts in resource files: a translator edits one
file, and a check module stays about what it checks.

The English names and descriptions stay in code (`CheckDef`), since the
README's check table is generated from them; en.toml holds the report
strings and the longer explanations (`why`, `causes`). A text missing in
the chosen language falls back to the English one, then to the
description, so a check added without translations still reports.

The findings' messages and the summaries the checks write are English
templates with values (messages.py), the gettext way: nb.toml's
`[messages]` table maps each English template to its bokmål one with the
same placeholders, and `localize` renders them in the chosen language;
the English text and the template stay beside it in the JSON.

What stays in the language of the code: the statuses and severities as
JSON tokens, the CSV's column names and the verdict line's tokens (see
`verdict_line`), so scripts read every report the same way, and what is
not ours (libxml2's schema errors, values from the extract).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from noarkpipe.core import language
from noarkpipe.core.language import LANGUAGES as LANGUAGES  # re-exported: the names validate has always offered
from noarkpipe.core.language import NORWEGIAN_LOCALES as NORWEGIAN_LOCALES
from noarkpipe.validate.messages import Message
from noarkpipe.validate.model import CheckDef, CheckResult, Location, ValidationReport


@dataclass(frozen=True)
class Texts:
    """One language's texts: `texts("verdict_passed")`, `texts.name(check)`, ..."""

    lang: str
    report: Mapping[str, Any]
    checks: Mapping[str, Mapping[str, str]]
    fallback: Texts | None = None
    messages: Mapping[str, str] = field(default_factory=dict)
    """English message template -> this language's template (empty for English)."""

    def __call__(self, key: str, count: int | None = None, **values: object) -> str:
        """The report string `key`, formatted; with `count`, its singular or plural form."""
        text = self.report.get(key)
        if text is None:
            if self.fallback is None:
                raise KeyError(f"no report text {key!r} in texts/{self.lang}.toml")
            return self.fallback(key, count, **values)
        if isinstance(text, Mapping):
            text = text["one" if count == 1 else "other"]
        return text.format(count=count, **values)

    def _check_text(self, check_id: str, field: str) -> str | None:
        found = self.checks.get(check_id, {}).get(field)
        if found is None and self.fallback is not None:
            return self.fallback._check_text(check_id, field)
        return found

    def name(self, check: CheckDef | CheckResult) -> str:
        return (self.checks.get(check.id, {}).get("name")) or check.name

    def description(self, check: CheckDef | CheckResult) -> str:
        return (self.checks.get(check.id, {}).get("description")) or check.description

    def why(self, check: CheckDef | CheckResult) -> str:
        return self._check_text(check.id, "why") or self.description(check)

    def causes(self, check: CheckDef | CheckResult) -> str | None:
        return self._check_text(check.id, "causes")

    def message(self, message: Message) -> str:
        """A finding's message or a check's summary in this language (English where it has no translation)."""
        return message.render(self.messages)

    def status(self, status: str) -> str:
        return self(f"status_{status}")

    def severity(self, severity: str) -> str:
        return self(f"severity_{severity}")

    def number(self, value: int) -> str:
        """Thousands grouped with a (narrow) space, as both languages' reports print them."""
        return f"{value:,}".replace(",", "\u202f")

    def decimal(self, value: float, digits: int = 1) -> str:
        """A decimal number with the language's decimal mark (12.5 in English, 12,5 in Norwegian)."""
        return f"{value:.{digits}f}".replace(".", self("decimal_mark"))


@cache
def _read(lang: str) -> dict[str, Any]:
    source = resources.files(__package__).joinpath("texts", f"{lang}.toml")
    return tomllib.loads(source.read_text(encoding="utf-8"))


@cache
def texts(lang: str) -> Texts:
    """The texts of `lang` ('nb' or 'en'); an unknown language is a ValueError naming the choices."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown report language {lang!r}; choose one of {', '.join(LANGUAGES)}")
    data = _read(lang)
    fallback = None if lang == "en" else texts("en")
    return Texts(lang=lang, report=data.get("report", {}), checks=data.get("checks", {}), fallback=fallback,
                 messages=data.get("messages", {}))


def choose_lang(explicit: str | None, configured: str | None, environ: Mapping[str, str]) -> str:
    """--lang, else the config's [noarkpipe] lang, else the locale (LC_ALL, LC_MESSAGES, LANG), else English.

    The rule of every text a person reads, kept in `core.language.choose`: the
    locale variables are read in POSIX order, the first one set decides, so
    LC_ALL=C overrides LANG=nb_NO.UTF-8.
    """
    return language.choose(explicit, configured, environ)


def default_summary(status: str, count: int, words: Texts) -> str:
    """The summary a check gets when it wrote none of its own (see Findings.result)."""
    if status == "failed":
        return words("summary_findings", count=count)
    return words("summary_no_findings")


def localize(report: ValidationReport, lang: str) -> ValidationReport:
    """The report with every check's name, description, summary and findings' messages in `lang`.

    Only the display texts change: ids, statuses, severities, counts, the
    English texts (`message_en`, `summary_en`) and the templates stay as
    they are, so a script reads the Norwegian JSON the same way as the
    English one.
    """
    words, english = texts(lang), texts("en")
    results = []
    for result in report.results:
        summary_en = result.summary_en or result.summary
        if summary_en == default_summary(result.status, result.count, english):
            summary = default_summary(result.status, result.count, words)
        elif result.summary_template:
            summary = words.message(Message.from_data(result.summary_template, result.summary_params))
        else:
            summary = summary_en
        results.append(result.model_copy(update={
            "name": words.name(result), "description": words.description(result), "summary": summary,
            "examples": [_localized(example, words) for example in result.examples],
        }))
    return report.model_copy(update={"results": results, "lang": lang})


def _localized(example: Location, words: Texts) -> Location:
    if not example.template:
        return example
    message = words.message(Message.from_data(example.template, example.params))
    return example.model_copy(update={"message": message, "message_en": example.message_en or example.message})


def verdict_line(report: ValidationReport) -> str:
    """The one line scripts read, the same in every language: 'VERDICT: FAILED errors=3 warnings=1'.

    errors and warnings count checks (of severity error or warning) that
    failed, not findings; PASSED exactly when errors=0 (exit code 0).
    """
    outcome = "PASSED" if report.passed else "FAILED"
    return f"VERDICT: {outcome} errors={len(report.errors)} warnings={len(report.warnings)}"


def verdict_text(report: ValidationReport, words: Texts) -> str:
    """The verdict in words, for people: 'No errors (2 checks with warnings)' or its Norwegian."""
    errors, warnings = len(report.errors), len(report.warnings)
    if report.passed:
        tail = words("verdict_passed_warnings", count=warnings) if warnings else ""
        return words("verdict_passed") + tail
    tail = words("verdict_failed_warnings", count=warnings) if warnings else ""
    return words("verdict_failed", count=errors) + tail
