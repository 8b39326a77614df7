"""Mailing the run report to the archivists over SMTP.

One message per run: a short plain-text summary, the HTML report as the
alternative part, the JSON report attached. The connection is verified TLS
(STARTTLS by default, or TLS from the first byte with `ssl = true`); a server
that does not offer STARTTLS when it was asked for is refused rather than
spoken to in clear text. The password comes from an environment variable.

Mailing is a courtesy on top of the run: the report is already on disk, so a
failure here raises `MailError`, which the caller notes in the summary and the
log; it never changes the run's exit code.

The Subject and the text are in the report's language (`RunReport.lang`),
from the same catalog as the HTML (ops/locale/nb.po). What goes to logs and
the run's notes (`MailSent`, `MailError`) stays English, as every log does.
"""

from __future__ import annotations

import base64
import os
import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from pydantic import BaseModel

from noarkpipe.clock import LOCAL_TIME, utcnow
from noarkpipe.config import ReportSettings
from noarkpipe.core.printable import printable
from noarkpipe.errors import ExitCode, MailError
from noarkpipe.ops.report import RunReport, run_outcome, translator


class MailSent(BaseModel):
    server: str
    recipients: list[str]
    refused: list[str]

    def __str__(self) -> str:
        text = f"mailed to {', '.join(self.recipients)} via {self.server}"
        return text + (f"; refused by the server: {', '.join(self.refused)}" if self.refused else "")


def report_message(settings: ReportSettings, report: RunReport, html: str, json_text: str) -> EmailMessage:
    sender = settings.mail_from or f"noarkpipe@{socket.getfqdn()}"
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(settings.mail_to)
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message["Subject"] = _subject(report)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: autoresponders stay quiet
    message.set_content(_plain_text(report))
    message.add_alternative(html, subtype="html")
    message.add_attachment(
        json_text.encode("utf-8"), maintype="application", subtype="json", filename=f"run-{report.run_id:06d}.json"
    )
    return message


def _subject(report: RunReport) -> str:
    # Short, and ASCII in English: Python folds a longer Subject right after the colon, which readers show oddly.
    # The bokmål one has æøå and goes out RFC 2047-encoded, which every reader decodes.
    _ = translator(report.lang)
    problem = {
        ExitCode.source_unavailable.value: _("mailbox not read"),
        ExitCode.ctrl_c.value: _("stopped early"),
    }.get(report.exit_code)
    subject = _(
        "noarkpipe run %(run)s: %(journaled)s journaled, %(review)s to review, %(quarantined)s quarantined",
        run=report.run_id, journaled=report.journaled, review=report.needs_review, quarantined=report.quarantined,
    )
    return subject + (f" ({problem})" if problem else "")


def _plain_text(report: RunReport) -> str:
    _ = translator(report.lang)
    started = report.started_at.astimezone(LOCAL_TIME).strftime("%d.%m.%Y %H:%M")
    lines = [
        _("noarkpipe run %(run)s on %(host)s, started %(started)s: %(outcome)s, exit code %(code)s (%(name)s).",
          run=report.run_id, host=report.host, started=started, outcome=run_outcome(report, _), code=report.exit_code,
          name=report.exit_name),
        "",
    ]
    for c in report.creators:
        lines.append(_(
            "%(navn)s: %(journaled)s journaled, %(review)s for review (queue now %(queue)s), "
            "%(quarantined)s quarantined, %(duplicates)s duplicates.",
            navn=c.navn, journaled=c.journaled, review=c.needs_review, queue=c.review_queue,
            quarantined=c.quarantined, duplicates=c.duplicates,
        ))
    if report.quarantine:
        # Names and reasons carry senders' text: escaped, so none can rewrite the terminal it is read in.
        lines += ["", _("Quarantined:")] + [
            f"  {i.arkivskaper}: {printable(i.item)}: {printable(i.reason)}" for i in report.quarantine
        ]
    problems = report.notes + [f"{m.arkivskaper}: {m.mailbox}: {e}" for m in report.mailboxes for e in m.errors]
    if problems:
        lines += ["", _("Problems:")] + [f"  {printable(p)}" for p in problems]
    lines += ["", _("The full report is the HTML part of this message; the JSON report is attached.")]
    return "\n".join(lines) + "\n"


def send_report(settings: ReportSettings, report: RunReport, html: str, json_text: str) -> MailSent:
    """Send the report; returns to whom it went. Raises MailError with the reason."""
    if not settings.mail_to:
        raise MailError("no recipients ([report] mail_to is empty)")
    password = None
    if settings.username:
        password = os.environ.get(settings.password_env or "")
        if password is None:
            raise MailError(
                f"the environment variable {settings.password_env} ([report] password_env) is not set; "
                "set it where 'noarkpipe run' runs (cron, systemd EnvironmentFile)"
            )
    message = report_message(settings, report, html, json_text)
    where = f"{settings.smtp_host}:{settings.effective_port}"
    try:
        context = ssl.create_default_context(cafile=str(settings.cafile) if settings.cafile else None)
        if settings.ssl:
            client = smtplib.SMTP_SSL(settings.smtp_host, settings.effective_port, timeout=settings.timeout_s, context=context)
        else:
            client = smtplib.SMTP(settings.smtp_host, settings.effective_port, timeout=settings.timeout_s)
        with client:
            client.ehlo()
            if settings.use_starttls:
                if not client.has_extn("starttls"):
                    raise MailError(
                        f"the SMTP server {where} does not offer STARTTLS; set starttls = false only for a "
                        "relay on this host or a trusted network"
                    )
                client.starttls(context=context)
                client.ehlo()
            if settings.username:
                _login(client, settings.username, password)
            refused = client.send_message(message)
    except MailError:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise MailError(f"the SMTP server {where} refused the login of {settings.username}: {_reply(exc)}") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise MailError(f"the SMTP server {where} refused every recipient: {', '.join(exc.recipients)}") from exc
    except smtplib.SMTPException as exc:
        raise MailError(f"the SMTP server {where} did not take the report: {_reply(exc)}") from exc
    except ssl.SSLError as exc:
        raise MailError(f"TLS with the SMTP server {where} failed: {exc.reason or exc}") from exc
    except OSError as exc:  # refused, unreachable, timed out, name not found
        raise MailError(f"cannot reach the SMTP server {where}: {exc.strerror or exc}") from exc
    return MailSent(
        server=where,
        recipients=[address for address in settings.mail_to if address not in refused],
        refused=sorted(refused),
    )


def _login(client: smtplib.SMTP, username: str, password: str) -> None:
    """Log in; a password beyond ASCII goes as UTF-8 with AUTH PLAIN (RFC 4616), which smtplib cannot do."""
    if (username + password).isascii():
        client.login(username, password)
        return
    if "PLAIN" not in client.esmtp_features.get("auth", "").upper().split():
        raise MailError(
            "the SMTP password has characters beyond ASCII, which only AUTH PLAIN carries, "
            "and the server does not offer AUTH PLAIN"
        )
    token = base64.b64encode(b"\0" + username.encode("utf-8") + b"\0" + password.encode("utf-8")).decode("ascii")
    code, reply = client.docmd("AUTH", "PLAIN " + token)
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, reply)


def _reply(exc: smtplib.SMTPException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        return f"{exc.smtp_code} {text}"
    return str(exc)
