"""The validation report as one self-contained HTML page, for people (and for attaching to a letter).

What a reader needs first comes first: the verdict (with the same
`VERDICT:` line scripts read), what was validated, the counts per
arkivdel a depot compares with the delivery, the charts, every check
with its Arkade 5 ids beside it, then the findings of each failed
check. The words are in the report's language (`report.lang`, texts/).

One file, no scripts, no external stylesheet, font or image, no URL at
all: the charts (registrations per year, formats found) are inline SVG
drawn here, so the page looks the same offline, printed, or years later
in a case file. Nothing depends on hovering or clicking: every figure a
chart shows is written on it, and the print stylesheet gives A4 pages,
table headers repeated on each page, no row or chart cut in two, and the
findings starting on a new page. Every value that comes from the package
(titles, paths, messages) is escaped: an extract is untrusted input, and
its text must not become markup.
"""

from __future__ import annotations

from html import escape
from math import ceil

from noarkpipe.validate.model import CheckResult, ValidationReport
from noarkpipe.validate.texts import Texts, texts, verdict_line, verdict_text

STYLE = """
body { font-family: "DejaVu Sans", Verdana, sans-serif; margin: 2em auto; max-width: 72em; color: #1d1d1d;
       line-height: 1.4; padding: 0 1em; font-variant-ligatures: none; }
.nowrap { white-space: nowrap; } .sub { display: block; font-size: .8em; color: #4b5563; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { font-size: 1.25em; margin-top: 2em;
  border-bottom: 1px solid #ccc; } h3 { font-size: 1.05em; margin-bottom: .3em; }
table { border-collapse: collapse; width: 100%; margin: .5em 0 1em; font-size: .92em; }
th, td { text-align: left; vertical-align: top; padding: .3em .5em; border-bottom: 1px solid #e3e3e3; }
th { background: #f3f3f3; } td.n, th.n { text-align: right; } td.n { white-space: nowrap; }
tr.total td { font-weight: bold; border-top: 2px solid #999; }
.verdict { font-size: 1.25em; padding: .6em 1em; border-radius: 4px; margin: .5em 0 .2em; border: 2px solid; }
.verdict-line { font-family: "DejaVu Sans Mono", monospace; font-size: .9em; margin: 0 0 1em; }
.ok { background: #e3f4e5; color: #14532d; } .bad { background: #fde8e8; color: #7f1d1d; }
.status-failed.sev-error { color: #b91c1c; font-weight: bold; } .status-failed.sev-warning { color: #a16207;
  font-weight: bold; } .status-passed { color: #15803d; } .status-not_run { color: #6b7280; }
.status-info { color: #1d4ed8; } code, .path { font-family: "DejaVu Sans Mono", monospace; font-size: .88em;
  overflow-wrap: anywhere; } .muted { color: #6b7280; } td.id, td.status { white-space: nowrap; }
table.details { table-layout: fixed; } table.details col.file { width: 17%; } table.details col.line { width: 5em; }
table.details col.element { width: 36%; }
td.arkade { min-width: 7.5em; } td.arkivdel { width: 32%; }
figure { margin: .5em 0 1.5em; } figcaption { font-size: .88em; color: #4b5563; }
svg.chart { display: block; max-width: 100%; height: auto; }
a { color: inherit; }
@page { size: A4; margin: 15mm 12mm; }
@media print {
  body { margin: 0; max-width: none; padding: 0; font-size: 9.5pt; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  h2, h3 { break-after: avoid; page-break-after: avoid; }
  tr, figure, .verdict { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  section.findings { break-before: page; page-break-before: always; }
  a { text-decoration: none; }
}
"""


def render(report: ValidationReport) -> str:
    words = texts(report.lang)
    parts = [
        f"<!DOCTYPE html>\n<html lang=\"{escape(report.lang)}\"><head><meta charset=\"utf-8\">",
        f"<title>{escape(words('title'))}: {escape(report.input)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(words('title'))}</h1><p class=\"path\">{escape(report.input)}</p>",
        f"<div class=\"verdict {'ok' if report.passed else 'bad'}\">{escape(verdict_text(report, words))}</div>",
        f"<p class=\"verdict-line\">{escape(verdict_line(report))}</p>",
        _overview(report, words),
        _arkivdeler(report, words),
        _charts(report, words),
        f"<h2>{escape(words('checks'))}</h2>",
        _summary_table(report.results, words),
        f"<section class=\"findings\"><h2>{escape(words('findings'))}</h2>",
    ]
    failed = [result for result in report.results if result.status == "failed"]
    if not failed:
        parts.append(f"<p>{escape(words('findings_none'))}</p>")
    for result in failed:
        parts.append(_details(result, words))
    parts.append(f"</section><p class=\"muted\">{escape(words('footer', tool=report.tool))}</p></body></html>\n")
    return "\n".join(parts)


def _row(cells: list[str], header: bool = False, numeric: tuple[int, ...] = (), css: str = "", first: str = "") -> str:
    """A table row; `numeric` cells are right-aligned, `first` is a class for the first cell."""
    tag = "th" if header else "td"

    def attributes(index: int) -> str:
        classes = ["n"] if index in numeric else []
        if index == 0 and first:
            classes.append(first)
        return f' class="{" ".join(classes)}"' if classes else ""

    body = "".join(f"<{tag}{attributes(index)}>{cell}</{tag}>" for index, cell in enumerate(cells))
    row_class = f' class="{css}"' if css else ""
    return f"<tr{row_class}>{body}</tr>"


def _overview(report: ValidationReport, words: Texts) -> str:
    version = report.version
    rows = [
        ("row_input", report.input),
        ("row_kind", words(f"kind_{report.input_kind}")),
        ("row_package_uuid", report.package_uuid or "–"),
        ("row_submission_description", report.submission_description or "–"),
        ("row_extract", report.content_root),
        ("row_version", f"{version.noark} (ADDML {version.addml})"),
        ("row_version_evidence", "; ".join(version.evidence)),
        ("row_files", words.number(report.files)),
        ("row_bytes_read", words.number(report.bytes_read)),
        ("row_started", report.started.isoformat(timespec="seconds")),
        ("row_duration", f"{words.decimal(report.seconds)} s"),
        ("row_tool", report.tool),
    ]
    if version.conflicts:
        rows.append(("row_version_conflicts", "; ".join(version.conflicts)))
    body = "".join(f"<tr><th>{escape(words(key))}</th><td>{escape(value)}</td></tr>" for key, value in rows)
    return f"<h2>{escape(words('overview'))}</h2><table>{body}</table>"


COUNT_COLUMNS = ("mapper", "registreringer", "dokumentbeskrivelser", "dokumentobjekter")


def _arkivdeler(report: ValidationReport, words: Texts) -> str:
    heading = f"<h2>{escape(words('arkivdeler'))}</h2>"
    if not report.arkivdeler:
        return heading + f"<p class=\"muted\">{escape(words('arkivdeler_none'))}</p>"
    numeric = tuple(range(3, 3 + len(COUNT_COLUMNS)))
    head = _row([escape(words(key)) for key in ("col_arkivdel", "col_arkivdelstatus", "col_period")]
                + [escape(words(f"col_{column}")) for column in COUNT_COLUMNS], header=True, numeric=numeric)
    rows = []
    for arkivdel in report.arkivdeler:
        # a systemID is 36 characters: under the title, not a column of its own that squeezes the figures
        title = (f"{escape(arkivdel.tittel)}<span class=\"sub path systemid\">{escape(words('col_systemid'))} "
                 f"{escape(arkivdel.systemID)}</span>")
        dates = [f"<span class=\"nowrap\">{escape(day)}</span>"
                 for day in (arkivdel.arkivperiodeStartDato, arkivdel.arkivperiodeSluttDato) if day]
        rows.append(_row([title, escape(arkivdel.arkivdelstatus), " – ".join(dates)]
                         + [words.number(getattr(arkivdel, column)) for column in COUNT_COLUMNS], numeric=numeric,
                         first="arkivdel"))
    if len(report.arkivdeler) > 1:
        totals = [words.number(sum(getattr(a, column) for a in report.arkivdeler)) for column in COUNT_COLUMNS]
        rows.append(_row([escape(words("total")), "", "", *totals], numeric=numeric, css="total"))
    return heading + f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def _summary_table(results: list[CheckResult], words: Texts) -> str:
    head = _row([escape(words(key)) for key in (
        "col_id", "col_arkade", "col_check", "col_severity", "col_result", "col_findings", "col_summary")],
        header=True, numeric=(5,))
    rows = []
    for result in results:
        css = f"status-{result.status} sev-{result.severity.value}"
        ident = escape(result.id)
        link = f"<a href=\"#{ident}\">{ident}</a>" if result.status == "failed" else ident
        rows.append(
            f"<tr><td class=\"id\">{link}</td><td class=\"arkade\">{escape(', '.join(result.arkade))}</td>"
            f"<td>{escape(result.name)}</td>"
            f"<td>{escape(words.severity(result.severity.value))}</td>"
            f"<td class=\"status {css}\">{escape(words.status(result.status))}</td>"
            f"<td class=\"n\">{words.number(result.count) if result.count else ''}</td>"
            f"<td>{escape(result.summary)}</td></tr>"
        )
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def _details(result: CheckResult, words: Texts) -> str:
    head = _row([escape(words(key)) for key in ("col_file", "col_line", "col_element", "col_finding")],
                header=True, numeric=(1,))
    rows = "".join(
        f"<tr><td class=\"path\">{escape(example.file)}</td><td class=\"n\">{example.line or ''}</td>"
        f"<td class=\"path\">{escape(example.path)}</td><td>{escape(example.message)}</td></tr>"
        for example in result.examples
    )
    shown = len(result.examples)
    tail = ""
    if result.count > shown:
        counted = words("findings_shown", shown=words.number(shown), total=words.number(result.count))
        tail = (f"<p class=\"muted\">{escape(counted)} "
                f"{escape(words('findings_more'))}</p>")
    arkade = f" · Arkade 5: {escape(', '.join(result.arkade))}" if result.arkade else ""
    return (
        f"<h3 id=\"{escape(result.id)}\">{escape(result.id)} {escape(result.name)} "
        f"<span class=\"status-failed sev-{result.severity.value}\">({escape(words.severity(result.severity.value))}, "
        f"{escape(words('summary_findings', count=result.count))}){arkade}</span></h3>"
        f"<p>{escape(result.description)}</p>"
        "<table class=\"details\"><colgroup><col class=\"file\"><col class=\"line\"><col class=\"element\"><col>"
        f"</colgroup><thead>{head}</thead><tbody>{rows}</tbody></table>{tail}"
    )


def _data(report: ValidationReport, check_id: str) -> dict:
    try:
        return report.result(check_id).data
    except KeyError:
        return {}


def _charts(report: ValidationReport, words: Texts) -> str:
    charts = []
    per_year = _data(report, "CNT-04").get("per_year") or {}
    years = {int(year): int(count) for year, count in per_year.items() if str(year).isdigit()}
    if years:
        undated = sum(int(count) for year, count in per_year.items() if not str(year).isdigit())
        # every year between the first and the last, so a gap in the registrations shows as a gap
        span = [(str(year), years.get(year, 0)) for year in range(min(years), max(years) + 1)]
        charts.append(_figure(words("chart_per_year"), column_chart(span, words("chart_per_year")),
                              words("chart_per_year_note", undated=undated) if undated else ""))
    formats = _data(report, "FMT-01").get("formats") or []
    if formats:
        bars = [(f"{entry.get('puid') or '?'} {entry.get('name', '')} {entry.get('version', '')}".strip(),
                 int(entry.get("files", 0)), bool(entry.get("accepted"))) for entry in formats[:15]]
        charts.append(_figure(words("chart_formats"), bar_chart(bars, words("chart_formats"),
                                                                words("chart_not_accepted")),
                              words("chart_formats_note")))
    return f"<h2>{escape(words('charts'))}</h2>" + "".join(charts) if charts else ""


def _figure(title: str, svg: str, note: str) -> str:
    caption = f"<figcaption>{escape(note)}</figcaption>" if note else ""
    return f"<figure><h3>{escape(title)}</h3>{svg}{caption}</figure>"


def column_chart(values: list[tuple[str, int]], label: str = "") -> str:
    """Vertical bars, one per (label, value), as inline SVG; the values are written on the bars.

    With many bars only every n-th label is written, so they never overlap;
    the SVG scales down to the page width (viewBox), so a long period still
    prints on one page.
    """
    width_each, height, top = 46, 160, max((value for _, value in values), default=1) or 1
    if len(values) > 24:
        width_each = 24
    width = max(len(values) * width_each + 20, 200)
    every = ceil(len(values) / 24)
    bars = []
    for index, (name, value) in enumerate(values):
        bar = round(height * value / top)
        x = 10 + index * width_each
        middle = x + (width_each - 6) / 2
        bars.append(f"<rect x=\"{x}\" y=\"{20 + height - bar}\" width=\"{width_each - 6}\" height=\"{bar}\" "
                    "fill=\"#2563eb\"/>")
        if value:
            bars.append(f"<text x=\"{middle}\" y=\"{14 + height - bar}\" font-size=\"{10 if width_each > 30 else 8}\" "
                        f"text-anchor=\"middle\">{value}</text>")
        if index % every == 0:
            bars.append(f"<text x=\"{middle}\" y=\"{height + 34}\" font-size=\"11\" "
                        f"text-anchor=\"middle\">{escape(str(name))}</text>")
    return (f"<svg class=\"chart\" width=\"{width}\" height=\"{height + 42}\" viewBox=\"0 0 {width} {height + 42}\" "
            f"role=\"img\" aria-label=\"{escape(label)}\">{''.join(bars)}</svg>")


def bar_chart(values: list[tuple[str, int, bool]], label: str = "", not_accepted: str = "not accepted") -> str:
    """Horizontal bars (label, value, accepted): accepted formats green, the others red and marked in words.

    The mark is written out, not only coloured, so the chart says the same
    printed in black and white.
    """
    row, label_width, bar_width = 22, 420, 260
    top = max((value for _, value, _ in values), default=1) or 1
    items = []
    for index, (name, value, accepted) in enumerate(values):
        y = 6 + index * row
        length = max(2, round(bar_width * value / top))
        colour = "#16a34a" if accepted else "#dc2626"
        shown = name if len(name) <= 64 else name[:63] + "…"
        mark = "" if accepted else f" ({not_accepted})"
        items.append(
            f"<text x=\"0\" y=\"{y + 14}\" font-size=\"11\">{escape(shown)}</text>"
            f"<rect x=\"{label_width}\" y=\"{y + 3}\" width=\"{length}\" height=\"{row - 8}\" fill=\"{colour}\"/>"
            f"<text x=\"{label_width + length + 6}\" y=\"{y + 14}\" font-size=\"11\">{value}{escape(mark)}</text>"
        )
    height = len(values) * row + 10
    width = label_width + bar_width + 130
    return (f"<svg class=\"chart\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" "
            f"role=\"img\" aria-label=\"{escape(label)}\">{''.join(items)}</svg>")
