"""Checking XML against a shipped schema as a stream: the one streaming validator.

Export (every XML file of a package) and the public journal (offentligJournal.xml,
before it is published) validate what they wrote here. libxml2 validates
against the schema while it parses (lxml's pull parser with a schema), and
each element handed back is cleared once the caller has read it, so a
multi-gigabyte arkivstruktur.xml is checked in constant memory. Only the
element kinds asked for come back to Python (lxml's tag filter, in C); the
schema still checks every element. `validate_and_count` counts them as it
goes, so the counts in arkivuttrekk.xml come from the file actually written,
not from what the writer believes it wrote.

The big files are checked as they are written (`StreamCheck`): the writer
hands each chunk to a thread that feeds the parser, and since lxml parses
and validates without the GIL, validation runs on the second core beside the
writer instead of re-reading the file afterwards. The SHA-256 for
arkivuttrekk.xml is taken from the same bytes.

A file that fails is reported with its schema problems; line numbers are
found by validating once more in memory when the file is small enough
(`schema_problems`).
"""

from __future__ import annotations

import hashlib
import os
import queue
import re
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, BinaryIO

from lxml import etree

from noarkpipe.errors import SchemaValidationError
from noarkpipe.xml.schemas import safe_parser, validation_problems, xml_schema

# The options of schemas.safe_parser(). That parser cannot check a file as a
# stream (lxml silently skips schema validation on a parser with a target),
# so the pull parser takes the same options directly.
_SAFE = {"resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": False}
_LOCATE_MAX_BYTES = 64 << 20
"""Beyond this size a schema error is reported without locating it again: that means loading the whole file."""
_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
CHUNK = 1 << 18
_QUEUED_CHUNKS = 32  # what the writer may run ahead of the validator: 8 MB


def xml_safe(text: str) -> str:
    """Text as XML 1.0 can carry it: characters it cannot hold (control characters) become spaces."""
    return _XML_ILLEGAL.sub(" ", text)


class SchemaStream:
    """A validating pull parser: bytes in, the ended elements of the kinds asked for (every kind if None) out.

    `feed` and `close` raise etree.XMLSyntaxError for a file that is not
    well-formed or not valid; the elements parsed before the error can still
    be read from `ended`.
    """

    def __init__(self, schema: str, kinds: Iterable[str] | None = None) -> None:
        self.schema = schema
        tags = None if kinds is None else [f"{{*}}{name}" for name in kinds]
        self._parser = etree.XMLPullParser(events=("end",), tag=tags, schema=xml_schema(schema), **_SAFE)

    def feed(self, data: bytes) -> None:
        self._parser.feed(data)

    def close(self) -> None:
        self._parser.close()

    def ended(self) -> Iterator[etree._Element]:
        """The elements ended since last asked; each is cleared, with what came before it, once the caller moves on."""
        for _, element in self._parser.read_events():
            yield element
            element.clear(keep_tail=True)
            parent = element.getparent()
            if parent is not None:
                while element.getprevious() is not None:
                    del parent[0]


class _Counting:
    """A SchemaStream that counts the element kinds asked for by local name."""

    def __init__(self, schema: str, counted: Iterable[str] | None) -> None:
        self.stream = SchemaStream(schema, counted)
        self.counts: Counter = Counter()
        self._local: dict[str, str] = {}

    def feed(self, data: bytes) -> None:
        self.stream.feed(data)
        self._take()

    def close(self) -> Counter:
        self.stream.close()
        self._take()
        return self.counts

    def _take(self) -> None:
        for element in self.stream.ended():
            tag = element.tag
            local = self._local.get(tag)
            if local is None:
                local = self._local[tag] = etree.QName(tag).localname
            self.counts[local] += 1


def validate_and_count(path: Path, schema: str, counted: Iterable[str] | None = None) -> Counter:
    """Validate `path` against the shipped `schema` (e.g. 'noark5/v5.0/arkivstruktur.xsd') as a stream.

    Returns the number of each element in `counted` by local name (of every
    element if None). Raises SchemaValidationError.
    """
    check = _Counting(schema, counted)
    try:
        with open(path, "rb") as source:
            while chunk := source.read(CHUNK):
                check.feed(chunk)
        return check.close()
    except etree.XMLSyntaxError as exc:
        raise SchemaValidationError(f"{schema} ({path.name})", schema_problems(path, schema, exc)) from None


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
        if len(self._buffer) >= CHUNK:
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
                f"{self._schema} ({self._path.name})", schema_problems(self._path, self._schema, self._error)
            )
        return self._counts, self._digest.hexdigest()


def schema_problems(source: Path | IO[bytes], schema: str, error: etree.XMLSyntaxError) -> list[str]:
    """Each problem of the file at `source` (a path, or a seekable stream) as 'line N: message'.

    Validation while streaming reports few line numbers, so a file small
    enough is validated once more in memory to find them.
    """
    if isinstance(source, Path):
        size, readable = source.stat().st_size, str(source)
    else:
        size, readable = source.seek(0, os.SEEK_END), source
        source.seek(0)
    if size <= _LOCATE_MAX_BYTES:
        try:
            located = validation_problems(etree.parse(readable, safe_parser()), schema)
        except etree.XMLSyntaxError as exc:
            return [f"line {exc.lineno}: {exc.msg}"]
        if located:
            return located
    return list(dict.fromkeys(f"line {e.line}: {e.message}" for e in error.error_log)) or [f"line ?: {error}"]
