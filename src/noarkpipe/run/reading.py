"""Reading an item: the parse child's work, and what it read kept in the item's archival folder.

`parse_item` runs in the child process of `isolation.py`, which the run
stops at the [intake] limits; `parse_failure` says which limit it was. The
child hands nothing back but its status: what it read is written into the
item's archival folder (`workarea.archival_folder`), the documents' bytes
under RECEIVED, the main documents laid out of forwarded e-mails under
RENDERED (`rendered_path`), and their description as PARSED; the run reads it back
from there with its own checks (`read_parsed`). The same folder lets a run
that was killed after reading an item go on without reading it again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from pydantic import BaseModel

from noarkpipe.core.context import IntakeContext, IntakeLimits
from noarkpipe.core.submission import Source, Submission, SubmissionDocument
from noarkpipe.errors import InputFileError
from noarkpipe.run import isolation
from noarkpipe.store.docstore import sha256_file

RECEIVED = "received"
"""The folder in an item's archival folder that holds its documents as parsed, named by SHA-256."""
RENDERED = "rendered"
"""The folder in an item's archival folder that holds what intake laid out of a document, by its SHA-256 and name."""
PARSED = "parsed.json"
_EMPTY = hashlib.sha256(b"").hexdigest()


class ParsedItem(BaseModel):
    """An item as its intake source read it, kept in its archival folder so that a later run need not read it again.

    Reading again is not only slower (a scan batch is OCR'd), it may not give
    the same bytes (a scan's letters are new PDFs each time), which would
    make every archival copy again. The documents' bytes are in RECEIVED;
    `documents` gives each one's SHA-256, per submission.
    """

    source: Source
    submissions: list[Submission]
    documents: list[list[str]]


PARSE_LIMIT_HINT = (
    "the file is probably hostile or damaged; if it is an ordinary file, raise the limit under [intake] "
    "and put it back into the inbox"
)


def parse_item(claimed: Path, origin: str, context: IntakeContext, folder: Path) -> None:
    """Read the claimed item and keep what was read in its archival folder: the work of the parse child."""
    # The parsers and what they load (extract_msg, pikepdf, PDFium, Pillow) are for the child, which has them
    # from the fork server's preload (`nightly.PRELOAD`); the run's own process only reads back what it wrote.
    from noarkpipe.files import pdfstreams
    from noarkpipe.intake.dispatch import choose_parser
    from noarkpipe.intake.email import with_forwarded_main

    source, parse = choose_parser(claimed, origin)
    submissions = parse(claimed, context)
    if not submissions:
        raise InputFileError("nothing to journal was found in the file")
    # Every channel's forwarded e-mails laid out here, under the child's limits: conversion only typesets them.
    submissions = [
        s.model_copy(update={"documents": [with_forwarded_main(d, context) for d in s.documents]}) for s in submissions
    ]
    for submission in submissions:
        for document in submission.documents:
            # Every channel's PDFs, before a converter renders them (a scan's pages were measured while read).
            if document.content.startswith(b"%PDF-") and source is not Source.scan:
                pdfstreams.require_bounded(
                    document.content, context.limits.max_decompressed_mb, f"document '{document.filename}'"
                )
    _keep_parsed(folder, source, submissions)


def parse_failure(outcome: isolation.ChildOutcome, limits: IntakeLimits) -> str:
    """Why reading an item gave nothing, naming the [intake] setting that stopped it."""
    if outcome.ending is isolation.Ending.timed_out:
        return f"reading the file took longer than max_parse_seconds = {limits.max_parse_seconds} ([intake]); it was stopped"
    memory = f"max_parse_memory_mb = {limits.max_parse_memory_mb} ([intake])"
    if outcome.ending is isolation.Ending.out_of_memory:
        return f"reading the file needed more memory than {memory}; it was stopped"
    if outcome.ending is isolation.Ending.died:
        how = f"signal {outcome.signal}" if outcome.signal else outcome.detail
        return f"the process reading the file died ({how}): a parser crash, or more memory than {memory}"
    return f"internal error: {outcome.detail}"


def _keep_parsed(folder: Path, source: Source, submissions: list[Submission]) -> ParsedItem:
    """Write the documents' bytes and the item's description into its archival folder; the description, bytes left out."""
    received = folder / RECEIVED
    received.mkdir(parents=True, exist_ok=True)
    documents, described = [], []
    for submission in submissions:
        blobs = []
        for document in submission.documents:
            blob = hashlib.sha256(document.content).hexdigest()
            if not (received / blob).exists():
                _write_atomically(received / blob, document.content)
            if document.rendered is not None:
                rendered = rendered_path(folder, blob, document.rendered)
                rendered.parent.mkdir(parents=True, exist_ok=True)
                _write_atomically(rendered, document.rendered.content)
            blobs.append(blob)
        documents.append(blobs)
        # The bytes are on disk now; the window of items in flight holds only their description.
        described.append(submission.model_copy(update={"documents": [_described(d) for d in submission.documents]}))
    parsed = ParsedItem(source=source, submissions=described, documents=documents)
    try:
        text = parsed.model_dump_json()
    except ValueError:
        # Text UTF-8 cannot hold (undecodable bytes in a name, kept as lone surrogates): JSON escapes keep it.
        text = json.dumps(parsed.model_dump(mode="json"), ensure_ascii=True)
    _write_atomically(folder / PARSED, text.encode("utf-8"))
    return parsed


def _described(document: SubmissionDocument) -> SubmissionDocument:
    """A document without its bytes, and without those of the main document laid out of it."""
    update: dict = {"content": b""}
    if document.rendered is not None:
        update["rendered"] = document.rendered.model_copy(update={"content": b""})
    return document.model_copy(update=update)


def rendered_path(folder: Path, blob: str, rendered: SubmissionDocument) -> Path:
    """Where `rendered`, the main document intake laid out of the document with bytes `blob`, is kept, under its name."""
    return folder / RENDERED / blob / rendered.filename


def read_parsed(folder: Path) -> ParsedItem | None:
    """The item as an earlier, interrupted run read it, if its description and every document are intact."""
    try:
        text = (folder / PARSED).read_bytes()
        try:
            parsed = ParsedItem.model_validate_json(text)
        except ValueError:
            parsed = ParsedItem.model_validate(json.loads(text))  # lone surrogates, escaped (see _keep_parsed)
    except (OSError, ValueError):
        return None
    for blob in {blob for blobs in parsed.documents for blob in blobs}:
        path = folder / RECEIVED / blob
        if not path.is_file() or sha256_file(path)[0] != blob:
            return None
    for submission, blobs in zip(parsed.submissions, parsed.documents):
        for document, blob in zip(submission.documents, blobs):
            if document.rendered is not None and not rendered_path(folder, blob, document.rendered).is_file():
                return None
            if (document.media_type == "message/rfc822" and document.rendered is None and not document.archival_gap
                    and blob != _EMPTY):
                return None  # read by a noarkpipe that left the laying out to conversion: read it again
    return parsed


def _write_atomically(path: Path, content: bytes) -> None:
    temporary = path.with_name(f".{path.name}.part")
    temporary.write_bytes(content)
    os.replace(temporary, path)
