"""Identity numbers out of operational output (logs, run reports, the report mail).

Those outputs are internal, but they travel: a log shipper, a mail to the
archivists over SMTP. A file name like "søknad 01019012345.pdf" or an
exception quoting a form field must not carry a fødselsnummer along, so every
string they hold passes through `mask_identity_numbers` on the way out.
"""

from __future__ import annotations

from noarkpipe.classify.screening import MASK
from noarkpipe.core.identity import find_identity_numbers


def mask_identity_numbers(text: str) -> str:
    """`text` with every Norwegian identity number (any spacing) replaced by *****."""
    spans = sorted((m.start, m.end) for m in find_identity_numbers(text))
    if not spans:
        return text
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    pieces, position = [], 0
    for start, end in merged:
        pieces += [text[position:start], MASK]
        position = end
    pieces.append(text[position:])
    return "".join(pieces)
