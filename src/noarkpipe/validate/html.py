"""The validation report as one self-contained HTML page, for people (and for attaching to a letter).

One file, no scripts, no external stylesheet, font or image: the charts
(registrations per year, formats found) are inline SVG, so the page looks
the same offline, printed, or years later in a case file. Every value
that comes from the package (titles, paths, messages) is escaped: an
extract is untrusted input, and its text must not become markup.
"""

from __future__ import annotations

from html import escape

from .model import CheckResult, ValidationReport

STATUS_TEXT = {"passed": "passed", "failed": "failed", "info": "info", "not_run": "not run"}

STYLE = """
body { font-family: "DejaVu Sans", Verdana, sans-serif; margin: 2em auto; max-width: 72em; color: #1d1d1d;
       line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { font-size: 1.25em; margin-top: 2em;
  border-bottom: 1px solid #ccc; } h3 { font-size: 1.05em; margin-bottom: .3em; }
table { border-collapse: collapse; width: 100%; margin: .5em 0 1em; font-size: .92em; }
th, td { text-align: left; vertical-align: top; padding: .3em .5em; border-bottom: 1px solid #e3e3e3; }
th { background: #f3f3f3; } td.n { text-align: right; white-space: nowrap; }
.verdict { font-size: 1.2em; padding: .6em 1em; border-radius: 4px; display: inline-block; margin: .5em 0; }
.ok { background: #e3f4e5; color: #14532d; } .bad { background: #fde8e8; color: #7f1d1d; }
.status-failed.sev-error { color: #b91c1c; font-weight: bold; } .status-failed.sev-warning { color: #a16207;
  font-weight: bold; } .status-passed { color: #15803d; } .status-not_run { color: #6b7280; }
.status-info { color: #1d4ed8; } code, .path { font-family: "DejaVu Sans Mono", monospace; font-size: .88em;
  word-break: break-all; } .muted { color: #6b7280; } .chart { margin: .5em 0 1.5em; }
@media print { h2 { page-break-after: avoid; } table { page-break-inside: auto; } }
"""


def render(report: ValidationReport) -> str:
    errors, warnings = report.errors, report.warnings
    verdict_class = "ok" if report.passed else "bad"
    verdict = (
        "No errors" + (f" ({len(warnings)} check(s) with warnings)" if warnings else "")
        if report.passed
        else f"{len(errors)} check(s) failed with errors" + (f", {len(warnings)} with warnings" if warnings else "")
    )
    parts = [
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>Validation report: {escape(report.input)}</title><style>{STYLE}</style></head><body>",
        f"<h1>Validation report</h1><p class=\"path\">{escape(report.input)}</p>",
        f"<div class=\"verdict {verdict_class}\">{escape(verdict)}</div>",
        _overview(report),
        "<h2>Checks</h2>",
        _summary_table(report.results),
        _charts(report),
        "<h2>Findings</h2>",
    ]
    failed = [result for result in report.results if result.status == "failed"]
    if not failed:
        parts.append("<p>No check found anything to report.</p>")
    for result in failed:
        parts.append(_details(result))
    parts.append(f"<p class=\"muted\">Made by {escape(report.tool)}. Every check is described in the README "
                 "(\"Validating a deposit package\").</p></body></html>\n")
    return "\n".join(parts)


def _overview(report: ValidationReport) -> str:
    version = report.version
    rows = [
        ("Input", report.input),
        ("Kind", report.input_kind),
        ("Package UUID", report.package_uuid or "–"),
        ("Submission description", report.submission_description or "–"),
        ("Extract", report.content_root),
        ("Noark 5 version", f"{version.noark} (ADDML {version.addml})"),
        ("How the version was recognised", "; ".join(version.evidence)),
        ("Files", f"{report.files:,}".replace(",", " ")),
        ("Bytes read", f"{report.bytes_read:,}".replace(",", " ")),
        ("Started", report.started.isoformat(timespec="seconds")),
        ("Duration", f"{report.seconds:.1f} s"),
    ]
    if version.conflicts:
        rows.append(("Conflicting version indications", "; ".join(version.conflicts)))
    body = "".join(f"<tr><th>{escape(name)}</th><td>{escape(value)}</td></tr>" for name, value in rows)
    return f"<h2>Overview</h2><table>{body}</table>"


def _summary_table(results: list[CheckResult]) -> str:
    rows = []
    for result in results:
        css = f"status-{result.status} sev-{result.severity.value}"
        link = f"<a href=\"#{escape(result.id)}\">{escape(result.id)}</a>" if result.status == "failed" else escape(result.id)
        rows.append(
            f"<tr><td>{link}</td><td>{escape(result.name)}</td><td>{escape(result.severity.value)}</td>"
            f"<td class=\"{css}\">{STATUS_TEXT[result.status]}</td><td class=\"n\">{result.count or ''}</td>"
            f"<td>{escape(result.summary)}</td></tr>"
        )
    return ("<table><tr><th>id</th><th>check</th><th>severity</th><th>result</th><th>findings</th><th>summary</th>"
            "</tr>" + "".join(rows) + "</table>")


def _details(result: CheckResult) -> str:
    rows = "".join(
        f"<tr><td class=\"path\">{escape(example.file)}</td><td class=\"n\">{example.line or ''}</td>"
        f"<td class=\"path\">{escape(example.path)}</td><td>{escape(example.message)}</td></tr>"
        for example in result.examples
    )
    more = result.count - len(result.examples)
    tail = f"<p class=\"muted\">… and {more} more not shown (the JSON report counts them all).</p>" if more > 0 else ""
    return (
        f"<h3 id=\"{escape(result.id)}\">{escape(result.id)} {escape(result.name)} "
        f"<span class=\"status-failed sev-{result.severity.value}\">({escape(result.severity.value)}, "
        f"{result.count} finding(s))</span></h3><p>{escape(result.description)}</p>"
        "<table><tr><th>file</th><th>line</th><th>element</th><th>finding</th></tr>" + rows + "</table>" + tail
    )


def _charts(report: ValidationReport) -> str:
    charts = []
    try:
        per_year = report.result("CNT-04").data.get("per_year") or {}
    except KeyError:
        per_year = {}
    years = {year: count for year, count in per_year.items() if str(year).isdigit()}
    if years:
        charts.append("<h3>Registrations per year</h3>" + column_chart(sorted(years.items())))
    try:
        formats = report.result("FMT-01").data.get("formats") or []
    except KeyError:
        formats = []
    if formats:
        bars = [(f"{entry.get('puid') or '?'} {entry.get('name', '')} {entry.get('version', '')}".strip(),
                 int(entry.get("files", 0)), bool(entry.get("accepted"))) for entry in formats[:12]]
        charts.append("<h3>Formats found (distinct files identified)</h3>" + bar_chart(bars))
    return "<h2>Charts</h2>" + "".join(charts) if charts else ""


def column_chart(values: list[tuple[str, int]]) -> str:
    """Vertical bars, one per (label, value), as inline SVG."""
    width_each, height, top = 46, 160, max((value for _, value in values), default=1) or 1
    width = max(len(values) * width_each + 20, 200)
    bars = []
    for index, (label, value) in enumerate(values):
        bar = round(height * value / top)
        x = 10 + index * width_each
        bars.append(
            f"<rect x=\"{x}\" y=\"{20 + height - bar}\" width=\"{width_each - 10}\" height=\"{bar}\" fill=\"#2563eb\">"
            f"<title>{escape(str(label))}: {value}</title></rect>"
            f"<text x=\"{x + (width_each - 10) / 2}\" y=\"{14 + height - bar}\" font-size=\"10\" "
            f"text-anchor=\"middle\">{value}</text>"
            f"<text x=\"{x + (width_each - 10) / 2}\" y=\"{height + 34}\" font-size=\"11\" "
            f"text-anchor=\"middle\">{escape(str(label))}</text>"
        )
    return (f"<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height + 42}\" "
            f"role=\"img\" aria-label=\"registrations per year\">{''.join(bars)}</svg>")


def bar_chart(values: list[tuple[str, int, bool]]) -> str:
    """Horizontal bars (label, value, accepted), accepted formats in green and the others in red."""
    row, label_width, bar_width = 22, 380, 300
    top = max((value for _, value, _ in values), default=1) or 1
    items = []
    for index, (label, value, accepted) in enumerate(values):
        y = 6 + index * row
        length = max(2, round(bar_width * value / top))
        colour = "#16a34a" if accepted else "#dc2626"
        shown = label if len(label) <= 58 else label[:57] + "…"
        items.append(
            f"<text x=\"0\" y=\"{y + 14}\" font-size=\"11\">{escape(shown)}</text>"
            f"<rect x=\"{label_width}\" y=\"{y + 3}\" width=\"{length}\" height=\"{row - 8}\" fill=\"{colour}\">"
            f"<title>{escape(label)}: {value}{'' if accepted else ' (not accepted)'}</title></rect>"
            f"<text x=\"{label_width + length + 6}\" y=\"{y + 14}\" font-size=\"11\">{value}</text>"
        )
    height = len(values) * row + 10
    return (f"<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{label_width + bar_width + 60}\" "
            f"height=\"{height}\" role=\"img\" aria-label=\"formats found\">{''.join(items)}</svg>")
