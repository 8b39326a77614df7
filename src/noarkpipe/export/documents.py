"""Which document files go into an extract, what they are called there, and their formats.

Variants. A document can be stored in several variants (dokumentobjekt per
version and variantformat). The depot wants archival formats, so for each
version of a document:

- with an `Arkivformat` copy (made by the conversion stage, with its
  konvertering records): the Arkivformat copy goes in, and the
  `Produksjonsformat` original is left out; the konvertering records say
  what it was converted from, when and with which tool;
- without one (the original is itself an archival format, or it was never
  converted): the `Produksjonsformat` original goes in as it is. Whether
  its format is on the depot's list is reported per file in
  documentfile-formatinfo.csv, so the depot sees what still needs converting;
- a screened variant (`Dokument hvor deler av innholdet er skjermet`) goes in
  beside them;
- an original left without archival copy, then replaced in review by what the
  sender sent again (a later version with its Arkivformat): the later
  version's Arkivformat stands for it, and the earlier original stays in the
  store only (the endringslogg says it was replaced).

`selected` applies this rule; the arkivstruktur writer and the tar writer both
call it, so the dokumentobjekt elements and the files can never disagree.

Names. A file is `dokumenter/<journalår>/<journalår>-<sekvensnr>-<dokumentnr>-v<versjon>-<variant>.<ext>`
(variant P, A or S), e.g. `dokumenter/2026/2026-000345-02-v1-A.pdf`: built
only from numbers and a cleaned extension, so the path is plain ASCII, the same
on every file system, and a depot archivist can find the document of journal
number 2026/345 by its name. One folder per journal year keeps folders small.

Formats. documentfile-formatinfo.csv gives each file's PRONOM id. A stored
format that is already a PRONOM id (the conversion stage records them) is
taken as it is; other files are identified from their bytes with
`noarkpipe.files.identify` (fido), in worker processes beside the tar
writing, with results cached by checksum since identical bytes have one format.
"""

from __future__ import annotations

import csv
import json
import mimetypes
import multiprocessing
import os
import re
from collections import OrderedDict, deque
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import IO

from noarkpipe.core.codes import Variantformat

DOKUMENTER = "dokumenter"
_VARIANT_CODE = {
    Variantformat.produksjonsformat.value: "P",
    Variantformat.arkivformat.value: "A",
    Variantformat.skjermet.value: "S",
}
_PUID = re.compile(r"^(x-)?fmt/\d+$")
_EXTENSION = re.compile(r"[^a-z0-9]")
FORMATINFO_HEADER = ("File name", "File extension", "Format ID", "Format name", "Format version", "Error")
NOT_ACCEPTED = "not an accepted archival format (archive-file-formats.json)"
# Below this many files the worker processes cost more than they save.
_POOL_THRESHOLD = 200
_BATCH = 32
_CACHE_SIZE = 20_000


@dataclass(frozen=True, slots=True)
class StoredObject:
    """One dokumentobjekt row with the numbers that name its file."""

    id: int
    dokumentbeskrivelse_id: int
    systemID: str
    versjonsnummer: int
    variantformat: str
    format: str | None
    mimeType: str | None
    filnavn: str
    sjekksum: str
    filstoerrelse: int
    journalaar: int
    journalsekvensnummer: int
    dokumentnummer: int
    sjekksumAlgoritme: str
    opprettetDato: datetime
    opprettetAv: str


def selected(objects: Sequence[StoredObject]) -> list[StoredObject]:
    """The objects of one dokumentbeskrivelse that go into the extract (see module doc), in id order."""
    latest_archived = max(
        (o.versjonsnummer for o in objects if o.variantformat == Variantformat.arkivformat.value), default=0
    )
    return sorted(
        (
            o
            for o in objects
            if not (o.variantformat == Variantformat.produksjonsformat.value and o.versjonsnummer <= latest_archived)
        ),
        key=lambda o: o.id,
    )


def extension(obj: StoredObject) -> str:
    suffix = _EXTENSION.sub("", Path(obj.filnavn).suffix.lower())[:10]
    if suffix:
        return suffix
    guessed = mimetypes.guess_extension((obj.mimeType or "").split(";")[0].strip()) or ".bin"
    return _EXTENSION.sub("", guessed.lower()) or "bin"


def extract_names(objects: Sequence[StoredObject]) -> dict[int, str]:
    """dokumentobjekt id → path relative to content/, for the selected objects of one dokumentbeskrivelse."""
    names: dict[int, str] = {}
    seen: dict[str, int] = {}
    for obj in objects:
        stem = (
            f"{obj.journalaar}-{obj.journalsekvensnummer:06d}-{obj.dokumentnummer:02d}"
            f"-v{obj.versjonsnummer}-{_VARIANT_CODE.get(obj.variantformat, 'X')}"
        )
        count = seen.get(stem, 0)
        seen[stem] = count + 1
        unique = stem if count == 0 else f"{stem}-{count + 1}"
        names[obj.id] = f"{DOKUMENTER}/{obj.journalaar}/{unique}.{extension(obj)}"
    return names


# ---------------------------------------------------------------- formats


@dataclass(frozen=True, slots=True)
class FormatInfo:
    puid: str
    name: str
    version: str
    error: str


def _identify_batch(paths: list[str], day: date) -> list[FormatInfo]:
    """Runs in a worker process: fido on each file."""
    from noarkpipe.files.identify import identify

    results = []
    for path in paths:
        try:
            found = identify(Path(path), on=day)
        except Exception as exc:
            results.append(FormatInfo("", "", "", f"not identified: {exc}"))
            continue
        results.append(
            FormatInfo(found.puid or "", found.name, found.version, "" if found.accepted else NOT_ACCEPTED)
        )
    return results


@lru_cache(maxsize=1)
def _listed_names() -> dict[str, tuple[str, str]]:
    """PUID → (name, version) from the depot's list of archival formats shipped with noarkpipe."""
    text = resources.files("noarkpipe.files").joinpath("archive-file-formats.json").read_text(encoding="utf-8")
    return {
        puid: (entry.get("name", ""), entry.get("version", ""))
        for entry in json.loads(text)["file_formats"]
        for puid in entry["puid"]
    }


def _stored_puid(obj: StoredObject, day: date) -> FormatInfo | None:
    """The format a PRONOM id stored by the conversion stage names, without reading the file."""
    if not obj.format or not _PUID.match(obj.format):
        return None
    from noarkpipe.files.identify import is_accepted

    name, version = _listed_names().get(obj.format, ("", ""))
    return FormatInfo(obj.format, name, version, "" if is_accepted(obj.format, day) else NOT_ACCEPTED)


# A file waiting for its row: name, extension, sha256, source path, its format if already known.
_Queued = tuple[str, str, str, str, FormatInfo | None]


class FormatReport:
    """Writes documentfile-formatinfo.csv rows in the order files are added, identifying as it goes.

    `add` queues a file; rows are written when their result is in, in the
    order added, so the CSV is the same whatever the timing. With `identify`
    False the rows say the files were not identified.
    """

    def __init__(self, out: IO[str], *, identify: bool, day: date, expected: int) -> None:
        self._writer = csv.writer(out, lineterminator="\r\n")
        self._writer.writerow(FORMATINFO_HEADER)
        self._identify = identify
        self._day = day
        # Batches of queued files, with their result.
        self._pending: deque[tuple[list[_Queued], Future[list[FormatInfo]] | list[FormatInfo]]] = deque()
        self._batch: list[_Queued] = []
        self._cache: OrderedDict[str, FormatInfo] = OrderedDict()
        self._pool: ProcessPoolExecutor | None = None
        if identify and expected >= _POOL_THRESHOLD:
            workers = max(1, (os.cpu_count() or 2) - 1)
            self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        self.not_accepted = 0

    def add(self, name: str, obj: StoredObject, source: Path) -> None:
        ext = name.rsplit(".", 1)[-1]
        if not self._identify:
            self._emit(name, ext, FormatInfo("", "", "", "not identified (export run without format identification)"))
            return
        known = _stored_puid(obj, self._day) or self._cache.get(obj.sjekksum)
        if known is not None and not self._batch and not self._pending:
            self._emit(name, ext, known)
            return
        self._batch.append((name, ext, obj.sjekksum, str(source), known))
        if len(self._batch) >= _BATCH:
            self._submit()
        self._drain(block=False)

    def _submit(self) -> None:
        batch, self._batch = self._batch, []
        unknown = [source for _, _, sha, source, known in batch if known is None]
        result: Future[list[FormatInfo]] | list[FormatInfo]
        if self._pool is not None and unknown:
            result = self._pool.submit(_identify_batch, unknown, self._day)
        else:
            result = _identify_batch(unknown, self._day) if unknown else []
        self._pending.append((batch, result))
        # Bound what waits: the writer must not run ahead of identification by more than this.
        while len(self._pending) > 64:
            self._drain(block=True, one=True)

    def _drain(self, *, block: bool, one: bool = False) -> None:
        while self._pending:
            batch, result = self._pending[0]
            if isinstance(result, Future):
                if not block and not result.done():
                    return
                result = result.result()
            self._pending.popleft()
            found = iter(result)
            for name, ext, sha, _source, known in batch:
                info = known or next(found)
                if known is None:
                    self._cache[sha] = info
                    if len(self._cache) > _CACHE_SIZE:
                        self._cache.popitem(last=False)
                self._emit(name, ext, info)
            if one:
                return

    def _emit(self, name: str, ext: str, info: FormatInfo) -> None:
        self.not_accepted += info.error == NOT_ACCEPTED
        self._writer.writerow((name, ext, info.puid, info.name, info.version, info.error))

    def finish(self) -> None:
        if self._batch:
            self._submit()
        self._drain(block=True)
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


