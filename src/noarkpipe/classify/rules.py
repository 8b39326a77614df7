"""Rule-based classification: which klasse, arkivdel and case title an item gets, and why.

Archivists keep the rules in a TOML file; `load_classification_rules` reads it,
`validate_against_classes` checks it against the creator's classification
system, and `classify` is a pure function from one `Submission` to the winning
rule's decision with its explanation. `explain_text` is the report behind
`noarkpipe classify --explain FILE`.

The rules file (TOML)
---------------------
`noarkpipe init` writes `klassifisering.toml` (from noarkpipe/templates/), a commented example. A rules
file holds any number of `[[rule]]` tables and nothing else:

    [[rule]]
    name = "byggesak-eskjema"          # unique; shown in explanations and the review queue
    description = "Building applications from the form service"   # optional
    priority = 50                      # optional, default 0: higher wins, ties go to the rule earlier in the file

    # Conditions. Give at least one kind. Every kind that is given must match
    # (AND across kinds); within a kind any one entry is enough (OR). A single
    # string is taken as a list of one.
    form_types = ["byggesak-*"]        # e-form type id, shell-style wildcards (* ? [..]), case-insensitive
    sender_emails = ["*@statsforvalteren.no"]   # sender's e-mail address, same wildcards
    sender_domains = ["statsforvalteren.no"]    # domain of the sender's address; subdomains count too
    sender_orgnr = ["912345678"]       # sender's organisasjonsnummer (9 digits, spaces allowed)
    recipients = ["byggesak@*"]        # any recipient mailbox, same wildcards
    subject = ['s(ø|o)knad om (ramme)?tillatelse']   # Python regular expressions, case-insensitive,
    body = ['gnr\\.?\\s*(?P<gnr>\\d+)\\D{1,6}bnr\\.?\\s*(?P<bnr>\\d+)']   # searched anywhere in the text
    keywords = ["byggesøknad*", "nabovarsel"]   # whole words in the subject or the body, see below
    sources = ["email", "scan"]        # email, eform or scan

    # Outcome.
    klasse = "L42"                     # required: a klasseID of the classification system
    arkivdel = "Sakarkiv 2024-"        # optional: title or id; default: the creator's active arkivdel
    saksmappe_tittel = "Gnr. {gnr} bnr. {bnr} – {subject}"   # optional, default "{subject}"
    new_case = true                    # optional, default true; false: the item may only join a case it refers to
    confident = true                   # optional, default true; false: the item goes to review (status M)

Keywords: a keyword is one or more words, matched as whole words and
case-insensitively. Letters are Unicode letters, so æ, ø and å are part of a
word ("sø" is not found in "søknad") and upper and lower case compare equal
("BYGGESØKNAD" matches "byggesøknad"). `*` at the start or end stands for any
letters, so "innsyn*" also finds "innsynsbegjæring". Between the words of a
keyword any run of spaces or punctuation matches. Letters are not
transliterated: "søknad" does not find "soknad", so list both if mail arrives
without æøå.

Case title pattern (`saksmappe_tittel`): literal text with `{name}`
placeholders; write `{{` and `}}` for literal braces. A name is looked up in
this order:

1. built-ins: `subject`, `form_type`, `sender` (the sender's name, else its
   e-mail address), `sender_email`, `sender_orgnr`, `source`;
2. named groups (`(?P<name>...)`) of the rule's `subject` and `body` patterns
   that matched, subject patterns first, in file order;
3. `form_data` of an e-form: a dotted path (`{eiendom.gnr}`), or a bare name,
   taken from the top level or else from the first table that has it,
   searching level by level (so `{gnr}` also finds `eiendom.gnr`). Only text
   and numbers count; yes/no values, lists and tables do not.

Whitespace in a value is collapsed to single spaces. If any placeholder has no
value (or an empty one, or one holding a national identity number, which must
never reach a case title) the whole title falls back to the submission's
subject, and the explanation says which placeholder was missing.

Decisions and explanations
--------------------------
`classify` holds every rule against the submission. Of the rules whose every
condition kind matched, the one with the highest priority wins, and among
equal priorities the one earlier in the file. Its `RuleDecision` carries the
klasse, the arkivdel (None: the creator's active one), the rendered case
title, `new_case` and `confident` as written in the rule; the journaling stage
decides what they mean for the item (join a quoted case, open a new one,
Journalført or review). The decision's `explanation` names what matched, with
the matched text, and one line for every other rule: lost on priority or file
order, or which condition kinds failed. A rule *nearly matched* when exactly
one of its condition kinds failed and another kind (not counting `sources`)
matched; the reports show what that one kind saw instead.
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Iterable
from enum import StrEnum
from fnmatch import fnmatchcase
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from noarkpipe.config import read_toml
from noarkpipe.errors import ConfigError
from noarkpipe.core.submission import Source, Submission
from noarkpipe.core.identity import find_identity_numbers

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


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- rules


class ClassificationRule(_Strict):
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
            try:
                compiled = _regex(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {pattern!r} is not a valid regular expression: {exc}") from None
            if compiled.search(""):
                raise ValueError(f"pattern {pattern!r} matches the empty string, so it matches everything")
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
            if "*" in keyword.strip("*"):
                raise ValueError(f"keyword {keyword!r}: '*' is only allowed at the start or end")
            if not _WORD.search(keyword):
                raise ValueError(f"keyword {keyword!r} has no letters or digits")
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


class RuleSet(_Strict):
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
    """Read and validate a rules file (format in the module docstring); problems raise ConfigError."""
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
        errors = exc.errors()
        # A misspelt key also makes the real one "missing": name the misspelling first.
        first = next((error for error in errors if error["type"] == "extra_forbidden"), errors[0])
        where = _error_location(first["loc"], raw)
        message = first["msg"].removeprefix("Value error, ")
        hint = None
        if first["type"] == "missing":
            message = "is required but missing"
        elif first["type"] == "extra_forbidden":
            message = "is not a known key (misspelt?)"
            hint = f"keys a rule may have: {_RULE_KEYS}"
        more = f" ({exc.error_count() - 1} more problem(s) after this one)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{origin}: {where}: {message}{more}", hint=hint) from None


def _error_location(loc: tuple, raw: dict) -> str:
    if len(loc) > 1 and loc[0] == "rule" and isinstance(loc[1], int):
        index = loc[1]
        rules = raw.get("rule")
        rule = rules[index] if isinstance(rules, list) and index < len(rules) else None
        name = rule.get("name") if isinstance(rule, dict) else None
        label = f"rule {index + 1}" + (f" ({name!r})" if name else "")
        rest = ".".join(str(part) for part in loc[2:])
        return f"{label}: {rest}" if rest else label
    return ".".join(str(part) for part in loc) or "top level"


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


# ---------------------------------------------------------------- matching

_WORD = re.compile(r"[^\W_]+")
_BEFORE = r"(?<![^\W_])"
_AFTER = r"(?![^\W_])"
_LETTERS = r"[^\W_]*"


@lru_cache(maxsize=1024)
def _regex(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.IGNORECASE)


@lru_cache(maxsize=1024)
def _keyword_regex(keyword: str) -> re.Pattern:
    keyword = keyword.strip()
    start = _BEFORE + (_LETTERS if keyword.startswith("*") else "")
    end = (_LETTERS if keyword.endswith("*") else "") + _AFTER
    words = [re.escape(word) for word in _WORD.findall(keyword)]
    return re.compile(start + r"[\W_]+".join(words) + end, re.IGNORECASE)


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


class ConditionCheck(_Strict):
    """How one condition kind of a rule fared: `detail` names what matched, or what was there instead."""

    kind: ConditionKind
    matched: bool
    detail: str


class RuleEvaluation(_Strict):
    """One rule held against one submission."""

    rule: str
    priority: int
    position: int = Field(description="1-based place in the rules file")
    checks: tuple[ConditionCheck, ...]
    captures: dict[str, str] = Field(default_factory=dict, description="named groups of matching patterns")
    verdict: str = Field(description="chosen, why it lost, or which condition kinds failed")

    @property
    def matched(self) -> bool:
        return all(check.matched for check in self.checks)

    @property
    def failed(self) -> tuple[ConditionCheck, ...]:
        return tuple(check for check in self.checks if not check.matched)

    @property
    def near_miss(self) -> bool:
        """Exactly one condition kind failed, and some kind other than `sources` matched.

        `sources` does not count as a match here: nearly every item passes it, so
        a rule whose only other condition failed is no near miss worth showing.
        """
        telling = [c for c in self.checks if c.matched and c.kind is not ConditionKind.sources]
        return len(self.failed) == 1 and bool(telling)


class Explanation(_Strict):
    """Every rule of a rule set held against one submission, in file order."""

    evaluations: tuple[RuleEvaluation, ...]
    winner: str | None = None

    @property
    def matching(self) -> tuple[RuleEvaluation, ...]:
        """The rules that matched, best first."""
        return tuple(sorted((e for e in self.evaluations if e.matched), key=_rank))


def _rank(evaluation: RuleEvaluation) -> tuple[int, int]:
    return (-evaluation.priority, evaluation.position)


class RuleDecision(_Strict):
    """What the winning rule decides for one submission."""

    rule: str
    klasse: str
    arkivdel: str | None = Field(description="None: the creator's active arkivdel")
    saksmappe_tittel: str = Field(description="the rendered title for a new saksmappe")
    confident: bool = Field(description="true: may be journaled as Journalført; false: goes to review")
    new_case: bool = Field(description="false: may only join a case the item refers to")
    explanation: tuple[str, ...] = Field(description="why this rule, and why not the others")


def _clean(text: str) -> str:
    return " ".join(text.split())


def _quote(text: str, limit: int = 80) -> str:
    text = _clean(text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f'"{text}"'


def _excerpt(text: str, start: int, end: int, context: int = 30) -> str:
    before = "…" if start > context else ""
    after = "…" if end + context < len(text) else ""
    return before + _clean(text[max(0, start - context) : end + context]) + after


def _listed(values: Iterable[str]) -> str:
    return ", ".join(values)


def _slashed(pattern: str) -> str:
    return f"/{pattern}/i"


def _sender_email(submission: Submission) -> str | None:
    email = submission.sender.email if submission.sender else None
    return email.strip().casefold() if email and email.strip() else None


def _check_globs(kind: ConditionKind, label: str, value: str | None, patterns: tuple[str, ...]) -> ConditionCheck:
    if value is None:
        return ConditionCheck(kind=kind, matched=False, detail=f"no {label}")
    hits = [p for p in patterns if fnmatchcase(value.casefold(), p.casefold())]
    if hits:
        return ConditionCheck(kind=kind, matched=True, detail=f"{label} {value} matches {_listed(map(repr, hits))}")
    return ConditionCheck(kind=kind, matched=False, detail=f"{label} {value} matches none of {_listed(patterns)}")


def _check_domains(submission: Submission, domains: tuple[str, ...]) -> ConditionCheck:
    kind = ConditionKind.sender_domains
    email = _sender_email(submission)
    if email is None or "@" not in email:
        return ConditionCheck(kind=kind, matched=False, detail="no sender e-mail address")
    domain = email.rsplit("@", 1)[1]
    for wanted in domains:
        if domain == wanted:
            return ConditionCheck(kind=kind, matched=True, detail=f"sender domain {domain}")
        if domain.endswith("." + wanted):
            return ConditionCheck(kind=kind, matched=True, detail=f"sender domain {domain} is within {wanted}")
    return ConditionCheck(kind=kind, matched=False, detail=f"sender domain {domain} is not within {_listed(domains)}")


def _check_orgnr(submission: Submission, numbers: tuple[str, ...]) -> ConditionCheck:
    kind = ConditionKind.sender_orgnr
    number = submission.sender.organisasjonsnummer if submission.sender else None
    if not number:
        return ConditionCheck(kind=kind, matched=False, detail="sender org.nr. not known")
    number = re.sub(r"\s", "", number)
    if number in numbers:
        return ConditionCheck(kind=kind, matched=True, detail=f"sender org.nr. {number}")
    return ConditionCheck(kind=kind, matched=False, detail=f"sender org.nr. {number} is not one of {_listed(numbers)}")


def _check_recipients(submission: Submission, patterns: tuple[str, ...]) -> ConditionCheck:
    kind = ConditionKind.recipients
    addresses = [r.email.strip().casefold() for r in submission.recipients if r.email and r.email.strip()]
    if not addresses:
        return ConditionCheck(kind=kind, matched=False, detail="no recipient addresses")
    hits = [
        f"recipient {address} matches {pattern!r}"
        for address in addresses
        for pattern in patterns
        if fnmatchcase(address, pattern.casefold())
    ]
    if hits:
        return ConditionCheck(kind=kind, matched=True, detail="; ".join(hits))
    return ConditionCheck(
        kind=kind, matched=False, detail=f"recipients {_listed(addresses)} match none of {_listed(patterns)}"
    )


def _check_patterns(
    kind: ConditionKind, text: str, patterns: tuple[str, ...], captures: dict[str, str]
) -> ConditionCheck:
    label = kind.value
    if not text.strip():
        return ConditionCheck(kind=kind, matched=False, detail=f"{label} is empty")
    hits = []
    for pattern in patterns:
        match = _regex(pattern).search(text)
        if match is None:
            continue
        found = f"{label} ~ {_slashed(pattern)} matched {_quote(match.group(0))}"
        if _clean(match.group(0)) != _clean(text):
            context = text if kind is ConditionKind.subject else _excerpt(text, match.start(), match.end())
            found += f" in {_quote(context)}"
        hits.append(found)
        for name, value in match.groupdict().items():
            if value is not None and _clean(value):
                captures.setdefault(name, _clean(value))
    if hits:
        return ConditionCheck(kind=kind, matched=True, detail="; ".join(hits))
    shown = _quote(text) if kind is ConditionKind.subject else label
    return ConditionCheck(
        kind=kind, matched=False, detail=f"{shown} matches none of {_listed(map(_slashed, patterns))}"
    )


def _check_keywords(submission: Submission, keywords: tuple[str, ...]) -> ConditionCheck:
    kind = ConditionKind.keywords
    hits = []
    for keyword in keywords:
        for where, text in (("subject", submission.subject), ("body", submission.body_text)):
            match = _keyword_regex(keyword).search(text)
            if match is not None:
                hits.append(f"keyword {keyword!r} matched {_quote(match.group(0))} in {where}")
                break
    if hits:
        return ConditionCheck(kind=kind, matched=True, detail="; ".join(hits))
    return ConditionCheck(
        kind=kind, matched=False, detail=f"none of the keywords {_listed(map(repr, keywords))} in subject or body"
    )


def _check_sources(submission: Submission, sources: tuple[Source, ...]) -> ConditionCheck:
    kind = ConditionKind.sources
    if submission.source in sources:
        return ConditionCheck(kind=kind, matched=True, detail=f"source {submission.source.value}")
    return ConditionCheck(
        kind=kind,
        matched=False,
        detail=f"source {submission.source.value} is not one of {_listed(s.value for s in sources)}",
    )


def _checks(rule: ClassificationRule, submission: Submission) -> tuple[tuple[ConditionCheck, ...], dict[str, str]]:
    """Every condition kind of the rule held against the submission, and the named groups that matched."""
    captures: dict[str, str] = {}
    checks = []
    for kind in rule.condition_kinds:
        values = getattr(rule, kind.value)
        if kind is ConditionKind.form_types:
            checks.append(_check_globs(kind, "form type", submission.form_type, values))
        elif kind is ConditionKind.sender_emails:
            checks.append(_check_globs(kind, "sender e-mail", _sender_email(submission), values))
        elif kind is ConditionKind.sender_domains:
            checks.append(_check_domains(submission, values))
        elif kind is ConditionKind.sender_orgnr:
            checks.append(_check_orgnr(submission, values))
        elif kind is ConditionKind.recipients:
            checks.append(_check_recipients(submission, values))
        elif kind is ConditionKind.subject:
            checks.append(_check_patterns(kind, submission.subject, values, captures))
        elif kind is ConditionKind.body:
            checks.append(_check_patterns(kind, submission.body_text, values, captures))
        elif kind is ConditionKind.keywords:
            checks.append(_check_keywords(submission, values))
        else:
            checks.append(_check_sources(submission, values))
    return tuple(checks), captures


def evaluate(submission: Submission, ruleset: RuleSet) -> Explanation:
    """Hold every rule against the submission; the best matching rule is the winner."""
    checked = [(position, rule, *_checks(rule, submission)) for position, rule in enumerate(ruleset.rules, start=1)]
    matching = [
        (-rule.priority, position, rule) for position, rule, checks, _ in checked if all(c.matched for c in checks)
    ]
    best = min(matching, key=lambda ranked: ranked[:2])[2] if matching else None
    evaluations = tuple(
        RuleEvaluation(
            rule=rule.name,
            priority=rule.priority,
            position=position,
            checks=checks,
            captures=captures,
            verdict=_verdict(rule, checks, best),
        )
        for position, rule, checks, captures in checked
    )
    return Explanation(evaluations=evaluations, winner=best.name if best else None)


def _verdict(rule: ClassificationRule, checks: tuple[ConditionCheck, ...], best: ClassificationRule | None) -> str:
    failed = [check.kind.value for check in checks if not check.matched]
    if failed:
        return "did not match: " + _listed(f"{kind} failed" for kind in failed)
    if rule is best:
        return "chosen"
    if rule.priority < best.priority:
        return f"matched but lost to {best.name!r}: lower priority ({rule.priority} < {best.priority})"
    return (
        f"matched but lost to {best.name!r}: same priority ({rule.priority}), "
        f"and {best.name!r} comes earlier in the file"
    )


# ---------------------------------------------------------------- case title


def _form_value(form_data: dict, name: str) -> object:
    if "." in name:
        value: object = form_data
        for part in name.split("."):
            if not isinstance(value, dict) or part not in value:
                return None
            value = value[part]
        return value
    level = [form_data]
    while level:
        for table in level:
            if name in table:
                return table[name]
        level = [v for table in level for v in table.values() if isinstance(v, dict)]
    return None


def _placeholder_value(name: str, submission: Submission, captures: dict[str, str]) -> str | None:
    sender = submission.sender
    builtins = {
        "subject": submission.subject,
        "form_type": submission.form_type,
        "sender": (sender.name or sender.email) if sender else None,
        "sender_email": sender.email if sender else None,
        "sender_orgnr": sender.organisasjonsnummer if sender else None,
        "source": submission.source.value,
    }
    if name in builtins:
        value: object = builtins[name]
    elif name in captures:
        value = captures[name]
    else:
        value = _form_value(submission.form_data, name)
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    return _clean(str(value)) or None


def render_title(pattern: str, submission: Submission, captures: dict[str, str]) -> tuple[str, str | None]:
    """The case title from a pattern, and why the subject was kept instead (None if it was not)."""
    pieces = []
    for literal, name, _spec, _conversion in string.Formatter().parse(pattern):
        pieces.append(literal)
        if name is None:
            continue
        value = _placeholder_value(name, submission, captures)
        if value is None:
            return _clean(submission.subject), f"placeholder {{{name}}} has no value"
        if find_identity_numbers(value):
            return _clean(submission.subject), f"placeholder {{{name}}} holds an identity number"
        pieces.append(value)
    return _clean("".join(pieces)), None


# ---------------------------------------------------------------- decision


def classify(submission: Submission, ruleset: RuleSet) -> RuleDecision | None:
    """The decision of the best matching rule, or None when no rule matches."""
    return _decide(submission, ruleset, evaluate(submission, ruleset))


def _rule_named(ruleset: RuleSet, name: str) -> ClassificationRule:
    return next(rule for rule in ruleset.rules if rule.name == name)


def _decide(submission: Submission, ruleset: RuleSet, explanation: Explanation) -> RuleDecision | None:
    if explanation.winner is None:
        return None
    rule = _rule_named(ruleset, explanation.winner)
    winner = next(e for e in explanation.evaluations if e.rule == rule.name)
    title, fallback = render_title(rule.saksmappe_tittel, submission, winner.captures)
    lines = [f"rule {rule.name!r} (priority {rule.priority}) chosen: klasse {rule.klasse}"]
    lines += [f"  matched: {check.detail}" for check in winner.checks]
    if fallback:
        lines.append(f"saksmappe tittel: {fallback} in {rule.saksmappe_tittel!r}, kept the subject")
    else:
        lines.append(f"saksmappe tittel {_quote(title, 200)} from {rule.saksmappe_tittel!r}")
    for evaluation in explanation.evaluations:
        if evaluation is winner:
            continue
        lines.append(f"rule {evaluation.rule!r} (priority {evaluation.priority}) {evaluation.verdict}")
        if evaluation.near_miss:
            lines.append(f"  failed: {evaluation.failed[0].detail}")
    return RuleDecision(
        rule=rule.name,
        klasse=rule.klasse,
        arkivdel=rule.arkivdel,
        saksmappe_tittel=title,
        confident=rule.confident,
        new_case=rule.new_case,
        explanation=tuple(lines),
    )


# ---------------------------------------------------------------- report


def _party_text(submission: Submission) -> str:
    sender = submission.sender
    if sender is None:
        return "(unknown)"
    text = " ".join(part for part in (sender.name, f"<{sender.email}>" if sender.email else None) if part)
    if sender.organisasjonsnummer:
        text += f", org.nr. {sender.organisasjonsnummer}"
    return text or "(unknown)"


def explain_text(submission: Submission, ruleset: RuleSet) -> str:
    """A report for `noarkpipe classify --explain`: the item, the matching rules, the decision, near misses."""
    explanation = evaluate(submission, ruleset)
    decision = _decide(submission, ruleset, explanation)
    recipients = _listed(r.email or r.name or "?" for r in submission.recipients) or "–"
    origin = f" from {ruleset.origin}" if ruleset.origin else ""
    lines = [
        f"Submission {submission.origin_name}",
        f"  source:     {submission.source.value}",
        f"  sender:     {_party_text(submission)}",
        f"  recipients: {recipients}",
        f"  subject:    {_clean(submission.subject) or '–'}",
        f"  form type:  {submission.form_type or '–'}",
        "",
        f"{len(ruleset.rules)} rule(s){origin}.",
        "",
    ]

    matching = explanation.matching
    lines.append(f"Matching rules, best first ({len(matching)}):" if matching else "No rule matched.")
    for evaluation in matching:
        rule = _rule_named(ruleset, evaluation.rule)
        lines.append(
            f"  {evaluation.rule} (priority {evaluation.priority}, klasse {rule.klasse}): {evaluation.verdict}"
        )
        lines += [f"      matched: {check.detail}" for check in evaluation.checks]

    if decision is not None:
        arkivdel = decision.arkivdel or "the creator's active arkivdel"
        new_case = "yes: may open a new saksmappe" if decision.new_case else "no: may only join a case it refers to"
        confident = (
            "yes: may be journaled as Journalført"
            if decision.confident
            else "no: goes to review as Midlertidig registrering"
        )
        rule = _rule_named(ruleset, decision.rule)
        winner = next(e for e in explanation.evaluations if e.rule == rule.name)
        _title, fallback = render_title(rule.saksmappe_tittel, submission, winner.captures)
        source = f"{fallback}, kept the subject" if fallback else "from"
        lines += [
            "",
            f"Decision (rule {decision.rule}):",
            f"  klasse:           {decision.klasse}",
            f"  arkivdel:         {arkivdel}",
            f"  saksmappe tittel: {decision.saksmappe_tittel}",
            f"                    ({source} pattern {rule.saksmappe_tittel!r})",
            f"  new case:         {new_case}",
            f"  confident:        {confident}",
        ]
        if rule.description:
            lines.append(f"  rule description: {rule.description}")

    near = [e for e in explanation.evaluations if e.near_miss]
    if near:
        lines += ["", f"Nearly matched: one condition kind failed ({len(near)}):"]
        for evaluation in near:
            lines.append(f"  {evaluation.rule} (priority {evaluation.priority})")
            lines.append(f"      failed:  {evaluation.failed[0].detail}")
            lines += [f"      matched: {check.detail}" for check in evaluation.checks if check.matched]

    others = [e for e in explanation.evaluations if not e.matched and not e.near_miss]
    if others:
        lines += ["", f"Did not match ({len(others)}):"]
        lines += [f"  {e.rule}: " + "; ".join(check.detail for check in e.failed) for e in others]
    return "\n".join(lines) + "\n"
