"""The run report: what one night did, for the archivists in the morning and for IT.

Written after every run to data_dir/reports/run-NNNNNN.json (for programs)
and .html (one self-contained page: inline style and inline SVG charts, no
scripts, no external resources, so it can be mailed, attached or archived as
is). It holds, per arkivskaper, what was journaled by class, what waits in
the review queue (this run's items and the queue as a whole), the documents
journaled without an archival copy and why, what was quarantined and why, duplicates, mailbox problems, and how long each stage of
the loop took.

The report is an internal document, but it is mailed: titles of screened
journalposts are shown as their offentligTittel, and identity numbers in file
names and reasons are masked.
"""

from __future__ import annotations

import html
import os
import socket
import tempfile
from collections import Counter
from datetime import date, datetime
from pathlib import Path

from pydantic import BaseModel, Field
from sqlalchemy import func, select

from noarkpipe import __version__
from noarkpipe.clock import LOCAL_TIME
from noarkpipe.config import Settings
from noarkpipe.core.codes import Journalstatus
from noarkpipe.errors import ExitCode
from noarkpipe.ops.redact import mask_identity_numbers
from noarkpipe.run.results import MailboxResult, Outcome, RunSummary
from noarkpipe.run.timing import StageTime
from noarkpipe.store import tables
from noarkpipe.store.engine import Store

FILE_MODE = 0o640

STAGE_LABELS = {
    "fetch": "fetch mail",
    "claim": "claim inbox files",
    "parse": "parse",
    "store": "store documents",
    "convert": "archival copies",
    "journal": "classify and journal",
    "file": "file",
    "quarantine": "quarantine",
    "dispose": "clear mailboxes",
}


class ReportItem(BaseModel):
    arkivskaper: str
    item: str = Field(description="the inbox file name (and letter number for scan batches)")
    outcome: Outcome
    journalpost: str | None = None
    saksmappe: str | None = None
    journalstatus: str | None = None
    klasse: str | None = None
    klasse_tittel: str | None = None
    tittel: str | None = Field(default=None, description="offentligTittel when the journalpost is screened")
    reason: str | None = None
    quarantine_path: str | None = None
    archival_gaps: list[str] = Field(
        default_factory=list, description="'file name: reason' per document kept without an archival copy"
    )


class ClassCount(BaseModel):
    klasse: str
    tittel: str
    journaled: int = 0
    needs_review: int = 0


class CreatorReport(BaseModel):
    kode: str
    navn: str
    journaled: int = 0
    needs_review: int = 0
    quarantined: int = 0
    duplicates: int = 0
    by_klasse: list[ClassCount] = Field(default_factory=list)
    review_queue: int = Field(default=0, description="all items waiting for review now, from any run")
    oldest_in_review: date | None = None


class RunReport(BaseModel):
    run_id: int
    started_at: datetime
    finished_at: datetime | None
    duration_s: float | None
    outcome: str
    exit_code: int
    exit_name: str
    host: str
    version: str
    journaled: int
    needs_review: int
    quarantined: int
    duplicates: int
    documents_without_archival_copy: int = Field(
        default=0, description="documents journaled as received without an archival copy (their journalposts wait in review)"
    )
    creators: list[CreatorReport]
    registered: list[ReportItem] = Field(description="journaled and review items of this run, in order")
    quarantine: list[ReportItem]
    duplicate_items: list[ReportItem]
    mailboxes: list[MailboxResult]
    stages: dict[str, StageTime]
    notes: list[str] = Field(default_factory=list)
    mail: str | None = Field(default=None, description="to whom the report was mailed, or why not")


def build_report(settings: Settings, store: Store, summary: RunSummary, exit_code: ExitCode) -> RunReport:
    """Gather the report from the run's summary and the store (classes, the review queue)."""
    registered = [i for i in summary.items if i.outcome in (Outcome.journaled, Outcome.needs_review)]
    with store.read() as session:
        ids = dict(session.execute(select(tables.Arkivskaper.arkivskaperID, tables.Arkivskaper.id)).all())
        posts = _journalposts(session, registered, ids)
        creators = []
        for creator in settings.arkivskaper:
            queue, oldest = (0, None)
            if creator.kode in ids:
                queue, oldest = session.execute(
                    select(func.count(), func.min(tables.Journalpost.journaldato))
                    .where(tables.Journalpost.arkivskaper_id == ids[creator.kode])
                    .where(tables.Journalpost.journalstatus == Journalstatus.midlertidig_registrering.value)
                ).one()
            creators.append(
                CreatorReport(
                    kode=creator.kode,
                    navn=creator.navn,
                    journaled=summary.count(Outcome.journaled, creator.kode),
                    needs_review=summary.count(Outcome.needs_review, creator.kode),
                    quarantined=summary.count(Outcome.quarantined, creator.kode),
                    duplicates=summary.count(Outcome.duplicate, creator.kode),
                    review_queue=queue or 0,
                    oldest_in_review=oldest,
                )
            )

    items = [_report_item(i, posts.get((i.arkivskaper, i.journalpost))) for i in registered]
    for creator in creators:
        counts: dict[str, ClassCount] = {}
        for item in items:
            if item.arkivskaper != creator.kode or item.klasse is None:
                continue
            entry = counts.setdefault(item.klasse, ClassCount(klasse=item.klasse, tittel=item.klasse_tittel or ""))
            if item.outcome is Outcome.journaled:
                entry.journaled += 1
            else:
                entry.needs_review += 1
        creator.by_klasse = sorted(counts.values(), key=lambda c: (-(c.journaled + c.needs_review), c.klasse))

    duration = (summary.finished_at - summary.started_at).total_seconds() if summary.finished_at else None
    return RunReport(
        run_id=summary.run_id,
        started_at=summary.started_at,
        finished_at=summary.finished_at,
        duration_s=round(duration, 3) if duration is not None else None,
        outcome="stopped" if summary.stopped_early else "completed",
        exit_code=int(exit_code),
        exit_name=exit_code.name,
        host=socket.gethostname(),
        version=__version__,
        journaled=summary.journaled,
        needs_review=summary.needs_review,
        quarantined=summary.quarantined,
        duplicates=summary.duplicates,
        documents_without_archival_copy=summary.documents_without_archival_copy,
        creators=creators,
        registered=items,
        quarantine=[_report_item(i, None) for i in summary.items if i.outcome is Outcome.quarantined],
        duplicate_items=[_report_item(i, None) for i in summary.items if i.outcome is Outcome.duplicate],
        mailboxes=[
            m.model_copy(update={"errors": [mask_identity_numbers(e) for e in m.errors]}) for m in summary.mailboxes
        ],
        stages=summary.stages,
        notes=[mask_identity_numbers(n) for n in summary.notes],
    )


def _journalposts(session, items, ids: dict[str, int]) -> dict[tuple[str, str], tuple]:
    """(kode, 'år/nr') -> (klasseID, klasse tittel, shown title) for the run's journalposts."""
    wanted = {(i.arkivskaper, i.journalpost) for i in items if i.journalpost and i.arkivskaper in ids}
    if not wanted:
        return {}
    numbers = [tuple(int(part) for part in number.split("/")) for _kode, number in wanted]
    rows = session.execute(
        select(
            tables.Journalpost.arkivskaper_id,
            tables.Journalpost.journalaar,
            tables.Journalpost.journalsekvensnummer,
            tables.Journalpost.tittel,
            tables.Journalpost.offentligTittel,
            tables.Journalpost.tilgangsrestriksjon,
            tables.Klasse.klasseID,
            tables.Klasse.tittel,
        )
        .join(tables.Saksmappe, tables.Saksmappe.id == tables.Journalpost.saksmappe_id)
        .join(tables.Klasse, tables.Klasse.id == tables.Saksmappe.klasse_id)
        .where(tables.Journalpost.arkivskaper_id.in_({ids[kode] for kode, _ in wanted}))
        .where(tables.Journalpost.journalaar.in_({year for year, _ in numbers}))
        .where(tables.Journalpost.journalsekvensnummer.in_({seq for _, seq in numbers}))
    ).all()
    kode_of = {id_: kode for kode, id_ in ids.items()}
    found = {}
    for arkivskaper_id, year, seq, tittel, offentlig, restriksjon, klasse, klasse_tittel in rows:
        key = (kode_of[arkivskaper_id], f"{year}/{seq}")
        if key in wanted:
            shown = (offentlig or "*****") if restriksjon else tittel
            found[key] = (klasse, klasse_tittel, shown)
    return found


def _report_item(result, post: tuple | None) -> ReportItem:
    klasse, klasse_tittel, tittel = post or (None, None, None)
    masked = mask_identity_numbers
    return ReportItem(
        arkivskaper=result.arkivskaper,
        item=masked(result.origin_name),
        outcome=result.outcome,
        journalpost=result.journalpost,
        saksmappe=result.saksmappe,
        journalstatus=result.journalstatus,
        klasse=klasse,
        klasse_tittel=klasse_tittel,
        tittel=masked(tittel) if tittel else None,
        reason=masked(result.reason) if result.reason else None,
        quarantine_path=masked(result.quarantine_path) if result.quarantine_path else None,
        archival_gaps=[masked(f"{gap.document}: {gap.reason}") for gap in result.archival_gaps],
    )


def report_paths(folder: Path, run_id: int) -> tuple[Path, Path]:
    return folder / f"run-{run_id:06d}.json", folder / f"run-{run_id:06d}.html"


def write_report(report: RunReport, folder: Path) -> tuple[Path, Path]:
    """Write the JSON and HTML report atomically (a reader never sees half a file)."""
    json_path, html_path = report_paths(folder, report.run_id)
    _write_atomically(json_path, report.model_dump_json(indent=2))
    _write_atomically(html_path, render_html(report))
    return json_path, html_path


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# ---- HTML ------------------------------------------------------------------------------------

_COLOURS = {
    Outcome.journaled: "#2e7d32",
    Outcome.needs_review: "#e0a100",
    Outcome.quarantined: "#c62828",
    Outcome.duplicate: "#9e9e9e",
}
_OUTCOME_LABELS = {
    Outcome.journaled: "journaled",
    Outcome.needs_review: "needs review",
    Outcome.quarantined: "quarantined",
    Outcome.duplicate: "duplicate",
}

_STYLE = """
body{font-family:"DejaVu Sans",Arial,sans-serif;margin:2em auto;max-width:62em;color:#1d1d1d;line-height:1.4;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #ccc}
.meta{color:#555}.ok{color:#2e7d32}.problem{color:#c62828;font-weight:bold}
table{border-collapse:collapse;width:100%;margin:.5em 0;font-size:.92em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f2f2f2}td.n{text-align:right;font-variant-numeric:tabular-nums}
.totals span{display:inline-block;margin-right:1.5em}
svg text{font-family:"DejaVu Sans",Arial,sans-serif;font-size:12px}
"""


def _e(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def render_html(report: RunReport) -> str:
    verdict = (
        f'<span class="ok">{_e(report.exit_name)} (exit code {report.exit_code})</span>'
        if report.exit_code == 0
        else f'<span class="problem">{_e(report.exit_name)} (exit code {report.exit_code})</span>'
    )
    started = f"{report.started_at.astimezone(LOCAL_TIME):%d.%m.%Y %H:%M:%S} (Norwegian time)"
    duration = f"{report.duration_s:.1f} s" if report.duration_s is not None else "-"
    parts = [
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        f"<title>noarkpipe run {report.run_id}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n",
        f"<h1>noarkpipe run {report.run_id}</h1>\n",
        f'<p class="meta">Started {_e(started)} on {_e(report.host)}, took {_e(duration)}; '
        f"{_e(report.outcome)}: {verdict}. noarkpipe {_e(report.version)}.</p>\n",
        '<p class="totals">'
        + "".join(
            f"<span><strong>{n}</strong> {_e(label)}</span>"
            for n, label in (
                (report.journaled, "journaled"),
                (report.needs_review, "need review"),
                (report.quarantined, "quarantined"),
                (report.duplicates, "duplicates"),
            )
        )
        + "</p>\n",
    ]
    if report.notes or any(m.errors for m in report.mailboxes):
        parts.append("<h2>Problems</h2>\n<ul>\n")
        parts += [f'<li class="problem">{_e(n)}</li>\n' for n in report.notes]
        parts += [
            f'<li class="problem">{_e(m.arkivskaper)}: mailbox {_e(m.mailbox)} not read: {_e(e)}</li>\n'
            for m in report.mailboxes
            for e in m.errors
        ]
        parts.append("</ul>\n")
    parts += ["<h2>Per arkivskaper</h2>\n", _outcome_chart(report.creators), _creator_table(report.creators)]
    for creator in report.creators:
        if creator.by_klasse:
            parts.append(f"<h2>{_e(creator.navn)}: journaled by class</h2>\n")
            parts.append(
                _table(
                    ["klasse", "tittel", "journaled", "needs review"],
                    [[c.klasse, c.tittel, c.journaled, c.needs_review] for c in creator.by_klasse],
                    numeric={2, 3},
                )
            )
    review = [i for i in report.registered if i.outcome is Outcome.needs_review]
    parts.append(f"<h2>Review queue: {len(review)} new tonight</h2>\n")
    waiting = ", ".join(
        f"{c.navn} {c.review_queue}" + (f" (oldest {c.oldest_in_review:%d.%m.%Y})" if c.oldest_in_review else "")
        for c in report.creators
    )
    parts.append(f"<p>Waiting in all: {_e(waiting)}. Work it with <code>noarkpipe review list</code>.</p>\n")
    if review:
        parts.append(
            _table(
                ["arkivskaper", "journalpost", "file", "tittel", "klasse", "why"],
                [[i.arkivskaper, i.journalpost, i.item, i.tittel, i.klasse, i.reason] for i in review],
            )
        )
    gaps = [(i, gap) for i in report.registered for gap in i.archival_gaps]
    parts.append(f"<h2>Documents without an archival copy: {len(gaps)}</h2>\n")
    if gaps:
        parts.append(
            "<p>Journaled as received (Produksjonsformat only); their journalposts wait in the review queue: "
            "approve with <code>--accept-gap</code>, <code>drop-part</code> or <code>replace-part</code>.</p>\n"
        )
        parts.append(
            _table(
                ["arkivskaper", "journalpost", "file", "document and reason"],
                [[i.arkivskaper, i.journalpost, i.item, gap] for i, gap in gaps],
            )
        )
    parts.append(f"<h2>Quarantined: {len(report.quarantine)}</h2>\n")
    if report.quarantine:
        parts.append(
            _table(
                ["arkivskaper", "file", "reason", "kept at"],
                [[i.arkivskaper, i.item, i.reason, i.quarantine_path] for i in report.quarantine],
            )
        )
    journaled = [i for i in report.registered if i.outcome is Outcome.journaled]
    parts.append(f"<h2>Journaled: {len(journaled)}</h2>\n")
    if journaled:
        parts.append(
            _table(
                ["arkivskaper", "journalpost", "saksmappe", "file", "tittel", "klasse"],
                [[i.arkivskaper, i.journalpost, i.saksmappe, i.item, i.tittel, i.klasse] for i in journaled],
            )
        )
    if report.duplicate_items:
        parts.append(f"<h2>Duplicates: {len(report.duplicate_items)}</h2>\n")
        parts.append(
            _table(["arkivskaper", "file", "already"], [[i.arkivskaper, i.item, i.journalpost] for i in report.duplicate_items])
        )
    if report.mailboxes:
        parts.append("<h2>Mailboxes</h2>\n")
        parts.append(
            _table(
                ["arkivskaper", "mailbox", "fetched", "cleared", "problems"],
                [[m.arkivskaper, m.mailbox, m.fetched, m.disposed, "; ".join(m.errors)] for m in report.mailboxes],
                numeric={2, 3},
            )
        )
    if report.stages:
        parts += ["<h2>Time per stage</h2>\n", _stage_chart(report.stages)]
    parts.append("</body>\n</html>\n")
    return "".join(parts)


def _table(headers: list[str], rows: list[list], numeric: set[int] = frozenset()) -> str:
    head = "".join(f'<th scope="col">{_e(h)}</th>' for h in headers)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="n">{_e(v)}</td>' if n in numeric else f"<td>{_e(v)}</td>" for n, v in enumerate(row))
        + "</tr>\n"
        for row in rows
    )
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>\n"


def _creator_table(creators: list[CreatorReport]) -> str:
    return _table(
        ["arkivskaper", "journaled", "needs review", "quarantined", "duplicates", "review queue now"],
        [[c.navn, c.journaled, c.needs_review, c.quarantined, c.duplicates, c.review_queue] for c in creators],
        numeric={1, 2, 3, 4, 5},
    )


def _outcome_chart(creators: list[CreatorReport]) -> str:
    """One stacked horizontal bar per arkivskaper: journaled, review, quarantined, duplicates."""
    label_width, bar_width, row = 170, 420, 26
    largest = max((c.journaled + c.needs_review + c.quarantined + c.duplicates for c in creators), default=0)
    height = row * len(creators) + 30
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_width + bar_width + 60}" height="{height}" '
        f'role="img" aria-label="Outcomes per arkivskaper">\n'
    ]
    for n, creator in enumerate(creators):
        y = n * row
        out.append(f'<text x="0" y="{y + 16}">{_e(creator.navn[:26])}</text>\n')
        x = float(label_width)
        counts = Counter(
            {
                Outcome.journaled: creator.journaled,
                Outcome.needs_review: creator.needs_review,
                Outcome.quarantined: creator.quarantined,
                Outcome.duplicate: creator.duplicates,
            }
        )
        for outcome in _COLOURS:
            if counts[outcome] and largest:
                width = bar_width * counts[outcome] / largest
                out.append(
                    f'<rect x="{x:.1f}" y="{y + 4}" width="{width:.1f}" height="16" fill="{_COLOURS[outcome]}">'
                    f"<title>{_OUTCOME_LABELS[outcome]}: {counts[outcome]}</title></rect>\n"
                )
                x += width
        out.append(f'<text x="{x + 6:.1f}" y="{y + 16}">{sum(counts.values())}</text>\n')
    legend_y = row * len(creators) + 20
    x = label_width
    for outcome, colour in _COLOURS.items():
        out.append(f'<rect x="{x}" y="{legend_y - 10}" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{x + 14}" y="{legend_y}">{_OUTCOME_LABELS[outcome]}</text>\n')
        x += 110
    out.append("</svg>\n")
    return "".join(out)


def _stage_chart(stages: dict[str, StageTime]) -> str:
    """Horizontal bars: seconds spent in each stage, with how often it ran."""
    label_width, bar_width, row = 170, 380, 24
    largest = max((t.seconds for t in stages.values()), default=0.0) or 1.0
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_width + bar_width + 130}" '
        f'height="{row * len(stages) + 6}" role="img" aria-label="Seconds per stage">\n'
    ]
    for n, (name, total) in enumerate(stages.items()):
        y = n * row
        width = max(bar_width * total.seconds / largest, 1.0)
        out.append(f'<text x="0" y="{y + 15}">{_e(STAGE_LABELS.get(name, name))}</text>\n')
        out.append(f'<rect x="{label_width}" y="{y + 3}" width="{width:.1f}" height="15" fill="#1565c0"/>\n')
        out.append(
            f'<text x="{label_width + width + 6:.1f}" y="{y + 15}">{total.seconds:.2f} s ({total.count}×)</text>\n'
        )
    out.append("</svg>\n")
    return "".join(out)
