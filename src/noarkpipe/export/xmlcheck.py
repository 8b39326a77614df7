"""Checking the XML an export writes: against the official schema, as a stream, counting as it goes.

Every XML file of a package is validated before the package is finished.
libxml2 validates against the schema while it parses (lxml's pull parser
with a schema), and the counted elements are cleared once read, so a
multi-gigabyte arkivstruktur.xml is checked in constant memory. The same
pass counts the elements, so the counts in arkivuttrekk.xml come from the
file actually written, not from what the writer believes it wrote.

Only the counted element kinds come back to Python (lxml's tag filter, in
C); the schema still checks every element. The big files are checked as
they are written (`StreamCheck`): the writer hands each chunk to a thread
that feeds the parser, and since lxml parses and validates without the GIL,
validation runs on the second core beside the writer instead of re-reading
the file afterwards. The SHA-256 for arkivuttrekk.xml is taken from the
same bytes.

A file that fails is reported with its schema problems; line numbers are
found by validating once more in memory when the file is small enough.
"""

from __future__ import annotations

import hashlib
import queue
import re
import threading
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from lxml import etree

from noarkpipe.errors import SchemaValidationError
from noarkpipe.xml.schemas import safe_parser, validation_problems, xml_schema

# The options of schemas.safe_parser(); the pull parser takes them directly.
_SAFE = {"resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": False}
_LOCATE_MAX_BYTES = 64 << 20
_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_CHUNK = 1 << 18
_QUEUED_CHUNKS = 32  # what the writer may run ahead of the validator: 8 MB


def xml_safe(text: str) -> str:
    """Text as XML 1.0 can carry it: characters it cannot hold (control characters) become spaces."""
    return _XML_ILLEGAL.sub(" ", text)


class _Counting:
    """A validating pull parser that counts (and clears) the element kinds asked for; every kind if None."""

    def __init__(self, schema: str, counted: Iterable[str] | None) -> None:
        tags = None if counted is None else [f"{{*}}{name}" for name in counted]
        self.parser = etree.XMLPullParser(events=("end",), tag=tags, schema=xml_schema(schema), **_SAFE)
        self.counts: Counter = Counter()
        self._local: dict[str, str] = {}

    def feed(self, data: bytes) -> None:
        self.parser.feed(data)
        self._take()

    def close(self) -> Counter:
        self.parser.close()
        self._take()
        return self.counts

    def _take(self) -> None:
        for _, element in self.parser.read_events():
            tag = element.tag
            local = self._local.get(tag)
            if local is None:
                local = self._local[tag] = etree.QName(tag).localname
            self.counts[local] += 1
            element.clear(keep_tail=True)
            parent = element.getparent()
            if parent is not None:
                while element.getprevious() is not None:
                    del parent[0]


def validate_and_count(path: Path, schema: str, counted: Iterable[str] | None = None) -> Counter:
    """Validate `path` against the shipped `schema` (e.g. 'noark5/v5.0/arkivstruktur.xsd') as a stream.

    Returns the number of each element in `counted` by local name (of every
    element if None). Raises SchemaValidationError.
    """
    check = _Counting(schema, counted)
    try:
        with open(path, "rb") as source:
            while chunk := source.read(_CHUNK):
                check.feed(chunk)
        return check.close()
    except etree.XMLSyntaxError as exc:
        raise SchemaValidationError(f"{schema} ({path.name})", _problems(path, schema, exc)) from None


class StreamCheck:
    """A binary file written through this object: hashed, and validated in a second thread as the bytes pass.

    `write` buffers, `finish` flushes, waits for the validator and returns
    (counts, sha256); it raises SchemaValidationError for an invalid file
    (the file is complete on disk by then, so the problems can be located).
    Leave the block with an exception and the thread is stopped.
    """

    def __init__(self, handle: BinaryIO, path: Path, schema: str, counted: Iterable[str] | None) -> None:
        self._handle = handle
        self._path = path
        self._schema = schema
        self._digest = hashlib.sha256()
        self._buffer = bytearray()
        self._chunks: queue.Queue[bytes | None] = queue.Queue(_QUEUED_CHUNKS)
        self._check = _Counting(schema, counted)
        self._error: etree.XMLSyntaxError | None = None
        self._counts: Counter | None = None
        self._thread = threading.Thread(target=self._validate, name=f"validate {path.name}", daemon=True)
        self._thread.start()

    def __enter__(self) -> StreamCheck:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if self._thread.is_alive():
            self._chunks.put(None)
            self._thread.join()

    def _validate(self) -> None:
        while (chunk := self._chunks.get()) is not None:
            if self._error is None:
                try:
                    self._check.feed(chunk)
                except etree.XMLSyntaxError as exc:
                    self._error = exc  # keep taking chunks, so the writer never blocks
        if self._error is None:
            try:
                self._counts = self._check.close()
            except etree.XMLSyntaxError as exc:
                self._error = exc

    def write(self, data: bytes | str) -> None:
        self._buffer += data.encode("utf-8") if isinstance(data, str) else data
        if len(self._buffer) >= _CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            chunk = bytes(self._buffer)
            self._buffer.clear()
            self._handle.write(chunk)
            self._digest.update(chunk)
            self._chunks.put(chunk)

    def finish(self) -> tuple[Counter, str]:
        self._flush()
        self._handle.flush()
        self._chunks.put(None)
        self._thread.join()
        if self._error is not None:
            raise SchemaValidationError(
                f"{self._schema} ({self._path.name})", _problems(self._path, self._schema, self._error)
            )
        return self._counts, self._digest.hexdigest()


def _problems(path: Path, schema: str, error: etree.XMLSyntaxError) -> list[str]:
    if path.stat().st_size <= _LOCATE_MAX_BYTES:
        try:
            located = validation_problems(etree.parse(str(path), safe_parser()), schema)
        except etree.XMLSyntaxError as exc:
            return [f"line {exc.lineno}: {exc.msg}"]
        if located:
            return located
    return list(dict.fromkeys(f"line {e.line}: {e.message}" for e in error.error_log)) or [f"line ?: {error}"]
