"""The desk's routes: log in, the queue, one item with its pages, and the decisions.

Every page is rendered on the server (Jinja2); the only script is our own
`static/desk.js` (keyboard shortcuts), and a decision is a plain form POST
answered with a redirect, so the desk works without JavaScript too. The
work of each request (store reads, rendering pages, a decision) runs in a
worker thread, outside the event loop.

Access, checked on every request: a page needs a logged-in user with a grant
for the arkivskaper in its URL (`may_see`); a decision needs the arkivar
role (`may_decide`) and the session's CSRF token; a screened journalpost
(skjerming) is shown, its pages and originals served, only to a user
cleared for that arkivskaper (`cleared_for`). What a user may not see is
answered as if it were not there to see (403 without its content).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from noarkpipe import __version__, api
from noarkpipe.clock import LOCAL_TIME
from noarkpipe.config import Settings
from noarkpipe.core.codes import Journalstatus, Korrespondanseparttype
from noarkpipe.desk import i18n, security
from noarkpipe.errors import NoarkpipeError, ReviewError
from noarkpipe.services import desk_extras, desk_users, review_pages
from noarkpipe.services.installation import Installation

SESSION_COOKIE = "noarkpipe_desk"
LANGUAGE_COOKIE = "noarkpipe_lang"
PAGE_WIDTH = 1000
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
DECISIONS = ("approve", "reclassify", "attach", "reject", "drop-part", "replace-part", "edit")
MAX_PARTIES = 50


@dataclass
class Desk:
    """What every request shares: the open installation, the templates, the login throttle."""

    opened: Installation
    templates: Environment
    throttle: security.LoginThrottle

    @property
    def settings(self) -> Settings:
        return self.opened.settings


class _Refused(Exception):
    """A request that is answered with an error page (status, message) instead of its content."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def create_app(settings: Settings, *, opened: Installation | None = None) -> Starlette:
    """The desk as an ASGI application over `settings`' installation (kept open while it serves)."""
    opened = opened or Installation(settings)
    templates = Environment(loader=PackageLoader("noarkpipe.desk", "templates"), autoescape=select_autoescape(["html"]))
    templates.filters["day"] = lambda value: f"{value:%d.%m.%Y}" if value else ""
    templates.filters["moment"] = lambda value: f"{value.astimezone(LOCAL_TIME):%d.%m.%Y %H:%M}" if value else ""
    desk = Desk(opened=opened, templates=templates, throttle=security.LoginThrottle())

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            opened.close()

    def bound(handler: Callable) -> Callable:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(desk, request)
            except _Redirect as redirect:
                return RedirectResponse(redirect.target, status_code=303)
            except _Refused as refusal:
                return _page(desk, request, "error.html", status=refusal.status, message=str(refusal))

        return endpoint

    routes = [
        Route("/", bound(home)),
        Route("/login", bound(login_form), methods=["GET"]),
        Route("/login", bound(login), methods=["POST"]),
        Route("/logout", bound(logout), methods=["POST"]),
        Route("/language", bound(language), methods=["POST"]),
        Route("/healthz", lambda _request: PlainTextResponse("ok")),
        Route("/queue/{kode}", bound(queue)),
        Route("/cases/{kode}", bound(cases)),
        Route("/item/{kode}/{year:int}/{number:int}", bound(item)),
        Route("/item/{kode}/{year:int}/{number:int}/doc/{dokument:int}/page/{page:int}.png", bound(page_image)),
        Route("/item/{kode}/{year:int}/{number:int}/doc/{dokument:int}/original", bound(original)),
        Route("/item/{kode}/{year:int}/{number:int}/{decision}", bound(decide), methods=["POST"]),
        Route("/runs", bound(runs)),
        Route("/runs/{run_id:int}", bound(run_report)),
        Route("/quarantine/{kode}", bound(quarantine)),
        Route("/quarantine/{kode}/release", bound(release), methods=["POST"]),
        Route("/journal/{kode}", bound(journal)),
        Route("/journal/{kode}/preview", bound(journal_preview)),
        Mount("/static", StaticFiles(packages=[("noarkpipe.desk", "static")]), name="static"),
    ]
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(
            SessionMiddleware,
            secret_key=security.signing_key(settings.desk_secret_path),
            session_cookie=SESSION_COOKIE,
            max_age=int(settings.desk.session_hours * 3600),
            same_site="strict",
            https_only=settings.desk.secure_cookies,
        ),
    ]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)


class SecurityHeaders:
    """The same headers on every answer: no framing, no script or style but our own, no caching of content."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [
                    (name.lower().encode(), value.encode()) for name, value in security.SECURITY_HEADERS.items()
                    if name.lower().encode() not in present
                ]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


# ---------------------------------------------------------------- who is asking


def _user(desk: Desk, request: Request) -> desk_users.DeskUser | None:
    username = security.session_username(request, desk.settings.desk)
    if username is None:
        return None
    user = desk_users.get_user(desk.opened, username)
    return None if user is None or user.disabled else user


async def _require_user(desk: Desk, request: Request) -> desk_users.DeskUser:
    """The logged-in user; without one, the answer is the login page, coming back here afterwards."""
    user = await run_in_threadpool(_user, desk, request)
    if user is None:
        raise _Redirect("/login?" + urlencode({"next": request.url.path}))
    return user


def _require_grant(desk: Desk, request: Request, user: desk_users.DeskUser, kode: str) -> None:
    if kode not in {a.kode for a in desk.settings.arkivskaper} or not user.may_see(kode):
        raise _Refused(403, _gettext(desk, request)("You have no access to this arkivskaper."))


def _gettext(desk: Desk, request: Request) -> Callable[..., str]:
    return i18n.translator(_language(desk, request))


def _language(desk: Desk, request: Request) -> i18n.Language:
    return i18n.choose(request.cookies.get(LANGUAGE_COOKIE), desk.settings.lang)


def _page(desk: Desk, request: Request, template: str, *, status: int = 200, **context: Any) -> Response:
    user = context.pop("user", None)
    if user is None and template != "login.html":
        with contextlib.suppress(NoarkpipeError):
            user = _user(desk, request)
    lang = _language(desk, request)
    kodes = [a.kode for a in desk.settings.arkivskaper if user is not None and user.may_see(a.kode)]
    html = desk.templates.get_template(template).render(
        _=i18n.translator(lang), lang=lang, languages=i18n.LANGUAGES, user=user, kodes=kodes,
        csrf=security.csrf_token(request), flash=request.session.pop("flash", None), version=__version__,
        path=request.url.path, **context,
    )
    return HTMLResponse(html, status_code=status)


def _safe_next(target: object) -> str:
    """A redirect target from a form: a path on this site only."""
    if isinstance(target, str) and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


async def _form(desk: Desk, request: Request) -> Any:
    """The POSTed form, refused unless it carries the session's CSRF token."""
    form = await request.form(max_part_size=MAX_UPLOAD_BYTES)
    if not security.csrf_valid(request, form.get(security.CSRF_FIELD)):
        raise _Refused(403, _gettext(desk, request)(
            "The form has expired or did not come from the desk (CSRF token). Reload the page and try again."
        ))
    return form


# ---------------------------------------------------------------- pages


async def home(desk: Desk, request: Request) -> Response:
    user = await _require_user(desk, request)
    visible = [a.kode for a in desk.settings.arkivskaper if user.may_see(a.kode)]
    if not visible:
        raise _Refused(403, _gettext(desk, request)("Your user has no access to any arkivskaper yet."))
    return RedirectResponse(f"/queue/{quote(visible[0])}", status_code=303)


async def login_form(desk: Desk, request: Request) -> Response:
    return _page(desk, request, "login.html", next=_safe_next(request.query_params.get("next")))


async def login(desk: Desk, request: Request) -> Response:
    form = await _form(desk, request)
    username = str(form.get("username", "")).strip().casefold()
    password = str(form.get("password", ""))
    _ = _gettext(desk, request)
    if desk.throttle.blocked(username):
        return _page(desk, request, "login.html", status=429, next=form.get("next", "/"),
                     error=_("Too many failed attempts. Wait a quarter of an hour and try again."))
    user = await run_in_threadpool(desk_users.authenticate, desk.opened, username, password)
    if user is None:
        desk.throttle.failed(username)
        return _page(desk, request, "login.html", status=401, next=form.get("next", "/"),
                     error=_("Wrong user name or password."))
    desk.throttle.succeeded(username)
    security.start_session(request, user.username)
    return RedirectResponse(_safe_next(form.get("next")), status_code=303)


async def logout(desk: Desk, request: Request) -> Response:
    await _form(desk, request)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


async def language(desk: Desk, request: Request) -> Response:
    form = await _form(desk, request)
    chosen = i18n.choose(str(form.get("lang", "")), None)
    response = RedirectResponse(_safe_next(form.get("next")), status_code=303)
    response.set_cookie(LANGUAGE_COOKIE, chosen, max_age=365 * 24 * 3600, samesite="strict",
                        secure=desk.settings.desk.secure_cookies, httponly=True)
    return response


async def queue(desk: Desk, request: Request) -> Response:
    kode = request.path_params["kode"]
    user = await _checked_user(desk, request, kode)
    items = await run_in_threadpool(api.review_list, desk.opened, kode)
    why = request.query_params.get("why", "all")
    text = request.query_params.get("q", "").strip().casefold()
    cleared = user.cleared_for(kode)
    rows = []
    for entry in items:
        if why == "gaps" and not entry.archival_gaps:
            continue
        if why == "screened" and not entry.skjermet:
            continue
        visible = cleared or not entry.skjermet
        if text and not (visible and text in f"{entry.tittel} {entry.avsender or ''} {entry.note or ''}".casefold()):
            continue
        rows.append({"item": entry, "visible": visible, "href": _item_href(kode, entry.journalnummer)})
    return _page(desk, request, "queue.html", user=user, kode=kode, rows=rows, total=len(items), why=why,
                 q=request.query_params.get("q", ""), may_decide=user.may_decide(kode))


async def item(desk: Desk, request: Request) -> Response:
    kode, number = request.path_params["kode"], _number(request)
    user = await _checked_user(desk, request, kode)
    return await _item_page(desk, request, user, kode, number)


async def _item_page(desk: Desk, request: Request, user: desk_users.DeskUser, kode: str, number: str, *,
                     status: int = 200, error: str | None = None) -> Response:
    detail = await run_in_threadpool(_detail_or_404, desk, kode, number)
    _require_cleared(desk, request, user, kode, detail.skjermet)
    documents, pages_of, similar, classes_suggested, queue_items, hjemler = await run_in_threadpool(
        _item_context, desk, kode, number
    )
    numbers = [entry.journalnummer for entry in queue_items]
    position = numbers.index(number) if number in numbers else None
    previous_href = _item_href(kode, numbers[position - 1]) if position else None
    next_href = _item_href(kode, numbers[position + 1]) if position is not None and position + 1 < len(numbers) else None
    klasser = desk.settings.creator(kode).klassifikasjonssystem.klasser
    if not user.cleared_for(kode):  # a screened case's public title may still name someone
        similar = [case for case in similar if not case.skjermet]
    return _page(
        desk, request, "item.html", status=status, user=user, kode=kode, detail=detail, documents=documents,
        pages_of=pages_of, similar=similar, class_suggestions=classes_suggested, klasser=klasser,
        href=_item_href(kode, number), prefill_saksnummer=request.query_params.get("saksnummer", ""),
        previous_href=previous_href, next_href=next_href, position=position, queue_length=len(numbers),
        may_decide=user.may_decide(kode) and detail.journalstatus == Journalstatus.midlertidig_registrering.value,
        error=error, page_width=PAGE_WIDTH, hjemler=hjemler, party_types=[t.value for t in Korrespondanseparttype],
    )


def _detail_or_404(desk: Desk, kode: str, number: str):
    try:
        return api.review_show(desk.opened, number, kode)
    except ReviewError as exc:
        raise _Refused(404, str(exc)) from exc


def _item_context(desk: Desk, kode: str, number: str):
    documents = review_pages.document_views(desk.opened, kode, number)
    pages_of = {
        document.dokumentnummer: review_pages.copy_pages(desk.opened, document)
        for document in documents if document.archival_copy is not None
    }
    with desk.opened.store.read() as session:
        from noarkpipe.journal import review  # the journaling stack, as the api's review operations

        similar = review.similar_cases(session, kode, number)
    suggested = review_pages.class_suggestions(desk.opened, kode, number)
    hjemler = review_pages.screening_choices(desk.opened, kode)
    return documents, pages_of, similar, suggested, api.review_list(desk.opened, kode), hjemler


def _require_cleared(desk: Desk, request: Request, user: desk_users.DeskUser, kode: str, skjermet: bool) -> None:
    if skjermet and not user.cleared_for(kode):
        raise _Refused(403, _gettext(desk, request)(
            "This journalpost is screened (skjermet). Only users cleared for screened content may open it."
        ))


async def page_image(desk: Desk, request: Request) -> Response:
    kode, number = request.path_params["kode"], _number(request)
    user = await _checked_user(desk, request, kode)
    detail = await run_in_threadpool(_detail_or_404, desk, kode, number)
    _require_cleared(desk, request, user, kode, detail.skjermet)
    try:
        width = int(request.query_params.get("w", PAGE_WIDTH))
    except ValueError:
        width = PAGE_WIDTH
    try:
        image = await run_in_threadpool(
            review_pages.page_image, desk.opened, kode, number, request.path_params["dokument"],
            request.path_params["page"], width,
        )
    except ReviewError as exc:
        raise _Refused(404, str(exc)) from exc
    return Response(image.png, media_type="image/png", headers={"Cache-Control": "private, max-age=600"})


async def original(desk: Desk, request: Request) -> Response:
    kode, number = request.path_params["kode"], _number(request)
    user = await _checked_user(desk, request, kode)
    detail = await run_in_threadpool(_detail_or_404, desk, kode, number)
    _require_cleared(desk, request, user, kode, detail.skjermet)
    version = request.query_params.get("v")
    variant = request.query_params.get("variant", "Produksjonsformat")
    try:
        path, filename, mime = await run_in_threadpool(
            review_pages.original_file, desk.opened, kode, number, request.path_params["dokument"],
            int(version) if version and version.isdigit() else None, variant,
        )
    except ReviewError as exc:
        raise _Refused(404, str(exc)) from exc
    # Always a download, never shown inline: a sender's HTML or SVG must not run on the desk's origin.
    return FileResponse(path, media_type=mime or "application/octet-stream", filename=filename,
                        content_disposition_type="attachment")


async def cases(desk: Desk, request: Request) -> Response:
    kode = request.path_params["kode"]
    await _checked_user(desk, request, kode)
    text = request.query_params.get("q", "")

    def found():
        from noarkpipe.journal.case_search import find_cases  # the journaling stack, as the review operations

        with desk.opened.store.read() as session:
            return find_cases(session, kode, text)

    results = await run_in_threadpool(found) if text.strip() else []
    return _page(desk, request, "cases.html", kode=kode, q=text, results=results,
                 back=_safe_next(request.query_params.get("back")))


# ---------------------------------------------------------------- decisions


async def decide(desk: Desk, request: Request) -> Response:
    kode, number, decision = request.path_params["kode"], _number(request), request.path_params["decision"]
    if decision not in DECISIONS:
        raise _Refused(404, f"no decision '{decision}'")
    form = await _form(desk, request)
    user = await _checked_user(desk, request, kode)
    _ = _gettext(desk, request)
    if not user.may_decide(kode):
        raise _Refused(403, _("Your role lets you look, not decide (leser)."))
    detail = await run_in_threadpool(_detail_or_404, desk, kode, number)
    _require_cleared(desk, request, user, kode, detail.skjermet)
    upload = form.get("file")
    try:
        message = await run_in_threadpool(_carry_out, desk, kode, number, decision, form, upload, user.username, _)
    except NoarkpipeError as exc:
        return await _item_page(desk, request, user, kode, number, status=409, error=str(exc))
    request.session["flash"] = message
    if decision in ("reclassify", "drop-part", "replace-part", "edit"):
        return RedirectResponse(_item_href(kode, number), status_code=303)
    return RedirectResponse(await run_in_threadpool(_after, desk, kode, number), status_code=303)


def _carry_out(desk: Desk, kode: str, number: str, decision: str, form: Any, upload: Any, by: str,
               _: Callable[..., str]) -> str:
    accept_gap = form.get("accept_gap") == "1"
    if decision == "approve":
        api.review_decide(desk.opened, "approve", number, kode=kode, by=by, accept_gap=accept_gap)
        return _("%(number)s journaled.", number=number)
    if decision == "reclassify":
        klasse = str(form.get("klasse", "")).strip()
        api.review_decide(desk.opened, "reclassify", number, kode=kode, by=by, klasse=klasse)
        return _("%(number)s moved to class %(klasse)s.", number=number, klasse=klasse)
    if decision == "attach":
        saksnummer = str(form.get("saksnummer", "")).strip()
        api.review_decide(desk.opened, "attach", number, kode=kode, by=by, saksnummer=saksnummer, accept_gap=accept_gap)
        return _("%(number)s put into case %(saksnummer)s and journaled.", number=number, saksnummer=saksnummer)
    if decision == "reject":
        reason = str(form.get("reason", "")).strip()
        if not reason:
            raise ReviewError(_("Say why it is rejected."))
        api.review_decide(desk.opened, "reject", number, kode=kode, by=by, reason=reason)
        return _("%(number)s rejected.", number=number)
    if decision == "edit":
        api.review_edit(desk.opened, number, _edit_of(desk, kode, form), kode=kode, by=by)
        return _("%(number)s corrected.", number=number)
    dokument = _dokumentnummer(form, _)
    if decision == "drop-part":
        reason = str(form.get("reason", "")).strip()
        if not reason:
            raise ReviewError(_("Say why the document is taken out."))
        api.review_drop_part(desk.opened, number, dokument, reason=reason, kode=kode, by=by)
        return _("Document %(dokument)s taken out of %(number)s; the file is kept in quarantine.",
                 dokument=dokument, number=number)
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise ReviewError(_("Choose the file the sender sent."))
    return _replace(desk, kode, number, dokument, upload, by, _)


def _replace(desk: Desk, kode: str, number: str, dokument: int, upload: UploadFile, by: str,
             _: Callable[..., str]) -> str:
    """The uploaded replacement, written to a private folder of the work area, then attached as `review` does."""
    desk.settings.work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=desk.settings.work_dir, prefix="desk-upload-") as folder:
        name = Path(str(upload.filename).replace("\\", "/")).name or "vedlegg"
        target = Path(folder) / name
        upload.file.seek(0)
        with open(target, "xb") as handle:
            while chunk := upload.file.read(1024 * 1024):
                handle.write(chunk)
        api.review_replace_part(desk.opened, number, dokument, target, kode=kode, by=by)
    return _("Document %(dokument)s of %(number)s replaced by %(name)s.", dokument=dokument, number=number, name=name)


def _edit_of(desk: Desk, kode: str, form: Any):
    """The edit form as a RegistrationEdit: the titles, the chosen hjemmel or lifting, the party rows."""
    from noarkpipe.journal.review import PartyEdit, RegistrationEdit  # the journaling stack, as the decisions

    chosen = str(form.get("skjerming", ""))
    change: dict[str, Any] = {"tittel": form.get("tittel"), "offentligTittel": form.get("offentligTittel")}
    if chosen == "lift":
        change.update(skjerming="lift", reason=form.get("lift_reason"))
    elif chosen:
        choice = next((c for c in review_pages.screening_choices(desk.opened, kode) if c.key == chosen), None)
        if choice is None:
            raise ReviewError(f"unknown hjemmel {chosen!r}")
        change.update(skjerming="set", tilgangsrestriksjon=choice.tilgangsrestriksjon,
                      skjermingshjemmel=choice.skjermingshjemmel, skjermingMetadata=choice.skjermingMetadata)
    parties = []
    for row in range(MAX_PARTIES):
        if f"party-{row}-navn" not in form:
            break
        identifier = str(form.get(f"party-{row}-id", ""))
        parties.append(PartyEdit(
            id=int(identifier) if identifier.isdigit() else None,
            korrespondanseparttype=str(form.get(f"party-{row}-type", "Avsender")),
            navn=str(form.get(f"party-{row}-navn", "")), epost=str(form.get(f"party-{row}-epost", "")) or None,
            remove=form.get(f"party-{row}-remove") == "1",
        ))
    return RegistrationEdit(**change, parties=tuple(parties))


def _dokumentnummer(form: Any, _: Callable[..., str]) -> int:
    try:
        value = int(str(form.get("dokument", "")))
    except ValueError:
        raise ReviewError(_("Say which document.")) from None
    if value < 1:
        raise ReviewError(_("Say which document."))
    return value


def _after(desk: Desk, kode: str, number: str) -> str:
    """Where a decision leads: the next item still waiting after this one, else the queue."""
    year, sequence = (int(part) for part in number.split("/"))
    for entry in api.review_list(desk.opened, kode):
        other_year, other = (int(part) for part in entry.journalnummer.split("/"))
        if (other_year, other) > (year, sequence):
            return _item_href(kode, entry.journalnummer)
    return f"/queue/{quote(kode)}"


# ---------------------------------------------------------------- runs, quarantine, the public journal


async def runs(desk: Desk, request: Request) -> Response:
    user = await _require_user(desk, request)
    if not any(user.may_see(a.kode) for a in desk.settings.arkivskaper):
        raise _Refused(403, _gettext(desk, request)("Your user has no access to any arkivskaper yet."))
    entries = await run_in_threadpool(desk_extras.recent_runs, desk.opened)
    return _page(desk, request, "runs.html", user=user, kode=request.query_params.get("kode"), runs=entries)


async def run_report(desk: Desk, request: Request) -> Response:
    """A run's own HTML report, to users with a grant for each arkivskaper in it (cleared where it shows skjerming)."""
    user = await _require_user(desk, request)
    run_id = request.path_params["run_id"]
    access = await run_in_threadpool(desk_extras.report_access, desk.opened, run_id)
    if not all(user.may_see(kode) for kode in access.creators) or not all(
        user.cleared_for(kode) for kode in access.screened
    ):
        raise _Refused(403, _gettext(desk, request)(
            "This report shows items of an arkivskaper you have no access to, or screened ones you are not cleared for."
        ))
    try:
        html = await run_in_threadpool(desk_extras.run_report_html, desk.opened, run_id)
    except ReviewError as exc:
        raise _Refused(404, str(exc)) from exc
    # The report is a page of its own with its own inline styles and charts, and no script.
    return HTMLResponse(html, headers={"Content-Security-Policy": REPORT_POLICY})


async def quarantine(desk: Desk, request: Request) -> Response:
    """What the runs could not take in: names and reasons can name people, so only for cleared users."""
    kode = request.path_params["kode"]
    user = await _checked_user(desk, request, kode)
    _require_cleared(desk, request, user, kode, True)
    files = await run_in_threadpool(desk_extras.quarantine, desk.opened, kode)
    return _page(desk, request, "quarantine.html", user=user, kode=kode, files=files, may_decide=user.may_decide(kode))


async def release(desk: Desk, request: Request) -> Response:
    kode = request.path_params["kode"]
    form = await _form(desk, request)
    user = await _checked_user(desk, request, kode)
    _ = _gettext(desk, request)
    if not user.may_decide(kode):
        raise _Refused(403, _("Your role lets you look, not decide (leser)."))
    _require_cleared(desk, request, user, kode, True)
    name = str(form.get("name", ""))
    try:
        await run_in_threadpool(desk_extras.release, desk.opened, kode, name, user.username)
    except NoarkpipeError as exc:
        raise _Refused(409, str(exc)) from exc
    request.session["flash"] = _("%(name)s is back in the inbox; the next run takes it in again.", name=name)
    return RedirectResponse(f"/quarantine/{quote(kode)}", status_code=303)


async def journal(desk: Desk, request: Request) -> Response:
    kode = request.path_params["kode"]
    user = await _checked_user(desk, request, kode)
    date_from, date_to, error = _period(request)
    error = _gettext(desk, request)(error) if error else None
    response = _page(desk, request, "journal.html", user=user, kode=kode, date_from=date_from, date_to=date_to,
                     error=error)
    # The preview is framed from our own address, sandboxed (no script, no forms).
    response.headers["Content-Security-Policy"] = security.SECURITY_HEADERS["Content-Security-Policy"].replace(
        "default-src 'none';", "default-src 'none'; frame-src 'self';"
    )
    return response


async def journal_preview(desk: Desk, request: Request) -> Response:
    """The postliste exactly as `journal publish` writes it: what anyone may read, so any grant suffices."""
    kode = request.path_params["kode"]
    await _checked_user(desk, request, kode)
    date_from, date_to, error = _period(request)
    if error or date_from is None or date_to is None:
        raise _Refused(400, error or "from and to are needed")
    try:
        html = await run_in_threadpool(desk_extras.journal_preview, desk.opened, kode, date_from, date_to)
    except NoarkpipeError as exc:
        raise _Refused(409, str(exc)) from exc
    return HTMLResponse(html, headers={"Content-Security-Policy": PREVIEW_POLICY, "X-Frame-Options": "SAMEORIGIN"})


REPORT_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'"
PREVIEW_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; base-uri 'none'"


def _period(request: Request) -> tuple[date | None, date | None, str | None]:
    text_from, text_to = request.query_params.get("from", ""), request.query_params.get("to", "")
    if not text_from and not text_to:
        return None, None, None
    try:
        return date.fromisoformat(text_from), date.fromisoformat(text_to), None
    except ValueError:
        return None, None, "write the dates as YYYY-MM-DD"


# ---------------------------------------------------------------- helpers


async def _checked_user(desk: Desk, request: Request, kode: str) -> desk_users.DeskUser:
    user = await _require_user(desk, request)
    _require_grant(desk, request, user, kode)
    return user


class _Redirect(_Refused):
    def __init__(self, target: str) -> None:
        super().__init__(303, target)
        self.target = target


def _number(request: Request) -> str:
    return f"{request.path_params['year']}/{request.path_params['number']}"


def _item_href(kode: str, number: str) -> str:
    return f"/item/{quote(kode)}/{number}"
