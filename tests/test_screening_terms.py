"""The one term matcher (core/terms.py): whole words, wildcards, and the explicit fold switch.

Screening folds (a miss leaks), classification does not (a rule says what it
means); both go through the same matcher and must keep doing what they did.
"""

from __future__ import annotations

import pytest

from noarkpipe.classify.rulefile import ClassificationRule, RuleSet
from noarkpipe.classify.rules import classify
from noarkpipe.classify.screening import ScreeningInput, decide_screening
from noarkpipe.classify.screenrules import ScreeningRuleSet
from noarkpipe.core.submission import Source, Submission
from noarkpipe.core.terms import any_term_pattern, fold_text, term_pattern


def _folded_hit(term: str, text: str, **options) -> bool:
    return term_pattern(term, fold=True, **options).search(fold_text(text).text) is not None


def _plain_hit(term: str, text: str) -> bool:
    return term_pattern(term, fold=False).search(text) is not None


@pytest.mark.parametrize(
    ("term", "text", "folded", "plain"),
    [
        ("søknad", "Søknad om plass", True, True),
        ("søknad", "SOKNAD om plass", True, False),
        ("søknad", "soeknad om plass", True, False),
        ("sø", "søknad", False, False),
        ("innsyn*", "Innsynsbegjæring", True, True),
        ("*vern", "barnevern", True, True),
        ("psykisk helse", "psykisk-helse", True, True),
        ("Ødegård", "Legeerklaering_AseOdegard.pdf", True, False),
        ("byggesøknad", "BYGGESØKNAD", True, True),
    ],
)
def test_fold_switch(term, text, folded, plain):
    assert _folded_hit(term, text) is folded
    assert _plain_hit(term, text) is plain


def test_names_match_their_possessive_and_take_no_wildcards():
    assert _folded_hit("Ødegård", "Ødegårds sak", wildcards=False, possessive=True)
    assert not _folded_hit("Ødegård", "Ødegårds sak")
    assert not _folded_hit("Hans*", "Hansen", wildcards=False, possessive=True)


def test_a_term_without_words_has_no_pattern():
    assert term_pattern("**", fold=True) is None
    assert term_pattern("--", fold=False) is None
    assert any_term_pattern((), fold=True) is None


@pytest.mark.parametrize("fold", [True, False])
def test_the_alternation_matches_where_some_term_does(fold):
    terms = ("barn*", "psykisk helse", "nav")
    pattern = any_term_pattern(terms, fold=fold)
    for text in ("Barnehage", "psykisk  helse", "navn", "NAV-kontor", "ingenting her"):
        searched = fold_text(text).text if fold else text
        assert bool(pattern.search(searched)) == any(term_pattern(t, fold=fold).search(searched) for t in terms)


def test_screening_folds_and_classification_does_not():
    rule = {"name": "s", "tilgangsrestriksjon": "13", "skjermingshjemmel": "Offl. § 13",
            "skjermingMetadata": ["Skjerming navn avsender"], "keywords": ["søknad"]}
    screening = ScreeningRuleSet.model_validate({"rule": [rule]})
    assert decide_screening(ScreeningInput(tittel="Soknad om plass"), screening).screened
    rules = RuleSet(rules=(ClassificationRule(name="c", keywords=("søknad",), klasse="000"),))
    item = Submission(source=Source.email, origin_name="x.eml", subject="Soknad om plass")
    assert classify(item, rules) is None
    assert classify(item.model_copy(update={"subject": "Søknad om plass"}), rules) is not None
