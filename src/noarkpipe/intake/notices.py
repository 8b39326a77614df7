"""Delivery-status notifications and read receipts: what they are, in words an archivist reads.

A bounce ("Undelivered Mail Returned to Sender") or a read receipt is a letter
about another letter: it is journaled as what it is, titled after the message
it is about, with the machine-written status turned into text, and it names
that message's Message-ID (`Submission.refers_to_message_id`) so journaling
can link it to the journalpost of the outgoing letter.

Shapes met in practice, all read here:
- RFC 3464/6522 `multipart/report; report-type=delivery-status`: a human text,
  `message/delivery-status` (per-message fields, then one group per recipient),
  and the returned message whole (`message/rfc822`) or its headers only
  (`text/rfc822-headers`). Postfix, Exim, Sendmail and Exchange write this.
- RFC 8098 `multipart/report; report-type=disposition-notification`: a read
  receipt, `message/disposition-notification` with `Original-Message-ID`.
- Non-standard bounces: a `multipart/mixed` from MAILER-DAEMON or postmaster, or
  with a bounce subject, carrying the returned message as `message/rfc822`.

A delivery-status notification is not always a bounce: its per-recipient
`Action` says what happened. `failed` is a bounce ("Returnert e-post"),
`delayed` a delay notice (the message is not delivered yet and the server
keeps trying: it may still arrive, so nobody should resend it on this alone),
and `delivered`, `relayed` or `expanded` a delivery confirmation. With several
recipients the worst outcome names the notice: failed before delayed before
delivered, so a failure is never hidden behind a confirmation.

Everything here is pure: the e-mail intake hands in what it found in the MIME tree.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from typing import Literal, cast

NoticeKind = Literal["bounce", "delay", "delivery", "receipt"]
DELIVERY_KINDS: frozenset[NoticeKind] = frozenset({"bounce", "delay", "delivery"})
"""Notices from the mail system about a message we sent; the message they carry is our own, returned."""

_BOUNCE_SUBJECT = re.compile(
    r"undeliver|returned mail|returned to sender|delivery (status notification|failure|has failed|failed)"
    r"|mail delivery failed|failure notice|non[- ]?delivery|nondeliverable|unzustellbar"
    r"|ikke levert|kunne ikke leveres|kan ikke leveres|returnert e-post",
    re.IGNORECASE,
)
_DAEMON_LOCAL_PARTS = frozenset({"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"})
_DAEMON_NAMES = re.compile(r"mail delivery (subsystem|system)|mailer[- ]daemon|postmaster", re.IGNORECASE)
# Prefixes mail programs put in front of the read message's subject.
_RECEIPT_PREFIX = re.compile(
    r"^\s*((read|lest|gelesen|läst|lu|læst|return receipt( \(\w+\))?|disposition notification|"
    r"lesebekreftelse|read receipt)\s*[:\-]\s*)+",
    re.IGNORECASE,
)
# The fields of a delivery-status or disposition notification worth reading, in this order.
STATUS_FIELDS = (
    "Reporting-MTA", "Reporting-UA", "Final-Recipient", "Original-Recipient", "Action", "Status",
    "Diagnostic-Code", "Remote-MTA", "Last-Attempt-Date", "Will-Retry-Until", "Disposition",
    "Original-Message-ID",
)
# RFC 3464 section 2.3.3 actions, by the kind of notice they make.
_DELAY_ACTIONS = frozenset({"delayed"})
_DELIVERED_ACTIONS = frozenset({"delivered", "relayed", "expanded"})
_TITLES = {
    "bounce": "Returnert e-post",
    "delay": "Forsinket levering",
    "delivery": "Leveringsbekreftelse",
    "receipt": "Lesebekreftelse",
}
_WHAT_IT_SAYS = {
    "bounce": "Melding fra e-postsystemet om at en e-post ikke kunne leveres.",
    "delay": "Melding fra e-postsystemet om at en e-post ennå ikke er levert. Den er ikke returnert: "
    "serveren fortsetter å forsøke å levere den, og den kan fortsatt komme fram.",
    "delivery": "Melding fra e-postsystemet om at en e-post er levert (eller sendt videre) til mottakeren.",
    "receipt": "Melding om at en e-post er vist eller behandlet hos mottakeren.",
}
_ACTIONS = {
    "failed": "kunne ikke leveres",
    "delayed": "forsinket, forsøkes igjen",
    "delivered": "levert",
    "relayed": "sendt videre uten kvittering",
    "expanded": "levert til en liste",
}


@dataclass
class Notice:
    """What a notification says about the message it concerns."""

    kind: NoticeKind
    status: list[list[tuple[str, str]]] = field(default_factory=list)
    """Field groups of the delivery-status or disposition part: per message, then per recipient."""
    original: list[tuple[str, str]] = field(default_factory=list)
    """The returned message's headers as (label, value): Fra, Til, Dato, Emne, Message-ID."""
    original_message_id: str | None = None
    original_subject: str | None = None


def is_daemon(address: str | None, name: str | None = None) -> bool:
    """True for the mail system's own senders (MAILER-DAEMON@..., postmaster@..., "Mail Delivery Subsystem")."""
    local = (address or "").rpartition("@")[0] or (address or "")
    return local.strip().lower() in _DAEMON_LOCAL_PARTS or bool(_DAEMON_NAMES.search(name or ""))


def notice_kind(
    message: Message, subject: str, sender: str | None, sender_name: str | None = None
) -> NoticeKind | None:
    """Whether `message` is a bounce, a read receipt, or an ordinary letter (None)."""
    is_report = message.get_content_type() == "multipart/report"
    report_type = str(message.get_param("report-type") or "").lower() if is_report else ""
    types = set(_own_part_types(message))
    if report_type == "disposition-notification" or "message/disposition-notification" in types:
        return "receipt"
    if report_type == "delivery-status" or "message/delivery-status" in types:
        return delivery_kind(_delivery_actions(message))
    returns_a_message = bool(types & {"message/rfc822", "text/rfc822-headers"})
    if returns_a_message and (is_daemon(sender, sender_name) or _BOUNCE_SUBJECT.search(subject or "")):
        return "bounce"
    return None


def delivery_kind(actions: list[str]) -> NoticeKind:
    """The kind of a delivery-status notification from its recipients' `Action` values.

    The worst outcome wins: one failed recipient makes a bounce, else one
    delayed a delay notice; only when every named action is a delivery is it
    a confirmation. No (known) action at all: a bounce, as the mail system
    sends a report chiefly when something went wrong.
    """
    found = {action.strip().lower() for action in actions}
    if "failed" in found:
        return "bounce"
    if found & _DELAY_ACTIONS:
        return "delay"
    if found & _DELIVERED_ACTIONS:
        return "delivery"
    return "bounce"


def _delivery_actions(message: Message) -> list[str]:
    """The `Action` values of the message's own delivery-status parts, one per recipient."""
    return [
        value
        for part in _own_parts(message)
        if part.get_content_type() == "message/delivery-status"
        for group in status_groups(part)
        for key, value in group
        if key.lower() == "action"
    ]


def _own_parts(message: Message) -> Iterator[Message]:
    """The message and its own parts: not descending into attached messages."""
    yield message
    if message.is_multipart() and not message.get_content_type().startswith("message/"):
        for child in cast("list[Message]", message.get_payload()):  # a multipart's payload: its parts
            yield from _own_parts(child)


def _own_part_types(message: Message):
    """Content types of the message's own parts."""
    return (part.get_content_type() for part in _own_parts(message))


def status_groups(part: Message) -> list[list[tuple[str, str]]]:
    """The field groups of a message/delivery-status or message/disposition-notification part.

    The email package parses a delivery-status body into one header block per
    group, and a disposition notification into one block; a body it left as text
    is split on empty lines here.
    """
    payload = part.get_payload()
    if isinstance(payload, list):
        return [[(k, _one_line(v)) for k, v in block.raw_items()] for block in payload if isinstance(block, Message)]
    return parse_fields(payload if isinstance(payload, str) else "")


def parse_fields(text: str) -> list[list[tuple[str, str]]]:
    """RFC 3464 field groups ('Name: value' lines, continuations, groups split by empty lines)."""
    groups: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            if current:
                groups.append(current)
                current = []
        elif line[:1] in (" ", "\t") and current:
            name, value = current[-1]
            current[-1] = (name, f"{value} {line.strip()}")
        elif ":" in line:
            name, _, value = line.partition(":")
            current.append((name.strip(), value.strip()))
    if current:
        groups.append(current)
    return groups


def _one_line(value: str) -> str:
    return re.sub(r"\s+", " ", str(value)).strip()


def _value(groups: list[list[tuple[str, str]]], name: str) -> str | None:
    for group in groups:
        for key, value in group:
            if key.lower() == name.lower() and value.strip():
                return value.strip()
    return None


def _address_value(value: str) -> str:
    """'rfc822; kari@example.no' → 'kari@example.no' (the address type is noise to a reader)."""
    kind, sep, rest = value.partition(";")
    return rest.strip() if sep and re.fullmatch(r"[A-Za-z0-9-]+", kind.strip()) else value


def finish(notice: Notice) -> Notice:
    """Fill in the original Message-ID and subject from what was found, in order of trust."""
    original = {label.lower(): value for label, value in notice.original}
    notice.original_message_id = (
        _value(notice.status, "Original-Message-ID") or original.get("message-id") or notice.original_message_id
    )
    notice.original_subject = original.get("emne") or notice.original_subject
    return notice


def title(notice: Notice, own_subject: str) -> str:
    """'<kind>: <subject of the message it is about>': Returnert e-post, Forsinket levering,
    Leveringsbekreftelse or Lesebekreftelse."""
    prefix = _TITLES[notice.kind]
    subject = notice.original_subject
    if not subject:
        own = own_subject or ""
        if notice.kind == "receipt":
            own = _RECEIPT_PREFIX.sub("", own)
        # "Forsinket levering: X" written by the mail system: not "Forsinket levering: Forsinket levering: X".
        subject = re.sub(rf"^\s*{re.escape(prefix)}\s*:\s*", "", own, flags=re.IGNORECASE).strip()
    return f"{prefix}: {subject or '(uten emne)'}"


def describe(notice: Notice, own_subject: str) -> str:
    """The notification as text for the body: what it is about, the status fields, the quoted headers."""
    lines = [f"[{title(notice, own_subject)}. {_WHAT_IT_SAYS[notice.kind]}]"]
    status = [(k, v) for group in notice.status for k, v in group if k.lower() in {f.lower() for f in STATUS_FIELDS}]
    if status:
        lines += ["", "Leveringsstatus:" if notice.kind in DELIVERY_KINDS else "Bekreftelse:"]
        for key, value in status:
            canonical = next(f for f in STATUS_FIELDS if f.lower() == key.lower())
            if canonical in ("Final-Recipient", "Original-Recipient", "Reporting-MTA", "Remote-MTA", "Reporting-UA"):
                value = _address_value(value)
            if canonical == "Action" and value.lower() in _ACTIONS:
                value = f"{value} ({_ACTIONS[value.lower()]})"
            lines.append(f"  {canonical}: {value}")
    if notice.original:
        lines += ["", "Den opprinnelige meldingen:"]
        lines += [f"  {label}: {value}" for label, value in notice.original]
    return "\n".join(lines)
