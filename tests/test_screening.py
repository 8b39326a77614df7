"""Screening decisions, identity numbers and the public-journal guard.

Identity numbers are generated here with an independent check-digit helper,
never taken from the module under test. The adversarial corpus at the end is
the contract: every secret in it is found and never survives in public text,
and none of the look-alikes is mistaken for one.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from noarkpipe.classify.screening import (
    MASK,
    PublicField,
    ScreeningDecision,
    ScreeningInput,
    ScreeningSecrets,
    assert_public_safe,
    decide_screening,
    public_text,
    screening_input,
)
from noarkpipe.classify.screenrules import (
    ScreeningRule,
    ScreeningRuleSet,
    default_screening_rules,
    load_screening_rules,
)
from noarkpipe.core.codes import SkjermingMetadata
from noarkpipe.core.identity import (
    IdentityNumberKind,
    find_identity_numbers,
    find_known_number,
    identity_number_kind,
)
from noarkpipe.core.submission import (
    DocumentRole,
    Party,
    Source,
    Submission,
    SubmissionDocument,
)
from noarkpipe.errors import ConfigError, PublicJournalLeakError

RULES = default_screening_rules()
NO_RULES = ScreeningRuleSet()

# ---------------------------------------------------------------- test numbers


def with_check_digits(first_nine: str) -> str | None:
    """The eleven-digit number, or None when a check digit would be 10 (no such number)."""
    k1 = (11 - sum(int(d) * w for d, w in zip(first_nine, (3, 7, 6, 1, 8, 9, 4, 5, 2))) % 11) % 11
    if k1 == 10:
        return None
    first_ten = first_nine + str(k1)
    k2 = (11 - sum(int(d) * w for d, w in zip(first_ten, (5, 4, 3, 2, 7, 6, 5, 4, 3, 2))) % 11) % 11
    return None if k2 == 10 else first_ten + str(k2)


def make_number(born: date, individ: int, *, day_shift: int = 0, month_shift: int = 0) -> str | None:
    return with_check_digits(
        f"{born.day + day_shift:02d}{born.month + month_shift:02d}{born.year % 100:02d}{individ:03d}"
    )


def first_number(born: date, *, day_shift: int = 0, month_shift: int = 0, start: int = 0) -> str:
    """The first valid number for that date from individnummer `start` on."""
    return next(
        n
        for individ in range(start, 1000)
        if (n := make_number(born, individ, day_shift=day_shift, month_shift=month_shift))
    )


FNR = first_number(date(1990, 1, 1))
FNR_2 = first_number(date(1985, 7, 23), start=400)
FNR_LEAP = first_number(date(2000, 2, 29), start=500)
D_NUMMER = first_number(date(1979, 12, 31), day_shift=40)
D_LEAP = first_number(date(1996, 2, 29), day_shift=40)
H_NUMMER = first_number(date(2021, 3, 14), month_shift=40, start=700)
SYNTETISK = first_number(date(1960, 11, 5), month_shift=80)
D_SYNTETISK = first_number(date(2001, 6, 7), day_shift=40, month_shift=80)


def digits_only(text: str) -> str:
    """An independent check: every decimal digit of the text, nothing else."""
    normalised = unicodedata.normalize("NFKC", text)
    return "".join(str(unicodedata.decimal(ch)) for ch in normalised if unicodedata.decimal(ch, None) is not None)


def split(number: str, sizes: tuple[int, ...], separator: str) -> str:
    parts, position = [], 0
    for size in sizes:
        parts.append(number[position : position + size])
        position += size
    return separator.join(parts)


def names_screening(tittel: str, names: tuple[str, ...], body: str = "") -> ScreeningDecision:
    """A barnevern item (names hidden) with the given private names."""
    return decide_screening(
        ScreeningInput(tittel=f"Bekymringsmelding: {tittel}", body=body, private_names=names), RULES
    )


# ---------------------------------------------------------------- identity numbers


def test_generated_numbers_have_the_expected_kinds():
    assert identity_number_kind(FNR) is IdentityNumberKind.foedselsnummer
    assert identity_number_kind(FNR_LEAP) is IdentityNumberKind.foedselsnummer
    assert identity_number_kind(D_NUMMER) is IdentityNumberKind.d_nummer
    assert identity_number_kind(D_LEAP) is IdentityNumberKind.d_nummer
    assert identity_number_kind(H_NUMMER) is IdentityNumberKind.h_nummer
    assert identity_number_kind(SYNTETISK) is IdentityNumberKind.syntetisk
    assert identity_number_kind(D_SYNTETISK) is IdentityNumberKind.syntetisk


def test_both_check_digits_are_required():
    wrong_k2 = FNR[:10] + str((int(FNR[10]) + 1) % 10)
    wrong_k1 = FNR[:9] + str((int(FNR[9]) + 1) % 10) + FNR[10]
    assert identity_number_kind(wrong_k2) is None
    assert identity_number_kind(wrong_k1) is None


@pytest.mark.parametrize(
    "first_six",
    ["310490", "300290", "290223", "320190", "001390", "000190", "721290", "015390", "019390"],
    ids=["31 April", "30 February", "29 Feb 2023", "day 32", "month 13", "day 0", "D day 32", "H month 13", "synth month 13"],
)
def test_impossible_dates_are_not_identity_numbers(first_six):
    candidates = [with_check_digits(f"{first_six}{i:03d}") for i in range(1000)]
    assert all(identity_number_kind(n) is None for n in candidates if n)


def test_leap_day_is_valid_in_any_century_that_has_one():
    assert identity_number_kind(first_number(date(2000, 2, 29))) is not None
    assert identity_number_kind(first_number(date(1904, 2, 29))) is not None
    # 29.02.00: 1900 was no leap year, but 2000 was.
    assert FNR_LEAP.startswith("290200")


def test_identity_number_kind_wants_exactly_eleven_ascii_digits():
    assert identity_number_kind(FNR[:10]) is None
    assert identity_number_kind(FNR + "0") is None
    assert identity_number_kind("".join(chr(0xFF10 + int(d)) for d in FNR)) is None


@pytest.mark.parametrize(
    "written",
    [
        "{n}",
        "{a} {b}",
        "{a}-{b}",
        "{a}.{b}",
        "{d1}.{d2}.{d3} {b1} {b2}",
        "{q1} {q2} {q3}",
        "{a}\u00a0{b}",
        "{a}\u2009{b}",
        "{a}\u202f{b}",
        "{a}\n{b}",
        "{a}\r\n{b}",
        "{a} -\n{b}",
        "{a}\n> {b}",
        "{a}\u00ad{b}",
        "{a}\u200b{b}",
        "{a}\u2011{b}",
        "{a} \u2013 {b}",
        "{a}_{b}",
    ],
)
@pytest.mark.parametrize("number", [FNR, D_NUMMER, H_NUMMER, SYNTETISK, FNR_LEAP])
def test_numbers_are_found_however_they_are_written(written, number):
    parts = {
        "n": number,
        "a": number[:6], "b": number[6:],
        "d1": number[:2], "d2": number[2:4], "d3": number[4:6], "b1": number[6:9], "b2": number[9:],
        "q1": number[:4], "q2": number[4:8], "q3": number[8:],
    }
    shown = written.format(**parts)
    text = f"Vedlegg: legeerklæring for {shown}, se brev."
    [found] = find_identity_numbers(text)
    assert found.number == number
    assert text[found.start] == number[0] and text[found.end - 1] == number[-1]
    assert digits_only(text[found.start : found.end]) == number
    assert digits_only(text[: found.start] + text[found.end :]) == ""


def test_full_width_and_other_unicode_digits_are_found():
    full_width = "".join(chr(0xFF10 + int(d)) for d in FNR)
    arabic_indic = "".join(chr(0x0660 + int(d)) for d in FNR)
    for written in (full_width, arabic_indic):
        [found] = find_identity_numbers(f"fnr {written}.")
        assert found.number == FNR and (found.start, found.end) == (4, 15)


def test_a_number_glued_to_letters_is_found_but_not_one_glued_to_digits():
    assert [m.number for m in find_identity_numbers(f"fnr:{FNR}")] == [FNR]
    assert [m.number for m in find_identity_numbers(f"Fnr{FNR}Ola")] == [FNR]
    assert find_identity_numbers(f"1{FNR}") == []
    assert find_identity_numbers(f"{FNR}0") == []


def test_several_numbers_and_neighbouring_digit_groups():
    text = f"Tlf 22 33 44 55 {FNR} og {D_NUMMER[:6]} {D_NUMMER[6:]}, sak 2025/123-4"
    assert [m.number for m in find_identity_numbers(text)] == [FNR, D_NUMMER]


def test_find_known_number_bridges_any_punctuation_and_ignores_digit_boundaries():
    assert find_known_number(f"KID 7{FNR}99", FNR) == [(5, 16)]
    assert find_known_number(f"{FNR[:3]}/{FNR[3:7]}:{FNR[7:]}", FNR) == [(0, 13)]
    assert find_known_number(f"{FNR[:5]}*****{FNR[5:]}", FNR) == []
    with pytest.raises(ValueError):
        find_known_number("x", "０１")


def constructed_account_number(bank: str, *, k1_agrees: bool) -> str:
    """An 11-digit account number starting with `bank`; its own check digit uses the k2 weights."""
    for middle in range(100000):
        first_ten = f"{bank}{middle:06d}"
        k1 = (11 - sum(int(d) * w for d, w in zip(first_ten, (3, 7, 6, 1, 8, 9, 4, 5, 2))) % 11) % 11
        if (k1 == int(first_ten[9])) != k1_agrees:
            continue
        check = (11 - sum(int(d) * w for d, w in zip(first_ten, (5, 4, 3, 2, 7, 6, 5, 4, 3, 2))) % 11) % 11
        if check != 10:
            return first_ten + str(check)
    raise AssertionError("no such account number")


def test_residual_risk_account_numbers_with_date_like_bank_prefix():
    """Documented: an account number whose bank prefix reads as a date and whose k1 agrees
    is taken for a fødselsnummer (the safe direction); if k1 disagrees it is not."""
    flagged = constructed_account_number("1503", k1_agrees=True)
    ignored = constructed_account_number("1503", k1_agrees=False)
    def written(n: str) -> str:
        return f"{n[:4]}.{n[4:6]}.{n[6:]}"

    assert [m.number for m in find_identity_numbers(f"Konto {written(flagged)}")] == [flagged]
    assert find_identity_numbers(f"Konto {written(ignored)}") == []


# ---------------------------------------------------------------- rules file


def write_rules(tmp_path, text: str):
    path = tmp_path / "skjerming.toml"
    path.write_text(text, encoding="utf-8")
    return path


MINIMAL_RULE = """
[[rule]]
name = "barnevern"
tilgangsrestriksjon = "13"
skjermingshjemmel = "Offl. § 13 jf. bvl. § 13-1"
skjermingMetadata = ["Skjerming navn avsender"]
keywords = ["barnevern*"]
"""


def test_the_standard_rules_load_and_cover_the_usual_areas():
    names = [rule.name for rule in RULES.rules]
    assert {"barnevern", "helse", "sosial", "personalsak", "taushetsplikt"} <= set(names)
    hjemler = {rule.name: rule.skjermingshjemmel for rule in RULES.rules}
    assert hjemler["barnevern"] == "Offl. § 13 jf. bvl. § 13-1"
    assert hjemler["helse"] == "Offl. § 13 jf. hpl. § 21"
    assert hjemler["sosial"] == "Offl. § 13 jf. sotjl. § 44"
    assert hjemler["tilsetting"] == "Offl. § 25 første ledd"
    assert RULES.identity_number.skjermingshjemmel == "Offl. § 13 jf. fvl. § 13 første ledd nr. 1"
    assert names[-1] == "taushetsplikt"  # the general rule comes last, so specific bases win


def test_a_rules_file_loads(tmp_path):
    rules = load_screening_rules(write_rules(tmp_path, MINIMAL_RULE))
    assert rules.rules[0].skjermingMetadata == (SkjermingMetadata.navn_avsender,)
    assert rules.identity_number.tilgangsrestriksjon == "13"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("keywords = [\"barnevern*\"]", "keywords = [\"barnevern*\"]\ncolour = \"red\""), "colour: is not a known key"),
        (("\"Skjerming navn avsender\"", "\"Skjerming navn\""), "must be a Noark 5 skjermingMetadata value"),
        (("keywords = [\"barnevern*\"]", "patterns = [\"(unclosed\"]"), "not a valid regular expression"),
        (("keywords = [\"barnevern*\"]", "patterns = [\"a*\"]"), "matches the empty string"),
        (("keywords = [\"barnevern*\"]", "keywords = [\"barne*vern\"]"), "only allowed at the start or end"),
        (("keywords = [\"barnevern*\"]", "keywords = [\"**\"]"), "has no letters or digits"),
        (("keywords = [\"barnevern*\"]", ""), "needs at least one of klasser"),
        (("tilgangsrestriksjon = \"13\"\n", ""), "tilgangsrestriksjon: is required but missing"),
        (("skjermingMetadata = [\"Skjerming navn avsender\"]", "skjermingMetadata = []"), "skjermingMetadata"),
    ],
)
def test_rule_file_errors_name_the_rule_and_the_problem(tmp_path, change, message):
    text = MINIMAL_RULE.replace(*change)
    with pytest.raises(ConfigError) as caught:
        load_screening_rules(write_rules(tmp_path, text))
    assert "rule 1 ('barnevern')" in str(caught.value)
    assert message in str(caught.value)


def test_rule_file_level_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_screening_rules(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_screening_rules(write_rules(tmp_path, "[[rule]\n"))
    with pytest.raises(ConfigError, match="unknown section"):
        load_screening_rules(write_rules(tmp_path, "[regler]\n"))
    with pytest.raises(ConfigError, match="two rules are named"):
        load_screening_rules(write_rules(tmp_path, MINIMAL_RULE + MINIMAL_RULE))


# ---------------------------------------------------------------- decisions


def decide(tittel: str = "", rules: ScreeningRuleSet = RULES, **fields) -> ScreeningDecision:
    return decide_screening(ScreeningInput(tittel=tittel, **fields), rules)


def test_an_ordinary_item_is_not_screened_and_names_stay_public():
    decision = decide(
        "Søknad om dispensasjon - gnr. 12 bnr. 7 - Åse Ødegård",
        body="Hei, vedlagt følger søknaden. Med vennlig hilsen Åse Ødegård, tlf 912 34 567",
        sender=Party(name="Åse Ødegård"),
        klasse_id="L42",
    )
    assert not decision.screened and decision.reasons == ()
    assert decision.offentlig_tittel == "Søknad om dispensasjon - gnr. 12 bnr. 7 - Åse Ødegård"
    assert decision.skjerming() is None
    assert public_text("Åse Ødegård", decision, PublicField.navn_avsender) == "Åse Ødegård"


def test_child_welfare_screens_with_its_legal_basis_and_hides_names():
    decision = decide(
        "Bekymringsmelding vedrørende Ola Nordmann",
        sender=Party(name="Kari Nordmann", email="kari@example.no"),
        private_names=("Ola Nordmann",),
    )
    assert decision.screened and decision.matched_rules == ("barnevern",)
    assert (decision.tilgangsrestriksjon, decision.skjermingshjemmel) == ("13", "Offl. § 13 jf. bvl. § 13-1")
    assert decision.offentlig_tittel == f"Bekymringsmelding vedrørende {MASK}"
    skjerming = decision.skjerming()
    assert skjerming.skjermingshjemmel == "Offl. § 13 jf. bvl. § 13-1"
    assert SkjermingMetadata.navn_avsender in skjerming.skjermingMetadata
    assert public_text("Kari Nordmann", decision, PublicField.navn_avsender) == MASK
    assert any("bekymringsmelding*" in reason for reason in decision.reasons)


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        ({"tittel": "Vedtak om omsorgsovertaking"}, "barnevern"),  # nynorsk
        ({"tittel": "Melding til barneverntenesta"}, "barnevern"),  # nynorsk, inflected
        ({"tittel": "Kopi av EPIKRISE fra sykehuset"}, "helse"),
        ({"tittel": "Søknad om økonomisk sosialhjelp"}, "sosial"),
        ({"tittel": "Brev frå NAV-kontoret"}, "nav"),
        ({"tittel": "Søknad på stilling som lærar"}, "tilsetting"),
        ({"tittel": "Åtvaring"}, "personalsak"),  # nynorsk for advarsel
        ({"tittel": "Oppseiing"}, "personalsak"),  # nynorsk for oppsigelse
        ({"tittel": "Sjukmelding"}, "taushetsplikt"),
        ({"tittel": "Melding", "body": "Vedlagt er legeerklæringen."}, "taushetsplikt"),
        ({"tittel": "Dokumentasjon", "attachment_names": ("Legeerklaering_2025.pdf",)}, "taushetsplikt"),
        ({"tittel": "Henvendelse", "klasse_id": "g00"}, "helse"),
        ({"tittel": "Skjema", "form_type": "barnevern-bekymringsmelding"}, "barnevern"),
    ],
)
def test_rules_match_on_keywords_klasse_and_form_type(fields, rule):
    decision = decide(**fields)
    assert decision.screened
    assert decision.matched_rules[0] == rule


def test_nav_in_the_body_alone_does_not_screen():
    decision = decide("Faktura for oktober", body="Med vennlig hilsen\nOla, tidligere ansatt i NAV")
    assert not decision.screened


def test_an_identity_number_alone_screens_under_fvl_and_keeps_names():
    decision = decide(
        "Søknad om ferdigattest",
        body=f"Søker: Åse Ødegård, fnr. {FNR[:6]} {FNR[6:]}",
        sender=Party(name="Åse Ødegård"),
    )
    assert decision.screened and decision.matched_rules == ()
    assert decision.skjermingshjemmel == "Offl. § 13 jf. fvl. § 13 første ledd nr. 1"
    assert decision.tilgangsrestriksjon == "13"
    assert decision.secrets.identity_numbers == (FNR,) and decision.secrets.names == ()
    assert decision.offentlig_tittel == "Søknad om ferdigattest"
    assert any(reason.startswith("fødselsnummer in body") for reason in decision.reasons)
    assert all(FNR not in reason and FNR[:6] not in reason for reason in decision.reasons)
    assert public_text(f"ref {FNR}", decision) == f"ref {MASK}"


def test_the_first_matching_rule_gives_the_basis_and_metadata_is_the_union():
    decision = decide("Bekymringsmelding og sjukemelding", body=f"fnr {FNR}")
    assert decision.matched_rules == ("barnevern", "taushetsplikt")
    assert decision.skjermingshjemmel == "Offl. § 13 jf. bvl. § 13-1"
    assert list(decision.skjermingMetadata) == [m for m in SkjermingMetadata if m in set(decision.skjermingMetadata)]


def test_an_organisation_sender_is_not_treated_as_a_private_name():
    decision = decide(
        "Epikrise", sender=Party(name="Fjellvik legesenter AS", organisasjonsnummer="987654321")
    )
    assert decision.screened and decision.secrets.names == ()
    # Still hidden as a whole field, because the rule hides the sender's name.
    assert public_text("Fjellvik legesenter AS", decision, PublicField.navn_avsender) == MASK
    assert public_text("Fjellvik legesenter AS", decision) == "Fjellvik legesenter AS"


def test_the_caller_can_say_a_sender_is_no_private_person():
    sender = Party(name="Barneverntjenesten i Fjellvik", email="barnevern@fjellvik.kommune.no")
    inferred = decide("Bekymringsmelding", sender=sender)
    told = decide("Bekymringsmelding", sender=sender, sender_is_private=False)
    assert inferred.secrets.names == ("Barneverntjenesten i Fjellvik",)
    assert told.secrets.names == ()
    assert public_text("Fjellvik kommune", told) == "Fjellvik kommune"


def test_title_words_hidden_are_recorded_in_the_metadata():
    rules = ScreeningRuleSet(
        rules=(
            ScreeningRule(
                name="midlertidig",
                tilgangsrestriksjon="13",
                skjermingshjemmel="Offl. § 13 jf. fvl. § 13 første ledd nr. 1",
                skjermingMetadata=(SkjermingMetadata.navn_part,),
                keywords=("rusbehandling*",),
                hide_keywords=True,
            ),
        )
    )
    decision = decide("Søknad om rusbehandling for Per Olsen", rules=rules, private_names=("Per Olsen",))
    assert decision.offentlig_tittel == f"Søknad om {MASK} for {MASK}"
    assert SkjermingMetadata.tittel_registrering_utvalgte_ord in decision.skjermingMetadata
    assert public_text("Om RUSBEHANDLINGEN", decision) == f"Om {MASK}"


def test_hide_keywords_also_hides_matched_patterns():
    rules = ScreeningRuleSet(
        rules=(
            ScreeningRule(
                name="diagnosekode",
                tilgangsrestriksjon="13",
                skjermingshjemmel="Offl. § 13 jf. hpl. § 21",
                skjermingMetadata=(SkjermingMetadata.tittel_registrering_utvalgte_ord,),
                patterns=(r"\bICD-10\s+[A-Z]\d{2}(?:\.\d)?\b",),
                hide_keywords=True,
            ),
        )
    )
    decision = decide("Henvisning, ICD-10 F32.1", rules=rules)
    assert decision.matched_rules == ("diagnosekode",)
    assert decision.offentlig_tittel == f"Henvisning, {MASK}"


def test_title_hidden_after_its_first_line():
    rules = ScreeningRuleSet(
        rules=(
            ScreeningRule(
                name="flerlinje",
                tilgangsrestriksjon="13",
                skjermingshjemmel="Offl. § 13 jf. fvl. § 13 første ledd nr. 1",
                skjermingMetadata=(SkjermingMetadata.tittel_registrering_unntatt_foerste_linje,),
                keywords=("klage",),
            ),
        )
    )
    decision = decide("Klage på vedtak\nGjelder datteren min på Nordby skole", rules=rules)
    assert decision.offentlig_tittel == f"Klage på vedtak\n{MASK}"
    assert public_text("Klage\nx", decision, PublicField.tittel_mappe) == "Klage\nx"


def test_screening_input_reads_a_whole_submission():
    submission = Submission(
        source=Source.eform,
        origin_name="skjema-17.xml",
        sender=Party(name="Åse Ødegård"),
        subject="Søknad om støttekontakt",
        form_type="helse-og-omsorg-soknad",
        form_data={"soker": {"navn": "Åse Ødegård", "fnr": int(FNR_2)}, "samtykke": True},
        documents=[
            SubmissionDocument(
                filename="vedlegg.pdf", media_type="application/pdf", content=b"%PDF", role=DocumentRole.attachment,
                title="Vedlegg",
            )
        ],
    )
    item = screening_input(submission, klasse_id="000")
    assert item.attachment_names == ("vedlegg.pdf", "Vedlegg")
    decision = decide_screening(item, RULES)
    assert decision.matched_rules == ("helse", "taushetsplikt")  # form type, then keyword
    assert FNR_2 in decision.secrets.identity_numbers
    assert decision.secrets.names == ("Åse Ødegård",)


def test_a_number_in_form_data_that_lost_its_leading_zero_is_still_found():
    assert FNR.startswith("0")
    submission = Submission(source=Source.eform, origin_name="s.xml", subject="Skjema", form_data={"fnr": int(FNR)})
    assert decide_screening(screening_input(submission), NO_RULES).secrets.identity_numbers == (FNR,)


# ---------------------------------------------------------------- public text and the guard


def test_public_text_is_idempotent_and_passes_the_guard():
    decision = names_screening("Åse Ødegård", ("Åse Ødegård",), body=f"fnr {FNR}")
    text = f"Ødegårds sak, ref {FNR[:6]}-{FNR[6:]}, ÅSE ØDEGÅRD"
    once = public_text(text, decision)
    assert once == f"{MASK} sak, ref {MASK}, {MASK}"
    assert public_text(once, decision) == once
    assert_public_safe(once, decision.secrets)


def test_the_guard_catches_every_kind_of_leak_without_repeating_it():
    secrets = ScreeningSecrets(identity_numbers=(FNR,), names=("Åse Ødegård",), keywords=("rus*",))
    leaks = [
        f"Sak {FNR}",
        f"Sak {FNR[:2]}.{FNR[2:4]}.{FNR[4:6]} {FNR[6:]}",
        f"KID 9{FNR}7",  # a known number inside a longer digit run
        f"Sak {FNR_2}",  # an identity number the item did not know about
        "Brev fra Ase Odegard",
        "Ødegårds klage",
        "Om rusmiddelbruk",
    ]
    for leak in leaks:
        with pytest.raises(PublicJournalLeakError) as caught:
            assert_public_safe(leak, secrets)
        message = str(caught.value)
        assert FNR not in digits_only(message) and FNR_2 not in digits_only(message)
        assert "Ødegård" not in message and "Odegard" not in message
    assert_public_safe("Brev fra *****, sak 2025/123-4, tlf 22 33 44 55", secrets)


def test_the_guard_exit_code_is_invalid_output():
    with pytest.raises(PublicJournalLeakError) as caught:
        assert_public_safe(FNR, ScreeningSecrets())
    assert caught.value.exit_code == 7


# ---------------------------------------------------------------- adversarial corpus


@dataclass(frozen=True)
class Secret:
    """An item with secrets: `hidden` are strings as written in the item that must never be public."""

    id: str
    tittel: str
    hidden: tuple[str, ...]
    names: tuple[str, ...] = ()
    body: str = ""
    attachment_names: tuple[str, ...] = ()
    keep: tuple[str, ...] = field(default=())


def _n(number: str, sizes: tuple[int, ...], separator: str) -> str:
    return split(number, sizes, separator)


SECRETS = [
    Secret("plain", f"Søknad {FNR}", (FNR,)),
    Secret("6+5 space", f"Søknad {_n(FNR, (6, 5), ' ')}", (FNR,)),
    Secret("dotted date", f"Fnr. {_n(FNR, (2, 2, 2, 3, 2), '.')}", (FNR,)),
    Secret("date with dots, person with spaces", f"Født {FNR[:2]}.{FNR[2:4]}.{FNR[4:6]} {FNR[6:9]} {FNR[9:]}", (FNR,)),
    Secret("hyphen", f"Sak om {_n(FNR, (6, 5), '-')}", (FNR,)),
    Secret("4-4-3", f"Pnr {_n(FNR, (4, 4, 3), ' ')}", (FNR,)),
    Secret("NBSP", f"Fnr\u00a0{_n(FNR, (6, 5), chr(0xA0))}", (FNR,)),
    Secret("thin space", f"Fnr {_n(FNR, (6, 5), chr(0x2009))}", (FNR,)),
    Secret("narrow NBSP", f"Fnr {_n(FNR, (3, 3, 3, 2), chr(0x202F))}", (FNR,)),
    Secret("newline", "Melding", (FNR,), body=f"Gjelder barn med fnr {_n(FNR, (6, 5), chr(10))} takk"),
    Secret("CRLF", "Melding", (FNR,), body=f"fnr {_n(FNR, (6, 5), chr(13) + chr(10))}"),
    Secret("quoted reply wrap", "Sv: Melding", (FNR,), body=f"> fnr {FNR[:6]}\n> {FNR[6:]}"),
    Secret("soft hyphen", f"Fnr {_n(FNR, (6, 5), chr(0xAD))}", (FNR,)),
    Secret("zero-width space", f"Fnr {_n(FNR, (2, 2, 2, 5), chr(0x200B))}", (FNR,)),
    Secret("non-breaking hyphen", f"Fnr {_n(FNR, (6, 5), chr(0x2011))}", (FNR,)),
    Secret("en dash", f"Fnr {_n(FNR, (6, 5), ' – ')}", (FNR,)),
    Secret("full width", "Fnr " + "".join(chr(0xFF10 + int(d)) for d in FNR), (FNR,)),
    Secret("underscore file name", "Vedlegg", (FNR,), attachment_names=(f"legeerklaering_{_n(FNR, (6, 5), '_')}.pdf",)),
    Secret("glued to label", f"Fnr:{FNR}", (FNR,)),
    Secret("in parentheses", f"Ola ({FNR})", (FNR,)),
    Secret("after a phone number", f"Tlf 22 33 44 55 {FNR}", (FNR,), keep=("22 33 44 55",)),
    Secret("two numbers", f"{FNR} og {FNR_2}", (FNR, FNR_2)),
    Secret("D-number", f"D-nr {_n(D_NUMMER, (6, 5), ' ')}", (D_NUMMER,)),
    Secret("D-number leap day", f"D-nr {D_LEAP}", (D_LEAP,)),
    Secret("leap day", f"Født {_n(FNR_LEAP, (6, 5), '.')}", (FNR_LEAP,)),
    Secret("H-number", f"H-nr {H_NUMMER}", (H_NUMMER,)),
    Secret("synthetic", f"Testperson {SYNTETISK}", (SYNTETISK,)),
    Secret("synthetic D-number", f"Testperson {_n(D_SYNTETISK, (6, 5), ' ')}", (D_SYNTETISK,)),
    Secret("only in body", "Søknad om startlån", (FNR,), body=f"Mitt fødselsnummer er {FNR}."),
    Secret("name in subject", "Åse Ødegård", ("Åse", "Ødegård"), names=("Åse Ødegård",)),
    Secret("name upper-case", "ÅSE ØDEGÅRD", ("ÅSE", "ØDEGÅRD"), names=("Åse Ødegård",)),
    Secret("possessive", "Ødegårds barn", ("Ødegårds",), names=("Åse Ødegård",)),
    Secret("possessive apostrophe", "Lars' skolegang", ("Lars'",), names=("Lars Strand",)),
    Secret("surname only", "Familien Ødegård", ("Ødegård",), names=("Åse Ødegård",), keep=("Familien",)),
    Secret("surname first", "Ødegård, Åse", ("Ødegård", "Åse"), names=("Åse Ødegård",)),
    Secret("double surname hyphen", "Anne-Lise Berg-Hansen", ("Anne", "Lise", "Berg", "Hansen"), names=("Anne-Lise Berg-Hansen",)),
    Secret("half a double surname", "Fru Hansen", ("Hansen",), names=("Anne-Lise Berg-Hansen",), keep=("Fru",)),
    Secret("double surname no hyphen", "Kari Nordmann Berg", ("Kari", "Nordmann", "Berg"), names=("Kari Nordmann Berg",)),
    Secret("transliterated", "Ase Odegard", ("Ase", "Odegard"), names=("Åse Ødegård",)),
    Secret("aa/oe transliteration", "Aase Oedegaard", ("Aase", "Oedegaard"), names=("Åse Ødegård",)),
    Secret("accent dropped", "Rene Sorlie", ("Rene", "Sorlie"), names=("René Sørlie",)),
    Secret("name with NBSP", "Åse\u00a0Ødegård", ("Åse", "Ødegård"), names=("Åse Ødegård",)),
    Secret("name over a line break", "Melding", ("Åse", "Ødegård"), names=("Åse Ødegård",), body="Hilsen Åse\nØdegård"),
    Secret("name in file name", "Vedlegg", ("Ola", "Nordmann"), names=("Ola Nordmann",), attachment_names=("notat_ola_nordmann.pdf",)),
    Secret("camelCase file name", "Vedlegg", ("AseOdegard",), names=("Åse Ødegård",), attachment_names=("Legeerklaering_AseOdegard.pdf",)),
    Secret("zero-width space between names", "Åse\u200bØdegård", ("Åse\u200bØdegård",), names=("Åse Ødegård",)),
    Secret("name's own capitals differ", "Ola Mcdonald", ("Ola", "Mcdonald"), names=("Ola McDonald",)),
    Secret("text's capitals differ", "Brev fra McDonald", ("McDonald",), names=("Ola Mcdonald",), keep=("Brev fra",)),
    Secret("child's name from the list", "Om Ola og Kari", ("Ola",), names=("Ola Nordmann",), keep=("Kari",)),
    Secret("particle kept", "Vries - de facto", ("Vries",), names=("Jan de Vries",), keep=("de facto",)),
    Secret("name and number", f"Ødegård {FNR}", ("Ødegård", FNR), names=("Åse Ødegård",)),
]


def _survives(secret: str, text: str) -> bool:
    if secret.isdigit():
        return secret in digits_only(text)
    return re.search(rf"(?<!\w){re.escape(secret.casefold())}(?!\w)", unicodedata.normalize("NFKC", text).casefold()) is not None


@pytest.mark.parametrize("case", SECRETS, ids=[case.id for case in SECRETS])
def test_adversarial_secrets_never_reach_public_text(case: Secret):
    decision = decide(
        f"Bekymringsmelding: {case.tittel}",
        body=case.body,
        attachment_names=case.attachment_names,
        private_names=case.names,
    )
    assert decision.screened
    public = [decision.offentlig_tittel, public_text(case.body, decision)]
    public += [public_text(name, decision, PublicField.tittel_dokumentbeskrivelse) for name in case.attachment_names]
    for text in public:
        for secret in case.hidden:
            assert not _survives(secret, text), (secret, text)
        assert_public_safe(text, decision.secrets)
    for kept in case.keep:
        assert kept in decision.offentlig_tittel
    raw = " ".join([case.tittel, case.body, *case.attachment_names])
    with pytest.raises(PublicJournalLeakError):
        assert_public_safe(raw, decision.secrets)


LOOK_ALIKES = {
    "mobile with country code": "Ring +47 912 34 567",
    "mobile grouped": "Mobil: 912 34 567",
    "landline pairs": "Tlf. 22 33 44 55",
    "landline packed": "Tlf 22334455 / 98765432",
    "mobile with 0047": "0047 912 34 567",
    "phones in a row": "22 33 44 55 98 76 54 32",
    "account dotted": "Kontonr. 1234.56.78903",
    "account spaced": "Konto 1234 56 78903",
    "account packed": "Konto 12345678903",
    "IBAN": "IBAN NO93 8601 1117 947",
    "organisation number": "Org.nr. 987 654 321 MVA",
    "organisation number packed": "Orgnr 987654321",
    "case number": "Deres ref. 2025/123-4",
    "case number long": "Saksnr. 2024/00123-004",
    "date": "Møte 01.01.1990",
    "date and time": "20.11.2025 kl. 14:03",
    "ISO date": "Frist 2025-11-20",
    "amount": "Beløp kr 12 345 678,90",
    "amounts": "kr 1 234 567,00 og 89 012,34",
    "gnr bnr fnr": "gnr. 12 bnr. 7 fnr. 3",
    "address": "Storgata 12, 0155 Oslo",
    "ISBN": "ISBN 978-82-02-12345-6",
    "wrong check digit": f"Ref {FNR[:10]}{(int(FNR[10]) + 1) % 10}",
    "12 digits": f"Ordrenr {FNR}7",
    "15-digit KID with a valid window": f"KID 1{FNR}234",
    "impossible date": f"Nr {next(n for i in range(1000) if (n := with_check_digits(f'320190{i:03d}')))}",
}


@pytest.mark.parametrize("text", LOOK_ALIKES.values(), ids=LOOK_ALIKES.keys())
def test_look_alikes_are_not_identity_numbers(text):
    assert find_identity_numbers(text) == []
    decision = decide(f"Faktura {text}", body=text)
    assert not decision.screened
    assert decision.offentlig_tittel == f"Faktura {text}"
    assert_public_safe(text, ScreeningSecrets())


def test_the_kid_look_alike_really_contains_a_valid_window():
    assert identity_number_kind(LOOK_ALIKES["15-digit KID with a valid window"][5:16]) is not None


def test_the_corpus_is_big_enough():
    assert len(SECRETS) + len(LOOK_ALIKES) >= 40


# ---------------------------------------------------------------- property


SEPARATORS = [" ", ".", "-", "_", "\u00a0", "\u2009", "\u202f", "\u2011", "\u2013", " - ", ". ", "\n", "\r\n", "\n> ", "\u00ad", "\u200b"]
SURROUNDING = st.text(alphabet="abcæøå ABCÆØÅ,:;()«»!?/", max_size=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    born=st.dates(min_value=date(1855, 1, 1), max_value=date(2039, 12, 31)),
    individ=st.integers(0, 999),
    shift=st.sampled_from([(0, 0), (40, 0), (0, 40), (0, 80), (40, 80)]),
    cuts=st.sets(st.integers(1, 10), max_size=5),
    separators=st.lists(st.sampled_from(SEPARATORS), min_size=5, max_size=5),
    before=SURROUNDING,
    after=SURROUNDING,
)
def test_any_valid_number_with_any_separators_is_found_and_redacted(born, individ, shift, cuts, separators, before, after):
    number = make_number(born, individ, day_shift=shift[0], month_shift=shift[1])
    assume(number is not None)
    written, previous = "", 0
    for cut, separator in zip(sorted(cuts), separators):
        written += number[previous:cut] + separator
        previous = cut
    written += number[previous:]
    text = f"{before} {written} {after}"

    assert [m.number for m in find_identity_numbers(text)] == [number]
    decision = decide(text)
    assert decision.screened and decision.secrets.identity_numbers == (number,)
    assert digits_only(decision.offentlig_tittel) == ""
    assert digits_only(public_text(text, decision)) == ""
    assert_public_safe(decision.offentlig_tittel, decision.secrets)
    with pytest.raises(PublicJournalLeakError):
        assert_public_safe(text, ScreeningSecrets())


def test_a_misspelt_key_is_named_before_the_missing_one_with_the_key_it_resembles(tmp_path):
    # Screening named pydantic's first problem (the "missing" real key); now, like every
    # config message, the misspelling comes first.
    text = MINIMAL_RULE.replace('skjermingshjemmel = "', 'skjermingshjemel = "')
    with pytest.raises(ConfigError) as caught:
        load_screening_rules(write_rules(tmp_path, text))
    assert "rule 1 ('barnevern'): skjermingshjemel: is not a known key (misspelt?)" in caught.value.message
    assert "1 more problem(s)" in caught.value.message
    assert caught.value.hint.startswith("did you mean 'skjermingshjemmel'?")
