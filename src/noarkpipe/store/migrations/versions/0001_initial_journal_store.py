"""initial journal store

Revision ID: 0001
Revises:
Create Date: 2026-11-22 15:28:21.652554
"""

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('arkivskaper',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('arkivskaperID', sa.String(length=40), nullable=False),
    sa.Column('arkivskaperNavn', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('arkivskaperID')
    )
    op.create_table('run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('host', sa.String(length=200), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('journaled', sa.Integer(), nullable=False),
    sa.Column('needs_review', sa.Integer(), nullable=False),
    sa.Column('quarantined', sa.Integer(), nullable=False),
    sa.Column('duplicates', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('arkiv',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('arkivskaper_id', sa.Integer(), nullable=False),
    sa.Column('tittel', sa.Text(), nullable=False),
    sa.Column('arkivstatus', sa.String(length=40), nullable=False),
    sa.Column('opprettetDato', sa.DateTime(timezone=True), nullable=False),
    sa.Column('opprettetAv', sa.String(length=200), nullable=False),
    sa.Column('systemID', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['arkivskaper_id'], ['arkivskaper.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('systemID')
    )
    with op.batch_alter_table('arkiv', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_arkiv_arkivskaper_id'), ['arkivskaper_id'], unique=False)

    op.create_table('endringslogg',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('arkivskaper_id', sa.Integer(), nullable=True),
    sa.Column('referanseArkivenhet', sa.String(length=36), nullable=False),
    sa.Column('referanseMetadata', sa.String(length=80), nullable=False),
    sa.Column('endretDato', sa.DateTime(timezone=True), nullable=False),
    sa.Column('endretAv', sa.String(length=200), nullable=False),
    sa.Column('tidligereVerdi', sa.Text(), nullable=True),
    sa.Column('nyVerdi', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['arkivskaper_id'], ['arkivskaper.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('endringslogg', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_endringslogg_arkivskaper_id'), ['arkivskaper_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_endringslogg_referanseArkivenhet'), ['referanseArkivenhet'], unique=False)

    op.create_table('number_series',
    sa.Column('arkivskaper_id', sa.Integer(), nullable=False),
    sa.Column('series', sa.String(length=80), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('last_value', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['arkivskaper_id'], ['arkivskaper.id'], ),
    sa.PrimaryKeyConstraint('arkivskaper_id', 'series', 'year')
    )
    op.create_table('arkivdel',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('arkiv_id', sa.Integer(), nullable=False),
    sa.Column('tittel', sa.Text(), nullable=False),
    sa.Column('arkivdelstatus', sa.String(length=40), nullable=False),
    sa.Column('arkivperiodeStartDato', sa.Date(), nullable=False),
    sa.Column('arkivperiodeSluttDato', sa.Date(), nullable=True),
    sa.Column('opprettetDato', sa.DateTime(timezone=True), nullable=False),
    sa.Column('opprettetAv', sa.String(length=200), nullable=False),
    sa.Column('systemID', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['arkiv_id'], ['arkiv.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('systemID')
    )
    with op.batch_alter_table('arkivdel', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_arkivdel_arkiv_id'), ['arkiv_id'], unique=False)

    op.create_table('klassifikasjonssystem',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('arkivdel_id', sa.Integer(), nullable=False),
    sa.Column('klassifikasjonstype', sa.String(length=80), nullable=True),
    sa.Column('tittel', sa.Text(), nullable=False),
    sa.Column('opprettetDato', sa.DateTime(timezone=True), nullable=False),
    sa.Column('opprettetAv', sa.String(length=200), nullable=False),
    sa.Column('systemID', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['arkivdel_id'], ['arkivdel.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('systemID')
    )
    with op.batch_alter_table('klassifikasjonssystem', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_klassifikasjonssystem_arkivdel_id'), ['arkivdel_id'], unique=False)

    op.create_table('klasse',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('klassifikasjonssystem_id', sa.Integer(), nullable=False),
    sa.Column('klasseID', sa.String(length=40), nullable=False),
    sa.Column('tittel', sa.Text(), nullable=False),
    sa.Column('opprettetDato', sa.DateTime(timezone=True), nullable=False),
    sa.Column('opprettetAv', sa.String(length=200), nullable=False),
    sa.Column('systemID', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['klassifikasjonssystem_id'], ['klassifikasjonssystem.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('klassifikasjonssystem_id', 'klasseID'),
    sa.UniqueConstraint('systemID')
    )
    with op.batch_alter_table('klasse', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_klasse_klassifikasjonssystem_id'), ['klassifikasjonssystem_id'], unique=False)

    op.create_table('saksmappe',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('arkivskaper_id', sa.Integer(), nullable=False),
    sa.Column('arkivdel_id', sa.Integer(), nullable=False),
    sa.Column('klasse_id', sa.Integer(), nullable=False),
    sa.Column('mappeID', sa.String(length=40), nullable=False),
    sa.Column('saksaar', sa.Integer(), nullable=False),
    sa.Column('sakssekvensnummer', sa.Integer(), nullable=False),
    sa.Column('tittel', sa.Text(), nullable=False),
    sa.Column('offentligTittel', sa.Text(), nullable=True),
    sa.Column('saksdato', sa.Date(), nullable=False),
    sa.Column('saksstatus', sa.String(length=60), nullable=False),
    sa.Column('administrativEnhet', sa.String(length=200), nullable=True),
    sa.Column('saksansvarlig', sa.String(length=200), nullable=True),
    sa.Column('opprettetDato', sa.DateTime(timezone=True), nullable=False),
    sa.Column('opprettetAv', sa.String(length=200), nullable=False),
    sa.Column('systemID', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['arkivdel_id'], ['arkivdel.id'], ),
    sa.ForeignKeyConstraint(['arkivskaper_id'], ['arkivskaper.id'], ),
    sa.ForeignKeyConstraint(['klasse_id'], ['klasse.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('arkivskaper_id', 'saksaar', 'sakssekvensnummer'),
    sa.UniqueConstraint('systemID')
    )
    with op.batch_alter_table('saksmappe', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_saksmappe_arkivdel_id'), ['arkivdel_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_saksmappe_arkivskaper_id'), ['arkivskaper_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_saksmappe_klasse_id'), ['klasse_id'], unique=False)

    op.create_table('journalpost',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('arkivskaper_id', sa.Integer(), nullable=False),
    sa.Column('saksmappe_id', sa.Integer(), nullable=False),
    sa.Column('registreringsID', sa.String(length=40), nullable=False),
    sa.Column('journalaar', sa.Integer(), nullable=False),
    sa.Column('journalsekvensnummer', sa.Integer(), nullable=False),
    sa.Column('journalpostnummer', sa.Integer(), nullable=False),
    sa.Column('journalposttype', sa.String(length=60), nullable=False),
    sa.Column('journalstatus', sa.String(length=60), nullable=False),
    sa.Column('journaldato', sa.Date(), nullable=False),
    sa.Column('mottattDato', sa.DateTime(timezone=True), nullable=True),
    sa.Column('dokumentetsDato', sa.Date(), nullable=True),
    sa.Column('tittel', sa.Text(), nullable=False),
    sa.Column('offentligTittel', sa.Text(), nullable=True),
    sa.Column('opprettetDato', sa.DateTime(timezone=True), nullable=False),
    sa.Column('opprettetAv', sa.String(length=200), nullable=False),
    sa.Column('systemID', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['arkivskaper_id'], ['arkivskaper.id'], ),
    sa.ForeignKeyConstraint(['saksmappe_id'], ['saksmappe.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('arkivskaper_id', 'journalaar', 'journalsekvensnummer'),
    sa.UniqueConstraint('saksmappe_id', 'journalpostnummer'),
    sa.UniqueConstraint('systemID')
    )
    with op.batch_alter_table('journalpost', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_journalpost_arkivskaper_id'), ['arkivskaper_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_journalpost_journalstatus'), ['journalstatus'], unique=False)
        batch_op.create_index(batch_op.f('ix_journalpost_saksmappe_id'), ['saksmappe_id'], unique=False)

    op.create_table('dokumentbeskrivelse',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('journalpost_id', sa.Integer(), nullable=False),
    sa.Column('dokumenttype', sa.String(length=60), nullable=False),
    sa.Column('dokumentstatus', sa.String(length=60), nullable=False),
    sa.Column('tittel', sa.Text(), nullable=False),
    sa.Column('tilknyttetRegistreringSom', sa.String(length=40), nullable=False),
    sa.Column('dokumentnummer', sa.Integer(), nullable=False),
    sa.Column('tilknyttetDato', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tilknyttetAv', sa.String(length=200), nullable=False),
    sa.Column('opprettetDato', sa.DateTime(timezone=True), nullable=False),
    sa.Column('opprettetAv', sa.String(length=200), nullable=False),
    sa.Column('systemID', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['journalpost_id'], ['journalpost.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('systemID')
    )
    with op.batch_alter_table('dokumentbeskrivelse', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dokumentbeskrivelse_journalpost_id'), ['journalpost_id'], unique=False)

    op.create_table('intake_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('arkivskaper_id', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('origin_name', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('journalpost_id', sa.Integer(), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['arkivskaper_id'], ['arkivskaper.id'], ),
    sa.ForeignKeyConstraint(['journalpost_id'], ['journalpost.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['run.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('arkivskaper_id', 'sha256')
    )
    with op.batch_alter_table('intake_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_intake_item_arkivskaper_id'), ['arkivskaper_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_intake_item_state'), ['state'], unique=False)

    op.create_table('korrespondansepart',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('journalpost_id', sa.Integer(), nullable=False),
    sa.Column('korrespondanseparttype', sa.String(length=60), nullable=False),
    sa.Column('korrespondansepartNavn', sa.Text(), nullable=False),
    sa.Column('epostadresse', sa.String(length=320), nullable=True),
    sa.Column('postadresse', sa.Text(), nullable=True),
    sa.Column('postnummer', sa.String(length=10), nullable=True),
    sa.Column('poststed', sa.String(length=100), nullable=True),
    sa.Column('organisasjonsnummer', sa.String(length=9), nullable=True),
    sa.Column('systemID', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['journalpost_id'], ['journalpost.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('systemID')
    )
    with op.batch_alter_table('korrespondansepart', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_korrespondansepart_journalpost_id'), ['journalpost_id'], unique=False)

    op.create_table('dokumentobjekt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dokumentbeskrivelse_id', sa.Integer(), nullable=False),
    sa.Column('versjonsnummer', sa.Integer(), nullable=False),
    sa.Column('variantformat', sa.String(length=60), nullable=False),
    sa.Column('format', sa.String(length=80), nullable=True),
    sa.Column('formatDetaljer', sa.Text(), nullable=True),
    sa.Column('mimeType', sa.String(length=120), nullable=True),
    sa.Column('filnavn', sa.Text(), nullable=False),
    sa.Column('sjekksum', sa.String(length=64), nullable=False),
    sa.Column('sjekksumAlgoritme', sa.String(length=20), nullable=False),
    sa.Column('filstoerrelse', sa.BigInteger(), nullable=False),
    sa.Column('opprettetDato', sa.DateTime(timezone=True), nullable=False),
    sa.Column('opprettetAv', sa.String(length=200), nullable=False),
    sa.Column('systemID', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['dokumentbeskrivelse_id'], ['dokumentbeskrivelse.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('systemID')
    )
    with op.batch_alter_table('dokumentobjekt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dokumentobjekt_dokumentbeskrivelse_id'), ['dokumentbeskrivelse_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_dokumentobjekt_sjekksum'), ['sjekksum'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('dokumentobjekt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dokumentobjekt_sjekksum'))
        batch_op.drop_index(batch_op.f('ix_dokumentobjekt_dokumentbeskrivelse_id'))

    op.drop_table('dokumentobjekt')
    with op.batch_alter_table('korrespondansepart', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_korrespondansepart_journalpost_id'))

    op.drop_table('korrespondansepart')
    with op.batch_alter_table('intake_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_intake_item_state'))
        batch_op.drop_index(batch_op.f('ix_intake_item_arkivskaper_id'))

    op.drop_table('intake_item')
    with op.batch_alter_table('dokumentbeskrivelse', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dokumentbeskrivelse_journalpost_id'))

    op.drop_table('dokumentbeskrivelse')
    with op.batch_alter_table('journalpost', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_journalpost_saksmappe_id'))
        batch_op.drop_index(batch_op.f('ix_journalpost_journalstatus'))
        batch_op.drop_index(batch_op.f('ix_journalpost_arkivskaper_id'))

    op.drop_table('journalpost')
    with op.batch_alter_table('saksmappe', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_saksmappe_klasse_id'))
        batch_op.drop_index(batch_op.f('ix_saksmappe_arkivskaper_id'))
        batch_op.drop_index(batch_op.f('ix_saksmappe_arkivdel_id'))

    op.drop_table('saksmappe')
    with op.batch_alter_table('klasse', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_klasse_klassifikasjonssystem_id'))

    op.drop_table('klasse')
    with op.batch_alter_table('klassifikasjonssystem', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_klassifikasjonssystem_arkivdel_id'))

    op.drop_table('klassifikasjonssystem')
    with op.batch_alter_table('arkivdel', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_arkivdel_arkiv_id'))

    op.drop_table('arkivdel')
    op.drop_table('number_series')
    with op.batch_alter_table('endringslogg', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_endringslogg_referanseArkivenhet'))
        batch_op.drop_index(batch_op.f('ix_endringslogg_arkivskaper_id'))

    op.drop_table('endringslogg')
    with op.batch_alter_table('arkiv', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_arkiv_arkivskaper_id'))

    op.drop_table('arkiv')
    op.drop_table('run')
    op.drop_table('arkivskaper')
