"""The classification rules file: conditions on a submission, and the klasse, arkivdel and case title they give.

Archivists keep the rules in a TOML file of `[[rule]]` tables (the format is
in docs/rules-format.md). `load_classification_rules` reads and validates
one, `example_classification_rules` is the bundled example that
`noarkpipe init` writes, and `validate_against_classes` checks a rule set
against the creator's classification system. Holding the rules against a
submission is `rulematch.evaluate`; the decision is `rules.classify`.
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Iterable
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import (
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from noarkpipe.config import describe_validation_error, read_toml
from noarkpipe.core.strict import StrictModel
from noarkpipe.core.submission import Source
from noarkpipe.core.terms import checked_keyword, checked_user_pattern
from noarkpipe.errors import ConfigError

EXAMPLE_RULES_RESOURCE = "klassifisering.toml"

BUILTIN_PLACEHOLDERS = ("subject", "form_type", "sender", "sender_email", "sender_orgnr", "source")


class ConditionKind(StrEnum):
    """The condition kinds of a rule, in the order they are checked and reported."""

    form_types = "form_types"
    sender_emails = "sender_emails"
    sender_domains = "sender_domains"
    sender_orgnr = "sender_orgnr"
    recipients = "recipients"
    subject = "subject"
    body = "body"
    keywords = "keywords"
    sources = "sources"


class ClassificationRule(StrictModel):
    """One rule: conditions on a submission, and the klasse, arkivdel and case title it gives."""

    name: str = Field(min_length=1)
    description: str = ""
    priority: int = Field(default=0, strict=True, description="higher wins; ties go to the earlier rule")

    form_types: tuple[str, ...] = ()
    sender_emails: tuple[str, ...] = ()
    sender_domains: tuple[str, ...] = ()
    sender_orgnr: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()
    subject: tuple[str, ...] = ()
    body: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    sources: tuple[Source, ...] = ()

    klasse: str = Field(min_length=1, description="klasseID, e.g. 'L42'")
    arkivdel: str | None = Field(default=None, min_length=1, description="None: the creator's active arkivdel")
    saksmappe_tittel: str = Field(default="{subject}", min_length=1)
    new_case: bool = Field(default=True, strict=True, description="false: may only join a referenced case")
    confident: bool = Field(default=True, strict=True, description="false: matched items go to review")

    @field_validator(*(kind.value for kind in ConditionKind), mode="before")
    @classmethod
    def _one_string_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator(*(kind.value for kind in ConditionKind if kind is not ConditionKind.sources))
    @classmethod
    def _no_blank_entries(cls, values: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if any(not value.strip() for value in values):
            raise ValueError("entries must not be empty")
        # A space in a regular expression may be meant; around an address or a word it never is.
        if info.field_name in (ConditionKind.subject, ConditionKind.body):
            return values
        return tuple(value.strip() for value in values)

    @field_validator("name", "klasse", "arkivdel")
    @classmethod
    def _stripped(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be blank")
        return value.strip() if value is not None else None

    @field_validator("sender_emails", "recipients")
    @classmethod
    def _addresses_have_at(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            if "@" not in pattern:
                raise ValueError(
                    f"{pattern!r} is no e-mail address pattern: write e.g. '*@{pattern}' "
                    "(or use sender_domains for a whole domain)"
                )
        return patterns

    @field_validator("sender_domains")
    @classmethod
    def _plain_domains(cls, domains: tuple[str, ...]) -> tuple[str, ...]:
        for domain in domains:
            if not re.fullmatch(r"[^\s@*?\[\]]+\.[^\s@*?\[\].]+", domain.strip(".")):
                raise ValueError(
                    f"{domain!r} is not a domain: write it without '@' or wildcards, e.g. "
                    "'statsforvalteren.no' (subdomains match too)"
                )
        return tuple(domain.strip(".").casefold() for domain in domains)

    @field_validator("sender_orgnr")
    @classmethod
    def _nine_digits(cls, numbers: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(re.sub(r"\s", "", number) for number in numbers)
        for number in cleaned:
            if not re.fullmatch(r"\d{9}", number):
                raise ValueError(f"{number!r} is not an organisasjonsnummer (9 digits)")
        return cleaned

    @field_validator("subject", "body")
    @classmethod
    def _patterns_compile(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            compiled = checked_user_pattern(pattern)
            reserved = set(compiled.groupindex) & set(BUILTIN_PLACEHOLDERS)
            if reserved:
                raise ValueError(
                    f"pattern {pattern!r}: group name {min(reserved)!r} is a built-in placeholder; rename it"
                )
        return patterns

    @field_validator("keywords")
    @classmethod
    def _keywords_have_words(cls, keywords: tuple[str, ...]) -> tuple[str, ...]:
        for keyword in keywords:
            checked_keyword(keyword, fold=False)
        return keywords

    @field_validator("saksmappe_tittel")
    @classmethod
    def _title_pattern_parses(cls, pattern: str) -> str:
        _check_title_pattern(pattern)
        return pattern

    @model_validator(mode="after")
    def _has_a_condition(self) -> ClassificationRule:
        if not any(getattr(self, kind.value) for kind in ConditionKind):
            raise ValueError(
                "a rule needs at least one condition ("
                + ", ".join(kind.value for kind in ConditionKind)
                + "); items no rule matches get the creator's default_klasse"
            )
        return self

    @property
    def condition_kinds(self) -> tuple[ConditionKind, ...]:
        return tuple(kind for kind in ConditionKind if getattr(self, kind.value))


class RuleSet(StrictModel):
    """A rules file: `[[rule]]` tables become `rules`, in file order."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    rules: tuple[ClassificationRule, ...] = Field(default=(), alias="rule")
    origin: str = Field(default="", description="where the rules were read from, for messages")

    @model_validator(mode="after")
    def _unique_names(self) -> RuleSet:
        seen: dict[str, int] = {}
        for position, rule in enumerate(self.rules, start=1):
            earlier = seen.setdefault(rule.name.casefold(), position)
            if earlier != position:
                raise ValueError(
                    f"rules {earlier} and {position} are both named {rule.name!r}; names must be unique"
                )
        return self


_RULE_KEYS = ", ".join(ClassificationRule.model_fields)


def load_classification_rules(path: str | Path) -> RuleSet:
    """Read and validate a rules file (format in docs/rules-format.md); problems raise ConfigError."""
    path = Path(path).expanduser()
    raw = read_toml(
        path, "classification rules file", f"start from the {EXAMPLE_RULES_RESOURCE} that 'noarkpipe init' writes"
    )
    return _parse_rules(raw, str(path))


def example_classification_rules() -> RuleSet:
    """The bundled example (`templates/klassifisering.toml`)."""
    text = resources.files("noarkpipe.templates").joinpath(EXAMPLE_RULES_RESOURCE).read_text(encoding="utf-8")
    return _parse_rules(tomllib.loads(text), EXAMPLE_RULES_RESOURCE)


def _parse_rules(raw: dict, origin: str) -> RuleSet:
    unknown = set(raw) - {"rule"}
    if unknown:
        raise ConfigError(
            f"{origin}: unknown section(s) or key(s) {sorted(unknown)}; a rules file only holds [[rule]] tables"
        )
    try:
        return RuleSet.model_validate({**raw, "origin": origin})
    except ValidationError as exc:
        raise describe_validation_error(
            exc, origin, raw=raw, model=RuleSet, hint=f"keys a rule may have: {_RULE_KEYS}"
        ) from None


def validate_against_classes(ruleset: RuleSet, known_klasse_ids: Iterable[str]) -> None:
    """Raise ConfigError naming every rule whose klasse is not in the classification system."""
    known = set(known_klasse_ids)
    unknown = [rule for rule in ruleset.rules if rule.klasse not in known]
    if not unknown:
        return
    by_case = {klasse.casefold(): klasse for klasse in known}
    problems = []
    for rule in unknown:
        similar = by_case.get(rule.klasse.casefold())
        suggestion = f" (did you mean {similar!r}?)" if similar else ""
        problems.append(f"rule {rule.name!r}: klasse {rule.klasse!r}{suggestion}")
    origin = f"{ruleset.origin}: " if ruleset.origin else ""
    raise ConfigError(
        f"{origin}klasse not in the classification system: " + "; ".join(problems),
        hint="add the class to klasser_csv (klasseID;tittel) or correct the rule",
    )


def _check_title_pattern(pattern: str) -> None:
    """Raise ValueError saying what is wrong with a case title pattern."""
    try:
        parsed = list(string.Formatter().parse(pattern))
    except ValueError as exc:
        raise ValueError(f"{pattern!r}: {exc}; write {{{{ and }}}} for literal braces") from None
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if spec or conversion:
            raise ValueError(f"{pattern!r}: write placeholders as {{name}}, without ':' or '!'")
        if not re.fullmatch(r"[\w-]+(?:\.[\w-]+)*", name):
            raise ValueError(f"{pattern!r}: {{{name}}} is not a placeholder name (letters, digits, '_', '-', '.')")
