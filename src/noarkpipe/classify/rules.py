"""Rule-based classification: which klasse, arkivdel and case title an item gets, and why.

Archivists keep the rules in a TOML file; `load_classification_rules`
(`rulefile.py`) reads it, `validate_against_classes` checks it against the
creator's classification system, and `classify` is a pure function from one
`Submission` to the winning rule's decision with its explanation. `explain_text` is the report behind
`noarkpipe classify --explain FILE`.

The rules file (TOML)
---------------------
`noarkpipe init` writes `klassifisering.toml` (from noarkpipe/templates/), a
commented example. The format (conditions, outcome, keywords, the case title
pattern) is described in docs/rules-format.md; `rulefile.py` reads it and
`rulematch.py` holds it against a submission.

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

import string

from pydantic import Field

from noarkpipe.classify.rulefile import ClassificationRule, RuleSet
from noarkpipe.classify.rulematch import Explanation, clean, evaluate, listed, quote
from noarkpipe.core.identity import find_identity_numbers
from noarkpipe.core.strict import StrictModel
from noarkpipe.core.submission import Submission


class RuleDecision(StrictModel):
    """What the winning rule decides for one submission."""

    rule: str
    klasse: str
    arkivdel: str | None = Field(description="None: the creator's active arkivdel")
    saksmappe_tittel: str = Field(description="the rendered title for a new saksmappe")
    confident: bool = Field(description="true: may be journaled as Journalført; false: goes to review")
    new_case: bool = Field(description="false: may only join a case the item refers to")
    explanation: tuple[str, ...] = Field(description="why this rule, and why not the others")


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
    return clean(str(value)) or None


def render_title(pattern: str, submission: Submission, captures: dict[str, str]) -> tuple[str, str | None]:
    """The case title from a pattern, and why the subject was kept instead (None if it was not)."""
    pieces = []
    for literal, name, _spec, _conversion in string.Formatter().parse(pattern):
        pieces.append(literal)
        if name is None:
            continue
        value = _placeholder_value(name, submission, captures)
        if value is None:
            return clean(submission.subject), f"placeholder {{{name}}} has no value"
        if find_identity_numbers(value):
            return clean(submission.subject), f"placeholder {{{name}}} holds an identity number"
        pieces.append(value)
    return clean("".join(pieces)), None


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
        lines.append(f"saksmappe tittel {quote(title, 200)} from {rule.saksmappe_tittel!r}")
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
    recipients = listed(r.email or r.name or "?" for r in submission.recipients) or "–"
    origin = f" from {ruleset.origin}" if ruleset.origin else ""
    lines = [
        f"Submission {submission.origin_name}",
        f"  source:     {submission.source.value}",
        f"  sender:     {_party_text(submission)}",
        f"  recipients: {recipients}",
        f"  subject:    {clean(submission.subject) or '–'}",
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
