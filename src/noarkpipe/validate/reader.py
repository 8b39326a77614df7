"""The reading process: every byte of the package read once, hashed, and its XML validated, beside the checks.

A validation has three kinds of work on the same bytes: SHA-256 of every
file (and of the whole tar), schema validation of the XML files, and the
content checks over the XML's entities. The first two are C (hashlib,
libxml2); the checks are Python and take the most time. Run in one process,
they share one core and the GIL (a hashing thread beside the checks was
measured to stall on the GIL's switch interval). So this module runs as a
child process of its own (`python -m noarkpipe.validate.reader`) on the
other core:

1. It reads the package once, front to back: a tar by member offset (the
   whole tar's SHA-256 over every byte, headers and padding included), a
   folder with the XML files to check first, in the order the engine asks
   for them, then every other file.
2. Every file's SHA-256 and size go to a scratch SQLite file (table `file`),
   which the engine attaches once reading is done.
3. Each XML file the engine walks is fed, block by block, to libxml2's
   streaming schema validator (an lxml parser with the official schema and
   an empty target, so no tree is built and the GIL is released while it
   parses), and the same blocks are forwarded to the engine on stdout, which
   streams them through the content checks (walker.py). Nothing is read
   twice: the engine never opens those files itself.
4. This process only answers *whether* a file is valid: it stops validating
   a file at its first schema error. The engine then reads that file again
   with the schema plugged into its own pass, which places every error on
   its line and element path (walker.place_schema_errors). Only invalid
   files pay for the second reading.

Protocol. The engine writes the job (JSON, see `Job`) to stdin. Forwarded
data are frames: a 4-byte little-endian signed length, then that many
bytes; length 0 ends a file, -1 says it could not be read (a 4-byte length
and the reason in UTF-8 follow). The bytes read so far are kept in the
first 8 bytes of the progress file, for the engine's progress bar. The
result (JSON: the tar's SHA-256, per XML file whether it was schema-valid
and well-formed, the bytes read, the peak memory) is written to the
result file at the end; exit code 0, or 3 when the tar could not be read
(the reason in the result's `error`).
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import sqlite3
import struct
import sys
from dataclasses import dataclass, field

from lxml import etree

READ_BLOCK = 1 << 20
FRAME = struct.Struct("<i")
END_OF_FILE = 0
UNREADABLE = -1
PIPE_BYTES = 1 << 20
_F_SETPIPE_SZ = 1031


@dataclass
class Job:
    """What the engine asks for: where the package and the scratch files are, and which XML to forward."""

    source: str
    tar: bool
    inventory: str
    hashes: str
    result: str
    progress: str
    xml: list[tuple[str, str | None]] = field(default_factory=list)
    """(member name, schema relative to schemas/ or None) of every XML file to forward, in walking order."""

    def to_json(self) -> str:
        return json.dumps(self.__dict__)


class _Null:
    """An lxml parser target with no callbacks: libxml2 parses and validates without building a tree."""

    def close(self) -> None:
        return None


class _Validity:
    """Whether one XML file is valid against its schema, found as its blocks stream past."""

    def __init__(self, relative: str | None) -> None:
        self.schema_errors = False
        self.fatal = False
        self._parser = None
        if relative is not None:
            from noarkpipe.xml.schemas import xml_schema

            self._parser = etree.XMLParser(schema=xml_schema(relative), target=_Null(), resolve_entities=False,
                                           no_network=True, load_dtd=False, huge_tree=False)

    def feed(self, block: bytes) -> None:
        if self._parser is None:
            return
        try:
            self._parser.feed(block)
        except etree.XMLSyntaxError:
            self._stop(fatal=True)
            return
        self._look()

    def close(self) -> dict[str, bool]:
        if self._parser is not None:
            try:
                self._parser.close()
            except etree.XMLSyntaxError:
                self._stop(fatal=True)
            else:
                self._look()
        return {"schema_errors": self.schema_errors, "fatal": self.fatal}

    def _look(self) -> None:
        assert self._parser is not None  # called only while the parser is fed
        log = self._parser.feed_error_log
        if len(log) and any(entry.domain_name == "SCHEMASV" for entry in log):
            self._stop(fatal=False)

    def _stop(self, fatal: bool) -> None:
        assert self._parser is not None  # called only while the parser is fed
        log = self._parser.feed_error_log
        self.schema_errors = self.schema_errors or any(entry.domain_name == "SCHEMASV" for entry in log)
        self.fatal = self.fatal or fatal
        self._parser = None  # the engine's own pass places the errors; nothing more to learn here


class Reader:
    def __init__(self, job: Job, out) -> None:
        self.job = job
        self.out = out
        self.done = 0
        self.forward = dict(job.xml)
        self.sent: set[str] = set()
        """A name the tar holds twice is forwarded once, its first member (the one the engine looks up)."""
        self.xml: dict[str, dict[str, bool]] = {}
        self.hashes = sqlite3.connect(job.hashes, isolation_level=None)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-8192"):
            self.hashes.execute(f"PRAGMA {pragma}")
        self.hashes.execute("CREATE TABLE IF NOT EXISTS file (name TEXT, size INTEGER, sha256 TEXT)")
        self.hashes.execute("BEGIN")
        self._rows: list[tuple] = []
        self._progress = os.open(job.progress, os.O_RDWR | os.O_CREAT, 0o600)

    # -- the two orders of reading --------------------------------------------------------

    def members(self, order: str):
        db = sqlite3.connect(self.job.inventory)
        try:
            yield from db.execute(
                f"SELECT name, size, offset, raw FROM member WHERE kind = 'file' AND problem = '' ORDER BY {order}")
        finally:
            db.close()

    def read_folder(self) -> None:
        by_name = {}
        for name, _size, _offset, raw in self.members("rowid"):
            if name in self.forward:
                by_name[name] = raw
        for name, _ in self.job.xml:
            if name in by_name:
                self._folder_file(name, by_name[name], forward=True)
        for name, _size, _offset, raw in self.members("rowid"):
            if name not in self.forward:
                self._folder_file(name, raw, forward=False)

    def _folder_file(self, name: str, raw: bytes | None, forward: bool) -> None:
        relative = os.fsdecode(raw) if raw is not None else name
        forwarded = forward
        validity = _Validity(self.forward[name]) if forwarded else None
        digest = hashlib.sha256()
        size = 0
        try:
            # O_NOFOLLOW and O_NONBLOCK as source.FolderSource.open: a link or FIFO swapped in is not followed
            descriptor = os.open(os.path.join(self.job.source, relative),
                                 os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
            with os.fdopen(descriptor, "rb", buffering=0) as stream:
                if not _is_regular(descriptor):
                    raise OSError(0, "no longer a regular file")
                os.set_blocking(descriptor, True)
                while block := stream.read(READ_BLOCK):
                    digest.update(block)
                    size += len(block)
                    self._read(len(block))
                    if validity is not None:
                        self._send(block)
                        validity.feed(block)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            self._row((name, -1, f"unreadable: {reason}"))
            if forwarded:
                self._unreadable(reason)
            return
        self._row((name, size, digest.hexdigest()))
        if validity is not None:
            self.xml[name] = validity.close()
            self._send_end()

    def read_tar(self) -> str:
        whole = hashlib.sha256()
        position = 0
        with open(self.job.source, "rb", buffering=0) as stream:

            def take(count: int, member_digest=None, validity: _Validity | None = None) -> int:
                nonlocal position
                taken = 0
                while taken < count:
                    block = stream.read(min(READ_BLOCK, count - taken))
                    if not block:
                        break
                    whole.update(block)
                    if member_digest is not None:
                        member_digest.update(block)
                    if validity is not None:
                        self._send(block)
                        validity.feed(block)
                    taken += len(block)
                    position += len(block)
                    self._read(len(block))
                return taken

            for name, size, offset, _raw in self.members("offset"):
                if offset < position:
                    continue
                take(offset - position)
                digest = hashlib.sha256()
                validity = None
                if name in self.forward and name not in self.sent:
                    self.sent.add(name)
                    validity = _Validity(self.forward[name])
                taken = take(size, digest, validity)
                self._row((name, taken, digest.hexdigest()))
                if validity is not None:
                    self.xml[name] = validity.close()
                    self._send_end()
            while take(READ_BLOCK):
                pass
        return whole.hexdigest()

    # -- output ---------------------------------------------------------------------------

    def _send(self, block: bytes) -> None:
        header = FRAME.pack(len(block))
        written = os.writev(self.out, [header, block])
        if written < len(header) + len(block):  # a pipe write cut short (a signal): send the rest
            self._write_all((header + block)[written:])

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.out, view):]

    def _send_end(self) -> None:
        self._write_all(FRAME.pack(END_OF_FILE))

    def _unreadable(self, reason: str) -> None:
        text = reason.encode("utf-8")
        self._write_all(FRAME.pack(UNREADABLE) + FRAME.pack(len(text)) + text)

    def _read(self, count: int) -> None:
        self.done += count
        os.pwrite(self._progress, struct.pack("<q", self.done), 0)

    def _row(self, row: tuple) -> None:
        self._rows.append(row)
        if len(self._rows) >= 5000:
            self.hashes.executemany("INSERT INTO file VALUES (?, ?, ?)", self._rows)
            self._rows.clear()

    def finish(self, tar_sha256: str | None, error: str | None = None) -> None:
        if self._rows:
            self.hashes.executemany("INSERT INTO file VALUES (?, ?, ?)", self._rows)
        self.hashes.execute("COMMIT")
        self.hashes.close()
        result = {"tar_sha256": tar_sha256, "xml": self.xml, "done": self.done, "error": error,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        with open(self.job.result, "w", encoding="utf-8") as target:
            json.dump(result, target)


def _is_regular(descriptor: int) -> bool:
    import stat

    return stat.S_ISREG(os.fstat(descriptor).st_mode)


def main() -> int:
    line = sys.stdin.buffer.readline()
    if not line:
        return 0  # the engine stopped before it had anything to read (no extract found, say)
    job = Job(**json.loads(line))
    out = sys.stdout.fileno()
    try:
        import fcntl

        fcntl.fcntl(out, _F_SETPIPE_SZ, PIPE_BYTES)  # let reading run a block ahead of the checks
    except OSError:
        pass
    reader = Reader(job, out)
    try:
        if job.tar:
            reader.finish(reader.read_tar())
        else:
            reader.read_folder()
            reader.finish(None)
    except BrokenPipeError:
        return 1  # the engine stopped listening (it failed or was interrupted): nothing to report to
    except OSError as exc:
        reader.finish(None, error=exc.strerror or str(exc))
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
