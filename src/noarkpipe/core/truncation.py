"""Whether a received PDF arrived whole: the one test the scan intake and the conversion both apply.

A transfer cut off on the way (an upload from the scan station, a mail
gateway giving up) leaves a PDF that libraries may still open and render in
part. Every complete PDF ends with the %%EOF marker, so its absence in the
last kilobyte is what both stages refuse the file for, before any parser is
asked.
"""

from __future__ import annotations

TAIL_BYTES = 1024
"""How much of the end of a file is read for the test."""


def looks_truncated_pdf(tail: bytes) -> bool:
    """True when the last KB of a PDF lacks the %%EOF marker every complete PDF ends with."""
    return b"%%EOF" not in tail[-TAIL_BYTES:]
