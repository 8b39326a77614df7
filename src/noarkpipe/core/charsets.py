"""Text whose bytes arrive with a charset label that may lie: decoded the one way every stage shares.

Mail and documents from the wild say iso-8859-1 when they are really
windows-1252 (a superset of latin-1's printable range), or say nothing, or
name a charset no codec knows. The e-mail intake decodes its headers and text
parts with `decode_text`, and conversion re-encodes plain text and reads HTML
documents with it, so a document reads the same in the Submission and in its
archival copy.
"""

from __future__ import annotations

# Labels mislabelled in practice: windows-1252 is a superset of latin-1's printable range.
_CHARSET_ALIASES = {"iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252", "us-ascii": "cp1252", "ascii": "cp1252"}


def decode_text(payload: bytes, charset: str | None) -> str:
    """Bytes of a text part → str, trusting the declared charset only as far as it works."""
    candidates = []
    if charset:
        candidates.append(_CHARSET_ALIASES.get(charset.lower(), charset))
    candidates += ["utf-8", "cp1252"]
    for candidate in candidates:
        try:
            return payload.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("cp1252", "replace")
