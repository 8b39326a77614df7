"""Screening (skjerming): whether an item is screened, on what legal basis, and what the public may see.

Everything here is a pure function over text and rules. Journaling stores the
`ScreeningDecision` (its `skjerming()` is the Noark 5 element); the public
journal writer passes every string it emits through `public_text` and then
through `assert_public_safe`, the last-line guard.

What is always true, whatever the rules say:
- an identity number (fødselsnummer, D-, H- or synthetic number; see
  `core/identity.py`) anywhere in the title, subject, body, form fields or
  attachment names screens the item, and no identity number ever survives in
  a public string, however it is written;
- names of private correspondence parties (the sender, unless it has an
  organisasjonsnummer or the caller says it is no private person, and any
  names the caller lists) are replaced in every
  public string when the decision hides names (`skjermingMetadata` holds a
  "Skjerming navn ..." value): the full name, each part of it (both halves of
  "Berg-Hansen"), and possessive forms ("Ødegårds", "Hans'").

Names and keywords are compared case-insensitively and spelling-tolerantly
(`core/terms.py` with `fold=True`): text is NFKC-normalised and case-folded, accents are dropped, æ/ø/å fold to
e/o/a, and the transliterations ae/oe/aa fold the same way, so "Åse Ødegård",
"ÅSE ØDEGÅRD", "Ase Odegard" and "Aase Oedegaard" are one name. A term only
matches whole words; underscores count as spaces, and so do a zero-width space
and a change from lower to upper case, so "Legeerklaering_AseOdegard.pdf"
gives up the name too.

The rules file (a TOML file of `[[rule]]` tables and an optional
`[identity_number]` table) is read by `screenrules.py`; its format, and how
the matching rules make up the skjerming, are in docs/rules-format.md.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from enum import StrEnum
from fnmatch import fnmatchcase
from functools import lru_cache

from pydantic import Field

from noarkpipe.classify.screenrules import ScreeningRule, ScreeningRuleSet, SearchField
from noarkpipe.core.codes import SkjermingMetadata
from noarkpipe.core.identity import find_identity_numbers, find_known_number, identity_number_kind
from noarkpipe.core.noark import Skjerming
from noarkpipe.core.strict import StrictModel
from noarkpipe.core.submission import FORM_SUBMISSION_KEY, Party, Submission
from noarkpipe.core.terms import any_term_pattern, term_pattern, user_pattern
from noarkpipe.core.terms import fold_text as _fold
from noarkpipe.errors import PublicJournalLeakError

# One character longer than the widest gap `find_known_number` bridges, so a
# mask can never glue the pieces of a known number back together.
MASK = "*****"


class PublicField(StrEnum):
    """Which field of the public journal a string is, for `public_text`."""

    tittel_registrering = "tittel_registrering"
    tittel_mappe = "tittel_mappe"
    tittel_dokumentbeskrivelse = "tittel_dokumentbeskrivelse"
    navn_avsender = "navn_avsender"
    navn_mottaker = "navn_mottaker"
    navn_part = "navn_part"
    merknadstekst = "merknadstekst"
    klasse_id = "klasse_id"
    tittel_klasse = "tittel_klasse"
    other = "other"


# Fields that a skjermingMetadata value hides completely ...
_WHOLE_FIELD = {
    PublicField.tittel_dokumentbeskrivelse: SkjermingMetadata.tittel_dokumentbeskrivelse,
    PublicField.navn_avsender: SkjermingMetadata.navn_avsender,
    PublicField.navn_mottaker: SkjermingMetadata.navn_mottaker,
    PublicField.navn_part: SkjermingMetadata.navn_part,
    PublicField.merknadstekst: SkjermingMetadata.merknadstekst,
    PublicField.klasse_id: SkjermingMetadata.klasse_id,
    PublicField.tittel_klasse: SkjermingMetadata.tittel_klasse,
}
# ... and those it hides after their first line.
_AFTER_FIRST_LINE = {
    PublicField.tittel_registrering: SkjermingMetadata.tittel_registrering_unntatt_foerste_linje,
    PublicField.tittel_mappe: SkjermingMetadata.tittel_mappe_unntatt_foerste_linje,
}
_NAME_METADATA = frozenset(
    {SkjermingMetadata.navn_avsender, SkjermingMetadata.navn_mottaker, SkjermingMetadata.navn_part}
)
_TITLE_WORDS_HIDDEN = frozenset(
    {
        SkjermingMetadata.tittel_registrering_utvalgte_ord,
        SkjermingMetadata.tittel_registrering_unntatt_foerste_linje,
    }
)


# ---------------------------------------------------------------- decision


class ScreeningInput(StrictModel):
    """What screening looks at for one item (build it from a Submission with `screening_input`)."""

    tittel: str = Field(description="the title the item is journaled with; searched as 'subject'")
    subject: str = Field(default="", description="the submission's subject, if it differs from tittel")
    body: str = Field(default="", description="body text, and e-form field values")
    attachment_names: tuple[str, ...] = Field(default=(), description="file names and document titles")
    form_type: str | None = None
    klasse_id: str | None = None
    sender: Party | None = None
    sender_is_private: bool | None = Field(
        default=None,
        description="whether the sender is a private person; None: yes unless it has an organisasjonsnummer",
    )
    private_names: tuple[str, ...] = Field(
        default=(), description="more names of private persons to hide, besides a private sender"
    )
    form_names: tuple[str, ...] = Field(
        default=(), description="names in the e-form's fields; hidden whenever the item is screened"
    )


class ScreeningSecrets(StrictModel):
    """What must not appear in any public string of one item (input to `assert_public_safe`)."""

    identity_numbers: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()


class ScreeningDecision(StrictModel):
    screened: bool
    reasons: tuple[str, ...] = Field(description="for the archivist: why, without the secrets themselves")
    matched_rules: tuple[str, ...] = ()
    tilgangsrestriksjon: str | None = None
    skjermingshjemmel: str | None = None
    skjermingMetadata: tuple[SkjermingMetadata, ...] = ()
    offentlig_tittel: str
    secrets: ScreeningSecrets = ScreeningSecrets()

    def hides(self, metadata: SkjermingMetadata) -> bool:
        return metadata in self.skjermingMetadata

    def skjerming(self) -> Skjerming | None:
        """The Noark 5 skjerming element, or None when nothing is screened."""
        if not self.screened:
            return None
        return Skjerming(
            tilgangsrestriksjon=self.tilgangsrestriksjon,
            skjermingshjemmel=self.skjermingshjemmel,
            skjermingMetadata=list(self.skjermingMetadata),
        )


def screening_input(
    submission: Submission,
    *,
    tittel: str | None = None,
    klasse_id: str | None = None,
    sender_is_private: bool | None = None,
    private_names: Sequence[str] = (),
) -> ScreeningInput:
    """Everything of a submission that screening reads; `tittel` defaults to the subject."""
    attachment_names: list[str] = []
    for document in submission.documents:
        attachment_names.extend(name for name in (document.filename, document.title) if name)
    form_values = "\n".join(_form_values(submission.form_data))
    return ScreeningInput(
        tittel=submission.subject if tittel is None else tittel,
        subject=submission.subject,
        body="\n".join(part for part in (submission.body_text, form_values) if part),
        attachment_names=tuple(attachment_names),
        form_type=submission.form_type,
        klasse_id=klasse_id,
        sender=submission.sender,
        sender_is_private=sender_is_private,
        private_names=tuple(private_names),
        form_names=form_person_names(submission.form_data),
    )


# Form fields that hold a person's name: "navn", "fornavn", "barnetsNavn", "fullName".
# A few "-navn" keys name places or organisations; masking those too in a
# screened item's public text costs little, missing a child's name costs a lot.
_NAME_KEY = re.compile(r"(?:navn|name)$", re.IGNORECASE)


def form_person_names(form_data: dict) -> tuple[str, ...]:
    """Names in an e-form's fields (the child in a kindergarten application, the tiltakshaver).

    They are hidden from public text like a private sender's name whenever the
    screening decision hides names. The submitter is left out: it is the
    sender, and whether its name is private depends on its organisasjonsnummer.
    """
    found: list[str] = []

    def walk(value: object, key: str | None) -> None:
        if isinstance(value, dict):
            for child_key, child in value.items():
                if child_key != FORM_SUBMISSION_KEY:
                    walk(child, str(child_key))
        elif isinstance(value, (list, tuple)):
            for child in value:
                walk(child, key)
        elif isinstance(value, str) and key is not None and _NAME_KEY.search(key) and value.strip():
            found.append(value.strip())

    walk(form_data, None)
    return tuple(dict.fromkeys(found))


def _form_values(value: object) -> Iterable[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _form_values(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _form_values(item)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int) and 0 <= value < 10**11:
        # A form that stores a fødselsnummer as a number loses its leading zero.
        yield f"{value} {value:011d}"
    else:
        yield str(value)


def decide_screening(item: ScreeningInput, rules: ScreeningRuleSet) -> ScreeningDecision:
    """Whether the item is screened, why, with what skjerming, and its public title."""
    texts = {
        SearchField.subject: [text for text in dict.fromkeys((item.tittel, item.subject)) if text],
        SearchField.body: [item.body] if item.body else [],
        SearchField.attachments: [name for name in item.attachment_names if name],
    }
    reasons: list[str] = []
    numbers: list[str] = []
    for field, field_texts in texts.items():
        for text in field_texts:
            for found in _identity_numbers(text):
                if found.number not in numbers:
                    numbers.append(found.number)
                _add(reasons, f"{found.kind} in {_FIELD_LABEL[field]}: screened, removed from public text")

    matched: list[ScreeningRule] = []
    candidates = _keyword_candidates(rules, texts)
    for rule in rules.rules:
        hits = _rule_hits(rule, item, texts, candidates)
        if hits:
            matched.append(rule)
            reasons.extend(f"rule {rule.name!r} ({rule.skjermingshjemmel}): {hit}" for hit in hits)

    if not matched and not numbers:
        return ScreeningDecision(screened=False, reasons=(), offentlig_tittel=item.tittel)

    source = matched[0] if matched else rules.identity_number
    metadata = {m for rule in matched for m in rule.skjermingMetadata}
    if numbers:
        metadata |= set(rules.identity_number.skjermingMetadata)
    if item.form_names:
        # A screened form about a person (a child's kindergarten place, a loan):
        # the people it names are parties whose names the public must not see.
        metadata.add(SkjermingMetadata.navn_part)
    names = _private_names(item) if metadata & _NAME_METADATA else ()
    if names:
        reasons.append(f"names of {len(names)} private person(s) hidden in public text")
    hiding = [rule for rule in matched if rule.hide_keywords]
    decision = ScreeningDecision(
        screened=True,
        reasons=tuple(reasons),
        matched_rules=tuple(rule.name for rule in matched),
        tilgangsrestriksjon=source.tilgangsrestriksjon,
        skjermingshjemmel=source.skjermingshjemmel,
        skjermingMetadata=_ordered(metadata),
        offentlig_tittel=MASK,
        secrets=ScreeningSecrets(
            identity_numbers=tuple(numbers),
            names=names,
            keywords=tuple(dict.fromkeys(k for rule in hiding for k in rule.keywords)),
            patterns=tuple(dict.fromkeys(p for rule in hiding for p in rule.patterns)),
        ),
    )
    offentlig_tittel = public_text(item.tittel, decision, PublicField.tittel_registrering)
    if offentlig_tittel != item.tittel and not metadata & _TITLE_WORDS_HIDDEN:
        metadata.add(SkjermingMetadata.tittel_registrering_utvalgte_ord)
    return decision.model_copy(
        update={"offentlig_tittel": offentlig_tittel, "skjermingMetadata": _ordered(metadata)}
    )


_FIELD_LABEL = {
    SearchField.subject: "subject",
    SearchField.body: "body",
    SearchField.attachments: "attachment names",
}


def _add(reasons: list[str], reason: str) -> None:
    if reason not in reasons:
        reasons.append(reason)


def _ordered(metadata: set[SkjermingMetadata]) -> tuple[SkjermingMetadata, ...]:
    return tuple(m for m in SkjermingMetadata if m in metadata)


def _keyword_candidates(rules: ScreeningRuleSet, texts: dict[SearchField, list[str]]) -> dict[SearchField, list[str]]:
    """Per field, the folded texts in which some keyword of some rule matches; the others can match none.

    One search per text with the alternation of every keyword's pattern
    (`_any_keyword`) instead of one per keyword per rule: almost every item
    matches no keyword at all, and then that one search is all there is.
    """
    every = _any_keyword(tuple(dict.fromkeys(k for rule in rules.rules for k in rule.keywords)))
    if every is None:
        return {field: [] for field in texts}
    return {field: [f for f in (_fold(text).text for text in field_texts) if every.search(f)]
            for field, field_texts in texts.items()}


def _rule_hits(
    rule: ScreeningRule,
    item: ScreeningInput,
    texts: dict[SearchField, list[str]],
    candidates: dict[SearchField, list[str]],
) -> list[str]:
    """What of the rule matches the item, in the rule's order; keywords only searched in `candidates`."""
    hits: list[str] = []
    if item.klasse_id and any(fnmatchcase(item.klasse_id.casefold(), p.casefold()) for p in rule.klasser):
        hits.append(f"klasse {item.klasse_id}")
    if item.form_type and any(fnmatchcase(item.form_type.casefold(), p.casefold()) for p in rule.form_types):
        hits.append(f"form type {item.form_type!r}")
    own = _any_keyword(rule.keywords)
    for field in rule.search_in:
        # A keyword of this rule can only match where the rule's alternation does.
        folded = [text for text in candidates[field] if own.search(text)] if own is not None else []
        for keyword in rule.keywords if folded else ():
            pattern = _term_pattern(keyword, name=False)
            if any(pattern.search(text) for text in folded):
                hits.append(f"keyword {keyword!r} in {_FIELD_LABEL[field]}")
        for regex in rule.patterns:
            compiled = user_pattern(regex)
            if any(compiled.search(text) for text in texts[field]):
                hits.append(f"pattern {regex!r} in {_FIELD_LABEL[field]}")
    return hits


def _any_keyword(keywords: tuple[str, ...]) -> re.Pattern | None:
    """One pattern over folded text that matches exactly when one of the keywords does (`terms.any_term_pattern`)."""
    return any_term_pattern(keywords, fold=True)


_DIGIT = re.compile(r"\d")
_ASCII_DIGITS = frozenset("0123456789")


def _may_hold_number(text: str) -> bool:
    """False only if the text cannot hold an identity number: it has fewer than eleven decimal digits.

    Exact as a first look: `identity.find_identity_numbers` (and
    `find_known_number`) need eleven digits after NFKC normalisation, and NFKC
    never makes a digit out of nothing but a compatibility form (full-width,
    superscript, circled), which the normalised count below includes.
    """
    if text.isascii():
        return len(text) >= 11 and sum(1 for ch in text if ch in _ASCII_DIGITS) >= 11
    # Not by length: one character can stand for several digits ("⑳" is "20" after NFKC).
    return len(_DIGIT.findall(unicodedata.normalize("NFKC", text))) >= 11


def _identity_numbers(text: str):
    return find_identity_numbers(text) if _may_hold_number(text) else []


def _private_names(item: ScreeningInput) -> tuple[str, ...]:
    names = [*item.private_names, *item.form_names]
    sender = item.sender
    private = item.sender_is_private
    if private is None:
        private = sender is not None and not sender.organisasjonsnummer
    if sender is not None and sender.name and private:
        names.insert(0, sender.name)
    unique: dict[str, str] = {}
    for name in names:
        if name.strip():
            unique.setdefault(_fold(name).text, name.strip())
    return tuple(unique.values())


# ---------------------------------------------------------------- public text


def public_text(text: str, decision: ScreeningDecision, field: PublicField = PublicField.other) -> str:
    """The text as the public may see it.

    Identity numbers are always removed; when the decision hides names, the
    private names are; hidden keywords are. A field that the decision's
    skjermingMetadata hides completely becomes `*****`, a title it hides after
    the first line keeps only its first line.
    """
    if not text:
        return text
    whole = _WHOLE_FIELD.get(field)
    if whole is not None and decision.hides(whole):
        return MASK
    redacted = _redact(text, decision.secrets)
    after_first = _AFTER_FIRST_LINE.get(field)
    if after_first is not None and decision.hides(after_first):
        first, _, rest = redacted.partition("\n")
        if rest.strip():
            return f"{first}\n{MASK}"
    return redacted


def assert_public_safe(text: str, secrets: ScreeningSecrets) -> None:
    """Raise PublicJournalLeakError if the text reveals an identity number or a secret of the item.

    Any identity number counts, known or not, in any spacing; the item's known
    numbers count even inside longer digit runs. The error names positions,
    never the secret, so it can be logged.
    """
    problems = [f"{label} at characters {start}-{end}" for start, end, label in _secret_spans(text, secrets)]
    if problems:
        raise PublicJournalLeakError(
            "public text would reveal screened information: " + "; ".join(problems),
            hint="pass every public string through screening.public_text with the item's decision",
        )


def _redact(text: str, secrets: ScreeningSecrets) -> str:
    spans = sorted((start, end) for start, end, _ in _secret_spans(text, secrets))
    if not spans:
        return text
    pieces: list[str] = []
    position = 0
    current_start, current_end = spans[0]
    for start, end in spans[1:]:
        if start <= current_end:
            current_end = max(current_end, end)
            continue
        pieces += [text[position:current_start], MASK]
        position = current_end
        current_start, current_end = start, end
    pieces += [text[position:current_start], MASK, text[current_end:]]
    return "".join(pieces)


def _secret_spans(text: str, secrets: ScreeningSecrets) -> list[tuple[int, int, str]]:
    digits = _may_hold_number(text)
    spans = [(m.start, m.end, f"a {m.kind}") for m in find_identity_numbers(text)] if digits else []
    for number in secrets.identity_numbers if digits else ():
        label = f"a screened {identity_number_kind(number) or 'identity number'}"
        spans += [(start, end, label) for start, end in find_known_number(text, number)]
    folded = _fold(text)
    terms = [(term, True, "a screened name") for name in secrets.names for term in _name_terms(name)]
    terms += [(keyword, False, "a screened keyword") for keyword in secrets.keywords]
    for term, is_name, label in terms:
        pattern = _term_pattern(term, name=is_name)
        if pattern is not None:
            spans += [(*folded.span(m), label) for m in pattern.finditer(folded.text)]
    for regex in secrets.patterns:
        matches = user_pattern(regex).finditer(text)
        spans += [(m.start(), m.end(), "a screened pattern") for m in matches if m.end() > m.start()]
    return spans


# ---------------------------------------------------------------- matching names and keywords

# Nobiliary particles and the like: part of a full name, but never hidden on their own
# ("Jan de Vries" must not turn every "de" in a title into *****).
_PARTICLES = frozenset(
    {"af", "al", "av", "bin", "da", "de", "del", "della", "den", "der"}
    | {"di", "du", "el", "ibn", "la", "le", "ten", "ter", "van", "von"}
)


def _term_pattern(term: str, *, name: bool) -> re.Pattern | None:
    """A pattern over folded text for a name or a keyword; None if the term has no words.

    Names also match their possessive ("Ødegårds", "Hans'"); keywords instead
    take `*` at either end for any letters.
    """
    return term_pattern(term, fold=True, wildcards=not name, possessive=name)


@lru_cache(maxsize=1024)
def _name_terms(name: str) -> tuple[str, ...]:
    """The full name first, then every part worth hiding on its own."""
    terms = [name]
    for token in re.split(r"[\s,;:()/]+", name):
        for part in [token, *re.split(r"[-‐‑]", token)]:
            part = part.strip(".'’")
            letters = sum(ch.isalpha() for ch in part)
            if letters >= 2 and _fold(part).text not in _PARTICLES and part not in terms:
                terms.append(part)
    return tuple(terms)
