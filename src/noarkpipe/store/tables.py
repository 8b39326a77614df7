"""The journal store's tables (SQLAlchemy 2 ORM).

Noark fields keep their Noark 5 names (`offentligTittel`, `journalsekvensnummer`)
so the store, the model and the exported XML read the same. Operational
tables (intake items, runs, number series) are named in English.

Schema changes go through a new migration in `store/migrations/versions/`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


class ItemState(StrEnum):
    """Where an intake item is; each state is committed before the next step starts."""

    claimed = "claimed"
    converted = "converted"
    """Every document has its archival copy in the item's archival folder; journaling is next."""
    journaled = "journaled"
    filed = "filed"
    quarantined = "quarantined"


class UtcDateTime(TypeDecorator):
    """Aware UTC datetimes in and out, also on SQLite, which stores them naive."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: noarkpipe stores aware UTC datetimes")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def new_system_id() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    pass


class NoarkEntity:
    """Mixin for tables holding Noark metadata: changes are written to the endringslogg."""

    systemID: Mapped[str] = mapped_column(String(36), unique=True, default=new_system_id)


class Arkivskaper(Base):
    __tablename__ = "arkivskaper"
    id: Mapped[int] = mapped_column(primary_key=True)
    arkivskaperID: Mapped[str] = mapped_column(String(40), unique=True)
    arkivskaperNavn: Mapped[str] = mapped_column(String(200))


class Arkiv(NoarkEntity, Base):
    __tablename__ = "arkiv"
    id: Mapped[int] = mapped_column(primary_key=True)
    arkivskaper_id: Mapped[int] = mapped_column(ForeignKey("arkivskaper.id"), index=True)
    tittel: Mapped[str] = mapped_column(Text)
    arkivstatus: Mapped[str] = mapped_column(String(40))
    opprettetDato: Mapped[datetime] = mapped_column(UtcDateTime)
    opprettetAv: Mapped[str] = mapped_column(String(200))


class Arkivdel(NoarkEntity, Base):
    __tablename__ = "arkivdel"
    id: Mapped[int] = mapped_column(primary_key=True)
    arkiv_id: Mapped[int] = mapped_column(ForeignKey("arkiv.id"), index=True)
    tittel: Mapped[str] = mapped_column(Text)
    arkivdelstatus: Mapped[str] = mapped_column(String(40))
    arkivperiodeStartDato: Mapped[date] = mapped_column(Date)
    arkivperiodeSluttDato: Mapped[date | None] = mapped_column(Date)
    opprettetDato: Mapped[datetime] = mapped_column(UtcDateTime)
    opprettetAv: Mapped[str] = mapped_column(String(200))
    # Period closing (journal/period.py): when and by whom the period was closed,
    # and the systemIDs of the arkivdel before and after it.
    avsluttetDato: Mapped[datetime | None] = mapped_column(UtcDateTime)
    avsluttetAv: Mapped[str | None] = mapped_column(String(200))
    referanseForloeper: Mapped[str | None] = mapped_column(String(36))
    referanseArvtaker: Mapped[str | None] = mapped_column(String(36))


class Klassifikasjonssystem(NoarkEntity, Base):
    __tablename__ = "klassifikasjonssystem"
    id: Mapped[int] = mapped_column(primary_key=True)
    arkivdel_id: Mapped[int] = mapped_column(ForeignKey("arkivdel.id"), index=True)
    klassifikasjonstype: Mapped[str | None] = mapped_column(String(80))
    tittel: Mapped[str] = mapped_column(Text)
    opprettetDato: Mapped[datetime] = mapped_column(UtcDateTime)
    opprettetAv: Mapped[str] = mapped_column(String(200))


class Klasse(NoarkEntity, Base):
    __tablename__ = "klasse"
    __table_args__ = (UniqueConstraint("klassifikasjonssystem_id", "klasseID"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    klassifikasjonssystem_id: Mapped[int] = mapped_column(
        ForeignKey("klassifikasjonssystem.id"), index=True
    )
    klasseID: Mapped[str] = mapped_column(String(40))
    tittel: Mapped[str] = mapped_column(Text)
    opprettetDato: Mapped[datetime] = mapped_column(UtcDateTime)
    opprettetAv: Mapped[str] = mapped_column(String(200))


class Saksmappe(NoarkEntity, Base):
    __tablename__ = "saksmappe"
    __table_args__ = (UniqueConstraint("arkivskaper_id", "saksaar", "sakssekvensnummer"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    arkivskaper_id: Mapped[int] = mapped_column(ForeignKey("arkivskaper.id"), index=True)
    arkivdel_id: Mapped[int] = mapped_column(ForeignKey("arkivdel.id"), index=True)
    klasse_id: Mapped[int] = mapped_column(ForeignKey("klasse.id"), index=True)
    mappeID: Mapped[str] = mapped_column(String(40))
    saksaar: Mapped[int] = mapped_column(Integer)
    sakssekvensnummer: Mapped[int] = mapped_column(Integer)
    tittel: Mapped[str] = mapped_column(Text)
    offentligTittel: Mapped[str | None] = mapped_column(Text)
    tilgangsrestriksjon: Mapped[str | None] = mapped_column(String(40))
    skjermingshjemmel: Mapped[str | None] = mapped_column(Text)
    skjermingMetadata: Mapped[str | None] = mapped_column(Text)  # one value per line (M502)
    saksdato: Mapped[date] = mapped_column(Date)
    saksstatus: Mapped[str] = mapped_column(String(60))
    administrativEnhet: Mapped[str | None] = mapped_column(String(200))
    saksansvarlig: Mapped[str | None] = mapped_column(String(200))
    opprettetDato: Mapped[datetime] = mapped_column(UtcDateTime)
    opprettetAv: Mapped[str] = mapped_column(String(200))
    avsluttetDato: Mapped[datetime | None] = mapped_column(UtcDateTime)
    avsluttetAv: Mapped[str | None] = mapped_column(String(200))

    journalposter: Mapped[list[Journalpost]] = relationship(
        back_populates="saksmappe", order_by="Journalpost.journalpostnummer"
    )
    klasse: Mapped[Klasse] = relationship()


class Journalpost(NoarkEntity, Base):
    __tablename__ = "journalpost"
    __table_args__ = (
        UniqueConstraint("arkivskaper_id", "journalaar", "journalsekvensnummer"),
        UniqueConstraint("saksmappe_id", "journalpostnummer"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    arkivskaper_id: Mapped[int] = mapped_column(ForeignKey("arkivskaper.id"), index=True)
    saksmappe_id: Mapped[int] = mapped_column(ForeignKey("saksmappe.id"), index=True)
    registreringsID: Mapped[str] = mapped_column(String(40))
    journalaar: Mapped[int] = mapped_column(Integer)
    journalsekvensnummer: Mapped[int] = mapped_column(Integer)
    journalpostnummer: Mapped[int] = mapped_column(Integer)
    journalposttype: Mapped[str] = mapped_column(String(60))
    journalstatus: Mapped[str] = mapped_column(String(60), index=True)
    journaldato: Mapped[date] = mapped_column(Date)
    mottattDato: Mapped[datetime | None] = mapped_column(UtcDateTime)
    dokumentetsDato: Mapped[date | None] = mapped_column(Date)
    tittel: Mapped[str] = mapped_column(Text)
    offentligTittel: Mapped[str | None] = mapped_column(Text)
    tilgangsrestriksjon: Mapped[str | None] = mapped_column(String(40))
    skjermingshjemmel: Mapped[str | None] = mapped_column(Text)
    skjermingMetadata: Mapped[str | None] = mapped_column(Text)  # one value per line (M502)
    classification_note: Mapped[str | None] = mapped_column(Text)  # why this class and case: rule, model, reference
    message_id: Mapped[str | None] = mapped_column(Text, index=True)  # Message-ID of the e-mail it was made from
    opprettetDato: Mapped[datetime] = mapped_column(UtcDateTime)
    opprettetAv: Mapped[str] = mapped_column(String(200))

    saksmappe: Mapped[Saksmappe] = relationship(back_populates="journalposter")
    korrespondanseparter: Mapped[list[Korrespondansepart]] = relationship(
        back_populates="journalpost", order_by="Korrespondansepart.id"
    )
    dokumentbeskrivelser: Mapped[list[Dokumentbeskrivelse]] = relationship(
        back_populates="journalpost", order_by="Dokumentbeskrivelse.dokumentnummer"
    )


class Korrespondansepart(NoarkEntity, Base):
    __tablename__ = "korrespondansepart"
    id: Mapped[int] = mapped_column(primary_key=True)
    journalpost_id: Mapped[int] = mapped_column(ForeignKey("journalpost.id"), index=True)
    korrespondanseparttype: Mapped[str] = mapped_column(String(60))
    korrespondansepartNavn: Mapped[str] = mapped_column(Text)
    epostadresse: Mapped[str | None] = mapped_column(String(320))
    postadresse: Mapped[str | None] = mapped_column(Text)
    postnummer: Mapped[str | None] = mapped_column(String(10))
    poststed: Mapped[str | None] = mapped_column(String(100))
    organisasjonsnummer: Mapped[str | None] = mapped_column(String(9))

    journalpost: Mapped[Journalpost] = relationship(back_populates="korrespondanseparter")


class Dokumentbeskrivelse(NoarkEntity, Base):
    __tablename__ = "dokumentbeskrivelse"
    id: Mapped[int] = mapped_column(primary_key=True)
    journalpost_id: Mapped[int] = mapped_column(ForeignKey("journalpost.id"), index=True)
    dokumenttype: Mapped[str] = mapped_column(String(60))
    dokumentstatus: Mapped[str] = mapped_column(String(60))
    tittel: Mapped[str] = mapped_column(Text)
    tilknyttetRegistreringSom: Mapped[str] = mapped_column(String(40))
    dokumentnummer: Mapped[int] = mapped_column(Integer)
    tilknyttetDato: Mapped[datetime] = mapped_column(UtcDateTime)
    tilknyttetAv: Mapped[str] = mapped_column(String(200))
    opprettetDato: Mapped[datetime] = mapped_column(UtcDateTime)
    opprettetAv: Mapped[str] = mapped_column(String(200))
    # Why the document has no archival copy (kept as received, Produksjonsformat only);
    # NULL when it has its Arkivformat. Exported as a merknad.
    archival_gap: Mapped[str | None] = mapped_column(Text)

    journalpost: Mapped[Journalpost] = relationship(back_populates="dokumentbeskrivelser")
    dokumentobjekter: Mapped[list[Dokumentobjekt]] = relationship(
        back_populates="dokumentbeskrivelse", order_by="Dokumentobjekt.id"
    )


class Dokumentobjekt(NoarkEntity, Base):
    __tablename__ = "dokumentobjekt"
    id: Mapped[int] = mapped_column(primary_key=True)
    dokumentbeskrivelse_id: Mapped[int] = mapped_column(
        ForeignKey("dokumentbeskrivelse.id"), index=True
    )
    versjonsnummer: Mapped[int] = mapped_column(Integer)
    variantformat: Mapped[str] = mapped_column(String(60))
    format: Mapped[str | None] = mapped_column(String(80))
    formatDetaljer: Mapped[str | None] = mapped_column(Text)
    mimeType: Mapped[str | None] = mapped_column(String(120))
    filnavn: Mapped[str] = mapped_column(Text)
    sjekksum: Mapped[str] = mapped_column(String(64), index=True)
    sjekksumAlgoritme: Mapped[str] = mapped_column(String(20))
    filstoerrelse: Mapped[int] = mapped_column(BigInteger)
    opprettetDato: Mapped[datetime] = mapped_column(UtcDateTime)
    opprettetAv: Mapped[str] = mapped_column(String(200))

    dokumentbeskrivelse: Mapped[Dokumentbeskrivelse] = relationship(back_populates="dokumentobjekter")
    konverteringer: Mapped[list[Konvertering]] = relationship(
        back_populates="dokumentobjekt", order_by="Konvertering.id"
    )


class Konvertering(Base):
    """How an Arkivformat dokumentobjekt was made from its Produksjonsformat original."""

    __tablename__ = "konvertering"
    id: Mapped[int] = mapped_column(primary_key=True)
    dokumentobjekt_id: Mapped[int] = mapped_column(ForeignKey("dokumentobjekt.id"), index=True)
    konvertertDato: Mapped[datetime] = mapped_column(UtcDateTime)
    konvertertAv: Mapped[str] = mapped_column(String(200))
    konvertertFraFormat: Mapped[str] = mapped_column(String(80))
    konvertertTilFormat: Mapped[str] = mapped_column(String(80))
    konverteringsverktoey: Mapped[str | None] = mapped_column(Text)
    konverteringskommentar: Mapped[str | None] = mapped_column(Text)

    dokumentobjekt: Mapped[Dokumentobjekt] = relationship(back_populates="konverteringer")


class Endringslogg(Base):
    """One changed field of a journaled entity (Noark 5 endringslogg/endring)."""

    __tablename__ = "endringslogg"
    id: Mapped[int] = mapped_column(primary_key=True)
    arkivskaper_id: Mapped[int | None] = mapped_column(ForeignKey("arkivskaper.id"), index=True)
    referanseArkivenhet: Mapped[str] = mapped_column(String(36), index=True)
    referanseMetadata: Mapped[str] = mapped_column(String(80))
    endretDato: Mapped[datetime] = mapped_column(UtcDateTime)
    endretAv: Mapped[str] = mapped_column(String(200))
    tidligereVerdi: Mapped[str | None] = mapped_column(Text)
    nyVerdi: Mapped[str | None] = mapped_column(Text)


class NumberSeries(Base):
    """Last number handed out per records creator, series and year.

    Allocation increments the row inside the journaling transaction, so a
    rolled-back transaction gives its number back: the series stays gap-free.
    """

    __tablename__ = "number_series"
    arkivskaper_id: Mapped[int] = mapped_column(ForeignKey("arkivskaper.id"), primary_key=True)
    series: Mapped[str] = mapped_column(String(80), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer)


class IntakeItem(Base):
    """One claimed inbox file; its sha256 per records creator is the idempotency key."""

    __tablename__ = "intake_item"
    __table_args__ = (UniqueConstraint("arkivskaper_id", "sha256"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    arkivskaper_id: Mapped[int] = mapped_column(ForeignKey("arkivskaper.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(20))
    origin_name: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.id"))
    journalpost_id: Mapped[int | None] = mapped_column(ForeignKey("journalpost.id"))
    claimed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Run(Base):
    __tablename__ = "run"
    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    outcome: Mapped[str] = mapped_column(String(20))
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    journaled: Mapped[int] = mapped_column(Integer, default=0)
    needs_review: Mapped[int] = mapped_column(Integer, default=0)
    quarantined: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)


class FetchedMessage(Base):
    """One message taken from a mailbox (IMAP or maildir): never fetched twice.

    `mailbox` names the source (e.g. 'imaps://postmottak@mail.example.no/INBOX'),
    `uidvalidity`/`uid` the message in it (maildir: 0 and the file's unique name
    in `message_key`). `disposed_at` is set once the message was flagged or moved
    on the server, which happens only after its inbox file is journaled or
    quarantined.
    """

    __tablename__ = "fetched_message"
    __table_args__ = (UniqueConstraint("mailbox", "uidvalidity", "message_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    arkivskaper_id: Mapped[int] = mapped_column(ForeignKey("arkivskaper.id"), index=True)
    mailbox: Mapped[str] = mapped_column(String(500))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    message_key: Mapped[str] = mapped_column(String(300))
    message_id: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    inbox_name: Mapped[str] = mapped_column(Text)
    fetched_at: Mapped[datetime] = mapped_column(UtcDateTime)
    disposed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class MailboxCursor(Base):
    """Where the last complete read of a mailbox folder ended, so the next run asks only for what changed.

    For Microsoft Graph `cursor` is the delta query's `@odata.deltaLink`.
    It is stored only after a round in which every new message was taken
    in: a message left behind (too large) would not be listed again after
    it, so the cursor stays where it was until nothing is left behind.
    Losing it costs one full listing of the folder, never a second copy:
    `fetched_message` decides what was taken.
    """

    __tablename__ = "mailbox_cursor"
    mailbox: Mapped[str] = mapped_column(String(500), primary_key=True)
    cursor: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class EksternNoekkel(Base):
    """A sending system's own key for one of our saksmapper or journalposter (KS Fiks Arkiv's referanseEksternNoekkel).

    A fagsystem names its case by its own key (fagsystem + noekkel); the next
    arkivmelding with the same key joins the same saksmappe, and a journalpost
    key already registered means the message was taken before. Exactly one of
    `saksmappe_id` and `journalpost_id` is set, as `gjelder` says.
    """

    __tablename__ = "ekstern_noekkel"
    __table_args__ = (UniqueConstraint("arkivskaper_id", "gjelder", "fagsystem", "noekkel"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    arkivskaper_id: Mapped[int] = mapped_column(ForeignKey("arkivskaper.id"), index=True)
    gjelder: Mapped[str] = mapped_column(String(20))  # 'saksmappe' or 'journalpost'
    fagsystem: Mapped[str] = mapped_column(String(200))
    noekkel: Mapped[str] = mapped_column(String(500))
    saksmappe_id: Mapped[int | None] = mapped_column(ForeignKey("saksmappe.id"), index=True)
    journalpost_id: Mapped[int | None] = mapped_column(ForeignKey("journalpost.id"), index=True)
    opprettetDato: Mapped[datetime] = mapped_column(UtcDateTime)


class SaksmappePart(Base):
    """A part of a case (Noark 5 `part` of a saksmappe: the pupil of an elevmappe, a building's tiltakshaver).

    Written when an arkivmelding names the parts of its case; exported in the
    saksmappe's `part` elements. No identity number is kept here.
    """

    __tablename__ = "saksmappe_part"
    id: Mapped[int] = mapped_column(primary_key=True)
    saksmappe_id: Mapped[int] = mapped_column(ForeignKey("saksmappe.id"), index=True)
    partNavn: Mapped[str] = mapped_column(Text)
    partRolle: Mapped[str] = mapped_column(String(200))
    postadresse: Mapped[str | None] = mapped_column(Text)  # one line per line of the address
    postnummer: Mapped[str | None] = mapped_column(String(20))
    poststed: Mapped[str | None] = mapped_column(String(200))
    epostadresse: Mapped[str | None] = mapped_column(String(320))
    opprettetDato: Mapped[datetime] = mapped_column(UtcDateTime)


class DeskUser(Base):
    """Someone who may log in to the review desk (`noarkpipe desk`); what they may do is in their `DeskGrant`s.

    Not Noark metadata: the endringslogg does not follow it. A user is never
    deleted, only disabled, so a name once used keeps meaning the same person.
    `password_hash` is self-describing (`scrypt$N$r$p$salt$hash`, see
    services/desk_users.py), so its cost can be raised without a migration.
    """

    __tablename__ = "desk_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(300))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(UtcDateTime)

    grants: Mapped[list[DeskGrant]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="DeskGrant.arkivskaper"
    )


class DeskGrant(Base):
    """What one desk user may do for one arkivskaper: look (leser) or decide (arkivar), and whether screened content shows.

    `arkivskaper` is the kode of the config, not a key of the arkivskaper
    table: that row is made when the municipality's first item is journaled,
    and access can be given before.
    """

    __tablename__ = "desk_grant"
    __table_args__ = (UniqueConstraint("user_id", "arkivskaper"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("desk_user.id"))
    arkivskaper: Mapped[str] = mapped_column(String(40))
    role: Mapped[str] = mapped_column(String(20))  # 'arkivar' or 'leser'
    cleared: Mapped[bool] = mapped_column(Boolean, default=False)

    user: Mapped[DeskUser] = relationship(back_populates="grants")
