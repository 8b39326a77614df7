"""Calendar invitations (iCalendar, RFC 5545) in e-mail: what they say, and when two are one.

A meeting invitation arrives as a `text/calendar` part inside the
`multipart/alternative` (one rendering of the message, beside its text and
HTML), and often once more as an attached `invite.ics`: Google Calendar
sends both, with the same content. They are one invitation, so they make one
document, and what it says (what, when, where, who invites) goes into the
letter's text, so the archival copy of the e-mail shows it: no depot format
keeps an .ics readable, and nobody should have to open one to see the time.

Times are shown in Oslo time whatever zone the sender's calendar wrote:
IANA names ("Europe/Oslo"), UTC ("...Z"), and the Windows names Outlook and
Google write ("W. Europe Standard Time"). A time in a zone not known here is
shown as written, with its zone named. Only what is read out of the file is
shown; nothing is guessed.

Pure: bytes in, text out. A part that is not iCalendar yields no events.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from noarkpipe.clock import LOCAL_TIME

CALENDAR_MEDIA_TYPES = frozenset({"text/calendar", "application/ics", "text/x-vcalendar", "application/x-ics"})
# The Windows zone names met in invitations to Norwegian offices (CLDR windowsZones, "001" territory).
_WINDOWS_ZONES = {
    "w. europe standard time": "Europe/Berlin",
    "romance standard time": "Europe/Paris",
    "central europe standard time": "Europe/Budapest",
    "central european standard time": "Europe/Warsaw",
    "gmt standard time": "Europe/London",
    "greenwich standard time": "Atlantic/Reykjavik",
    "fle standard time": "Europe/Kiev",
    "e. europe standard time": "Europe/Chisinau",
    "utc": "UTC",
    "eastern standard time": "America/New_York",
    "pacific standard time": "America/Los_Angeles",
}
_METHODS = {
    "request": "Møteinnkalling",
    "cancel": "Avlyst møte",
    "reply": "Svar på møteinnkalling",
    "counter": "Forslag til nytt tidspunkt",
    "publish": "Kalenderoppføring",
}
_WEEKDAYS = ("mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag", "søndag")
_TIME = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})?(Z)?)?$")


@dataclass(frozen=True)
class When:
    """A DTSTART or DTEND: a day, or a moment in Oslo time, or (zone unknown) a time as written."""

    moment: datetime | date
    zone_unknown: str | None = None
    """The TZID that could not be placed: the time is shown as written, with this name."""


@dataclass(frozen=True)
class Event:
    """One VEVENT of an invitation, as far as it says."""

    uid: str | None
    summary: str | None
    start: When | None
    end: When | None
    location: str | None
    organizer: str | None
    raw_start: str | None
    """DTSTART as written (zone and value), for telling two invitations apart."""


@dataclass(frozen=True)
class Calendar:
    method: str | None
    events: tuple[Event, ...]

    def keys(self) -> frozenset[tuple[str, str]]:
        """(UID, DTSTART) of each event: the same pairs mean the same invitation."""
        return frozenset((e.uid, e.raw_start or "") for e in self.events if e.uid)


def is_calendar(media_type: str | None, filename: str | None) -> bool:
    return (media_type or "").lower() in CALENDAR_MEDIA_TYPES or (filename or "").lower().endswith((".ics", ".vcs"))


def read(content: bytes) -> Calendar | None:
    """The invitation in `content`, or None if it is not an iCalendar object."""
    text = _decode(content)
    lines = _unfold(text)
    if not any(line.strip().upper() == "BEGIN:VCALENDAR" for line in lines[:5]):
        return None
    method, events, depth = None, [], []
    current: dict[str, tuple[dict[str, str], str]] | None = None
    for line in lines:
        name, params, value = _property(line)
        if name == "BEGIN":
            depth.append(value.upper())
            if value.upper() == "VEVENT":
                current = {}
        elif name == "END":
            if depth and depth[-1] == value.upper():
                depth.pop()
            if value.upper() == "VEVENT" and current is not None:
                events.append(_event(current))
                current = None
        elif name == "METHOD" and depth == ["VCALENDAR"]:
            method = value.strip()
        elif current is not None and depth and depth[-1] == "VEVENT" and name not in current:
            current[name] = (params, value)
    return Calendar(method, tuple(events))


def same_invitation(first: bytes, second: bytes) -> bool:
    """True when two calendar parts hold the same invitation: the same text, or the same UID and DTSTART."""
    if _normalised(first) == _normalised(second):
        return True
    one, other = read(first), read(second)
    return bool(one and other and one.keys() and one.keys() == other.keys())


def describe(calendar: Calendar) -> list[str]:
    """One line per event for the letter's text: kind, what, when in Oslo time, where, who invites."""
    kind = _METHODS.get((calendar.method or "").lower(), "Kalenderinvitasjon")
    lines = []
    for event in calendar.events:
        parts = [f"{kind}: {event.summary or '(uten tittel)'}"]
        if event.start:
            parts.append(f"Tid: {_period(event.start, event.end)}")
        if event.location:
            parts.append(f"Sted: {event.location}")
        if event.organizer:
            parts.append(f"Arrangør: {event.organizer}")
        lines.append("[" + ". ".join(parts) + ".]")
    return lines


def _decode(content: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    return content.decode("utf-8", "replace")


def _normalised(content: bytes) -> bytes:
    return b"\n".join(line.rstrip(b"\r") for line in content.strip().split(b"\n"))


def _unfold(text: str) -> list[str]:
    # RFC 5545 3.1: a line break followed by one space or tab continues the line.
    return re.sub(r"\r?\n[ \t]", "", text).replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _property(line: str) -> tuple[str, dict[str, str], str]:
    """'NAME;P1=a;P2="b:c":value' → ('NAME', {'P1': 'a', 'P2': 'b:c'}, 'value')."""
    head, value, in_quotes = line, "", False
    for index, char in enumerate(line):
        if char == '"':
            in_quotes = not in_quotes
        elif char == ":" and not in_quotes:
            head, value = line[:index], line[index + 1:]
            break
    name, *raw_params = re.split(r';(?=(?:[^"]*"[^"]*")*[^"]*$)', head)
    params = {}
    for raw in raw_params:
        key, _, val = raw.partition("=")
        params[key.strip().upper()] = val.strip().strip('"')
    return name.strip().upper(), params, value


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    text = re.sub(r"\\([\\;,nN])", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)
    return re.sub(r"\s+", " ", text).strip() or None


def _event(properties: dict[str, tuple[dict[str, str], str]]) -> Event:
    def text(name: str) -> str | None:
        return _text(properties[name][1]) if name in properties else None

    start, end = properties.get("DTSTART"), properties.get("DTEND")
    return Event(
        uid=text("UID"), summary=text("SUMMARY"), start=_when(*start) if start else None,
        end=_when(*end) if end else None, location=text("LOCATION"), organizer=_organizer(properties.get("ORGANIZER")),
        raw_start=f"{start[0].get('TZID', '')}:{start[1].strip()}" if start else None,
    )


def _organizer(found: tuple[dict[str, str], str] | None) -> str | None:
    if found is None:
        return None
    params, value = found
    address = re.sub(r"^mailto:", "", value.strip(), flags=re.IGNORECASE) or None
    name = _text(params.get("CN"))
    if name and address and name.lower() != address.lower():
        return f"{name} <{address}>"
    return address or name


def _when(params: dict[str, str], value: str) -> When | None:
    found = _TIME.match(value.strip())
    if not found:
        return None
    year, month, day, hour, minute, second, utc = found.groups()
    if hour is None or params.get("VALUE", "").upper() == "DATE":
        try:
            return When(date(int(year), int(month), int(day)))
        except ValueError:
            return None
    try:
        written = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0))
    except ValueError:
        return None
    if utc:
        return When(written.replace(tzinfo=UTC).astimezone(LOCAL_TIME))
    tzid = params.get("TZID")
    if not tzid:
        return When(written.replace(tzinfo=LOCAL_TIME))  # "floating": local time wherever it is read
    zone = _zone(tzid)
    if zone is None:
        return When(written, zone_unknown=tzid)
    return When(written.replace(tzinfo=zone).astimezone(LOCAL_TIME))


def _zone(tzid: str) -> ZoneInfo | None:
    name = _WINDOWS_ZONES.get(tzid.strip().lower(), tzid.strip().strip("/"))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _period(start: When, end: When | None) -> str:
    """'onsdag 25.11.2026 kl. 13:00–14:00 (norsk tid)', or days for an all-day event."""
    first = start.moment
    if not isinstance(first, datetime):
        shown = f"{_WEEKDAYS[first.weekday()]} {first:%d.%m.%Y}"
        if end and not isinstance(end.moment, datetime) and (end.moment - first).days > 1:
            # DTEND of an all-day event is the day after its last day.
            last = date.fromordinal(end.moment.toordinal() - 1)
            shown += f"–{_WEEKDAYS[last.weekday()]} {last:%d.%m.%Y}"
        return f"{shown} (hele dagen)"
    shown = f"{_WEEKDAYS[first.weekday()]} {first:%d.%m.%Y} kl. {first:%H:%M}"
    if end and isinstance(end.moment, datetime) and end.zone_unknown == start.zone_unknown:
        last = end.moment
        same_day = last.date() == first.date()
        shown += f"–{last:%H:%M}" if same_day else f" – {_WEEKDAYS[last.weekday()]} {last:%d.%m.%Y} kl. {last:%H:%M}"
    return shown + (f" (tidssone {start.zone_unknown})" if start.zone_unknown else " (norsk tid)")
