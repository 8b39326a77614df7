"""Rule-based classification: conditions, priorities, case titles, explanations, the rules file."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest

import noarkpipe.classify
from noarkpipe.classify.rulefile import (
    ClassificationRule,
    RuleSet,
    example_classification_rules,
    load_classification_rules,
    validate_against_classes,
)
from noarkpipe.classify.rulematch import evaluate
from noarkpipe.classify.rules import classify, explain_text, render_title
from noarkpipe.core.context import IntakeContext
from noarkpipe.core.submission import Party, Source, Submission
from noarkpipe.errors import ConfigError
from noarkpipe.intake.eform import parse_eform_xml
from noarkpipe.intake.email import parse_eml

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = Path(noarkpipe.classify.__file__).parents[1] / "templates" / "klassifisering.toml"
K_KODER = REPO / "src" / "noarkpipe" / "templates" / "k-koder.csv"
NOT_IN_TEMPLATE: set[str] = set()  # every class the example uses is in the template


def submission(**fields) -> Submission:
    defaults = {
        "source": Source.email,
        "origin_name": "test.eml",
        "sender": Party(name="Åse Ødegård", email="ase.odegard@example.no"),
        "recipients": [Party(email="postmottak@fjellvik.kommune.no")],
        "subject": "Hei",
        "body_text": "",
    }
    return Submission(**(defaults | fields))


def rule(name: str = "r", klasse: str = "000", **fields) -> ClassificationRule:
    return ClassificationRule(name=name, klasse=klasse, **fields)


def ruleset(*rules: ClassificationRule) -> RuleSet:
    return RuleSet(rules=rules)


def write_rules(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "klassifisering.toml"
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- each condition kind

CONDITIONS = [
    pytest.param(
        {"form_types": ["byggesak-*"]},
        {"source": Source.eform, "form_type": "Byggesak-ett-trinn"},
        {"source": Source.eform, "form_type": "startlan"},
        id="form_types",
    ),
    pytest.param(
        {"form_types": ["byggesak-*"]},
        {"source": Source.eform, "form_type": "byggesak-ett-trinn"},
        {"form_type": None},
        id="form_types-none",
    ),
    pytest.param(
        {"sender_emails": ["*@statsforvalteren.no"]},
        {"sender": Party(email="SFNOpost@Statsforvalteren.no")},
        {"sender": Party(email="post@statsforvalteren.no.example.com")},
        id="sender_emails",
    ),
    pytest.param(
        {"sender_domains": ["statsforvalteren.no"]},
        {"sender": Party(email="sfno@post.statsforvalteren.no")},
        {"sender": Party(email="sfno@falskstatsforvalteren.no")},
        id="sender_domains",
    ),
    pytest.param(
        {"sender_orgnr": ["998 765 432"]},
        {"sender": Party(name="Fjellvik Bygg AS", organisasjonsnummer="998765432")},
        {"sender": Party(name="Fjellvik Bygg AS", organisasjonsnummer="912345678")},
        id="sender_orgnr",
    ),
    pytest.param(
        {"sender_orgnr": ["998765432"]},
        {"sender": Party(name="Fjellvik Bygg AS", organisasjonsnummer="998765432")},
        {"sender": None},
        id="sender_orgnr-unknown",
    ),
    pytest.param(
        {"recipients": ["byggesak@*"]},
        {"recipients": [Party(email="postmottak@fjellvik.kommune.no"), Party(email="Byggesak@fjellvik.kommune.no")]},
        {"recipients": [Party(email="postmottak@fjellvik.kommune.no")]},
        id="recipients",
    ),
    pytest.param(
        {"subject": ["byggesøknad"]},
        {"subject": "BYGGESØKNAD for gnr 12/7"},
        {"subject": "Søknad om skoleskyss"},
        id="subject",
    ),
    pytest.param(
        {"body": [r"gnr\.?\s*\d+"]},
        {"body_text": "Gjelder eiendommen gnr. 12 bnr. 7."},
        {"body_text": "Gjelder eiendommen i Storgata 3."},
        id="body",
    ),
    pytest.param(
        {"keywords": ["innsyn"]},
        {"subject": "Krav om innsyn i sak"},
        {"subject": "Innsynskrav"},
        id="keywords",
    ),
    pytest.param(
        {"sources": ["scan"]},
        {"source": Source.scan},
        {"source": Source.email},
        id="sources",
    ),
]


@pytest.mark.parametrize(("conditions", "matching", "not_matching"), CONDITIONS)
def test_each_condition_kind_matches_and_fails(conditions, matching, not_matching):
    rules = ruleset(rule("regel", klasse="L42", **conditions))
    decision = classify(submission(**matching), rules)
    assert decision is not None and decision.klasse == "L42"
    assert classify(submission(**not_matching), rules) is None
    (evaluation,) = evaluate(submission(**not_matching), rules).evaluations
    kind = next(iter(conditions))
    assert evaluation.verdict == f"did not match: {kind} failed"


@pytest.mark.parametrize(
    ("keyword", "text", "found"),
    [
        ("søknad", "SØKNAD OM BARNEHAGEPLASS", True),
        ("Søknad", "søknad om plass", True),
        ("sø", "søknad om plass", False),  # ø is a letter: no word boundary inside "søknad"
        ("søknad", "søknaden er sendt", False),
        ("søknad*", "søknaden er sendt", True),
        ("*skyss", "klage på skoleskyss", True),
        ("innsyn*", "Innsynsbegjæring – avtaler", True),
        ("kommunale avgifter", "spørsmål om kommunale\n avgifter", True),
        ("kommunale avgifter", "kommunale-avgifter", True),
        ("søknad", "soknad om plass", False),  # not transliterated, as documented
        ("år", "i år", True),
        ("år", "året", False),
    ],
)
def test_keywords_are_whole_words_case_insensitive_and_aeoeaa_aware(keyword, text, found):
    rules = ruleset(rule(keywords=[keyword]))
    assert (classify(submission(subject=text), rules) is not None) is found


def test_keywords_look_in_the_body_too():
    rules = ruleset(rule(keywords=["skoleskyss"]))
    decision = classify(submission(subject="Klage", body_text="Jeg klager på vedtak om skoleskyss."), rules)
    assert decision is not None
    assert "keyword 'skoleskyss' matched \"skoleskyss\" in body" in decision.explanation[1]


def test_and_across_kinds_or_within_a_kind():
    rules = ruleset(rule(subject=["byggesøknad", "dispensasjon"], keywords=["garasje", "tilbygg"]))
    both = submission(subject="Søknad om dispensasjon", body_text="for oppføring av garasje")
    assert classify(both, rules) is not None
    only_subject = submission(subject="Søknad om dispensasjon", body_text="for oppføring av bod")
    assert classify(only_subject, rules) is None
    (evaluation,) = evaluate(only_subject, rules).evaluations
    assert [check.kind.value for check in evaluation.failed] == ["keywords"]
    assert [check.kind.value for check in evaluation.checks if check.matched] == ["subject"]


def test_no_rule_and_no_rules_give_none():
    assert classify(submission(subject="Søknad om tilskudd"), ruleset(rule(keywords=["innsyn"]))) is None
    assert classify(submission(), RuleSet()) is None


def test_classify_leaves_the_submission_alone():
    item = submission(subject="Søknad om dispensasjon gnr. 12 bnr. 7", form_data={"eiendom": {"gnr": 12}})
    before = item.model_dump()
    classify(item, ruleset(rule(subject=[r"gnr\. (?P<gnr>\d+)"], saksmappe_tittel="Gnr. {gnr}")))
    assert item.model_dump() == before


# ---------------------------------------------------------------- priorities


def test_higher_priority_wins_whatever_the_file_order():
    rules = ruleset(
        rule("generell", klasse="000", keywords=["søknad"], priority=1),
        rule("byggesak", klasse="L42", keywords=["søknad"], priority=50),
    )
    decision = classify(submission(subject="Søknad om dispensasjon"), rules)
    assert (decision.rule, decision.klasse) == ("byggesak", "L42")
    assert (
        "rule 'generell' (priority 1) matched but lost to 'byggesak': lower priority (1 < 50)" in decision.explanation
    )


def test_equal_priority_goes_to_the_earlier_rule():
    rules = ruleset(
        rule("første", klasse="L42", keywords=["søknad"], priority=5),
        rule("andre", klasse="A20", keywords=["søknad"], priority=5),
    )
    decision = classify(submission(subject="Søknad"), rules)
    assert decision.rule == "første"
    assert any(
        line.startswith("rule 'andre'") and "same priority (5), and 'første' comes earlier in the file" in line
        for line in decision.explanation
    )


def test_default_priority_is_zero_and_negative_priorities_rank_below():
    rules = ruleset(rule("lav", keywords=["søknad"], priority=-1), rule("vanlig", keywords=["søknad"]))
    assert classify(submission(subject="Søknad"), rules).rule == "vanlig"


def test_decision_carries_the_outcome_of_the_rule():
    rules = ruleset(
        rule(
            "plan-merknad",
            klasse="L12",
            keywords=["reguleringsplan"],
            arkivdel="Sakarkiv 2024-2027",
            new_case=False,
            confident=False,
        )
    )
    decision = classify(submission(subject="Merknad til reguleringsplan"), rules)
    assert decision.model_dump(exclude={"explanation"}) == {
        "rule": "plan-merknad",
        "klasse": "L12",
        "arkivdel": "Sakarkiv 2024-2027",
        "saksmappe_tittel": "Merknad til reguleringsplan",
        "confident": False,
        "new_case": False,
    }
    defaults = classify(submission(subject="reguleringsplan"), ruleset(rule(keywords=["reguleringsplan"])))
    assert (defaults.arkivdel, defaults.new_case, defaults.confident) == (None, True, True)


# ---------------------------------------------------------------- case titles


def title(pattern: str, item: Submission, **conditions) -> tuple[str, RuleSet]:
    rules = ruleset(rule(saksmappe_tittel=pattern, **(conditions or {"sources": ["email", "eform", "scan"]})))
    return classify(item, rules).saksmappe_tittel, rules


def test_title_builtins():
    item = submission(
        source=Source.eform,
        subject="Søknad om skjenkebevilling",
        form_type="skjenkebevilling",
        sender=Party(name="Kafé Fjæra AS", email="post@fjaera.example.no", organisasjonsnummer="998765432"),
    )
    rendered, _ = title("{form_type}: {sender} ({sender_orgnr}, {sender_email}) via {source} – {subject}", item)
    assert rendered == (
        "skjenkebevilling: Kafé Fjæra AS (998765432, post@fjaera.example.no) via eform – Søknad om skjenkebevilling"
    )


def test_title_sender_falls_back_to_the_address():
    rendered, _ = title("Fra {sender}", submission(sender=Party(email="anonym@example.no")))
    assert rendered == "Fra anonym@example.no"


def test_title_from_named_groups_of_matching_patterns():
    item = submission(subject="Spørsmål om eiendomsskatt", body_text="Eiendommen er gnr. 40 bnr. 3.")
    rendered, _ = title(
        "Eiendomsskatt gnr. {gnr} bnr. {bnr}",
        item,
        keywords=["eiendomsskatt"],
        body=[r"gnr\.?\s*(?P<gnr>\d+)\D{1,6}bnr\.?\s*(?P<bnr>\d+)"],
    )
    assert rendered == "Eiendomsskatt gnr. 40 bnr. 3"


def test_title_subject_groups_come_before_body_groups():
    item = submission(subject="Gnr. 1 bnr. 2", body_text="gnr. 40 bnr. 3")
    pattern = r"gnr\.?\s*(?P<gnr>\d+)"
    rendered, _ = title("{gnr}", item, subject=[pattern], body=[pattern])
    assert rendered == "1"


def test_title_from_form_data_by_bare_name_and_dotted_path():
    item = submission(
        source=Source.eform,
        subject="Søknad om tillatelse",
        form_data={
            "tiltakstype": "Tilbygg  til\nbolig",
            "eiendom": {"gnr": 12, "bnr": 7, "adresse": "Bjørkeveien 3"},
            "nabo": {"eiendom": {"gnr": 99}},
        },
    )
    rendered, _ = title("Gnr. {gnr} bnr. {bnr} – {eiendom.adresse} – {tiltakstype}", item)
    assert rendered == "Gnr. 12 bnr. 7 – Bjørkeveien 3 – Tilbygg til bolig"
    rendered, _ = title("{nabo.eiendom.gnr}", item)
    assert rendered == "99"


def test_title_keeps_literal_braces():
    rendered, _ = title("Sak {{intern}} – {subject}", submission(subject="Hei"))
    assert rendered == "Sak {intern} – Hei"


@pytest.mark.parametrize(
    ("pattern", "form_data", "why"),
    [
        ("Gnr. {gnr}", {}, "placeholder {gnr} has no value"),
        ("Gnr. {eiendom.gnr}", {"eiendom": 12}, "placeholder {eiendom.gnr} has no value"),
        ("Heltid: {heltid}", {"heltid": True}, "placeholder {heltid} has no value"),
        ("{barnehage}", {"barnehage": ["Solsikken", "Trollskogen"]}, "placeholder {barnehage} has no value"),
        ("{merknad}", {"merknad": "   "}, "placeholder {merknad} has no value"),
        ("{form_type}", {}, "placeholder {form_type} has no value"),
        ("Søker {fnr}", {"fnr": "08928923496"}, "placeholder {fnr} holds an identity number"),
    ],
)
def test_title_with_a_missing_placeholder_keeps_the_subject(pattern, form_data, why):
    item = submission(subject="Søknad om  barnehageplass", form_data=form_data)
    rules = ruleset(rule("barnehage", keywords=["barnehageplass"], saksmappe_tittel=pattern))
    decision = classify(item, rules)
    assert decision.saksmappe_tittel == "Søknad om barnehageplass"
    assert f"saksmappe tittel: {why} in {pattern!r}, kept the subject" in decision.explanation
    assert render_title(pattern, item, {}) == ("Søknad om barnehageplass", why)


# ---------------------------------------------------------------- explanations

BYGG_RULES = """
[[rule]]
name = "byggesak"
priority = 40
subject = ['byggesøknad']
body = ['gnr\\.?\\s*(?P<gnr>\\d+)']
klasse = "L42"
saksmappe_tittel = "Byggesak gnr. {gnr}"

[[rule]]
name = "postkasse-bygg"
priority = 10
recipients = ["byggesak@*"]
klasse = "L42"
confident = false

[[rule]]
name = "innsyn"
priority = 90
keywords = ["innsyn*"]
sources = ["email"]
klasse = "075"

[[rule]]
name = "statsforvalteren"
sender_domains = ["statsforvalteren.no"]
subject = ['vedtak']
klasse = "000"
"""


@pytest.fixture
def bygg(tmp_path) -> RuleSet:
    return load_classification_rules(write_rules(tmp_path, BYGG_RULES))


@pytest.fixture
def byggesoknad() -> Submission:
    return submission(
        subject="Byggesøknad for gnr 12/7",
        body_text="Søknad om tilbygg på gnr. 12 bnr. 7.",
        recipients=[Party(email="byggesak@fjellvik.kommune.no")],
    )


def test_decision_explanation_names_rule_matched_text_and_losers(bygg, byggesoknad):
    decision = classify(byggesoknad, bygg)
    assert decision.rule == "byggesak" and decision.saksmappe_tittel == "Byggesak gnr. 12"
    assert decision.explanation[:4] == (
        "rule 'byggesak' (priority 40) chosen: klasse L42",
        '  matched: subject ~ /byggesøknad/i matched "Byggesøknad" in "Byggesøknad for gnr 12/7"',
        '  matched: body ~ /gnr\\.?\\s*(?P<gnr>\\d+)/i matched "gnr. 12" in "Søknad om tilbygg på gnr. 12 bnr. 7."',
        "saksmappe tittel \"Byggesak gnr. 12\" from 'Byggesak gnr. {gnr}'",
    )
    assert (
        "rule 'postkasse-bygg' (priority 10) matched but lost to 'byggesak': lower priority (10 < 40)"
        in decision.explanation
    )
    assert "rule 'innsyn' (priority 90) did not match: keywords failed" in decision.explanation
    assert "rule 'statsforvalteren' (priority 0) did not match: sender_domains failed, subject failed" in (
        decision.explanation
    )


def test_near_miss_is_reported_with_what_failed(bygg):
    letter = submission(
        subject="Vedtak i klagesak",
        sender=Party(name="Statsforvalteren", email="sfnopost@statsforvalteren.example.no"),
    )
    assert classify(letter, bygg) is None
    text = explain_text(letter, bygg)
    near = text[text.index("Nearly matched") :]
    assert "statsforvalteren (priority 0)" in near
    assert "failed:  sender domain statsforvalteren.example.no is not within statsforvalteren.no" in near
    assert 'matched: subject ~ /vedtak/i matched "Vedtak" in "Vedtak i klagesak"' in near
    # A rule whose only other kind is `sources` is no near miss, just a miss.
    assert "innsyn" not in near.split("Did not match")[0]


def test_explain_text_shows_item_matches_decision_and_misses(bygg, byggesoknad):
    text = explain_text(byggesoknad, bygg)
    for expected in (
        "Submission test.eml",
        "  source:     email",
        "  sender:     Åse Ødegård <ase.odegard@example.no>",
        "  recipients: byggesak@fjellvik.kommune.no",
        "  subject:    Byggesøknad for gnr 12/7",
        "  form type:  –",
        "4 rule(s) from",
        "Matching rules, best first (2):",
        "  byggesak (priority 40, klasse L42): chosen",
        "  postkasse-bygg (priority 10, klasse L42): matched but lost to 'byggesak': lower priority (10 < 40)",
        "      matched: recipient byggesak@fjellvik.kommune.no matches 'byggesak@*'",
        "Decision (rule byggesak):",
        "  klasse:           L42",
        "  arkivdel:         the creator's active arkivdel",
        "  saksmappe tittel: Byggesak gnr. 12",
        "  new case:         yes: may open a new saksmappe",
        "  confident:        yes: may be journaled as Journalført",
        "Did not match (2):",
        "  innsyn: none of the keywords 'innsyn*' in subject or body",
    ):
        assert expected in text, expected
    assert text.index("Matching rules") < text.index("Decision") < text.index("Did not match")


def test_explain_text_without_a_match(bygg):
    text = explain_text(submission(subject="Søknad om tilskudd til lysløype"), bygg)
    assert "No rule matched." in text
    assert "Decision" not in text


def test_explain_text_tells_when_the_title_fell_back(tmp_path):
    rules = load_classification_rules(
        write_rules(
            tmp_path,
            '[[rule]]\nname = "plan"\nkeywords = ["planforslag"]\nklasse = "L12"\n'
            'saksmappe_tittel = "Plan {planid}"\nnew_case = false\nconfident = false\n',
        )
    )
    text = explain_text(submission(subject="Innspill til planforslag"), rules)
    assert "  saksmappe tittel: Innspill til planforslag" in text
    assert "(placeholder {planid} has no value, kept the subject pattern 'Plan {planid}')" in text
    assert "  new case:         no: may only join a case it refers to" in text
    assert "  confident:        no: goes to review as Midlertidig registrering" in text


# ---------------------------------------------------------------- loading


def test_loads_rules_in_file_order_and_accepts_a_single_string(tmp_path):
    path = write_rules(tmp_path, BYGG_RULES + '\n[[rule]]\nname = "enkel"\nkeywords = "faktura"\nklasse = "200"\n')
    rules = load_classification_rules(path)
    assert [r.name for r in rules.rules] == ["byggesak", "postkasse-bygg", "innsyn", "statsforvalteren", "enkel"]
    assert rules.rules[-1].keywords == ("faktura",)
    assert rules.origin == str(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            (
                '[[rule]]\nname = "ok"\nkeywords = ["a"]\nklasse = "000"\n'
                '[[rule]]\nname = "byggesak"\nsubject = ["byggesøknad(("]\nklasse = "L42"\n'
            ),
            "rule 2 ('byggesak'): subject: pattern 'byggesøknad((' is not a valid regular expression",
        ),
        (
            '[[rule]]\nname = "alt"\nbody = [".*"]\nklasse = "000"\n',
            "rule 1 ('alt'): body: pattern '.*' matches the empty string",
        ),
        (
            '[[rule]]\nname = "innsyn"\nkeyword = ["innsyn"]\nklasse = "075"\n',
            "rule 1 ('innsyn'): keyword: is not a known key (misspelt?)",
        ),
        (
            '[[rule]]\nname = "innsyn"\nkeywords = ["innsyn"]\n',
            "rule 1 ('innsyn'): klasse: is required but missing",
        ),
        (
            (
                '[[rule]]\nname = "innsyn"\nkeywords = ["innsyn"]\nklasse = "075"\n'
                '[[rule]]\nname = "Innsyn"\nkeywords = ["offentleglova"]\nklasse = "075"\n'
            ),
            "rules 1 and 2 are both named 'Innsyn'; names must be unique",
        ),
        (
            '[[rule]]\nname = "tom"\nklasse = "000"\n',
            "rule 1 ('tom'): a rule needs at least one condition",
        ),
        (
            '[[rule]]\nname = "sf"\nsender_emails = ["statsforvalteren.no"]\nklasse = "000"\n',
            "rule 1 ('sf'): sender_emails: 'statsforvalteren.no' is no e-mail address pattern",
        ),
        (
            '[[rule]]\nname = "sf"\nsender_domains = ["*@statsforvalteren.no"]\nklasse = "000"\n',
            "rule 1 ('sf'): sender_domains: '*@statsforvalteren.no' is not a domain",
        ),
        (
            '[[rule]]\nname = "lev"\nsender_orgnr = ["12345"]\nklasse = "055"\n',
            "rule 1 ('lev'): sender_orgnr: '12345' is not an organisasjonsnummer",
        ),
        (
            '[[rule]]\nname = "k"\nkeywords = ["inn*syn"]\nklasse = "075"\n',
            "rule 1 ('k'): keywords: keyword 'inn*syn': '*' is only allowed at the start or end",
        ),
        (
            '[[rule]]\nname = "k"\nsources = ["fax"]\nklasse = "000"\n',
            "rule 1 ('k'): sources.0: Input should be 'email', 'eform', 'scan' or 'fiks_arkiv'",
        ),
        (
            '[[rule]]\nname = "k"\nkeywords = ["a"]\nklasse = "000"\npriority = "high"\n',
            "rule 1 ('k'): priority: Input should be a valid integer",
        ),
        (
            '[[rule]]\nname = "k"\nkeywords = ["a"]\nklasse = "000"\nconfident = "yes"\n',
            "rule 1 ('k'): confident: Input should be a valid boolean",
        ),
        (
            '[[rule]]\nname = "t"\nkeywords = ["a"]\nklasse = "000"\nsaksmappe_tittel = "Gnr {gnr"\n',
            "rule 1 ('t'): saksmappe_tittel: 'Gnr {gnr'",
        ),
        (
            '[[rule]]\nname = "t"\nkeywords = ["a"]\nklasse = "000"\nsaksmappe_tittel = "{gnr:>5}"\n',
            "rule 1 ('t'): saksmappe_tittel: '{gnr:>5}': write placeholders as {name}",
        ),
        (
            '[[rule]]\nname = "t"\nkeywords = ["a"]\nklasse = "000"\nsaksmappe_tittel = "Sak {}"\n',
            "rule 1 ('t'): saksmappe_tittel: 'Sak {}': {} is not a placeholder name",
        ),
        (
            '[[rule]]\nname = "t"\nkeywords = ["a", " "]\nklasse = "000"\n',
            "rule 1 ('t'): keywords: entries must not be empty",
        ),
        (
            '[[rule]]\nname = "t"\nsubject = ["(?P<subject>x)"]\nklasse = "000"\n',
            "group name 'subject' is a built-in placeholder",
        ),
        (
            '[regler]\nname = "x"\n',
            "unknown section(s) or key(s) ['regler']",
        ),
    ],
)
def test_load_errors_name_the_rule_and_key(tmp_path, text, message):
    path = write_rules(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_classification_rules(path)
    assert message in caught.value.message
    assert caught.value.message.startswith(str(path))


def test_misspelt_key_is_named_before_the_missing_one(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_classification_rules(write_rules(tmp_path, '[[rule]]\nname = "x"\nklase = "000"\nkeywords = ["a"]\n'))
    assert "rule 1 ('x'): klase: is not a known key (misspelt?) (1 more problem(s) after this one)" in str(
        caught.value
    )
    assert "klasse" in caught.value.hint and "saksmappe_tittel" in caught.value.hint


def test_spaces_in_patterns_are_kept_but_not_around_words(tmp_path):
    path = write_rules(
        tmp_path, '[[rule]]\nname = "t"\nsubject = ["^tilbud "]\nkeywords = [" faktura "]\nklasse = "055"\n'
    )
    (loaded,) = load_classification_rules(path).rules
    assert (loaded.subject, loaded.keywords) == (("^tilbud ",), ("faktura",))
    rules = RuleSet(rules=[loaded])
    assert classify(submission(subject="Tilbudet og faktura"), rules) is None
    assert classify(submission(subject="Tilbud faktura"), rules) is not None


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ConfigError, match="classification rules file not found"):
        load_classification_rules(tmp_path / "finnes-ikke.toml")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_classification_rules(write_rules(tmp_path, "[[rule]\nname = "))


def test_validate_against_classes_names_the_rule_and_class(bygg):
    validate_against_classes(bygg, ["L42", "075", "000"])
    with pytest.raises(ConfigError) as caught:
        validate_against_classes(bygg, ["l42", "000"])
    message = caught.value.message
    assert "rule 'byggesak': klasse 'L42' (did you mean 'l42'?)" in message
    assert "rule 'innsyn': klasse '075'" in message
    assert "statsforvalteren" not in message
    assert "klasser_csv" in caught.value.hint


# ---------------------------------------------------------------- the example file


def template_klasser() -> set[str]:
    with K_KODER.open(encoding="utf-8") as handle:
        return {row["klasseID"] for row in csv.DictReader(handle, delimiter=";")}


def test_example_file_loads_and_fits_the_template_classes():
    rules = load_classification_rules(EXAMPLE)
    assert rules.rules == example_classification_rules().rules
    assert len(rules.rules) >= 10
    used = {r.klasse for r in rules.rules}
    assert used - template_klasser() <= NOT_IN_TEMPLATE
    validate_against_classes(rules, template_klasser() | NOT_IN_TEMPLATE)
    header = EXAMPLE.read_text(encoding="utf-8").split("[[rule]]")[0]
    for klasse in used - template_klasser():
        assert f"{klasse};" in header, f"the example's header must tell the admin to add {klasse}"


RECEIVED = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def parse_fixture(relative: str, tmp_path: Path) -> Submission:
    path = REPO / "fixtures" / relative
    scratch = tmp_path / path.stem
    scratch.mkdir()
    context = IntakeContext(origin_name=path.name, received=RECEIVED, scratch=scratch)
    parse = parse_eml if path.suffix == ".eml" else parse_eform_xml
    (item,) = parse(path, context)
    return item


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("sample-inbox/fjellvik/01-byggesak-soknad.eml", ("byggesak-epost", "L42", True, True)),
        ("sample-inbox/fjellvik/03-klage-skoleskyss.eml", ("skoleskyss", "B31", True, True)),
        ("sample-inbox/fjellvik/04-html-only-nyhetsbrev-barnehage.eml", ("barnehage", "A20", True, True)),
        ("sample-inbox/fjellvik/06-videresendt-vannlekkasje.eml", ("vannforsyning", "M10", True, True)),
        ("sample-inbox/fjellvik/07-uten-dato.eml", ("eiendomsskatt-gnr", "232", True, True)),
        ("sample-inbox/fjellvik/08-faktura-firma.eml", ("tilbud-fra-leverandor", "055", False, True)),
        ("sample-inbox/fjellvik/09-saksnr-i-teksten.eml", ("reguleringsplan-merknad", "L12", False, True)),
        ("sample-inbox/fjellvik/10-soknad-tilskudd.eml", None),
        ("sample-inbox/strandby/01-innsyn.eml", ("innsynskrav", "075", True, True)),
        ("sample-inbox/strandby/04-windows-1252-uten-charset.eml", ("faktura", "200", True, False)),
        ("sample-inbox/strandby/05-rfc2231-langt-navn.eml", ("reguleringsplan", "L12", True, False)),
        ("sample-eforms/byggesak-fjellvik-ett-trinn.xml", ("byggesak-eskjema", "L42", True, True)),
        ("sample-eforms/startlan-latin1.xml", None),
    ],
)
def test_example_file_classifies_sample_mail(tmp_path, fixture, expected):
    decision = classify(parse_fixture(fixture, tmp_path), example_classification_rules())
    got = None if decision is None else (decision.rule, decision.klasse, decision.new_case, decision.confident)
    assert got == expected


def test_example_titles(tmp_path):
    rules = example_classification_rules()
    eform = classify(parse_fixture("sample-eforms/byggesak-fjellvik-ett-trinn.xml", tmp_path), rules)
    assert eform.saksmappe_tittel == "Gnr. 12 bnr. 7 – Tilbygg til eksisterende bolig"
    eiendomsskatt = classify(parse_fixture("sample-inbox/fjellvik/07-uten-dato.eml", tmp_path), rules)
    assert eiendomsskatt.saksmappe_tittel == "Eiendomsskatt gnr. 40 bnr. 3"
    assert any("lost to 'eiendomsskatt-gnr': lower priority (30 < 31)" in line for line in eiendomsskatt.explanation)


def test_example_statsforvalteren_joins_the_case_whatever_the_topic():
    letter = submission(
        subject="Vedtak i klagesak om skoleskyss",
        body_text="Deres ref: 2026/15-4\n\nStatsforvalteren stadfester kommunens vedtak om skoleskyss.",
        sender=Party(name="Statsforvalteren i Nordland", email="sfnopost@statsforvalteren.no"),
    )
    decision = classify(letter, example_classification_rules())
    assert (decision.rule, decision.new_case) == ("statsforvalteren", False)
    assert any(line.startswith("rule 'skoleskyss'") and "lower priority (40 < 95)" in line for line in decision.explanation)


def test_example_innsyn_wins_over_the_topic():
    request = submission(subject="Innsyn i byggesøknad for gnr. 12 bnr. 7", body_text="Jf. offentleglova § 3.")
    decision = classify(request, example_classification_rules())
    assert (decision.rule, decision.klasse) == ("innsynskrav", "075")


def test_a_misspelt_key_gets_the_key_it_resembles_as_a_hint(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_classification_rules(write_rules(tmp_path, '[[rule]]\nname = "x"\nklasse = "000"\nkeywrods = ["a"]\n'))
    assert caught.value.hint.startswith("did you mean 'keywords'? keys a rule may have: ")
