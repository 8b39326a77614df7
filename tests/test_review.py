"""The archivist's review commands: each decision changes what it says, logs it, allocates nothing twice."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sqlalchemy import select

from helpers.inbox import drop, make_eml
from noarkpipe import api
from noarkpipe.journal import review
from noarkpipe.store import tables
from noarkpipe.store.engine import Store


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "noarkpipe.cli", *map(str, args)], capture_output=True, text=True, timeout=60)


@pytest.fixture
def queued(installation):
    for n, subject in enumerate(["Spørsmål om åpningstider", "Ettersendt tegning", "Reklame for kontorstoler", "Spørsmål om feiing"]):
        drop(installation, "fjellvik", f"{n}.eml", make_eml(subject=subject, body=f"tekst {n}"))
    summary = api.run(installation)
    return installation, {i.origin_name: i.journalpost for i in summary.items}


def _snapshot(settings):
    store = Store.open(settings.store_url)
    with store.read() as session:
        series = {(s.series, s.year): s.last_value for s in session.scalars(select(tables.NumberSeries))}
        posts = {
            p.tittel: (p.journalaar, p.journalsekvensnummer, p.registreringsID, p.journalstatus, p.saksmappe.mappeID,
                       p.saksmappe.saksstatus, p.saksmappe.klasse.klasseID)
            for p in session.scalars(select(tables.Journalpost))
        }
        log = [(e.referanseMetadata, e.tidligereVerdi, e.nyVerdi, e.endretAv) for e in session.scalars(select(tables.Endringslogg))]
    store.dispose()
    return series, posts, log


def test_list_shows_the_queue_and_approve_changes_only_the_status(queued):
    settings, numbers = queued
    items = api.review_list(settings, "fjellvik")
    assert [i.tittel for i in items] == ["Spørsmål om åpningstider", "Ettersendt tegning", "Reklame for kontorstoler", "Spørsmål om feiing"]
    series_before, posts_before, _ = _snapshot(settings)

    approved = api.review_decide(settings, "approve", numbers["0.eml"], kode="fjellvik", by="kari.arkivar")
    assert approved.journalstatus == "Journalført"
    series_after, posts_after, log = _snapshot(settings)
    assert series_after == series_before  # no number allocated
    before, after = posts_before["Spørsmål om åpningstider"], posts_after["Spørsmål om åpningstider"]
    assert after[:3] == before[:3] and after[3] == "Journalført"
    assert ("journalstatus", "Midlertidig registrering av innkommet dokument", "Journalført", "kari.arkivar") in log
    # Approving twice is refused: it is no longer in review.
    with pytest.raises(review.ReviewError, match="not a temporary registration"):
        api.review_decide(settings, "approve", numbers["0.eml"], kode="fjellvik", by="kari.arkivar")
    assert len(api.review_list(settings, "fjellvik")) == 3


def test_reclassify_attach_and_reject_are_logged(queued):
    settings, numbers = queued
    before = _snapshot(settings)[1]
    target_case = before["Spørsmål om åpningstider"][4]
    own_case = before["Ettersendt tegning"][4]

    api.review_decide(settings, "reclassify", numbers["3.eml"], kode="fjellvik", by="ola", klasse="M10")
    attached = api.review_decide(settings, "attach", numbers["1.eml"], kode="fjellvik", by="ola", saksnummer=target_case)
    assert attached.registreringsID == f"{target_case}-2" and attached.journalstatus == "Journalført"
    api.review_decide(settings, "reject", numbers["2.eml"], kode="fjellvik", by="ola", reason="reklame")

    _, posts, log = _snapshot(settings)
    assert posts["Spørsmål om feiing"][6] == "M10"
    assert ("klasse", "000", "M10", "ola") in log
    tegning = posts["Ettersendt tegning"]
    assert tegning[4] == target_case and tegning[1] == int(numbers["1.eml"].split("/")[1])  # journal number kept
    assert ("saksmappe", own_case, target_case, "ola") in log
    assert ("saksstatus", "Under behandling", "Utgår", "ola") in log  # the emptied case, number not reused
    assert posts["Reklame for kontorstoler"][3] == "Utgår" and posts["Reklame for kontorstoler"][5] == "Utgår"
    assert ("avvist", None, "reklame", "ola") in log
    with pytest.raises(review.ReviewError, match="no class 'X99'"):
        api.review_decide(settings, "reclassify", numbers["3.eml"], kode="fjellvik", by="ola", klasse="X99")
    # A case number of another municipality is not found here.
    with pytest.raises(review.ReviewError, match="no saksmappe"):
        api.review_decide(settings, "attach", numbers["3.eml"], kode="fjellvik", by="ola", saksnummer="2026/999")


def test_the_review_commands_from_the_command_line(queued):
    settings, numbers = queued
    config = settings.config_path
    listed = _cli("review", "list", "-c", config, "-a", "fjellvik", "--json")
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == 4
    shown = _cli("review", "show", "-c", config, "-a", "fjellvik", numbers["0.eml"])
    assert "Spørsmål om åpningstider" in shown.stdout and "e-post.txt" in shown.stdout
    done = _cli("review", "approve", "-c", config, "-a", "fjellvik", "--by", "kari", numbers["0.eml"], numbers["3.eml"])
    assert done.returncode == 0 and done.stdout.count("Journalført") == 2
    missing = _cli("review", "approve", "-c", config, "-a", "fjellvik", "2026/9999")
    assert missing.returncode == 2 and "no journalpost 2026/9999" in missing.stderr
    ambiguous = _cli("review", "list", "-c", config)
    assert ambiguous.returncode == 3 and "--arkivskaper" in ambiguous.stderr
    shown = _cli("review", "show", "-c", config, "-a", "fjellvik", numbers["0.eml"])
    assert "journalstatus 'Midlertidig registrering av innkommet dokument' → 'Journalført'" in shown.stdout


def test_rules_place_items_in_their_class_and_explain_shows_why(installation):
    drop(installation, "fjellvik", "bygg.eml", make_eml(subject="Søknad om dispensasjon for garasje, gnr. 4 bnr. 12"))
    drop(installation, "fjellvik", "annet.eml", make_eml(subject="Takk for hyggelig møte"))
    items = {i.origin_name: i for i in api.run(installation).items}
    assert items["bygg.eml"].journalstatus == "Journalført" and "rule 'byggesak-epost'" in items["bygg.eml"].reason
    assert items["annet.eml"].journalstatus == "Midlertidig registrering av innkommet dokument"
    [queued] = api.review_list(installation, "fjellvik")
    assert queued.tittel == "Takk for hyggelig møte" and queued.klasse == "000"
    store = Store.open(installation.store_url)
    with store.read() as session:
        post = session.scalar(select(tables.Journalpost).where(tables.Journalpost.tittel.like("Søknad om dispensasjon%")))
        assert post.saksmappe.klasse.klasseID == "L42"
    store.dispose()

    sample = installation.config_path.parent / "probe.eml"
    sample.write_bytes(make_eml(subject="Søknad om barnehageplass for Nora", body="Vi søker barnehageplass fra august."))
    explained = _cli("classify", "-c", installation.config_path, "-a", "fjellvik", "--explain", sample)
    assert explained.returncode == 0, explained.stderr
    assert "Decision (rule barnehage)" in explained.stdout and "klasse:           A20" in explained.stdout
    assert "Did not match" in explained.stdout
    assert not list(installation.creator("fjellvik").inbox.iterdir())  # explaining journals nothing


def test_a_rule_pointing_at_an_unknown_class_stops_the_run_naming_the_rule(installation):
    rules = installation.config_path.parent / "klassifisering.toml"
    rules.write_text('[[rule]]\nname = "feil"\nkeywords = ["x"]\nklasse = "Z99"\n', encoding="utf-8")
    drop(installation, "fjellvik", "a.eml", make_eml())
    done = _cli("run", "-c", installation.config_path)
    assert done.returncode == 3 and "feil" in done.stderr and "Z99" in done.stderr
    assert (installation.creator("fjellvik").inbox / "a.eml").exists()
