"""The fast keyword matcher and identity-number first look give the same decisions as the plain ones.

`screening._rule_hits` searches a rule's keywords only in the texts where the
alternation of every keyword matches (`_keyword_candidates`, `_any_keyword`),
and identity numbers are only looked for in texts with eleven digits
(`_may_hold_number`). Both are claimed exact; this file checks the claim
against the straightforward code (one search per keyword, per rule, per text;
every text through `find_identity_numbers`) over hand-made and generated
texts: Norwegian letters, case, folded ø/o and aa/å, word boundaries,
underscores, camel case, zero-width spaces, overlapping keywords, digits in
full-width and compatibility forms.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from noarkpipe.classify import screening
from noarkpipe.classify.screening import ScreeningInput, decide_screening
from noarkpipe.classify.screenrules import ScreeningRule, ScreeningRuleSet, SearchField, default_screening_rules
from noarkpipe.core.identity import find_identity_numbers, find_known_number

STANDARD = default_screening_rules()
# Overlapping keywords on purpose: a phrase and its first word, a wildcard and a plain form,
# a keyword inside another one, and the same keyword in two rules.
OVERLAPPING = ScreeningRuleSet.model_validate(
    {
        "rule": [
            {
                "name": "a", "tilgangsrestriksjon": "13", "skjermingshjemmel": "Offl. § 13",
                "skjermingMetadata": ["Skjerming navn avsender"],
                "keywords": ["psykisk", "psykisk helse", "*helse*", "Ødegård", "bar", "barn*"],
                "patterns": [r"\bsak\s+om\s+omsorg\b"],
                "search_in": ["subject"],
            },
            {
                "name": "b", "tilgangsrestriksjon": "13", "skjermingshjemmel": "Offl. § 13",
                "skjermingMetadata": ["Skjerming navn avsender"],
                "keywords": ["helse", "*vern", "gjeldsrådgivning*", "aase", "økonomisk stønad*"],
                "search_in": ["attachments", "body"],
            },
            {
                "name": "c", "tilgangsrestriksjon": "13", "skjermingshjemmel": "Offl. § 13",
                "skjermingMetadata": ["Skjerming navn avsender"],
                "klasser": ["F4*"],
            },
        ]
    }
)

HAND_MADE = [
    "", "Søknad om byggetillatelse", "Bekymringsmelding fra skole", "BEKYMRINGSMELDINGER",
    "kommunebarnevernet i Fjellvik", "barnevern", "Barne-vern", "barnevern_melding.pdf",
    "Melding_BarnevernTenesta.pdf", "Psykisk helse", "psykisk\u200bhelse", "psykisk   -  helse",
    "psykiskhelse", "PsykiskHelse", "Aase Oedegaard", "Åse Ødegård", "Ase Odegard", "ODEGARDS",
    "økonomisk stønad", "okonomisk stonad til livsopphold", "Oekonomisk Stoenad", "gjeldsraadgivning",
    "rus", "Rusmisbruk", "trussel", "krus", "sak om omsorg", "Sak  om\nomsorg", "omsorgssak",
    "bar", "barn", "barnas", "ubar", "helsestasjon", "folkehelse", "Helse", "fosterheim", "Bufetat",
    "undersøkelsessak", "undersokelsessak", "undersøkingssak", "epikrise_2024.docx", "e-pikrise",
]

# Letters and marks that the folding treats specially, separators that count as spaces or not.
_PIECES = st.sampled_from(
    ["a", "e", "o", "s", "r", "u", "æ", "ø", "å", "Æ", "Ø", "Å", "aa", "oe", "ae", "AA", "é", "ö", "ü",
     " ", "  ", "-", "_", ".", "'", "’", "\u200b", "\n", "/", "(", ")", "B", "H", "P"]
)
_WORDS = st.sampled_from(
    [k.strip("*") for rule in (*STANDARD.rules, *OVERLAPPING.rules) for k in rule.keywords]
    + ["sak om omsorg", "helsestasjon", "barna", "kommune", "tenesta", "melding", "Ødegårds", "Aase"]
)


@st.composite
def _variant(draw) -> str:
    """A keyword-like word, maybe upper-cased, respelt (ø→oe/o, å→aa/a), cut or extended."""
    word = draw(_WORDS)
    spelling = draw(st.sampled_from(["same", "upper", "title", "ascii", "digraph", "camel"]))
    if spelling == "upper":
        word = word.upper()
    elif spelling == "title":
        word = word.title()
    elif spelling == "ascii":
        word = word.replace("ø", "o").replace("å", "a").replace("æ", "e")
    elif spelling == "digraph":
        word = word.replace("ø", "oe").replace("å", "aa").replace("æ", "ae")
    elif spelling == "camel":
        word = "".join(part.capitalize() for part in word.split())
    cut = draw(st.integers(0, 2))
    if cut and len(word) > cut:
        word = word[:-cut] if draw(st.booleans()) else word[cut:]
    return draw(st.sampled_from(["", "u", "kommune", "Ø", "å"])) + word + draw(
        st.sampled_from(["", "s", "er", "et", "tenesta", "_", "-", "."])
    )


_TEXTS = st.lists(st.one_of(_variant(), _PIECES), max_size=12).map("".join)


def _plain_rule_hits(rule: ScreeningRule, item: ScreeningInput, texts: dict) -> list[str]:
    """The straightforward matcher (the code before the alternation): one search per keyword, per text."""
    hits: list[str] = []
    if item.klasse_id and any(fnmatchcase(item.klasse_id.casefold(), p.casefold()) for p in rule.klasser):
        hits.append(f"klasse {item.klasse_id}")
    if item.form_type and any(fnmatchcase(item.form_type.casefold(), p.casefold()) for p in rule.form_types):
        hits.append(f"form type {item.form_type!r}")
    for field in rule.search_in:
        for keyword in rule.keywords:
            pattern = screening._term_pattern(keyword, name=False)
            if any(pattern.search(screening._fold(text).text) for text in texts[field]):
                hits.append(f"keyword {keyword!r} in {screening._FIELD_LABEL[field]}")
        for regex in rule.patterns:
            if any(re.search(regex, text, re.IGNORECASE) for text in texts[field]):
                hits.append(f"pattern {regex!r} in {screening._FIELD_LABEL[field]}")
    return hits


def _assert_same_hits(rules: ScreeningRuleSet, tittel: str, body: str, attachments: tuple[str, ...]) -> int:
    item = ScreeningInput(tittel=tittel, body=body, attachment_names=attachments, klasse_id="F40")
    texts = {
        SearchField.subject: [t for t in dict.fromkeys((item.tittel, item.subject)) if t],
        SearchField.body: [item.body] if item.body else [],
        SearchField.attachments: [name for name in item.attachment_names if name],
    }
    candidates = screening._keyword_candidates(rules, texts)
    found = 0
    for rule in rules.rules:
        fast = screening._rule_hits(rule, item, texts, candidates)
        plain = _plain_rule_hits(rule, item, texts)
        assert fast == plain, (rule.name, tittel, body, attachments)
        found += len(plain)
    return found


def test_hand_made_texts_give_the_same_hits_as_one_search_per_keyword():
    found = 0
    for rules in (STANDARD, OVERLAPPING):
        for text in HAND_MADE:
            found += _assert_same_hits(rules, text or "x", text, (text, f"{text}.pdf"))
    # The corpus really exercises matches, not only misses.
    assert found > 60


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tittel=_TEXTS.filter(bool), body=_TEXTS, attachments=st.lists(_TEXTS, max_size=3))
def test_generated_texts_give_the_same_hits_as_one_search_per_keyword(tittel, body, attachments):
    for rules in (STANDARD, OVERLAPPING):
        _assert_same_hits(rules, tittel, body, tuple(attachments))


@settings(max_examples=1500, deadline=None)
@given(text=_TEXTS)
def test_the_keyword_alternation_matches_exactly_where_some_keyword_does(text):
    folded = screening._fold(text).text
    for rules in (STANDARD, OVERLAPPING):
        for rule in rules.rules:
            if not rule.keywords:
                assert screening._any_keyword(rule.keywords) is None
                continue
            any_single = any(screening._term_pattern(k, name=False).search(folded) for k in rule.keywords)
            assert bool(screening._any_keyword(rule.keywords).search(folded)) == any_single


def test_decisions_on_the_standard_rules_still_screen_what_they_did():
    decided = decide_screening(ScreeningInput(tittel="Melding_BarnevernTenesta om Ola"), STANDARD)
    assert decided.screened and decided.matched_rules == ("barnevern",)
    assert not decide_screening(ScreeningInput(tittel="Søknad om byggetillatelse"), STANDARD).screened


def _fnr(base: str) -> str:
    """An eleven-digit number with valid mod-11 check digits, from nine digits (independent of the module)."""
    def check(digits: str, weights: tuple[int, ...]) -> int | None:
        value = (11 - sum(int(d) * w for d, w in zip(digits, weights)) % 11) % 11
        return None if value == 10 else value

    k1 = check(base, (3, 7, 6, 1, 8, 9, 4, 5, 2))
    k2 = None if k1 is None else check(base + str(k1), (5, 4, 3, 2, 7, 6, 5, 4, 3, 2))
    return "" if k2 is None else f"{base}{k1}{k2}"


_NUMBERS = [n for n in (_fnr(f"{d:02d}0190{i:03d}") for d in range(1, 29) for i in range(100, 120)) if n]
_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
_DIGIT_PIECES = st.sampled_from(
    ["0", "1", "5", "9", "12", "00", " ", ".", "-", "\u00ad", "\u200b", "\n> ", "٣", "５", "²", "①", "⑳", "⒛", "½"]
)


@st.composite
def _digit_text(draw) -> str:
    pieces = draw(st.lists(st.one_of(_DIGIT_PIECES, _PIECES), max_size=20))
    if draw(st.booleans()):
        number = draw(st.sampled_from(_NUMBERS))
        written = draw(st.sampled_from([number, number.translate(_FULL_WIDTH), f"{number[:6]} {number[6:]}",
                                        f"{number[:2]}.{number[2:4]}.{number[4:6]} {number[6:]}"]))
        pieces.insert(draw(st.integers(0, len(pieces))), written[: draw(st.integers(6, len(written)))])
    return "".join(pieces)


@settings(max_examples=3000, deadline=None)
@given(text=_digit_text())
def test_the_first_look_for_identity_numbers_never_skips_one(text):
    if not screening._may_hold_number(text):
        assert find_identity_numbers(text) == []
        assert all(find_known_number(text, number) == [] for number in _NUMBERS[:5])


def test_the_first_look_lets_every_written_form_of_a_number_through():
    number = _NUMBERS[0]
    for written in (number, number.translate(_FULL_WIDTH), f"{number[:6]}\u00ad{number[6:]}",
                    f"nr. {number[:2]}.{number[2:4]}.{number[4:6]} {number[6:9]} {number[9:]}"):
        assert find_identity_numbers(written), written
        assert screening._may_hold_number(written)
        assert screening._identity_numbers(written) == find_identity_numbers(written)
    # One character may stand for several digits after NFKC: length is no first look.
    assert screening._may_hold_number("⑳⑳⑳⑳⑳⑳")
