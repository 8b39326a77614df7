"""The learned model as an archivist uses it: train from the CLI, then let the nightly run use it.

A generated two-year history is journaled into a real installation's store;
`noarkpipe classify train` fits the model and reports held-out accuracy;
`noarkpipe run` then journals items no rule decides: the clear ones in the
model's class (J), the unclear ones in the default class for review (M).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sqlalchemy import select

from helpers.historyfactory import build_history
from helpers.inbox import drop, make_eml
from noarkpipe import api
from noarkpipe.classify.learned import MODEL_DECIDED_NOTE
from noarkpipe.classify.policy import model_path
from noarkpipe.config import load_settings
from noarkpipe.core.codes import Journalstatus
from noarkpipe.store import tables

MIN_ACCURACY = 0.78  # see test_learned.py for the measured figures

# Titles no classification rule covers (the run's note proves it), each clear for its class.
CLEAR = {
    "Søknad på stilling som sykepleier": "100",
    "Søknad på stilling som barnehagelærer": "100",
    "Møteinnkalling formannskapet 12.03.2026": "033",
    "Protokoll fra møte i kontrollutvalget 04.02.2026": "033",
}
UNCLEAR = ["Hei", "Lorem ipsum dolor sit amet", "Sjekk dette"]


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "noarkpipe.cli", *map(str, args)], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("learned-run")
    config_path = api.init(root / "site")
    settings = load_settings(config_path)
    store = api.open_store(settings)
    try:
        build_history(root, store=store, creator=settings.creator("fjellvik"))
    finally:
        store.dispose()
    return config_path


@pytest.fixture(scope="module")
def trained(site):
    result = _cli("classify", "train", "--config", site, "--arkivskaper", "fjellvik", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def night(site, trained):
    settings = load_settings(site)
    for i, subject in enumerate([*CLEAR, *UNCLEAR]):
        drop(settings, "fjellvik", f"{i:02d}.eml",
             make_eml(subject=subject, body="Hei,\nse vedlegg.\n\nHilsen Kåre Brække",
                      sender="Kåre Brække <kare.braekke@example.no>"))
    result = _cli("run", "--config", site)
    assert result.returncode == 0, result.stderr
    store = api.open_store(settings)
    try:
        with store.read() as session:
            rows = session.execute(
                select(tables.Journalpost.tittel, tables.Journalpost.journalstatus,
                       tables.Journalpost.classification_note, tables.Klasse.klasseID)
                .join(tables.Saksmappe, tables.Journalpost.saksmappe_id == tables.Saksmappe.id)
                .join(tables.Klasse, tables.Saksmappe.klasse_id == tables.Klasse.id)
                .where(tables.Journalpost.tittel.in_([*CLEAR, *UNCLEAR]))
            ).all()
    finally:
        store.dispose()
    return {row.tittel: row for row in rows}


def test_train_reports_held_out_accuracy_and_saves_the_model(site, trained):
    assert trained["n_test"] >= 100
    assert trained["accuracy"] >= MIN_ACCURACY
    assert model_path(load_settings(site), "fjellvik").is_file()


def test_train_prints_a_readable_report(site, trained):
    result = _cli("classify", "train", "--config", site, "--arkivskaper", "fjellvik")
    assert result.returncode == 0, result.stderr
    assert f"accuracy {trained['accuracy']:.1%}" in result.stdout
    assert "sent to review" in result.stdout


def test_clear_items_are_journaled_in_the_models_class(night):
    for title, klasse in CLEAR.items():
        row = night[title]
        assert row.classification_note.startswith(MODEL_DECIDED_NOTE), row.classification_note
        assert (row.klasseID, row.journalstatus) == (klasse, Journalstatus.journalfoert.value), title


def test_unclear_items_wait_in_review_in_the_default_class(night):
    for title in UNCLEAR:
        row = night[title]
        assert (row.klasseID, row.journalstatus) == ("000", Journalstatus.midlertidig_registrering.value), title
        assert not row.classification_note.startswith(MODEL_DECIDED_NOTE)


def test_review_queue_lists_only_the_unclear_items(site, night):
    queued = {item.tittel for item in api.review_list(site, "fjellvik")}
    assert set(UNCLEAR) <= queued
    assert not queued & set(CLEAR)


def test_retraining_leaves_out_what_the_model_decided_itself(site, trained, night):
    again = _cli("classify", "train", "--config", site, "--arkivskaper", "fjellvik", "--json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["n_train"] + report["n_test"] == trained["n_train"] + trained["n_test"]
