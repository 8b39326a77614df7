"""Holding classification rules against a submission: which condition kinds matched, with what text.

`evaluate` checks every rule of a rule set, in file order, and names the
winner: of the rules whose every condition kind matched, the one with the
highest priority, and among equal priorities the one earlier in the file.
Each `ConditionCheck` says what matched, with the matched text, or what was
there instead, so explanations and `classify --explain` can show it.
Keywords are matched by `core/terms.py` without folding (`fold=False`):
case-insensitive whole words, "søknad" does not find "soknad".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from fnmatch import fnmatchcase

from pydantic import Field

from noarkpipe.classify.rulefile import ClassificationRule, ConditionKind, RuleSet
from noarkpipe.core.strict import StrictModel
from noarkpipe.core.submission import Source, Submission
from noarkpipe.core.terms import term_pattern, user_pattern


class ConditionCheck(StrictModel):
    """How one condition kind of a rule fared: `detail` names what matched, or what was there instead."""

    kind: ConditionKind
    matched: bool
    detail: str


class RuleEvaluation(StrictModel):
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


class Explanation(StrictModel):
    """Every rule of a rule set held against one submission, in file order."""

    evaluations: tuple[RuleEvaluation, ...]
    winner: str | None = None

    @property
    def matching(self) -> tuple[RuleEvaluation, ...]:
        """The rules that matched, best first."""
        return tuple(sorted((e for e in self.evaluations if e.matched), key=_rank))


def _rank(evaluation: RuleEvaluation) -> tuple[int, int]:
    return (-evaluation.priority, evaluation.position)


def clean(text: str) -> str:
    """Whitespace collapsed to single spaces, as explanations and titles show text."""
    return " ".join(text.split())


def quote(text: str, limit: int = 80) -> str:
    """The text cleaned, cut at `limit` characters and in double quotes."""
    text = clean(text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f'"{text}"'


def _excerpt(text: str, start: int, end: int, context: int = 30) -> str:
    before = "…" if start > context else ""
    after = "…" if end + context < len(text) else ""
    return before + clean(text[max(0, start - context) : end + context]) + after


def listed(values: Iterable[str]) -> str:
    """Values joined with commas."""
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
        return ConditionCheck(kind=kind, matched=True, detail=f"{label} {value} matches {listed(map(repr, hits))}")
    return ConditionCheck(kind=kind, matched=False, detail=f"{label} {value} matches none of {listed(patterns)}")


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
    return ConditionCheck(kind=kind, matched=False, detail=f"sender domain {domain} is not within {listed(domains)}")


def _check_orgnr(submission: Submission, numbers: tuple[str, ...]) -> ConditionCheck:
    kind = ConditionKind.sender_orgnr
    number = submission.sender.organisasjonsnummer if submission.sender else None
    if not number:
        return ConditionCheck(kind=kind, matched=False, detail="sender org.nr. not known")
    number = re.sub(r"\s", "", number)
    if number in numbers:
        return ConditionCheck(kind=kind, matched=True, detail=f"sender org.nr. {number}")
    return ConditionCheck(kind=kind, matched=False, detail=f"sender org.nr. {number} is not one of {listed(numbers)}")


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
        kind=kind, matched=False, detail=f"recipients {listed(addresses)} match none of {listed(patterns)}"
    )


def _check_patterns(
    kind: ConditionKind, text: str, patterns: tuple[str, ...], captures: dict[str, str]
) -> ConditionCheck:
    label = kind.value
    if not text.strip():
        return ConditionCheck(kind=kind, matched=False, detail=f"{label} is empty")
    hits = []
    for pattern in patterns:
        match = user_pattern(pattern).search(text)
        if match is None:
            continue
        found = f"{label} ~ {_slashed(pattern)} matched {quote(match.group(0))}"
        if clean(match.group(0)) != clean(text):
            context = text if kind is ConditionKind.subject else _excerpt(text, match.start(), match.end())
            found += f" in {quote(context)}"
        hits.append(found)
        for name, value in match.groupdict().items():
            if value is not None and clean(value):
                captures.setdefault(name, clean(value))
    if hits:
        return ConditionCheck(kind=kind, matched=True, detail="; ".join(hits))
    shown = quote(text) if kind is ConditionKind.subject else label
    return ConditionCheck(
        kind=kind, matched=False, detail=f"{shown} matches none of {listed(map(_slashed, patterns))}"
    )


def _check_keywords(submission: Submission, keywords: tuple[str, ...]) -> ConditionCheck:
    kind = ConditionKind.keywords
    hits = []
    for keyword in keywords:
        for where, text in (("subject", submission.subject), ("body", submission.body_text)):
            match = term_pattern(keyword, fold=False).search(text)
            if match is not None:
                hits.append(f"keyword {keyword!r} matched {quote(match.group(0))} in {where}")
                break
    if hits:
        return ConditionCheck(kind=kind, matched=True, detail="; ".join(hits))
    return ConditionCheck(
        kind=kind, matched=False, detail=f"none of the keywords {listed(map(repr, keywords))} in subject or body"
    )


def _check_sources(submission: Submission, sources: tuple[Source, ...]) -> ConditionCheck:
    kind = ConditionKind.sources
    if submission.source in sources:
        return ConditionCheck(kind=kind, matched=True, detail=f"source {submission.source.value}")
    return ConditionCheck(
        kind=kind,
        matched=False,
        detail=f"source {submission.source.value} is not one of {listed(s.value for s in sources)}",
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
        return "did not match: " + listed(f"{kind} failed" for kind in failed)
    if rule is best:
        return "chosen"
    if rule.priority < best.priority:
        return f"matched but lost to {best.name!r}: lower priority ({rule.priority} < {best.priority})"
    return (
        f"matched but lost to {best.name!r}: same priority ({rule.priority}), "
        f"and {best.name!r} comes earlier in the file"
    )
