"""Journaling screens what it registers: skjerming, offentligTittel, no change-log noise."""

from __future__ import annotations

from sqlalchemy import select

from noarkpipe import api
from noarkpipe.journal import tables
from noarkpipe.journal.store import Store

from conftest import drop, make_eml


def _fnr(day_month_year: str, individual: str) -> str:
    digits = [int(c) for c in day_month_year + individual]
    k1 = 11 - sum(w * d for w, d in zip((3, 7, 6, 1, 8, 9, 4, 5, 2), digits)) % 11
    k1 = 0 if k1 == 11 else k1
    digits.append(k1)
    k2 = 11 - sum(w * d for w, d in zip((5, 4, 3, 2, 7, 6, 5, 4, 3, 2), digits)) % 11
    k2 = 0 if k2 == 11 else k2
    assert k1 != 10 and k2 != 10
    return "".join(map(str, digits + [k2]))


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
