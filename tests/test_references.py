"""Case references quoted in letters, and attaching items to the quoted saksmappe."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from noarkpipe import api
from noarkpipe.classify.references import find_case_references
from noarkpipe.journal import tables
from noarkpipe.model.codes import Journalstatus

from conftest import drop, make_eml


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
