"""Period closing (periodisering): sharp and soft cuts, cases moved and closed, everything logged."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta

import pytest
from sqlalchemy import func, inspect, select

from helpers.exportfactory import generate
from helpers.inbox import drop, make_eml, oslo_today
from noarkpipe import api
from noarkpipe.journal import period
from noarkpipe.store import tables
from noarkpipe.store.engine import Store

START, END = date(2024, 1, 1), date(2024, 12, 31)
CUT = date(2024, 9, 30)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "noarkpipe.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture
def open_period(installation):
    """An active period of fjellvik: 120 registrations over 2024, a third of the cases still open."""
    generate(installation.store_url, installation.documents_dir, registrations=120, open_period=True,
             open_cases=0.35, start=START, end=END, seed=7)
    return installation


def _read(settings, query):
    store = Store.open(settings.store_url)
    try:
        with store.read() as session:
            return query(session)
    finally:
        store.dispose()


def _cases(settings, arkivdel_system_id):
    def query(session):
        arkivdel = session.scalar(select(tables.Arkivdel).where(tables.Arkivdel.systemID == arkivdel_system_id))
        return session.scalars(select(tables.Saksmappe).where(tables.Saksmappe.arkivdel_id == arkivdel.id)).all()
    return _read(settings, query)


def _changes(settings, system_id):
    return _read(settings, lambda s: s.scalars(
        select(tables.Endringslogg).where(tables.Endringslogg.referanseArkivenhet == system_id)
        .order_by(tables.Endringslogg.id)).all())


def test_migration_0005_adds_the_period_columns(installation):
    store = Store.open(installation.store_url)
    try:
        assert store.schema_revision() == store.head_revision()
        columns = {c["name"] for c in inspect(store.engine).get_columns("arkivdel")}
        assert {"avsluttetDato", "avsluttetAv", "referanseForloeper", "referanseArvtaker"} <= columns
        columns = {c["name"] for c in inspect(store.engine).get_columns("saksmappe")}
        assert {"avsluttetDato", "avsluttetAv"} <= columns
    finally:
        store.dispose()


def test_a_sharp_cut_closes_the_period_and_moves_every_open_case(open_period):
    [before] = api.period_list(open_period, "fjellvik")
    assert before.arkivdelstatus == "Aktiv periode" and before.open_saksmapper > 0
    done = api.period_close(open_period, CUT, kode="fjellvik", by="kari")
    closed, successor = done.closed, done.successor
    assert closed.arkivdelstatus == "Avsluttet periode" and closed.arkivperiodeSluttDato == CUT
    assert closed.referanseArvtaker == successor.systemID and successor.referanseForloeper == closed.systemID
    assert successor.arkivdelstatus == "Aktiv periode" and successor.arkivperiodeStartDato == CUT + timedelta(days=1)
    assert successor.tittel == "Sakarkiv Fjellvik kommune 01.10.2024-", "not the predecessor's title again"
    assert closed.open_saksmapper == 0 and done.left_open == []
    assert closed.saksmapper + successor.saksmapper == before.saksmapper
    assert closed.journalposter + successor.journalposter == before.journalposter
    kept, moved = _cases(open_period, closed.systemID), _cases(open_period, successor.systemID)
    assert {c.saksstatus for c in kept} == {"Avsluttet"} and all(c.avsluttetDato for c in kept)
    assert all(c.saksdato <= CUT for c in kept)
    assert sorted(done.moved) == sorted(f"{c.saksaar}/{c.sakssekvensnummer}" for c in moved)
    # Moved: every open case, and the closed ones opened after the cut.
    assert all(c.saksstatus != "Avsluttet" or c.saksdato > CUT for c in moved)
    changes = _changes(open_period, moved[0].systemID)
    assert [(c.referanseMetadata, c.tidligereVerdi, c.nyVerdi, c.endretAv) for c in changes] == [
        ("referanseArkivdel", closed.systemID, successor.systemID, "kari")
    ]
    logged = {(c.referanseMetadata, c.nyVerdi) for c in _changes(open_period, closed.systemID)}
    assert ("arkivdelstatus", "Avsluttet periode") in logged and ("arkivperiodeSluttDato", CUT.isoformat()) in logged


def test_moved_cases_keep_their_klasseID_in_the_successors_own_classification(open_period):
    done = api.period_close(open_period, CUT, kode="fjellvik", by="kari")

    def query(session):
        rows = session.execute(
            select(tables.Saksmappe.mappeID, tables.Klasse.klasseID, tables.Klassifikasjonssystem.arkivdel_id,
                   tables.Saksmappe.arkivdel_id)
            .join(tables.Klasse, tables.Klasse.id == tables.Saksmappe.klasse_id)
            .join(tables.Klassifikasjonssystem)
        ).all()
        systems = session.scalar(select(func.count()).select_from(tables.Klassifikasjonssystem))
        return rows, systems
    rows, systems = _read(open_period, query)
    assert systems == 2
    assert all(system_arkivdel == case_arkivdel for _, _, system_arkivdel, case_arkivdel in rows)
    assert done.moved


def test_a_soft_cut_keeps_open_cases_until_the_overlap_is_finished(open_period):
    done = api.period_close(open_period, CUT, method="soft", kode="fjellvik", by="kari")
    assert done.closed.arkivdelstatus == "Overlappingsperiode" and done.closed.avsluttetDato is None
    assert done.left_open, "open cases stay to be finished in their own period"
    assert all(c.saksdato > CUT for c in _cases(open_period, done.successor.systemID))
    again = _cli("period", "close", "-c", open_period.config_path, "-a", "fjellvik", "--end", oslo_today().isoformat())
    assert again.returncode == 13 and "overlap" in again.stderr
    finished = api.period_finish(open_period, kode="fjellvik", by="kari")
    assert finished.closed.arkivdelstatus == "Avsluttet periode" and finished.closed.open_saksmapper == 0
    assert sorted(finished.moved) == sorted(done.left_open)
    with pytest.raises(period.PeriodError, match="no arkivdel in an overlap period"):
        api.period_finish(open_period, kode="fjellvik", by="kari")


def test_close_cases_leaves_cases_with_unchecked_registrations_open(open_period):
    done = api.period_close_cases(open_period, None, kode="fjellvik", by="kari")
    assert done.closed and done.refused
    assert all("review queue" in reason for reason in done.refused.values())
    [summary] = api.period_list(open_period, "fjellvik")
    assert summary.open_saksmapper == len(done.refused)
    number = next(iter(done.refused))
    named = api.period_close_cases(open_period, [number, done.closed[0]], kode="fjellvik", by="kari")
    assert named.closed == [] and "review queue" in named.refused[number]
    assert named.refused[done.closed[0]].startswith("already closed")
    with pytest.raises(period.PeriodError, match="no saksmappe 2099/1"):
        api.period_close_cases(open_period, ["2099/1"], kode="fjellvik", by="kari")


def test_closing_refuses_a_future_end_an_end_before_the_start_and_changes_nothing(open_period):
    tomorrow = oslo_today() + timedelta(days=1)
    future = _cli("period", "close", "-c", open_period.config_path, "-a", "fjellvik", "--end", tomorrow.isoformat())
    assert future.returncode == 13 and "in the future" in future.stderr
    early = _cli("period", "close", "-c", open_period.config_path, "-a", "fjellvik", "--end", "2023-06-30")
    assert early.returncode == 13 and "before the period" in early.stderr
    bad = _cli("period", "close", "-c", open_period.config_path, "-a", "fjellvik", "--end", "31.12.2024")
    assert bad.returncode == 2
    [unchanged] = api.period_list(open_period, "fjellvik")
    assert unchanged.arkivdelstatus == "Aktiv periode" and unchanged.arkivperiodeSluttDato is None


def test_close_cases_needs_numbers_or_all(open_period):
    done = _cli("period", "close-cases", "-c", open_period.config_path, "-a", "fjellvik")
    assert done.returncode == 2 and "--all" in done.stderr


def test_new_mail_after_a_sharp_cut_is_journaled_in_the_successor(installation):
    drop(installation, "fjellvik", "1.eml", make_eml(subject="Søknad om ferdigattest, Åsveien 3"))
    api.run(installation)
    done = api.period_close(installation, oslo_today(), kode="fjellvik", by="kari")
    assert done.moved, "the new, still open case moves on"
    drop(installation, "fjellvik", "2.eml", make_eml(subject="Klage på brøyting i Øvre Bjørkelia"))
    api.run(installation)
    new = [c for c in _cases(installation, done.successor.systemID) if c.tittel.startswith("Klage")]
    assert len(new) == 1 and _changes(installation, new[0].systemID) == []
    listed = _cli("period", "list", "-c", installation.config_path, "-a", "fjellvik", "--json")
    assert listed.returncode == 0 and '"Avsluttet periode"' in listed.stdout and '"Aktiv periode"' in listed.stdout
