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

The HTML page and the mail's text are in bokmål or English: the
installation's `[noarkpipe] lang`, else the run's locale (`core.language`),
chosen when the report is built and kept as the JSON's `lang`. The words are
English in the code, marked `_()` (or `N_()` in the label tables) and
translated from `locale/nb.po`. What the report quotes stays as it was
written: the Noark terms (arkivskaper, journalpost, klasse), titles and file
names, the reasons and notes the run gave, the exit code's name. The JSON's
keys and values are the same in both languages, for programs.
"""

from __future__ import annotations

import html
import os
import socket
import tempfile
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

from pydantic import BaseModel, Field
from sqlalchemy import func, select

from noarkpipe import __version__
from noarkpipe.clock import LOCAL_TIME
from noarkpipe.config import Settings
from noarkpipe.core import language
from noarkpipe.core.codes import Journalstatus
from noarkpipe.core.language import N_, Language
from noarkpipe.errors import ExitCode
from noarkpipe.ops.redact import mask_identity_numbers
from noarkpipe.run.results import MailboxResult, Outcome, RunSummary
from noarkpipe.run.timing import StageTime
from noarkpipe.store import tables
from noarkpipe.store.engine import Store

FILE_MODE = 0o640

CATALOG = "locale/{lang}.po"

STAGE_LABELS = {
    "fetch": N_("fetch mail"),
    "claim": N_("claim inbox files"),
    "parse": N_("parse"),
    "store": N_("store documents"),
    "convert": N_("archival copies"),
    "journal": N_("classify and journal"),
    "file": N_("file away"),
    "quarantine": N_("quarantine"),
    "dispose": N_("clear mailboxes"),
}
"""The stages of run/timing.py as the chart names them (English; translated where shown)."""


def translator(lang: Language) -> Callable[..., str]:
    """gettext for the report's words in `lang` (locale/nb.po of this package)."""
    return language.translator(__package__, CATALOG, lang)


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
    lang: Language = Field(
        default="en", description="the language of the HTML report and the mail: nb (bokmål) or en; the JSON is the same"
    )


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
        lang=language.choose(None, settings.lang, os.environ),
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
OUTCOME_LABELS = {
    Outcome.journaled: N_("journaled"),
    Outcome.needs_review: N_("needs review"),
    Outcome.quarantined: N_("quarantined"),
    Outcome.duplicate: N_("duplicate"),
}
RUN_OUTCOMES = {"completed": N_("completed"), "stopped": N_("stopped")}
"""The JSON's `outcome` token as a person reads it (translated where shown)."""

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


class _Html(str):
    """Markup made here (a <code>, a <span>), put into a translated sentence as it is."""


def _e(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _html_gettext(_: Callable[..., str]) -> Callable[..., str]:
    """`say(message, **values)`: the translated `message` as HTML, its words escaped, each value too unless _Html."""

    def say(message: str, **values) -> str:
        template = _e(_(message))
        if not values:
            return template
        return template % {key: value if isinstance(value, _Html) else _e(value) for key, value in values.items()}

    return say


def decimal(value: float, digits: int, lang: Language) -> str:
    """A number with the language's decimal mark: 12.5 in English, 12,5 in bokmål."""
    text = f"{value:.{digits}f}"
    return text.replace(".", ",") if lang == "nb" else text


def run_outcome(report: RunReport, _: Callable[..., str]) -> str:
    return _(RUN_OUTCOMES[report.outcome]) if report.outcome in RUN_OUTCOMES else report.outcome


def render_html(report: RunReport) -> str:
    """The report as one self-contained page, in the report's language."""
    _ = translator(report.lang)
    say = _html_gettext(_)
    exit_text = say("%(name)s (exit code %(code)s)", name=report.exit_name, code=report.exit_code)
    verdict = _Html(f'<span class="{"ok" if report.exit_code == 0 else "problem"}">{exit_text}</span>')
    started_at = report.started_at.astimezone(LOCAL_TIME).strftime("%d.%m.%Y %H:%M:%S")
    started = _("%(time)s (Norwegian time)", time=started_at)
    duration = f"{decimal(report.duration_s, 1, report.lang)} s" if report.duration_s is not None else "-"
    title = _e(_("noarkpipe run %(run)s", run=report.run_id))
    parts = [
        f'<!DOCTYPE html>\n<html lang="{_e(report.lang)}">\n<head>\n<meta charset="utf-8">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        f"<title>{title}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n",
        f"<h1>{title}</h1>\n",
        '<p class="meta">'
        + say("Started %(started)s on %(host)s, took %(duration)s; %(outcome)s: %(verdict)s.",
               started=started, host=report.host, duration=duration, outcome=run_outcome(report, _), verdict=verdict)
        + f" noarkpipe {_e(report.version)}.</p>\n",
        '<p class="totals">'
        + "".join(
            f"<span><strong>{n}</strong> {_e(_(label))}</span>"
            for n, label in (
                (report.journaled, N_("journaled")),
                (report.needs_review, N_("need review")),
                (report.quarantined, N_("quarantined")),
                (report.duplicates, N_("duplicates")),
            )
        )
        + "</p>\n",
    ]
    if report.notes or any(m.errors for m in report.mailboxes):
        parts.append("<h2>" + say("Problems") + "</h2>\n<ul>\n")
        parts += [f'<li class="problem">{_e(n)}</li>\n' for n in report.notes]
        parts += [
            '<li class="problem">'
            + say("%(arkivskaper)s: mailbox %(mailbox)s not read: %(error)s",
                   arkivskaper=m.arkivskaper, mailbox=m.mailbox, error=e)
            + "</li>\n"
            for m in report.mailboxes
            for e in m.errors
        ]
        parts.append("</ul>\n")
    parts += ["<h2>" + say("Per arkivskaper") + "</h2>\n", _outcome_chart(report.creators, _, say),
              _creator_table(report.creators, _)]
    for creator in report.creators:
        if creator.by_klasse:
            parts.append("<h2>" + say("%(navn)s: journaled by class", navn=creator.navn) + "</h2>\n")
            parts.append(
                _table(
                    ["klasse", "tittel", _("journaled"), _("needs review")],
                    [[c.klasse, c.tittel, c.journaled, c.needs_review] for c in creator.by_klasse],
                    numeric={2, 3},
                )
            )
    review = [i for i in report.registered if i.outcome is Outcome.needs_review]
    parts.append("<h2>" + say("Review queue: %(count)s new tonight", count=len(review)) + "</h2>\n")
    waiting = ", ".join(
        _("%(navn)s %(count)s (oldest %(date)s)", navn=c.navn, count=c.review_queue,
          date=c.oldest_in_review.strftime("%d.%m.%Y"))
        if c.oldest_in_review else f"{c.navn} {c.review_queue}"
        for c in report.creators
    )
    parts.append(
        "<p>" + say("Waiting in all: %(waiting)s. Work it with %(command)s.", waiting=waiting,
                     command=_Html("<code>noarkpipe review list</code>")) + "</p>\n"
    )
    if review:
        parts.append(
            _table(
                ["arkivskaper", "journalpost", _("file"), "tittel", "klasse", _("why")],
                [[i.arkivskaper, i.journalpost, i.item, i.tittel, i.klasse, i.reason] for i in review],
            )
        )
    gaps = [(i, gap) for i in report.registered for gap in i.archival_gaps]
    parts.append("<h2>" + say("Documents without an archival copy: %(count)s", count=len(gaps)) + "</h2>\n")
    if gaps:
        parts.append(
            "<p>"
            + say("Journaled as received (Produksjonsformat only); their journalposts wait in the review queue: "
                   "approve with %(accept_gap)s, %(drop_part)s or %(replace_part)s.",
                   accept_gap=_Html("<code>--accept-gap</code>"), drop_part=_Html("<code>drop-part</code>"),
                   replace_part=_Html("<code>replace-part</code>"))
            + "</p>\n"
        )
        parts.append(
            _table(
                ["arkivskaper", "journalpost", _("file"), _("document and reason")],
                [[i.arkivskaper, i.journalpost, i.item, gap] for i, gap in gaps],
            )
        )
    parts.append("<h2>" + say("Quarantined: %(count)s", count=len(report.quarantine)) + "</h2>\n")
    if report.quarantine:
        parts.append(
            _table(
                ["arkivskaper", _("file"), _("reason"), _("kept at")],
                [[i.arkivskaper, i.item, i.reason, i.quarantine_path] for i in report.quarantine],
            )
        )
    journaled = [i for i in report.registered if i.outcome is Outcome.journaled]
    parts.append("<h2>" + say("Journaled: %(count)s", count=len(journaled)) + "</h2>\n")
    if journaled:
        parts.append(
            _table(
                ["arkivskaper", "journalpost", "saksmappe", _("file"), "tittel", "klasse"],
                [[i.arkivskaper, i.journalpost, i.saksmappe, i.item, i.tittel, i.klasse] for i in journaled],
            )
        )
    if report.duplicate_items:
        parts.append("<h2>" + say("Duplicates: %(count)s", count=len(report.duplicate_items)) + "</h2>\n")
        parts.append(
            _table(["arkivskaper", _("file"), _("already")],
                   [[i.arkivskaper, i.item, i.journalpost] for i in report.duplicate_items])
        )
    if report.mailboxes:
        parts.append("<h2>" + say("Mailboxes") + "</h2>\n")
        parts.append(
            _table(
                ["arkivskaper", _("mailbox"), _("fetched"), _("cleared"), _("problems")],
                [[m.arkivskaper, m.mailbox, m.fetched, m.disposed, "; ".join(m.errors)] for m in report.mailboxes],
                numeric={2, 3},
            )
        )
    if report.stages:
        parts += ["<h2>" + say("Time per stage") + "</h2>\n", _stage_chart(report.stages, _, say, report.lang)]
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


def _creator_table(creators: list[CreatorReport], _: Callable[..., str]) -> str:
    return _table(
        ["arkivskaper", _("journaled"), _("needs review"), _("quarantined"), _("duplicates"), _("review queue now")],
        [[c.navn, c.journaled, c.needs_review, c.quarantined, c.duplicates, c.review_queue] for c in creators],
        numeric={1, 2, 3, 4, 5},
    )


def _outcome_chart(creators: list[CreatorReport], _: Callable[..., str], say: Callable[..., str]) -> str:
    """One stacked horizontal bar per arkivskaper: journaled, review, quarantined, duplicates."""
    label_width, bar_width, row = 170, 420, 26
    largest = max((c.journaled + c.needs_review + c.quarantined + c.duplicates for c in creators), default=0)
    height = row * len(creators) + 30
    labels = {outcome: _e(_(label)) for outcome, label in OUTCOME_LABELS.items()}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_width + bar_width + 60}" height="{height}" '
        'role="img" aria-label="' + say("Outcomes per arkivskaper") + '">\n'
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
                    f"<title>{labels[outcome]}: {counts[outcome]}</title></rect>\n"
                )
                x += width
        out.append(f'<text x="{x + 6:.1f}" y="{y + 16}">{sum(counts.values())}</text>\n')
    legend_y = row * len(creators) + 20
    x = label_width
    for outcome, colour in _COLOURS.items():
        out.append(f'<rect x="{x}" y="{legend_y - 10}" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{x + 14}" y="{legend_y}">{labels[outcome]}</text>\n')
        x += 110
    out.append("</svg>\n")
    return "".join(out)


def _stage_chart(stages: dict[str, StageTime], _: Callable[..., str], say: Callable[..., str], lang: Language) -> str:
    """Horizontal bars: seconds spent in each stage, with how often it ran."""
    label_width, bar_width, row = 200, 380, 24  # room for the longest label in either language
    largest = max((t.seconds for t in stages.values()), default=0.0) or 1.0
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_width + bar_width + 130}" '
        f'height="{row * len(stages) + 6}" role="img" aria-label="' + say("Seconds per stage") + '">\n'
    ]
    for n, (name, total) in enumerate(stages.items()):
        y = n * row
        width = max(bar_width * total.seconds / largest, 1.0)
        label = _(STAGE_LABELS[name]) if name in STAGE_LABELS else name
        out.append(f'<text x="0" y="{y + 15}">{_e(label)}</text>\n')
        out.append(f'<rect x="{label_width}" y="{y + 3}" width="{width:.1f}" height="15" fill="#1565c0"/>\n')
        out.append(
            f'<text x="{label_width + width + 6:.1f}" y="{y + 15}">{decimal(total.seconds, 2, lang)} s ({total.count}×)</text>\n'
        )
    out.append("</svg>\n")
    return "".join(out)
