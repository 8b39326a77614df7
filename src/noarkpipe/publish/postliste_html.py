"""postliste.html: the public journal as one self-contained page (no scripts, no external resources).

Each text stands in a block of its own, and the finished page is scanned for
identity numbers, as written and with entities resolved, before
`checked.publish_checked` puts it in place.
"""

from __future__ import annotations

import html
import tempfile
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import IO, BinaryIO

from noarkpipe.classify.screening import MASK
from noarkpipe.core.codes import Journalposttype, Korrespondanseparttype
from noarkpipe.publish.checked import CHUNK, copy_spooled, header_text, identity_number_leaks, publish_checked, refusal
from noarkpipe.publish.entries import PublicEntry, PublicJournalHeader, PublicJournalSummary

# A number can be broken over a line break between any two of its digits; a
# scan window ends on a line boundary and the next starts this many lines back.
_SCAN_OVERLAP_LINES = 16

_TYPE_CODE = {
    Journalposttype.inngaaende_dokument: "I",
    Journalposttype.utgaaende_dokument: "U",
    Journalposttype.organinternt_dokument_for_oppfoelging: "N",
    Journalposttype.organinternt_dokument_uten_oppfoelging: "X",
    Journalposttype.saksframlegg: "S",
}
_MAIN_ROLES = {Korrespondanseparttype.avsender, Korrespondanseparttype.mottaker}

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
       margin: 1.5rem; color: #1a1a1a; line-height: 1.4; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
.skaper { font-size: 1.15rem; margin: 0; }
.periode, .oppsummering { margin: .25rem 0; }
.forklaring { color: #444; font-size: .9rem; max-width: 60rem; }
.tabell { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .95rem; }
th, td { text-align: left; vertical-align: top; padding: .4rem .5rem; border-bottom: 1px solid #ccc; }
thead th { background: #eef1f4; border-bottom: 2px solid #888; white-space: nowrap; }
td.tall { white-space: nowrap; }
.tittel { white-space: pre-line; font-weight: 600; }
.sak { color: #444; white-space: pre-line; }
.skjermet { display: inline-block; margin-top: .2rem; padding: 0 .35rem; border: 1px solid #a33;
            border-radius: .2rem; color: #a33; font-size: .85rem; }
.rolle { color: #555; }
@media print { body { margin: 0; } thead { display: table-header-group; } tr { break-inside: avoid; } }
"""


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _nb_date(value: date) -> str:
    return f"{value:%d.%m.%Y}"


def _html_row(entry: PublicEntry) -> str:
    marker = ""
    if entry.skjerming:
        hjemmel = entry.skjerming.skjermingshjemmel
        marker = f'<div class="skjermet">Skjermet{f" – {_e(hjemmel)}" if hjemmel else ""}</div>'
    # Each text in a block of its own: no two texts run together on screen
    # into something neither of them holds (the leak scan reads them apart).
    title = (
        f'<div class="tittel">{_e(entry.offentligTittel)}</div>'
        f'<div class="sak">Sak: {_e(entry.saksmappeOffentligTittel)}</div>{marker}'
    )
    parts = "".join(
        f"<div>{_e(p.korrespondansepartNavn)}"
        + (
            ""
            if p.korrespondanseparttype in _MAIN_ROLES
            else f' <span class="rolle">({_e(p.korrespondanseparttype)})</span>'
        )
        + "</div>"
        for p in entry.korrespondanseparter
    )
    code = _TYPE_CODE.get(entry.journalposttype)
    kind = f'<abbr title="{_e(entry.journalposttype)}">{code}</abbr>' if code else _e(entry.journalposttype)
    row_class = ' class="skjermet-rad"' if entry.skjermet else ""
    return (
        f'<tr{row_class}><td class="tall">{_nb_date(entry.journaldato)}</td>'
        f'<td class="tall">{_e(entry.journalnummer)}</td><td class="tall">{_e(entry.saksnummer)}</td>'
        f'<td class="tall">{entry.journalpostnummer}</td><td>{title}</td><td>{parts}</td><td>{kind}</td></tr>\n'
    )


def _html_head(header: PublicJournalHeader, summary: PublicJournalSummary) -> str:
    navn = _e(header_text(header.arkivskaperNavn))
    start, end = header.journalStartDato, header.journalSluttDato
    period = _nb_date(start) if start == end else f"{_nb_date(start)} – {_nb_date(end)}"
    noun = "journalpost" if summary.antall == 1 else "journalposter"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="nb">\n<head>\n<meta charset="utf-8">\n'
        # No scripts, no external resources: even injected markup could not run or call out.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>Offentlig journal – {navn} – {period}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f'<h1>Offentlig journal</h1>\n<p class="skaper">{navn}</p>\n'
        f'<p class="periode">Journaldato {period}</p>\n'
        f'<p class="oppsummering">{summary.antall} {noun}, {summary.skjermet} skjermet.</p>\n'
        f'<p class="forklaring">Opplysninger som er unntatt offentlighet, er erstattet med {MASK}. '
        "Skjermede journalposter er merket «Skjermet» med hjemmel. "
        "Type: I = inngående, U = utgående, N = organinternt for oppfølging, "
        "X = organinternt uten oppfølging, S = saksframlegg.</p>\n"
    )


_TABLE_HEAD = (
    '<div class="tabell"><table>\n<thead><tr><th scope="col">Journaldato</th><th scope="col">Journalnr.</th>'
    '<th scope="col">Saksnr.</th><th scope="col">Dok.nr.</th><th scope="col">Tittel</th>'
    '<th scope="col">Avsender/mottaker</th><th scope="col">Type</th></tr></thead>\n<tbody>\n'
)


def _write_html(
    entries: Iterable[PublicEntry], handle: IO[bytes], header: PublicJournalHeader
) -> PublicJournalSummary:
    # The summary comes before the rows: rows are spooled and counted first.
    with tempfile.TemporaryFile() as spool:
        antall = skjermet = 0
        for entry in entries:
            spool.write(_html_row(entry).encode("utf-8"))
            antall += 1
            skjermet += entry.skjermet
        summary = PublicJournalSummary(antall=antall, skjermet=skjermet)
        handle.write(_html_head(header, summary).encode("utf-8"))
        if antall:
            handle.write(_TABLE_HEAD.encode("utf-8"))
            length = spool.tell()
            spool.seek(0)
            copy_spooled(spool, handle, length)
            handle.write(b"</tbody>\n</table></div>\n")
        else:
            handle.write(b"<p>Ingen journalposter i perioden.</p>\n")
        handle.write(b"</body>\n</html>\n")
    return summary


def _check_html(stream: IO[bytes], name: str) -> None:
    """Scan the page for identity numbers, as written and with entities resolved.

    Read in windows of whole lines that overlap by a few lines, so a number
    broken over line breaks is seen whole.
    """
    window: list[str] = []
    first_line = 1
    size = 0
    for number, raw in enumerate(stream, start=1):
        line = raw.decode("utf-8")
        window.append(line)
        size += len(line)
        if size >= CHUNK:
            _scan_html_window(window, first_line, name)
            window = window[-_SCAN_OVERLAP_LINES:]
            first_line = number + 1 - len(window)
            size = sum(map(len, window))
    _scan_html_window(window, first_line, name)


def _scan_html_window(lines: list[str], first_line: int, name: str) -> None:
    text = "".join(lines)
    leaks = identity_number_leaks(text, first_line) + identity_number_leaks(html.unescape(text), first_line)
    if leaks:
        raise refusal(name, leaks)


def write_html(
    entries: Iterable[PublicEntry], out: BinaryIO | Path | str, *, header: PublicJournalHeader
) -> PublicJournalSummary:
    """Write the postliste as one self-contained HTML page (no scripts, no external resources).

    Checked for identity numbers before it is handed over, like `write_offentlig_journal`.
    """
    return publish_checked(out, lambda handle: _write_html(entries, handle, header), _check_html)


def check_public_html(path: Path | str) -> None:
    """Scan a written postliste page for identity numbers as `write_html` does."""
    with open(path, "rb") as stream:
        _check_html(stream, Path(path).name)
