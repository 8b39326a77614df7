"""Reading a KS Fiks Arkiv `arkivmelding` (`no.ks.fiks.arkiv.v1.arkivering.arkivmelding.opprett`).

A message is a zip or a folder whose top level holds `arkivmelding.xml` and
the files its dokumentobjekter name in `referanseDokumentfil`. The XML is
parsed without DTDs, entities or network (a DOCTYPE is refused, not
ignored) and validated against the shipped Fiks Arkiv V1 schema
(`fiks-arkiv-v1/`, see its SOURCE.md) before any value is read. Only then is
it mapped onto `core.arkivmelding.Arkivmelding`, whatever prefixes, element
order or encoding the sender used.

What is taken, and what is refused as 'ugyldigforespoersel':

- One journalpost per message: a `registrering` of `xsi:type="journalpost"`
  with its `referanseEksternNoekkel`. That key is how a message delivered
  twice is recognised. The schema allows at most one mappe and one
  registrering, so a second one is a schema error. A mappe without a
  registrering, an arkivnotat or a møtesak is refused.
- The case is either the message's `mappe` (a saksmappe or a plain mappe,
  to find by its references or to create) or, for a registrering sent on
  its own, its `referanseForelderMappe` (systemID, mappeID or saksnummer,
  referanseEksternNoekkel). When a message gives both, they must not
  contradict each other. Undermapper (a mappe's `referanseForeldermappe`) are refused.
- Codes (`kode` with an optional `beskrivelse`) keep the code the sender
  gave. `tilknyttetRegistreringSom` 'H'/'V' becomes 'Hoveddokument'/'Vedlegg'.
- One dokumentobjekt per dokumentbeskrivelse: the file as the sender made
  it. noarkpipe makes its own archival copies.
- Not read: parts and klassifikasjon on the registrering itself (Noark 5
  keeps them on the case), merknader, kryssreferanser, presedens, gradering,
  virksomhetsspesifikke metadata, and person or organisation ids of a
  country other than Norway.

The opprett schema has no meldingId and no message time. The transport may
pass them. Otherwise the meldingId is derived from the XML's bytes, so the
same message gets the same id and the same answer each time it comes, and
the time is the registrering's (else the mappe's) opprettetDato.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from functools import cache
from pathlib import Path

from lxml import etree
from pydantic import ValidationError

from noarkpipe.clock import LOCAL_TIME
from noarkpipe.core.arkivmelding import (
    Arkivmelding,
    Dokument,
    EksternNoekkel,
    Klassifikasjon,
    Part,
    SaksmappeAngivelse,
    Skjerming,
)
from noarkpipe.errors import ArkivmeldingRefused
from noarkpipe.files.safety import is_unsafe_member_path, safe_filename
from noarkpipe.intake.eform_fields import mask_numbers
from noarkpipe.xml.schemas import safe_parser

ARKIVMELDING_NAME = "arkivmelding.xml"
SCHEMA_DIR = Path(__file__).with_name("fiks-arkiv-v1")
OPPRETT_SCHEMA = SCHEMA_DIR / "no.ks.fiks.arkiv.v1.arkivering.arkivmelding.opprett.xsd"

_BASE = "https://ks-no.github.io/standarder/fiks-protokoll/fiks-arkiv"
NAMESPACE = f"{_BASE}/arkivmelding/opprett/v1"
METADATAKATALOG_NS = f"{_BASE}/metadatakatalog/v1"
_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
ROOT_TAG = f"{{{NAMESPACE}}}arkivmelding"

HINT = "ask the sending system to send the message again as a valid Fiks Arkiv V1 arkivmelding.opprett"

TILKNYTTET_REGISTRERING_SOM = {"H": "Hoveddokument", "V": "Vedlegg"}
"""M217 codes as Fiks Arkiv sends them; the value names are taken too."""

_MELDING_ID_NAMESPACE = uuid.UUID("6f1c5d2e-8a4b-5c3d-9e7f-0a1b2c3d4e5f")
_SAKSNUMMER = re.compile(r"(\d{4}|\d{2})/(\d{1,7})")
_XS_DATE = re.compile(r"(-?\d{4,}-\d{2}-\d{2})(Z|[+-]\d{2}:\d{2})?")
_DOCTYPE_MARKERS = tuple("<!DOCTYPE".encode(codec) for codec in ("ascii", "utf-16-le", "utf-16-be"))


def is_arkivmelding_message(names: Iterable[str]) -> bool:
    """Whether a zip or folder with these member names is a Fiks Arkiv message: arkivmelding.xml at its top."""
    return any(name == ARKIVMELDING_NAME for name in names)


def derived_melding_id(xml: bytes) -> str:
    """A meldingId for a message that came without one: a UUID of the XML's bytes, the same for each delivery."""
    return str(uuid.uuid5(_MELDING_ID_NAMESPACE, hashlib.sha256(xml).hexdigest()))


@cache
def opprett_schema() -> etree.XMLSchema:
    """The shipped opprett schema; its imports are the files beside it, never the network."""
    return etree.XMLSchema(etree.parse(str(OPPRETT_SCHEMA), safe_parser()))


def schema_problems(root: etree._Element) -> list[str]:
    """Each way the XML breaks the opprett schema as 'line N: message', values that could be fødselsnumre masked."""
    schema = opprett_schema()
    if schema.validate(root):
        return []
    return [f"line {e.line}: {mask_numbers(_short_names(e.message))}" for e in schema.error_log]


def read_message(
    members: Mapping[str, bytes], *, melding_id: str | None = None, tidspunkt: datetime | None = None
) -> tuple[Arkivmelding, dict[str, bytes]]:
    """The arkivmelding of a message (file name -> bytes) and the files its dokumentobjekter reference, by name.

    Every member is a bare file name. The files besides arkivmelding.xml are
    exactly the `antallFiler` the message announces, and each of them is
    referenced by exactly one dokumentobjekt. A file too many is refused like
    one missing: either the message or its sender is not what it claims to be.
    """
    xml = members.get(ARKIVMELDING_NAME)
    melding_id = melding_id or (derived_melding_id(xml) if xml is not None else None)
    for name in members:
        if problem := _name_problem(name):
            raise _refused(f"the member '{_shown(name)}' {problem}", melding_id)
    if xml is None:
        raise _refused(f"the message has no {ARKIVMELDING_NAME} at its top level", melding_id)
    melding = read_arkivmelding(xml, melding_id=melding_id, tidspunkt=tidspunkt)
    files = {name: content for name, content in members.items() if name != ARKIVMELDING_NAME}
    referenced = Counter(dokument.filnavn for dokument in melding.dokumenter)
    if missing := sorted(name for name in referenced if name not in files):
        raise _refused(f"referanseDokumentfil names {_listed(missing)}, not in the message", melding.melding_id)
    if twice := sorted(name for name, count in referenced.items() if count > 1):
        raise _refused(f"more than one dokumentobjekt references {_listed(twice)}", melding.melding_id)
    if melding.antall_filer != len(files):
        raise _refused(
            f"antallFiler is {melding.antall_filer}, but the message holds {len(files)} "
            f"file{'' if len(files) == 1 else 's'} besides {ARKIVMELDING_NAME}",
            melding.melding_id,
        )
    if unreferenced := sorted(name for name in files if name not in referenced):
        raise _refused(f"no dokumentobjekt references {_listed(unreferenced)}", melding.melding_id)
    return melding, {name: files[name] for name in referenced}


def read_arkivmelding(xml: bytes, *, melding_id: str | None = None, tidspunkt: datetime | None = None) -> Arkivmelding:
    """The `Arkivmelding` an arkivmelding.xml asks for; `ArkivmeldingRefused` when it is not one we can register."""
    melding_id = melding_id or derived_melding_id(xml)
    root = _parse(xml, melding_id)
    if root.tag != ROOT_TAG:
        raise _refused(f"the root element is {_short_names(root.tag)}, not arkivmelding of {NAMESPACE}", melding_id)
    if problems := schema_problems(root):
        shown = "; ".join(problems[:5]) + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")
        raise _refused(f"not valid against the Fiks Arkiv V1 arkivmelding.opprett schema: {shown}", melding_id)
    return _Reader(melding_id).melding(root, tidspunkt)


class _Reader:
    """Maps one schema-valid arkivmelding onto the model; every refusal names the message."""

    def __init__(self, melding_id: str) -> None:
        self.melding_id = melding_id

    def refuse(self, message: str) -> ArkivmeldingRefused:
        return _refused(message, self.melding_id)

    def melding(self, root: etree._Element, tidspunkt: datetime | None) -> Arkivmelding:
        mappe = _child(root, "mappe")
        registrering = _child(root, "registrering")
        if registrering is None:
            raise self.refuse(
                "the message has no registrering: this archive registers one journalpost per message, "
                "a mappe alone is not taken"
            )
        kind = _xsi_type(registrering)
        if kind != "journalpost":
            what = f"of xsi:type '{kind}'" if kind else "without an xsi:type"
            raise self.refuse(f"the registrering is {what}: only a journalpost (xsi:type=\"journalpost\") is registered here")
        if mappe is not None and _xsi_type(mappe) not in (None, "mappe", "saksmappe"):
            raise self.refuse(f"the mappe is of xsi:type '{_xsi_type(mappe)}': only a saksmappe (or a plain mappe) is taken")
        key = _key(_child(registrering, "referanseEksternNoekkel"))
        if key is None:
            raise self.refuse(
                "the registrering has no referanseEksternNoekkel: this archive needs the sender's key of "
                "each journalpost to recognise a message delivered twice"
            )
        try:
            return Arkivmelding(
                system=_text(_child(root, "system")),
                melding_id=self.melding_id,
                tidspunkt=tidspunkt or self.moment(registrering, "opprettetDato")
                or (self.moment(mappe, "opprettetDato") if mappe is not None else None),
                antall_filer=int(_text(_child(root, "antallFiler"))),
                saksmappe=self.saksmappe(mappe, registrering),
                tittel=_text(_child(registrering, "tittel")),
                offentlig_tittel=_optional_text(_child(registrering, "offentligTittel")),
                journalposttype=_kode(_child(registrering, "journalposttype")),
                journalstatus=_optional_kode(_child(registrering, "journalstatus")),
                ekstern_noekkel=key,
                dokumentets_dato=self.day(registrering, "dokumentetsDato"),
                mottatt_dato=self.moment(registrering, "mottattDato"),
                sendt_dato=self.moment(registrering, "sendtDato"),
                korrespondanseparter=[self.korrespondansepart(e) for e in _children(registrering, "korrespondansepart")],
                skjerming=_skjerming(_child(registrering, "skjerming")),
                dokumenter=[self.dokument(e) for e in _children(registrering, "dokumentbeskrivelse")],
            )
        except ValidationError as error:  # a value the schema allows and the model does not, e.g. an empty name
            raise self.refuse(f"a value cannot be used: {mask_numbers(str(error.errors()[0]['msg']))}") from None

    def saksmappe(self, mappe: etree._Element | None, registrering: etree._Element) -> SaksmappeAngivelse:
        """The case from the mappe (when there is one) and the registrering's reference to its parent mappe."""
        reference = self.reference(_child(registrering, "referanseForelderMappe"))
        registrering_arkivdel = _optional_kode(_child(registrering, "arkivdel"))
        if mappe is None:
            return SaksmappeAngivelse(**reference, arkivdel=registrering_arkivdel)
        if _child(mappe, "referanseForeldermappe") is not None:
            raise self.refuse("the mappe has a referanseForeldermappe: undermapper are not taken here")
        given = {
            "system_id": _optional_text(_child(mappe, "systemID")),
            "ekstern_noekkel": _key(_child(mappe, "referanseEksternNoekkel")),
            **self.saksnummer(_optional_text(_child(mappe, "mappeID")),
                              _optional_int(_child(mappe, "saksaar")), _optional_int(_child(mappe, "sakssekvensnummer"))),
        }
        for field, value in reference.items():
            if value is None:
                continue
            if given[field] is not None and given[field] != value:
                raise self.refuse(
                    f"the mappe and the registrering's referanseForelderMappe name different cases ({field})"
                )
            given[field] = value
        arkivdel = _optional_kode(_child(mappe, "arkivdel"))
        if arkivdel and registrering_arkivdel and arkivdel != registrering_arkivdel:
            raise self.refuse("the mappe and the registrering name different arkivdeler")
        return SaksmappeAngivelse(
            tittel=_text(_child(mappe, "tittel")),
            offentlig_tittel=_optional_text(_child(mappe, "offentligTittel")),
            klassifikasjoner=[_klassifikasjon(e) for e in _children(mappe, "klassifikasjon")],
            skjerming=_skjerming(_child(mappe, "skjerming")),
            parter=[self.part(e) for e in _children(mappe, "part")],
            matrikkelnummer=[_matrikkelnummer(e) for e in _children(mappe, "matrikkelnummer")],
            arkivdel=arkivdel or registrering_arkivdel,
            **given,
        )

    def reference(self, element: etree._Element | None) -> dict:
        """A referanseTilMappe as the fields of `SaksmappeAngivelse` it fills (None for what it does not give)."""
        if element is None:
            return {"system_id": None, "ekstern_noekkel": None, "saksaar": None, "sakssekvensnummer": None}
        saksnummer = _child(element, "saksnummer", METADATAKATALOG_NS)
        return {
            "system_id": _optional_text(_child(element, "systemID", METADATAKATALOG_NS)),
            "ekstern_noekkel": _key(_child(element, "referanseEksternNoekkel", METADATAKATALOG_NS)),
            **self.saksnummer(
                _optional_text(_child(element, "mappeID", METADATAKATALOG_NS)),
                _optional_int(_child(saksnummer, "saksaar", METADATAKATALOG_NS)) if saksnummer is not None else None,
                _optional_int(_child(saksnummer, "sakssekvensnummer", METADATAKATALOG_NS))
                if saksnummer is not None else None,
            ),
        }

    def saksnummer(self, mappe_id: str | None, saksaar: int | None, sekvens: int | None) -> dict:
        """saksaar and sakssekvensnummer, from the two elements or from a mappeID '2026/42' (which must agree)."""
        if mappe_id is not None:
            match = _SAKSNUMMER.fullmatch(mappe_id.strip())
            if match is None:
                raise self.refuse(f"mappeID '{_shown(mappe_id)}' is not a saksnummer (saksår/sekvensnummer, e.g. 2026/42)")
            year = int(match[1]) + (2000 if len(match[1]) == 2 else 0)
            if (saksaar, sekvens) not in ((None, None), (year, int(match[2]))):
                raise self.refuse(f"mappeID {mappe_id} and saksaar/sakssekvensnummer {saksaar}/{sekvens} disagree")
            saksaar, sekvens = year, int(match[2])
        if (saksaar is None) != (sekvens is None):
            raise self.refuse("a saksnummer needs both saksaar and sakssekvensnummer")
        return {"saksaar": saksaar, "sakssekvensnummer": sekvens}

    def part(self, element: etree._Element) -> Part:
        organisasjon = _national_id(_child(element, "organisasjonID"))
        person = _national_id(_child(element, "personID"))
        return Part(
            partrolle=_optional_kode(_child(element, "partRolle")),
            navn=_text(_child(element, "partNavn")),
            organisasjonsnummer=organisasjon,
            foedselsnummer=person,
            **_address(element),
        )

    def korrespondansepart(self, element: etree._Element) -> Part:
        return Part(
            korrespondanseparttype=_kode(_child(element, "korrespondanseparttype")),
            navn=_text(_child(element, "korrespondansepartNavn")),
            organisasjonsnummer=_optional_text(_child(element, "organisasjonid")),
            foedselsnummer=_optional_text(_child(element, "personid")),
            **_address(element),
        )

    def dokument(self, element: etree._Element) -> Dokument:
        tittel = _text(_child(element, "tittel"))
        objekter = _children(element, "dokumentobjekt")
        if len(objekter) != 1:
            raise self.refuse(
                f"dokumentbeskrivelse '{_shown(tittel)}' has {len(objekter)} dokumentobjekter: one is taken "
                "(the file as made; noarkpipe makes its own archival copies)"
            )
        objekt = objekter[0]
        som = _kode(_child(element, "tilknyttetRegistreringSom"))
        names = {**TILKNYTTET_REGISTRERING_SOM, **{v.upper(): v for v in TILKNYTTET_REGISTRERING_SOM.values()}}
        if som.strip().upper() not in names:
            raise self.refuse(f"tilknyttetRegistreringSom '{_shown(som)}' of '{_shown(tittel)}' is not H or V")
        return Dokument(
            tittel=tittel,
            dokumenttype=_optional_kode(_child(element, "dokumenttype")),
            tilknyttet_registrering_som=names[som.strip().upper()],
            filnavn=_text(_child(objekt, "referanseDokumentfil")),
            opprinnelig_filnavn=_optional_text(_child(objekt, "filnavn")),
            format=_optional_kode(_child(objekt, "format")),
            skjerming=_skjerming(_child(element, "skjerming")),
        )

    def day(self, parent: etree._Element, name: str) -> date | None:
        value = _optional_text(_child(parent, name))
        if value is None:
            return None
        match = _XS_DATE.fullmatch(value.strip())
        try:
            return date.fromisoformat(match[1]) if match else date.fromisoformat(value)
        except ValueError:
            raise self.refuse(f"{name} '{_shown(value)}' is not a date this archive can keep") from None

    def moment(self, parent: etree._Element, name: str) -> datetime | None:
        """An xs:dateTime; one without a zone is Norwegian local time, as the senders mean it."""
        value = _optional_text(_child(parent, name))
        if value is None:
            return None
        try:
            when = datetime.fromisoformat(value.strip())
        except ValueError:
            raise self.refuse(f"{name} '{_shown(value)}' is not a time this archive can keep") from None
        return when if when.tzinfo else when.replace(tzinfo=LOCAL_TIME)


def _parse(xml: bytes, melding_id: str) -> etree._Element:
    try:
        root = etree.fromstring(xml, safe_parser())
    except etree.XMLSyntaxError as error:
        if any(marker in xml for marker in _DOCTYPE_MARKERS):
            raise _doctype_refused(melding_id) from None
        raise _refused(f"not well-formed XML: {mask_numbers(str(error))}", melding_id) from None
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None:
        raise _doctype_refused(melding_id)
    return root


def _doctype_refused(melding_id: str) -> ArkivmeldingRefused:
    return ArkivmeldingRefused(
        f"{ARKIVMELDING_NAME}: the XML declares a DOCTYPE; DTDs and entities are refused, never resolved "
        "(they can read local files, reach the network or expand without bound)",
        melding_id=melding_id,
        hint="an arkivmelding has no DOCTYPE; ask the sending system to leave it out",
    )


def _refused(message: str, melding_id: str | None) -> ArkivmeldingRefused:
    return ArkivmeldingRefused(f"{ARKIVMELDING_NAME}: {message}", melding_id=melding_id, hint=HINT)


def _name_problem(name: str) -> str | None:
    """Why a member name is not a bare, plain file name, or None."""
    if not name or name in (".", ".."):
        return "has no file name"
    if "/" in name or "\\" in name or is_unsafe_member_path(name):
        return "is in a folder or climbs out of the message: members are bare file names"
    if safe_filename(name, "") != name:
        return "has characters or a form a file name must not have"
    return None


def _shown(text: str) -> str:
    """A value from the message as it may appear in a refusal: printable, short."""
    cleaned = "".join(c if c.isprintable() else "?" for c in text)
    return mask_numbers(cleaned if len(cleaned) <= 80 else cleaned[:77] + "...")


def _listed(names: list[str]) -> str:
    return ", ".join(f"'{_shown(name)}'" for name in names)


def _short_names(text: str) -> str:
    return text.replace(f"{{{NAMESPACE}}}", "").replace(f"{{{METADATAKATALOG_NS}}}", "n5mdk:")


def _child(parent: etree._Element, name: str, namespace: str = NAMESPACE) -> etree._Element | None:
    return parent.find(f"{{{namespace}}}{name}")


def _children(parent: etree._Element, name: str) -> list[etree._Element]:
    return parent.findall(f"{{{NAMESPACE}}}{name}")


def _text(element: etree._Element | None) -> str:
    """The text of an element the schema requires (so it is there)."""
    return (element.text or "").strip() if element is not None else ""


def _optional_text(element: etree._Element | None) -> str | None:
    return _text(element) or None if element is not None else None


def _optional_int(element: etree._Element | None) -> int | None:
    text = _optional_text(element)
    return int(text) if text is not None else None


def _kode(element: etree._Element | None) -> str:
    """The code of a Fiks Arkiv `kode` (its `beskrivelse` is the sender's label, not kept)."""
    return _text(_child(element, "kode", METADATAKATALOG_NS)) if element is not None else ""


def _optional_kode(element: etree._Element | None) -> str | None:
    return _kode(element) or None if element is not None else None


def _xsi_type(element: etree._Element) -> str | None:
    """The local name of the element's xsi:type (schema validation has checked it names a type of the schema)."""
    value = element.get(_XSI_TYPE)
    return value.rpartition(":")[2].strip() if value else None


def _key(element: etree._Element | None) -> EksternNoekkel | None:
    if element is None:
        return None
    return EksternNoekkel(
        fagsystem=_text(_child(element, "fagsystem", METADATAKATALOG_NS)),
        noekkel=_text(_child(element, "noekkel", METADATAKATALOG_NS)),
    )


def _skjerming(element: etree._Element | None) -> Skjerming | None:
    if element is None:
        return None
    return Skjerming(
        tilgangsrestriksjon=_kode(_child(element, "tilgangsrestriksjon")),
        skjermingshjemmel=_text(_child(element, "skjermingshjemmel")),
    )


def _klassifikasjon(element: etree._Element) -> Klassifikasjon:
    return Klassifikasjon(
        klassifikasjonssystem=_optional_text(_child(element, "klassifikasjonssystemID")) or "",
        klasse_id=_text(_child(element, "klasseID")),
        tittel=_optional_text(_child(element, "tittel")),
    )


def _matrikkelnummer(element: etree._Element) -> str:
    """'kommunenummer-gnr/bnr[/fnr[/snr]]', the way a GBNR klasse is written (fnr 0 when only snr is given)."""
    numbers = [_text(_child(element, name)) for name in ("gardsnummer", "bruksnummer")]
    festenummer = _optional_text(_child(element, "festenummer"))
    seksjonsnummer = _optional_text(_child(element, "seksjonsnummer"))
    if festenummer or seksjonsnummer:
        numbers.append(festenummer or "0")
    if seksjonsnummer:
        numbers.append(seksjonsnummer)
    return f"{_text(_child(element, 'kommunenummer'))}-{'/'.join(numbers)}"


def _national_id(element: etree._Element | None) -> str | None:
    """A part's organisasjonID or personID when it is Norwegian (landkode NO or none); a foreign id is not kept."""
    if element is None:
        return None
    landkode = _optional_text(_child(element, "landkode"))
    if landkode not in (None, "NO"):
        return None
    return _optional_text(_child(element, "identifikator"))


def _address(element: etree._Element) -> dict:
    lines = [text for e in _children(element, "postadresse") if (text := _optional_text(e))]
    return {
        "postadresse": ", ".join(lines) or None,
        "postnummer": _optional_text(_child(element, "postnummer")),
        "poststed": _optional_text(_child(element, "poststed")),
        "epostadresse": _optional_text(_child(element, "epostadresse")),
    }
