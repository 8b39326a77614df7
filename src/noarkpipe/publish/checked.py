"""How a public journal file is handed over: written aside, checked, and only then put in place.

The writers write to a temporary file, which is checked (offentligJournal.xml
against the official offentligJournal.xsd; every file for identity numbers,
`find_identity_numbers`, any spacing). Only a file that passes is moved into
place; otherwise it is deleted and `PublicJournalLeakError` /
`SchemaValidationError` is raised, so a failed run never leaves a leaking or
invalid file where a web server could serve it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, BinaryIO, TypeVar

from noarkpipe.classify.screening import ScreeningSecrets, assert_public_safe
from noarkpipe.core.identity import find_identity_numbers
from noarkpipe.errors import InvalidOutputError, PublicJournalLeakError
from noarkpipe.publish.rescreening import may_hold_number
from noarkpipe.publish.stored import clean

CHUNK = 1 << 16
_T = TypeVar("_T")


def publish_checked(
    out: BinaryIO | Path | str,
    write: Callable[[IO[bytes]], _T],
    check: Callable[[IO[bytes], str], object],
) -> _T:
    """Write to a temporary file, check it, and only then hand it over.

    A path gets the file by an atomic rename; a stream gets the checked bytes
    copied. Whatever fails on the way, the temporary file is removed, so there
    is never an unchecked public journal to serve.
    """
    if isinstance(out, (str, os.PathLike)):
        target = Path(out)
        temp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        try:
            with open(temp, "xb") as handle:
                result = write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            with open(temp, "rb") as handle:
                check(handle, target.name)
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
        return result
    with tempfile.TemporaryFile() as temp:
        result = write(temp)
        temp.seek(0)
        check(temp, getattr(out, "name", "output"))
        temp.seek(0)
        shutil.copyfileobj(temp, out)
    return result


def header_text(text: str) -> str:
    # Header values come from the configuration, not from mail, but are checked like everything else.
    text = clean(text) or ""
    assert_public_safe(text, ScreeningSecrets())
    return text


def identity_number_leaks(text: str | None, first_line: int) -> list[str]:
    """'<kind> on line N' for every identity number in the text; never the number."""
    if not may_hold_number(text):
        return []
    return [
        f"a {m.kind} on line {first_line + text.count(chr(10), 0, m.start)}"
        for m in find_identity_numbers(text)
    ]


def refusal(name: str, leaks: list[str]) -> PublicJournalLeakError:
    return PublicJournalLeakError(
        f"{name} would reveal screened information ({'; '.join(leaks[:5])}): nothing was published",
        hint="this is a bug in noarkpipe's screening; report it and do not publish this period by hand",
    )


def copy_spooled(source: IO[bytes], target: IO[bytes], length: int) -> None:
    while length > 0:
        chunk = source.read(min(CHUNK, length))
        if not chunk:
            raise InvalidOutputError("the spool file of the public journal ended early")
        target.write(chunk)
        length -= len(chunk)

