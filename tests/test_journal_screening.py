"""Journaling screens what it registers: skjerming, offentligTittel, no change-log noise."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from helpers.inbox import drop, make_eml
from noarkpipe import api
from noarkpipe.store import tables
from noarkpipe.store.engine import Store


def _fnr(day_month_year: str, individual: str) -> str:
    digits = [int(c) for c in day_month_year + individual]
    k1 = 11 - sum(w * d for w, d in zip((3, 7, 6, 1, 8, 9, 4, 5, 2), digits)) % 11
    k1 = 0 if k1 == 11 else k1
    digits.append(k1)
    k2 = 11 - sum(w * d for w, d in zip((5, 4, 3, 2, 7, 6, 5, 4, 3, 2), digits)) % 11
    k2 = 0 if k2 == 11 else k2
    assert k1 != 10 and k2 != 10
    return "".join(map(str, [*digits, k2]))


def test_screened_items_carry_skjerming_and_a_public_title_without_the_secret(installation):
    fnr = _fnr("150385", "123")
    spaced = f"{fnr[:6]} {fnr[6:]}"
    drop(installation, "fjellvik", "1.eml", make_eml(subject=f"Søknad om startlån for {spaced}", body="Se vedlegg."))
    drop(installation, "fjellvik", "2.eml", make_eml(subject="Bekymringsmelding til barnevernet om Ola Nordmann",
                                                    sender="Kari Nordmann <kari@example.no>"))
    drop(installation, "fjellvik", "3.eml", make_eml(subject="Spørsmål om brøyting av Fjellvegen"))
    api.run(installation)
    store = Store.open(installation.store_url)
    with store.read() as session:
        posts = {p.tittel: p for p in session.scalars(select(tables.Journalpost))}
        loan = posts[f"Søknad om startlån for {spaced}"]
        assert loan.tilgangsrestriksjon and loan.skjermingshjemmel
        assert loan.offentligTittel is not None and fnr[:6] not in loan.offentligTittel and "*****" in loan.offentligTittel
        assert loan.saksmappe.offentligTittel == loan.offentligTittel and loan.saksmappe.tilgangsrestriksjon
        welfare = posts["Bekymringsmelding til barnevernet om Ola Nordmann"]
        assert welfare.skjermingshjemmel == "Offl. § 13 jf. bvl. § 13-1"
        assert "Skjerming navn avsender" in welfare.skjermingMetadata.splitlines()
        plain = posts["Spørsmål om brøyting av Fjellvegen"]
        assert plain.tilgangsrestriksjon is None and plain.offentligTittel is None
        # Screening is part of the registration, not a later change: no change-log rows for it.
        changed = session.scalars(select(tables.Endringslogg.referanseMetadata)).all()
        assert "offentligTittel" not in changed and "tilgangsrestriksjon" not in changed
    store.dispose()


EFORMS = Path(__file__).resolve().parents[1] / "fixtures" / "sample-eforms"


def test_form_person_names_come_from_name_fields_not_from_the_submitter():
    from noarkpipe.classify.screening import form_person_names

    data = {
        "barn": {"navn": "Nora Ødegård Hansen", "fodselsnummer": "14832451224"},
        "foresatte": [{"fornavn": "Kristin", "etternavn": "Hansen"}, {"fullName": "Per Hansen"}],
        "barnehage": ["Solsikken barnehage", "Trollskogen barnehage"],
        "antall": 2,
        "_submission": {"submitter": {"name": "Fjellvik Bygg AS"}},
    }
    assert form_person_names(data) == ("Nora Ødegård Hansen", "Kristin", "Hansen", "Per Hansen")


def test_a_screened_eform_hides_the_names_in_its_fields_from_the_public_journal(installation, tmp_path):
    import shutil

    inbox = installation.creator("fjellvik").inbox
    inbox.mkdir(parents=True, exist_ok=True)
    shutil.copy(EFORMS / "barnehageplass-FS-2026-120051.zip", inbox)
    summary = api.run(installation)
    assert summary.quarantined == 0
    store = Store.open(installation.store_url)
    with store.read() as session:
        post = session.scalars(select(tables.Journalpost)).one()
        assert "Nora" in post.tittel  # the archive keeps the real title
        assert post.tilgangsrestriksjon == "13"
        assert "Nora" not in post.offentligTittel and "Ødegård" not in post.offentligTittel
        assert "Skjerming navn part i sak" in post.skjermingMetadata.splitlines()
        assert "Nora" not in post.saksmappe.offentligTittel
        day = post.journaldato
    store.dispose()
    published = api.publish_journal(installation, day, day, tmp_path / "postliste", "fjellvik")
    for path in (published.xml, published.html):
        text = Path(path).read_text(encoding="utf-8")
        for secret in ("Nora", "Ødegård", "Kristin", "14832451224", "02899112345"):
            assert secret not in text, (path.name, secret)
    assert published.entries == 1
