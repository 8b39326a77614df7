"""The archive's answer to a KS Fiks Arkiv `arkivmelding`: an `arkivmeldingKvittering`, or a feilmelding.

Order of work: the journaling registers (or finds) the saksmappe and the
journalpost an arkivmelding asks for and describes the outcome as a
`Registrert`, read from the store; `kvittering_xml` writes it as
`no.ks.fiks.arkiv.v1.arkivering.arkivmelding.opprett.kvittering`; a message
that cannot be journaled gets `feilmelding_xml` instead (`ugyldigforespoersel`,
`ikkefunnet` or `serverfeil`); `write_answer` puts either into the outbox.

Both are validated against the shipped Fiks Arkiv XSDs (`intake/fiks-arkiv-v1/`)
before they leave this module: an answer that does not validate is our bug,
raised as `InvalidOutputError` (exit 7), never sent.

Answers are pure functions of their inputs: every date comes from the store,
the feilmelding's `feilId` is derived from the message and the reason, not
drawn at random. The same message delivered twice is then answered with the
same bytes, and `write_answer` leaves an identical answer as it is.

The kvittering schema has no element for the arkivmelding's meldingId: Fiks IO
carries it in the answer's header (`svarPaMelding`), beside the meldingstype.
In the outbox folder the file name carries both (`answer_name`), which is what
a Fiks IO client wired to the outbox reads back into those headers.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path

from lxml import etree

import noarkpipe.intake
from noarkpipe.core.arkivmelding import EksternNoekkel
from noarkpipe.core.codes import Journalposttype, Journalstatus, Variantformat
from noarkpipe.core.printable import printable
from noarkpipe.errors import InvalidOutputError, SchemaValidationError
from noarkpipe.files.safety import safe_filename
from noarkpipe.journal.arkivmelding import JOURNALPOSTTYPER
from noarkpipe.xml.schemas import safe_parser

SCHEMA_DIR = Path(noarkpipe.intake.__file__).with_name("fiks-arkiv-v1")

KVITTERING = "no.ks.fiks.arkiv.v1.arkivering.arkivmelding.opprett.kvittering"
FEILTYPER = ("ugyldigforespoersel", "ikkefunnet", "serverfeil")

_BASE = "https://ks-no.github.io/standarder/fiks-protokoll/fiks-arkiv"
KVITTERING_NS = f"{_BASE}/arkivmelding/opprett/kvittering/v1"
METADATAKATALOG_NS = f"{_BASE}/metadatakatalog/v1"
FEILMELDING_NS = f"{_BASE}/feil/feilmelding/v1"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

# Fiks Arkiv's kodelister (Schema/V1/kodelister/) for the values our store keeps as Noark 5 texts.
JOURNALPOSTTYPE_KODER = {value: code for code, value in JOURNALPOSTTYPER.items()}
JOURNALSTATUS_KODER = {
    Journalstatus.journalfoert: "J",
    Journalstatus.midlertidig_registrering: "M",
    Journalstatus.ferdigstilt_fra_saksbehandler: "F",
    Journalstatus.godkjent_av_leder: "G",
    Journalstatus.ekspedert: "E",
    Journalstatus.arkivert: "A",
    Journalstatus.utgaar: "U",
    Journalstatus.reservert_dokument: "R",
}
VARIANTFORMAT_KODER = {
    Variantformat.produksjonsformat: "P",
    Variantformat.arkivformat: "A",
    Variantformat.skjermet: "O",
}

# What the sender's operator can do about each kind of failure, after the reason itself.
WHAT_TO_DO = {
    "ugyldigforespoersel": "Correct the message and send it again.",
    "ikkefunnet": "Check the case or registration the message refers to (its systemID, saksnummer or external key), "
    "then send the message again.",
    "serverfeil": "The fault is the archive's, not the message's: send it again later, "
    "and tell the archive's operators if this answer comes back.",
}

# feilId: the same message failing for the same reason always gets the same id.
_FEIL_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, FEILMELDING_NS)


@dataclass(frozen=True)
class Dokumentobjekt:
    """One stored file of a dokumentbeskrivelse: the sender's original or our archival copy."""

    system_id: str
    versjonsnummer: int
    variantformat: Variantformat
    opprettet_dato: datetime


@dataclass(frozen=True)
class Dokumentbeskrivelse:
    """A registered document; `dokumentnummer` is what the sender matches against its own dokumentbeskrivelser."""

    system_id: str
    dokumentnummer: int
    opprettet_dato: datetime
    opprettet_av: str
    dokumentobjekter: tuple[Dokumentobjekt, ...] = ()


@dataclass(frozen=True)
class RegistrertSaksmappe:
    """The case the journalpost is in: `opprettet` when this message made it, else it was found."""

    system_id: str
    mappe_id: str
    saksaar: int
    sakssekvensnummer: int
    saksdato: date
    opprettet_dato: datetime
    opprettet_av: str
    opprettet: bool
    ekstern_noekkel: EksternNoekkel | None = None


@dataclass(frozen=True)
class RegistrertJournalpost:
    """The journalpost: `opprettet` when this message registered it, else (the same message again) it was found."""

    system_id: str
    registrerings_id: str
    journalaar: int
    journalsekvensnummer: int
    journalpostnummer: int
    journalposttype: Journalposttype
    journalstatus: Journalstatus
    journaldato: date
    opprettet_dato: datetime
    opprettet_av: str
    opprettet: bool
    ekstern_noekkel: EksternNoekkel | None = None
    dokumentbeskrivelser: tuple[Dokumentbeskrivelse, ...] = ()


@dataclass(frozen=True)
class Registrert:
    """What the archive did with one arkivmelding, as the kvittering reports it.

    `melding_id` is the answered message's meldingId: the kvittering has no
    element for it, so it names the answer's file (`answer_name`).
    """

    melding_id: str
    saksmappe: RegistrertSaksmappe
    journalpost: RegistrertJournalpost


def answer_name(melding_id: str, meldingstype: str) -> str:
    """The outbox file name of the answer to message `melding_id`: '<meldingId>.<meldingstype>.xml'.

    A meldingId that is not a plain file name already (Fiks IO's are UUIDs) is
    replaced by a digest of it, so two messages can never share an answer.
    """
    if safe_filename(melding_id, "") != melding_id or melding_id.startswith("."):
        melding_id = "melding-" + hashlib.sha256(melding_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{melding_id}.{meldingstype}.xml"


def kvittering_xml(registrert: Registrert) -> bytes:
    """The `arkivmeldingKvittering` for `registrert`, UTF-8, schema-valid."""
    root = etree.Element(_k("arkivmeldingKvittering"), nsmap={None: KVITTERING_NS, "n5mdk": METADATAKATALOG_NS, "xsi": XSI_NS})
    _add_saksmappe(root, registrert.saksmappe)
    _add_journalpost(root, registrert.journalpost)
    return _validated(root, f"{KVITTERING}.xsd")


def feilmelding_xml(
    feiltype: str,
    melding: str,
    *,
    melding_id: str | None,
    received: str | None = None,
    what_to_do: str | None = None,
) -> bytes:
    """The feilmelding `no.ks.fiks.arkiv.v1.feilmelding.<feiltype>`: what was wrong, then what to do.

    `received` names the delivery when it has no readable meldingId (the
    SHA-256 of what was received), so its feilId is still its own. The
    reason may quote the message, so it is kept to one line and its control
    characters are shown as escapes (`\\x07`, `\\n`): the XML stays valid
    and a quoted value cannot fake a line of its own.
    """
    if feiltype not in FEILTYPER:
        raise ValueError(f"unknown feiltype {feiltype!r}; one of {', '.join(FEILTYPER)}")
    if melding_id is None and received is None:
        raise ValueError("a feilmelding needs the meldingId or, failing that, a reference to what was received")
    reason = _xml_text(melding.strip(), one_line=True)
    advice = _xml_text(what_to_do or WHAT_TO_DO[feiltype])
    subject = f"The message {_xml_text(melding_id, one_line=True)}" if melding_id is not None else "The message"
    text = f"{subject} was not journaled, nothing of it: {reason}\n{advice}"
    identity = "\n".join((feiltype, melding_id or "", received or "", text))
    namespace = f"{_BASE}/feil/{feiltype}/v1"
    root = etree.Element(f"{{{namespace}}}{feiltype}", nsmap={None: namespace, "feilmelding": FEILMELDING_NS})
    etree.SubElement(root, f"{{{FEILMELDING_NS}}}feilId").text = str(uuid.uuid5(_FEIL_ID_NAMESPACE, identity))
    etree.SubElement(root, f"{{{FEILMELDING_NS}}}feilmelding").text = text
    return _validated(root, f"no.ks.fiks.arkiv.v1.feilmelding.{feiltype}.xsd")


def feilmelding_meldingstype(feiltype: str) -> str:
    """'serverfeil' -> 'no.ks.fiks.arkiv.v1.feilmelding.serverfeil', the meldingstype (and schema name) of that answer."""
    return f"no.ks.fiks.arkiv.v1.feilmelding.{feiltype}"


def write_answer(outbox: Path, name: str, content: bytes) -> Path:
    """Put `content` at outbox/name so that the name only ever shows a whole answer.

    The answer is written to a hidden temporary file (a client watching the
    outbox skips names starting with '.'), flushed to disk and renamed over
    the name, and the folder is synced so the rename survives a power cut.
    An identical answer already there is left untouched; a different one is
    replaced in the same single rename, never removed first.
    """
    if not name or name.startswith(".") or safe_filename(name, "") != name:
        raise InvalidOutputError(
            f"refusing to write an answer named {printable(name)!r}: not a plain file name",
            hint="answer names come from answer_name(); this is a bug in noarkpipe",
        )
    created = not outbox.is_dir()
    outbox.mkdir(parents=True, exist_ok=True)
    if created:
        _sync_folder(outbox.parent)
    final = outbox / name
    if _same_content(final, content):
        return final
    temporary = outbox / f".{name}.{os.getpid()}-{secrets.token_hex(4)}.part"
    # Created like any file (0666 less the umask), so the client that picks the answer up can read it.
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _sync_folder(outbox)
    return final


# --- the kvittering's parts, in the schema's order ---


def _add_saksmappe(root: etree._Element, saksmappe: RegistrertSaksmappe) -> None:
    mappe = etree.SubElement(root, _k("mappeKvittering"), {f"{{{XSI_NS}}}type": "saksmappeKvittering"})
    _add(mappe, "systemID", saksmappe.system_id)
    _add(mappe, "mappeID", saksmappe.mappe_id)
    _add(mappe, "opprettetDato", _date_time(saksmappe.opprettet_dato))
    _add(mappe, "opprettetAv", saksmappe.opprettet_av)
    _add_ekstern_noekkel(mappe, saksmappe.ekstern_noekkel)
    _add(mappe, "opprettetEllerEksisterende", _opprettet_eller_eksisterende(saksmappe.opprettet))
    _add(mappe, "saksaar", str(saksmappe.saksaar))
    _add(mappe, "sakssekvensnummer", str(saksmappe.sakssekvensnummer))
    _add(mappe, "saksdato", saksmappe.saksdato.isoformat())


def _add_journalpost(root: etree._Element, journalpost: RegistrertJournalpost) -> None:
    registrering = etree.SubElement(root, _k("registreringKvittering"), {f"{{{XSI_NS}}}type": "journalpostKvittering"})
    _add(registrering, "systemID", journalpost.system_id)
    _add(registrering, "opprettetDato", _date_time(journalpost.opprettet_dato))
    _add(registrering, "opprettetAv", journalpost.opprettet_av)
    for dokument in journalpost.dokumentbeskrivelser:
        _add_dokumentbeskrivelse(registrering, dokument)
    _add(registrering, "registreringsID", journalpost.registrerings_id)
    _add_ekstern_noekkel(registrering, journalpost.ekstern_noekkel)
    _add(registrering, "opprettetEllerEksisterende", _opprettet_eller_eksisterende(journalpost.opprettet))
    _add(registrering, "journalaar", str(journalpost.journalaar))
    _add(registrering, "journalsekvensnummer", str(journalpost.journalsekvensnummer))
    _add(registrering, "journalpostnummer", str(journalpost.journalpostnummer))
    _add_kode(registrering, "journalposttype", JOURNALPOSTTYPE_KODER[journalpost.journalposttype], journalpost.journalposttype)
    _add_kode(registrering, "journalstatus", JOURNALSTATUS_KODER[journalpost.journalstatus], journalpost.journalstatus)
    _add(registrering, "journaldato", journalpost.journaldato.isoformat())


def _add_dokumentbeskrivelse(parent: etree._Element, dokument: Dokumentbeskrivelse) -> None:
    element = etree.SubElement(parent, _k("dokumentbeskrivelseKvittering"))
    _add(element, "systemID", dokument.system_id)
    _add(element, "opprettetDato", _date_time(dokument.opprettet_dato))
    _add(element, "opprettetAv", dokument.opprettet_av)
    _add(element, "dokumentnummer", str(dokument.dokumentnummer))
    for objekt in dokument.dokumentobjekter:
        child = etree.SubElement(element, _k("dokumentobjekt"))
        _add(child, "systemID", objekt.system_id)
        _add(child, "versjonsnummer", str(objekt.versjonsnummer))
        _add_kode(child, "variantformat", VARIANTFORMAT_KODER[objekt.variantformat], objekt.variantformat)
        _add(child, "opprettetDato", _date_time(objekt.opprettet_dato))


def _add_ekstern_noekkel(parent: etree._Element, noekkel: EksternNoekkel | None) -> None:
    # eksternNoekkel's parts are declared in the metadatakatalog, so they are in its namespace.
    if noekkel is not None:
        element = etree.SubElement(parent, _k("referanseEksternNoekkel"))
        _add(element, "fagsystem", noekkel.fagsystem, METADATAKATALOG_NS)
        _add(element, "noekkel", noekkel.noekkel, METADATAKATALOG_NS)


def _add_kode(parent: etree._Element, name: str, kode: str, beskrivelse: str) -> None:
    element = etree.SubElement(parent, _k(name))
    _add(element, "kode", kode, METADATAKATALOG_NS)
    _add(element, "beskrivelse", beskrivelse, METADATAKATALOG_NS)


def _add(parent: etree._Element, name: str, text: str, namespace: str = KVITTERING_NS) -> None:
    try:
        etree.SubElement(parent, f"{{{namespace}}}{name}").text = text
    except ValueError as error:
        raise InvalidOutputError(f"the kvittering's {name} cannot be written as XML: {error}") from None


def _opprettet_eller_eksisterende(opprettet: bool) -> str:
    return "Opprettet" if opprettet else "Eksisterende"


def _date_time(value: datetime) -> str:
    # A naive time would be read in whatever zone the machine is in: the same data, other bytes.
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidOutputError(f"the kvittering got a time without a zone ({value.isoformat()}); the store keeps UTC")
    return value.isoformat()


def _k(name: str) -> str:
    return f"{{{KVITTERING_NS}}}{name}"


def _xml_text(text: str, *, one_line: bool = False) -> str:
    """`text` with every character XML 1.0 cannot carry, and every control, shown as a visible escape."""
    shown = printable(text, keep_newlines=not one_line)
    return shown.replace("\ufffe", "\\ufffe").replace("\uffff", "\\uffff")


# --- validation and files ---


@cache
def _schema(filename: str) -> etree.XMLSchema:
    path = SCHEMA_DIR / filename
    return etree.XMLSchema(etree.parse(str(path), safe_parser()))


def _validated(root: etree._Element, schema_file: str) -> bytes:
    data = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    schema = _schema(schema_file)
    if not schema.validate(etree.fromstring(data, safe_parser())):
        raise SchemaValidationError(schema_file, [f"line {e.line}: {e.message}" for e in schema.error_log])
    return data


def _same_content(path: Path, content: bytes) -> bool:
    """Whether `path` is a regular file holding exactly `content`; a link or a FIFO is never opened, only replaced."""
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size != len(content):
            return False
        return path.read_bytes() == content
    except OSError:
        return False


def _sync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
