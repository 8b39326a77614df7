"""Which format a file is in, judged from its bytes, and whether depots accept it.

The PRONOM id comes from fido (the Open Preservation Foundation's format
identifier) with the PRONOM signatures it ships, used as a library, so it
works offline and prints nothing. It matches byte signatures and, for ZIP
and OLE containers (docx, xlsx, odt, doc, xls), the container signatures;
the file name and its extension are never consulted. The MIME type comes
from libmagic.

PRONOM has no signature for plain text, so a file fido cannot place that
libmagic calls text is recorded as Plain Text File (x-fmt/111), which is
what every PRONOM-based tool reports for it.

Whether a format is accepted comes from the depot list shipped with the
package (archive-file-formats.json, Riksarkivarens forskrift as of
RAF-220301): a listed PUID whose validity period includes the day asked
about. Plain PDF, for example, is listed but was valid only until 2008.
"""

from __future__ import annotations

import json
import re
import threading
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Sequence
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path

import magic
from fido import CONFIG_DIR
from fido import __version__ as fido_version
from fido.fido import Fido
from fido.versions import get_local_versions
from pydantic import BaseModel, ConfigDict

from noarkpipe.errors import InputFileError
from noarkpipe.files.results import Basis, FormatId
from noarkpipe.files.signatures import PDF_HEADER

ACCEPTED_FORMATS_RESOURCE = "archive-file-formats.json"
PLAIN_TEXT_PUID = "x-fmt/111"
MAX_CONTAINER_MEMBER_BYTES = 256 * 1024 * 1024
"""fido reads the container members its signatures name into memory; larger ones are refused unread."""

class _Validity(BaseModel):
    model_config = ConfigDict(frozen=True)

    valid_from: date | None
    valid_to: date | None


def is_accepted(puid: str | None, on: date, table: dict[str, _Validity] | None = None) -> bool:
    """True if depots accept `puid` on the day `on`."""
    validity = (table if table is not None else accepted_formats()).get(puid or "")
    if validity is None:
        return False
    starts, ends = validity.valid_from, validity.valid_to
    return (starts is None or starts <= on) and (ends is None or on <= ends)


def choose(puids: Sequence[str], accepted: set[str]) -> int:
    """Index of the match to report when fido finds several: the first accepted one, else the first."""
    return next((index for index, puid in enumerate(puids) if puid in accepted), 0)


def identify(path: Path, *, on: date | None = None) -> FormatId:
    """The format of the file at `path`, from its content alone."""
    day = on or date.today()
    size = path.stat().st_size
    mime = _mime(path)
    if size == 0:
        return FormatId(puid=None, name="empty file", mime=mime, accepted=False, basis="none")
    _require_reasonable_container(path)
    matches = _fido().identify(path)
    if matches:
        table = accepted_formats()
        index = choose([match.puid for match in matches], {p for p in table if is_accepted(p, day, table)})
        match = matches[index]
        return FormatId(
            puid=match.puid,
            name=match.name,
            version=match.version,
            mime=_with_charset(match.mime, mime) if match.mime else mime,
            accepted=is_accepted(match.puid, day),
            basis=match.basis,
        )
    if mime.startswith("text/"):
        return FormatId(
            puid=PLAIN_TEXT_PUID,
            name=_fido().name_of(PLAIN_TEXT_PUID),
            mime=mime,
            accepted=is_accepted(PLAIN_TEXT_PUID, day),
            basis="text",
        )
    return FormatId(puid=None, name="unknown format", mime=mime, accepted=False, basis="none")


def preload() -> None:
    """Load the signatures and the libmagic database now, before a process forks its workers."""
    _fido()
    _magic()


def identifier_version() -> str:
    """Tool and signature versions, for the record of how formats were identified."""
    return _fido().description


@lru_cache(maxsize=1)
def accepted_formats() -> dict[str, _Validity]:
    """PUID -> validity period, from the depot list shipped with the package."""
    text = resources.files(__package__).joinpath(ACCEPTED_FORMATS_RESOURCE).read_text(encoding="utf-8")
    table: dict[str, _Validity] = {}
    for entry in json.loads(text)["file_formats"]:
        validity = _Validity(valid_from=entry["valid_from"] or None, valid_to=entry["valid_to"] or None)
        for puid in entry["puid"]:
            table[puid] = validity
    return table


def _with_charset(mime: str, detected: str) -> str:
    """fido's MIME type, with the charset libmagic found when the format is text.

    libmagic guesses a charset for any file whose bytes look like text, a
    small PDF included; only text formats get it, or a PDF would be
    recorded as 'application/pdf; charset=iso-8859-1'.
    """
    _, _, parameters = detected.partition(";")
    charset = parameters.strip()
    if charset and charset != "charset=binary" and ";" not in mime and _is_text_format(mime):
        return f"{mime}; {charset}"
    return mime


def _is_text_format(mime: str) -> bool:
    return mime.startswith("text/") or mime.endswith(("/xml", "+xml", "/json", "+json"))


_magic_lock = threading.Lock()


@lru_cache(maxsize=1)
def _magic() -> magic.Magic:
    return magic.Magic(mime=True, mime_encoding=True)


def _mime(path: Path) -> str:
    # A libmagic handle must not be used by two threads at once.
    with _magic_lock:
        detected = _magic().from_file(str(path))
    if detected.startswith("application/pdf;") and _text_mentioning_pdf(path, detected):
        detected = "text/plain;" + detected.partition(";")[2]
    return detected.replace("; charset=binary", "")


PDF_TRAILER = b"%%EOF"


def _text_mentioning_pdf(path: Path, detected: str) -> bool:
    """A text file that only mentions '%PDF-' (an e-mail whose Subject names a PDF version), not a PDF.

    libmagic calls a file a PDF when '%PDF-' stands anywhere in its first
    kilobyte. A PDF has its header at the very start, or, when a writer put
    junk before it, still ends with its '%%EOF' trailer; text that libmagic
    found a character set for and that has neither is text.
    """
    if detected.endswith("charset=binary"):
        return False
    size = path.stat().st_size
    with open(path, "rb") as handle:
        if handle.read(len(PDF_HEADER)) == PDF_HEADER:
            return False
        handle.seek(max(0, size - 2048))
        return PDF_TRAILER not in handle.read()


def _require_reasonable_container(path: Path) -> None:
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # fido reads it as a plain ZIP or not at all
    read_by_fido = _fido().container_paths
    for member in members:
        if member.filename in read_by_fido and member.file_size > MAX_CONTAINER_MEMBER_BYTES:
            raise InputFileError(
                f"the file is a ZIP container whose member {member.filename!r} would unpack to "
                f"{member.file_size} bytes; it is refused rather than unpacked to identify it",
                hint="open the document in an office program and save it again, or ask the sender to",
            )


class _Match(BaseModel):
    puid: str
    name: str
    version: str
    mime: str
    basis: Basis


class _CompiledFido(Fido):
    """fido matching with its signatures read once: the same matches, in the same order.

    fido's own `match_formats` walks the signature XML for every file it
    identifies (each of some 1,800 formats, each signature's patterns, each
    pattern's position and regex, each a lookup in an ElementTree) and asks
    the `re` module's cache for every regex. This does the same walk over
    the same formats in the same order, with the lookups done once, the
    regexes compiled once, and the formats none of whose signatures can
    match a file starting with that byte left out (most signatures begin
    with a fixed first byte: "%" for PDF, "\\x89" for PNG). What a format
    matches, and which matches outrank others (`as_good_as_any`), is
    fido's. tests/test_identify_fast.py checks it against fido's own on
    files of every kind the tests make.
    """

    def match_formats(self, bofbuffer: bytes, eofbuffer: bytes) -> list:
        self.current_count += 1
        result: list = []
        outranked = self.puid_has_priority_over_map
        for format_, puid, signatures in self._candidates(bofbuffer[0] if bofbuffer else None):
            if any(puid in outranked[other] for other_format, other, _ in result if other_format is not format_):
                continue
            for name, patterns in signatures:
                if all(_pattern_matches(position, regex, bofbuffer, eofbuffer) for position, regex in patterns):
                    result.append((format_, puid, name))
        return [(format_, name) for format_, puid, name in result
                if not any(puid in outranked[other] for other_format, other, _ in result if other_format is not format_)]

    def _candidates(self, first_byte: int | None) -> list:
        by_byte = self.__dict__.setdefault("_candidates_by_byte", {})
        if first_byte not in by_byte:
            by_byte[first_byte] = [
                (format_, puid, signatures) for format_, puid, signatures, first_bytes in self._compiled()
                if first_bytes is None or first_byte in first_bytes
            ]
        return by_byte[first_byte]

    def _compiled(self) -> list:
        """(format, puid, signatures, the first bytes a matching file can start with or None for any)."""
        compiled = self.__dict__.get("_compiled_formats")
        if compiled is None:
            compiled = []
            for format_ in self.formats:
                signatures = _compile_signatures(self, format_)
                if signatures is not None:
                    compiled.append((format_, self.get_puid(format_), signatures, _first_bytes(signatures)))
            self.__dict__["_compiled_formats"] = compiled
        return compiled


def _compile_signatures(fido: Fido, format_: ET.Element) -> list | None:
    """The format's signatures as (name, [(position, compiled regex)]), or None if one does not compile."""
    try:
        return [
            (signature.findtext("name"),
             [(fido.get_pos(pattern), re.compile(fido.get_regex(pattern))) for pattern in fido.get_patterns(signature)])
            for signature in fido.get_signatures(format_)
        ]
    except (re.error, AttributeError, TypeError):
        return None


def _first_bytes(signatures: list) -> frozenset[int] | None:
    """The bytes a file must start with for one of `signatures` to match; None if any byte may do."""
    firsts: set[int] = set()
    for _name, patterns in signatures:
        required = next((byte for position, regex in patterns if position == "BOF"
                         and (byte := _required_first_byte(regex)) is not None), None)
        if required is None:
            return None
        firsts.add(required)
    return frozenset(firsts)


def _required_first_byte(regex: re.Pattern[bytes]) -> int | None:
    # Read from the parsed pattern, not its text: \\A and then one literal, nothing optional before it.
    from re import _constants, _parser  # type: ignore[attr-defined]

    items = list(_parser.parse(regex.pattern, regex.flags))
    if len(items) >= 2 and items[0] == (_constants.AT, _constants.AT_BEGINNING_STRING) \
            and items[1][0] is _constants.LITERAL:
        return items[1][1]
    return None


def _pattern_matches(position: str, regex: re.Pattern[bytes], bofbuffer: bytes, eofbuffer: bytes) -> bool:
    # fido's positions: BOF anchored at the start, EOF anywhere in the tail, VAR and IFB anywhere in the head.
    if position == "BOF":
        return regex.match(bofbuffer) is not None
    if position == "EOF":
        return regex.search(eofbuffer) is not None
    if position in ("VAR", "IFB"):
        return regex.search(bofbuffer) is not None
    return True


class _Fido:
    """One fido instance with its signatures loaded and compiled (about a second), shared by all threads."""

    def __init__(self) -> None:
        # Fido() also enlarges the re module's pattern cache for the whole
        # process, which only makes regular expressions faster.
        versions = get_local_versions(CONFIG_DIR)
        self._found: list[_Match] = []
        self._lock = threading.Lock()
        self._fido = _CompiledFido(
            quiet=True,
            handle_matches=self._collect,
            conf_dir=CONFIG_DIR,
            format_files=[versions.pronom_signature, versions.fido_extension_signature],
        )
        self.description = (
            f"fido {fido_version} (PRONOM signatures v{versions.pronom_version}, "
            f"container signatures {versions.pronom_container_signature})"
        )
        self._fido._compiled()
        container_file = Path(CONFIG_DIR) / versions.pronom_container_signature
        self.container_paths = frozenset(
            element.text for element in ET.parse(container_file).iter("Path") if element.text
        )

    def identify(self, path: Path) -> list[_Match]:
        # fido keeps the file it works on in the instance, so one file at a time.
        with self._lock:
            self._found = []
            self._fido.identify_file(str(path), extension=False)
            return self._found

    def name_of(self, puid: str) -> str:
        return self._fido.puid_format_map[puid].findtext("name") or puid

    def _collect(self, _filename: str, matches: list, _seconds: float, matchtype: str = "") -> None:
        for element, _signature in matches:
            self._found.append(
                _Match(
                    puid=element.findtext("puid"),
                    name=element.findtext("name") or "",
                    version=element.findtext("version") or "",
                    mime=element.findtext("mime") or "",
                    basis="container" if matchtype == "container" else "signature",
                )
            )


@lru_cache(maxsize=1)
def _fido() -> _Fido:
    return _Fido()
