"""Case references quoted in letters, and attaching items to the quoted saksmappe."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import select

from helpers.inbox import drop, make_eml
from noarkpipe import api
from noarkpipe.config import load_settings
from noarkpipe.core.codes import Journalstatus
from noarkpipe.core.references import (
    CASE_NUMBER,
    CaseParty,
    find_case_references,
    is_party_of_case,
)
from noarkpipe.core.submission import Party
from noarkpipe.run.results import ItemResult
from noarkpipe.store import tables

MIDLERTIDIG = Journalstatus.midlertidig_registrering.value


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Deres ref. 2025/123-4", [(2025, 123, 4)]),
        ("Deres referanse: 2025/123", [(2025, 123, None)]),
        ("Vår ref 2025/123", [(2025, 123, None)]),
        ("vår ref.: 25/7-2", [(2025, 7, 2)]),
        ("Saksnr: 25/123", [(2025, 123, None)]),
        ("Saksnummer 2024 / 88 - 3", [(2024, 88, 3)]),
        ("Arkivsak 2023/1042", [(2023, 1042, None)]),
        ("Var ref 2026/15", [(2026, 15, None)]),  # ASCII for å
        ("Vär ref 2026/15-3", [(2026, 15, 3)]),  # OCR reads å as ä; the scan intake's grammar took it already
        ("Sak 24/12", [(2024, 12, None)]),
        ("Deres ref 2025/1-1 og vår ref 2025/1-1", [(2025, 1, 1)]),  # one reference, not two
        ("Deres ref 2025/1, Saksnr 2025/2", [(2025, 1, None), (2025, 2, None)]),
    ],
)
def test_labelled_references_are_found(text, expected):
    found = [(r.saksaar, r.sakssekvensnummer, r.journalpostnummer) for r in find_case_references(text)]
    assert found == expected


@pytest.mark.parametrize(
    "text",
    [
        "Byggesak 24/12 - tilbygg",  # gnr/bnr after a word ending in 'sak'
        "Klagesak 2025/3",
        "Gnr. 24/12, Storgata 5",
        "Møte 12/05 kl. 10",
        "Telefon 55 12 34 56, konto 1503.12.34567",
        "Preferanse 2025/123",
        "Deres ref: se vedlegg",
    ],
)
def test_unlabelled_numbers_and_words_ending_in_a_label_are_not_references(text):
    assert find_case_references(text) == []




def test_a_quoted_case_of_the_same_creator_is_joined_another_creators_never(installation):
    # Night 1: each municipality opens its first case of the year: both are number 1.
    drop(installation, "fjellvik", "a.eml", make_eml(subject="Søknad om ferdigattest - gnr. 3 bnr. 9"))
    drop(installation, "strandby", "b.eml", make_eml(subject="Søknad om skjenkebevilling - Kafé Bølgen",
                                                      to="post@strandby.kommune.no"))
    api.run(installation)
    store = api.open_store(installation)
    try:
        with store.read() as session:
            cases = {s.tittel: s.mappeID for s in session.scalars(select(tables.Saksmappe))}
    finally:
        store.dispose()
    assert len(set(cases.values())) == 1  # the same number, in two municipalities
    fjellvik_case = next(iter(cases.values()))

    # Night 2: a reply to Fjellvik quoting that number, one to Strandby quoting an unknown case.
    drop(installation, "fjellvik", "c.eml",
         make_eml(subject=f"Ettersending av dokumentasjon - Deres ref {fjellvik_case}-1",
                  body="Hei,\nher er tegningene dere ba om."))
    drop(installation, "strandby", "d.eml",
         make_eml(subject="Spørsmål om sak", body="Vår ref 2019/4711\nHei, hvordan går det med saken?",
                  to="post@strandby.kommune.no"))
    api.run(installation)
    store = api.open_store(installation)
    try:
        with store.read() as session:
            posts = {p.tittel: p for p in session.scalars(select(tables.Journalpost))}
            joined = posts[f"Ettersending av dokumentasjon - Deres ref {fjellvik_case}-1"]
            original = posts["Søknad om ferdigattest - gnr. 3 bnr. 9"]
            assert joined.saksmappe_id == original.saksmappe_id
            assert joined.journalstatus == Journalstatus.journalfoert.value
            assert "quotes existing case" in joined.classification_note
            assert joined.arkivskaper_id == original.arkivskaper_id

            unknown = posts["Spørsmål om sak"]
            strandby_first = posts["Søknad om skjenkebevilling - Kafé Bølgen"]
            assert unknown.saksmappe_id != strandby_first.saksmappe_id
            assert unknown.saksmappe.mappeID != "2019/4711"
            assert unknown.arkivskaper_id == strandby_first.arkivskaper_id
            assert unknown.saksmappe.saksaar != 2019
    finally:
        store.dispose()


def test_a_reference_to_another_creators_case_opens_a_new_case(installation):
    drop(installation, "strandby", "a.eml", make_eml(subject="Søknad om skjenkebevilling - Kafé Bølgen",
                                                      to="post@strandby.kommune.no"))
    api.run(installation)
    store = api.open_store(installation)
    try:
        with store.read() as session:
            strandby_case = session.scalars(select(tables.Saksmappe)).one()
            quoted = strandby_case.mappeID
    finally:
        store.dispose()
    # Fjellvik has no cases at all: the quoted number belongs to Strandby only.
    drop(installation, "fjellvik", "b.eml", make_eml(subject=f"Purring - Deres ref {quoted}"))
    api.run(installation)
    store = api.open_store(installation)
    try:
        with store.read() as session:
            cases = session.scalars(select(tables.Saksmappe).order_by(tables.Saksmappe.id)).all()
            assert len(cases) == 2
            assert cases[0].arkivskaper_id != cases[1].arkivskaper_id
            post = session.scalars(select(tables.Journalpost).where(tables.Journalpost.tittel.startswith("Purring"))).one()
            assert post.saksmappe_id == cases[1].id
            assert "quotes existing case" not in (post.classification_note or "")
    finally:
        store.dispose()


def test_a_letter_quoting_a_closed_case_goes_to_review_instead_of_reopening_it(installation):
    drop(installation, "fjellvik", "a.eml", make_eml(subject="Søknad om ferdigattest - gnr. 5 bnr. 1"))
    api.run(installation)
    store = api.open_store(installation)
    try:
        with store.write("test") as session:
            case = session.scalars(select(tables.Saksmappe)).one()
            case.saksstatus = "Avsluttet"
            quoted = case.mappeID
    finally:
        store.dispose()
    drop(installation, "fjellvik", "b.eml", make_eml(subject=f"Ettersending - Deres ref {quoted}"))
    api.run(installation)
    store = api.open_store(installation)
    try:
        with store.read() as session:
            post = session.scalars(select(tables.Journalpost).where(tables.Journalpost.tittel.startswith("Ettersending"))).one()
            assert post.saksmappe.mappeID != quoted
            assert post.journalstatus == Journalstatus.midlertidig_registrering.value
            assert f"quotes case {quoted}" in post.classification_note and "Avsluttet" in post.classification_note
    finally:
        store.dispose()


# --- A quoted case number from an unknown sender -------------------------------------------------


def _opened_case(installation) -> str:
    """Åse Ødegård's question opens a case; the archivist journals it (M → J)."""
    drop(installation, "fjellvik", "1-sporsmal.eml", make_eml(subject="Spørsmål om åpningstider"))
    [item] = api.run(installation).items
    assert item.journalstatus == MIDLERTIDIG  # no rule matches: a new case awaiting review
    api.review_decide(installation, "approve", item.journalpost, kode="fjellvik", by="arkivar")
    return item.saksmappe.rsplit("-", 1)[0]


def _quote(installation, name: str, case: str, sender: str) -> ItemResult:
    drop(installation, "fjellvik", name, make_eml(
        subject=f"Innspill til saken, Deres ref. {case}-1", body=f"Hei,\nse vedlagt ({name}).", sender=sender,
    ))
    [item] = api.run(installation).items
    return item


def test_an_unknown_sender_quoting_an_existing_case_is_placed_in_it_for_review(installation):
    case = _opened_case(installation)
    item = _quote(installation, "2-anonym.eml", case, "Ukjent <tips1234@example.com>")
    assert item.journalstatus == Journalstatus.midlertidig_registrering.value
    assert item.saksmappe.rsplit("-", 1)[0] == case  # in the quoted case, not a new one
    assert "the sender tips1234@example.com is no party of that case" in item.reason
    shown = subprocess.run(
        [sys.executable, "-m", "noarkpipe.cli", "review", "show", "-c", str(installation.config_path),
         "-a", "fjellvik", item.journalpost],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "is no party of that case" in shown.stdout and "quoted_case_unknown_sender" in shown.stdout
    # Its first letter, still awaiting review, does not make it a party: the second waits as well.
    again = _quote(installation, "3-anonym-igjen.eml", case, "Ukjent <tips1234@example.com>")
    assert again.journalstatus == Journalstatus.midlertidig_registrering.value


def test_a_letter_without_sender_quoting_a_case_waits_for_review(installation):
    case = _opened_case(installation)
    drop(installation, "fjellvik", "2-uten-avsender.eml",
         f"Subject: Tips, Deres ref. {case}-1\r\nMIME-Version: 1.0\r\n\r\nDet bygges ulovlig.\r\n".encode())
    [item] = api.run(installation).items
    assert item.journalstatus == Journalstatus.midlertidig_registrering.value
    assert "a sender without e-mail address or organisasjonsnummer is no party" in item.reason


def test_the_cases_own_party_quoting_it_is_journaled_as_before(installation):
    case = _opened_case(installation)
    # The same address as the application's, written in other letters and with another name.
    item = _quote(installation, "2-ettersending.eml", case, "Å. Ødegård <ASE.ODEGARD@example.no>")
    assert item.journalstatus == Journalstatus.journalfoert.value
    assert item.saksmappe.rsplit("-", 1)[0] == case
    assert "no party" not in item.reason
    # A newcomer whose letter the archivist journaled in the case is a party from then on.
    newcomer = _quote(installation, "3-nabo.eml", case, "Nabo <nabo@example.no>")
    assert newcomer.journalstatus == Journalstatus.midlertidig_registrering.value
    api.review_decide(installation, "approve", newcomer.journalpost, kode="fjellvik", by="arkivar")
    assert _quote(installation, "4-nabo-igjen.eml", case, "Nabo <nabo@example.no>").journalstatus == (
        Journalstatus.journalfoert.value
    )


def test_with_the_setting_journal_an_unknown_sender_joins_the_quoted_case_as_before(installation):
    config = installation.config_path
    text = config.read_text(encoding="utf-8")
    assert text.count('quoted_case_unknown_sender = "review"') >= 1
    config.write_text(text.replace('quoted_case_unknown_sender = "review"', 'quoted_case_unknown_sender = "journal"'),
                      encoding="utf-8")
    installation = load_settings(config)
    assert installation.creator("fjellvik").klassifikasjonssystem.quoted_case_unknown_sender == "journal"
    case = _opened_case(installation)
    item = _quote(installation, "2-anonym.eml", case, "Ukjent <tips1234@example.com>")
    assert item.journalstatus == Journalstatus.journalfoert.value
    assert item.saksmappe.rsplit("-", 1)[0] == case
    assert "quotes existing case" in item.reason and "no party" not in item.reason


@pytest.mark.parametrize(
    ("sender", "parties", "known"),
    [
        (Party(email="Ase@Example.no"), [CaseParty("ase@example.no", None, "Journalført", False)], True),
        (Party(organisasjonsnummer="974 760 673"), [CaseParty(None, "974760673", "Journalført", False)], True),
        (Party(email="ase@example.no"), [CaseParty("ase@example.no", None, MIDLERTIDIG, True)], True),
        (Party(email="ase@example.no"), [CaseParty("ase@example.no", None, MIDLERTIDIG, False)], False),
        (Party(email="ase@example.no"), [CaseParty("ase@example.no", None, "Utgår", True)], False),
        (Party(name="Åse Ødegård"), [CaseParty("ase@example.no", None, "Journalført", True)], False),
        (None, [CaseParty("ase@example.no", None, "Journalført", True)], False),
        (Party(email="ase@example.no"), [], False),
    ],
    ids=["same-address", "same-orgnr", "opened-the-case", "only-awaiting-review", "rejected", "name-only",
         "no-sender", "no-parties"],
)
def test_who_is_a_party_of_a_case(sender, parties, known):
    assert is_party_of_case(sender, parties) is known


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026 / 14 - 2", ("2026", "14", "2")),
        ("26/14", ("26", "14", None)),
        ("ABC 2026/14-2", ("2026", "14", "2")),
        ("12026/14", None),  # a longer number is no saksår
        ("300/14", None),
    ],
)
def test_the_case_number_alone_is_the_same_grammar(text, expected):
    match = CASE_NUMBER.search(text)
    assert (match.group("year", "seq", "doc") if match else None) == expected
