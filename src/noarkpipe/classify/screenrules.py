"""The screening rules file: which items a municipality screens, on what legal basis.

`load_screening_rules` reads and validates a TOML file of `[[rule]]` tables
and an optional `[identity_number]` table (the format is in
docs/rules-format.md); `default_screening_rules` is the bundled starting set
for municipalities (`skjerming-standard.toml`). Applying the rules to an item
is `screening.decide_screening`.
"""

from __future__ import annotations

import tomllib
from enum import StrEnum
from importlib import resources
from pathlib import Path

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from noarkpipe.config import describe_validation_error, read_toml
from noarkpipe.core.codes import SkjermingMetadata
from noarkpipe.core.strict import StrictModel
from noarkpipe.core.terms import checked_keyword, checked_user_pattern
from noarkpipe.errors import ConfigError

STANDARD_RULES_RESOURCE = "skjerming-standard.toml"


class SearchField(StrEnum):
    """Where a rule's keywords and patterns look."""

    subject = "subject"
    body = "body"
    attachments = "attachments"


class ScreeningRule(StrictModel):
    """One reason to screen: what it matches, and the skjerming it gives."""

    name: str = Field(min_length=1)
    description: str = ""
    tilgangsrestriksjon: str = Field(min_length=1)
    skjermingshjemmel: str = Field(min_length=1)
    skjermingMetadata: tuple[SkjermingMetadata, ...] = Field(min_length=1)
    klasser: tuple[str, ...] = ()
    form_types: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    search_in: tuple[SearchField, ...] = Field(default=tuple(SearchField), min_length=1)
    hide_keywords: bool = False

    @field_validator("keywords")
    @classmethod
    def _keywords_have_words(cls, keywords: tuple[str, ...]) -> tuple[str, ...]:
        for keyword in keywords:
            checked_keyword(keyword, fold=True)
        return keywords

    @field_validator("patterns")
    @classmethod
    def _patterns_compile(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            checked_user_pattern(pattern)
        return patterns

    @model_validator(mode="after")
    def _matches_something(self):
        if not (self.klasser or self.form_types or self.keywords or self.patterns):
            raise ValueError("a rule needs at least one of klasser, form_types, keywords or patterns")
        return self


class IdentityNumberScreening(StrictModel):
    """The skjerming an item gets when an identity number is all that screens it."""

    tilgangsrestriksjon: str = Field(default="13", min_length=1)
    skjermingshjemmel: str = Field(default="Offl. § 13 jf. fvl. § 13 første ledd nr. 1", min_length=1)
    skjermingMetadata: tuple[SkjermingMetadata, ...] = Field(
        default=(SkjermingMetadata.tittel_registrering_utvalgte_ord,), min_length=1
    )


class ScreeningRuleSet(StrictModel):
    """A rules file: `[[rule]]` tables become `rules`, in file order."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    identity_number: IdentityNumberScreening = IdentityNumberScreening()
    rules: tuple[ScreeningRule, ...] = Field(default=(), alias="rule")

    @model_validator(mode="after")
    def _unique_names(self):
        seen: set[str] = set()
        for rule in self.rules:
            if rule.name.casefold() in seen:
                raise ValueError(f"two rules are named {rule.name!r}; names must be unique")
            seen.add(rule.name.casefold())
        return self


def load_screening_rules(path: str | Path) -> ScreeningRuleSet:
    """Read and validate a rules file (format in docs/rules-format.md); problems raise ConfigError."""
    path = Path(path).expanduser()
    raw = read_toml(path, "screening rules file", f"start from the bundled {STANDARD_RULES_RESOURCE} in noarkpipe/classify/")
    return _parse_rules(raw, str(path))


def default_screening_rules() -> ScreeningRuleSet:
    """The bundled starting set for municipalities (`skjerming-standard.toml`)."""
    text = resources.files(__package__).joinpath(STANDARD_RULES_RESOURCE).read_text(encoding="utf-8")
    return _parse_rules(tomllib.loads(text), STANDARD_RULES_RESOURCE)


def _parse_rules(raw: dict, source: str) -> ScreeningRuleSet:
    unknown = set(raw) - {"identity_number", "rule"}
    if unknown:
        raise ConfigError(
            f"{source}: unknown section(s) {sorted(unknown)}; allowed: [identity_number] and [[rule]]"
        )
    try:
        return ScreeningRuleSet.model_validate(raw)
    except ValidationError as exc:
        raise describe_validation_error(
            exc,
            source,
            raw=raw,
            model=ScreeningRuleSet,
            messages={"enum": "must be a Noark 5 skjermingMetadata value, e.g. 'Skjerming navn avsender'"},
        ) from None
