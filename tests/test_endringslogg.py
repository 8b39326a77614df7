from sqlalchemy import select

from helpers.inbox import drop, make_eml
from noarkpipe import api
from noarkpipe.store import tables
from noarkpipe.store.engine import Store


def test_every_change_to_journaled_metadata_is_logged_with_old_and_new_value(installation):
    drop(installation, "fjellvik", "a.eml", make_eml(subject="Søknad om skjenkebevilling"))
    api.run(installation)
    store = Store.open(installation.store_url)
    with store.write("arkivar.kari") as session:
        post = session.scalars(select(tables.Journalpost)).one()
        post.tittel = "Søknad om skjenkebevilling – Kafé Ærlig"
        post.journalstatus = "Journalført"
        system_id = post.systemID
    with store.write("arkivar.kari") as session:
        # Writing the same value again is no change and logs nothing.
        session.scalars(select(tables.Journalpost)).one().tittel = "Søknad om skjenkebevilling – Kafé Ærlig"
    with store.read() as session:
        rows = session.scalars(select(tables.Endringslogg).order_by(tables.Endringslogg.referanseMetadata)).all()
    assert [(r.referanseArkivenhet, r.referanseMetadata, r.tidligereVerdi, r.nyVerdi, r.endretAv) for r in rows] == [
        (system_id, "journalstatus", "Midlertidig registrering av innkommet dokument", "Journalført", "arkivar.kari"),
        (system_id, "tittel", "Søknad om skjenkebevilling", "Søknad om skjenkebevilling – Kafé Ærlig", "arkivar.kari"),
    ]
    assert all(r.endretDato.tzinfo is not None for r in rows)
    store.dispose()


def test_journaling_itself_logs_no_changes(installation):
    drop(installation, "fjellvik", "a.eml", make_eml())
    api.run(installation)
    store = Store.open(installation.store_url)
    with store.read() as session:
        assert session.scalars(select(tables.Endringslogg)).all() == []
    store.dispose()
