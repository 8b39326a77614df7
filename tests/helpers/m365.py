"""A stand-in for Microsoft 365 on loopback: Entra ID sign-in for one app registration, and the Graph mail calls we use.

What it answers, in the shapes the real services send:

- Sign-in (`authority_host` = `url`): `GET /{tenant}/v2.0/.well-known/openid-configuration`
  and `POST /{tenant}/oauth2/v2.0/token` for the client-credentials flow, with a client
  secret or a client assertion (a JWT signed with a registered certificate's key). Refusals
  carry the AADSTS codes an operator meets: a wrong or revoked secret (7000215), an expired
  one (7000222), an app unknown in the tenant (700016), a disabled app (7000112), a wrong
  tenant (90002). A token is good for one resource: Graph or Exchange Online (IMAP).
- Graph (`graph_url`): mail folders (get, filter by display name, create), messages
  delta with `@odata.nextLink` / `@odata.deltaLink` / `@removed` and 410 SyncStateNotFound,
  the MIME bytes (`$value`), move (a new id unless `Prefer: IdType="ImmutableId"`), and
  marking read. Every call wants a valid Graph token and a mailbox the app was granted.
- Token introspection on plain HTTP (`introspection_url`), which Dovecot's oauth2 passdb
  asks, so a real IMAP server takes XOAUTH2/OAUTHBEARER logins with the stand-in's tokens.

Fault switches (`revoke_secret`, `expire_secret`, `disable_app`, `expire_tokens`,
`deny_permission`, `expire_delta_tokens`, `throttle`) make the failures a test needs, and
`requests` / `token_requests` record what the client sent. State sits behind one lock;
nothing is logged. Ids are opaque base64-like strings with `=`, `-` and `_`, so a client
that forgets to URL-encode them is caught.
"""

from __future__ import annotations

import base64
import datetime
import itertools
import json
import re
import secrets
import shutil
import socket
import ssl
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from email.message import Message as HeaderMessage
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qsl, unquote, unquote_plus, urlsplit

import jwt
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from requests.structures import CaseInsensitiveDict

from helpers.tlsca import make_ca

GRAPH = "https://graph.microsoft.com"
OUTLOOK = "https://outlook.office365.com"
_RESOURCES = {
    GRAPH: GRAPH,
    "00000003-0000-0000-c000-000000000000": GRAPH,
    OUTLOOK: OUTLOOK,
    "https://outlook.office.com": OUTLOOK,
    "00000002-0000-0ff1-ce00-000000000000": OUTLOOK,
}
_RESERVED_SCOPES = {"openid", "profile", "offline_access"}

# The folders every Exchange Online mailbox has, by well-known name, under the root folder.
_DEFAULT_FOLDERS = {
    "inbox": "Inbox",
    "drafts": "Drafts",
    "sentitems": "Sent Items",
    "deleteditems": "Deleted Items",
    "junkemail": "Junk Email",
    "archive": "Archive",
}
_DELTA_OPTIONS = {"$select", "$top", "$skiptoken", "$deltatoken", "changetype"}
_KEYED_SEGMENT = re.compile(r"^([A-Za-z]+)\('(.*)'\)$")  # OData key syntax: mailFolders('AAMk...')
_FILTER_DISPLAY_NAME = re.compile(r"^\s*displayName\s+eq\s+'((?:[^']|'')*)'\s*$", re.IGNORECASE)
_EXPIRED = "Lifetime validation failed, the token is expired."
_DENIED = "Access is denied. Check credentials and try again."


@dataclass
class Folder:
    id: str
    display_name: str
    well_known: str | None = None
    parent_id: str | None = None


@dataclass
class Message:
    id: str
    mime: bytes
    is_read: bool
    folder_id: str
    internet_message_id: str | None = None
    subject: str | None = None
    received: datetime.datetime = field(default_factory=lambda: datetime.datetime.now(datetime.UTC))


@dataclass
class _Mailbox:
    address: str
    user_id: str
    root_id: str
    folders: dict[str, Folder] = field(default_factory=dict)
    messages: dict[int, Message] = field(default_factory=dict)  # by a key that survives moves
    granted: bool = False


@dataclass
class _Token:
    resource: str
    expires_at: float  # time.monotonic()
    expired: bool = False


@dataclass
class _Certificate:
    public_key: Any
    sha1: bytes
    sha256: bytes


@dataclass
class _Event:
    """One change to a folder's contents, as a delta query reports it later."""

    seq: int
    mailbox: str
    folder_id: str
    key: int
    message_id: str  # the message's id at the time
    kind: str  # added, removed


@dataclass
class _Pages:
    """A delta round being paged through: what is left to hand out, and where the round began."""

    mailbox: str
    folder_id: str
    entries: list[tuple[str, Any]]  # ("item", key) or ("removed", id)
    base_seq: int
    page_size: int


@dataclass
class _Mark:
    """A deltaLink: changes to the folder after `seq` are what the next round reports."""

    mailbox: str
    folder_id: str
    seq: int
    page_size: int


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, payload: Any, **headers: str) -> _Reply:
    return _Reply(status, json.dumps(payload, ensure_ascii=False).encode(), "application/json; charset=utf-8", headers)


def _graph_error(status: int, code: str, message: str = "", **headers: str) -> _Reply:
    inner = {"date": _utc(datetime.datetime.now(datetime.UTC)), "request-id": str(uuid.uuid4())}
    return _json(status, {"error": {"code": code, "message": message, "innerError": inner}}, **headers)


def _utc(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _opaque_id(prefix: str) -> str:
    """An id like Exchange's: base64 of binary, here made sure to hold '-', '_' and '='."""
    return prefix + base64.urlsafe_b64encode(secrets.token_bytes(30) + b"\xfb\xff").decode()  # ...-_8=


def _preferences(headers: HeaderMessage) -> dict[str, str]:
    """The Prefer header(s) as name (lower case) → value without quotes."""
    found = {}
    for header in headers.get_all("Prefer") or []:
        for part in header.split(","):
            name, _, value = part.strip().partition("=")
            if name:
                found[name.strip().lower()] = value.strip().strip('"')
    return found


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real services and msal's session expect
    server_version = "M365-stand-in"
    timeout = 30  # an idle kept-alive connection is closed after this

    def _dispatch(self) -> None:
        server: Any = self.server
        try:
            body = self._read_body()
            reply = server.route(self.command, self.path, self.headers, body)
        except Exception:
            server.errors.append(traceback.format_exc())
            reply = _graph_error(500, "InternalServerError", "the stand-in failed; see M365.errors")
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline().strip():  # trailers
                pass
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _dispatch

    def log_message(self, *_args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # kept-alive client connections must not hold up stop()

    def __init__(self, route: Callable[..., _Reply], errors: list[str], context: ssl.SSLContext | None = None) -> None:
        self.route = route
        self.errors = errors
        self.context = context
        super().__init__(("127.0.0.1", 0), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """TLS is set up here, in the connection's own thread, so a slow or failing handshake blocks no one else."""
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # headers and body leave at once, not 40 ms apart
        if self.context is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(10)
        try:
            connection = self.context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return  # e.g. a client that does not trust the CA: its own error is the test's evidence
        try:
            super().finish_request(connection, client_address)
        finally:
            connection.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet about connections the client dropped; anything else is a stand-in bug, kept in `errors`."""
        error = traceback.format_exc()
        dropped = ("ConnectionResetError", "BrokenPipeError", "TimeoutError", "SSLEOFError")  # SSLEOF: TLS cut mid-body
        if not any(name in error for name in dropped):
            self.errors.append(error)


class M365:
    """Entra ID sign-in plus a Microsoft Graph mail subset for one tenant and app registration.

    Use as a context manager (or `start()`/`stop()`). Test-side methods (`add_mailbox`,
    `add_message`, `messages`, the fault switches) take the lock like the request handlers.
    """

    def __init__(self, *, page_size: int = 10, token_lifetime_s: int = 3600) -> None:
        self.tenant = str(uuid.uuid4())
        self.tenant_domain = "fjellvik.onmicrosoft.com"
        self.client_id = str(uuid.uuid4())
        self.client_secret = f"{secrets.token_hex(2)}8Q~{secrets.token_urlsafe(30)[:36]}"
        self.page_size = page_size
        self.token_lifetime_s = token_lifetime_s
        self.requests: list[tuple[str, str, CaseInsensitiveDict]] = []
        self.token_requests: list[dict[str, str]] = []
        self.introspection_requests: list[dict[str, str]] = []
        self.errors: list[str] = []
        self._lock = threading.RLock()
        self._folder: Path | None = None
        self._servers: list[_Server] = []
        self._certificates: list[_Certificate] = []
        self._secret_state = "valid"  # valid, revoked, expired
        self._app_disabled = False
        self._permission_denied = False
        self._throttle: tuple[int, int, int] = (0, 0, 429)  # count left, Retry-After, status
        self.throttled = 0
        """How many Graph requests were answered 429/503 by `throttle()`."""
        self._tokens: dict[str, _Token] = {}
        self._mailboxes: dict[str, _Mailbox] = {}
        self._imap_grants: list[str] = []
        self._keys = itertools.count(1)
        self._seq = 0
        self._events: list[_Event] = []
        self._sync: dict[str, _Pages | _Mark] = {}
        self.cafile = Path()
        self.url = self.authority_host = self.graph_url = self.introspection_url = ""

    # -- life cycle -------------------------------------------------------------------------------------------

    def start(self) -> Self:
        self._folder = Path(tempfile.mkdtemp(prefix="noarkpipe-m365-"))
        ca = make_ca(self._folder)
        certfile, keyfile = ca.issue(self._folder)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(certfile, keyfile)
        https = _Server(self._route_https, self.errors, context)
        introspection = _Server(self._route_introspection, self.errors)
        self._servers = [https, introspection]
        for server in self._servers:
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.cafile = ca.cafile
        self.url = f"https://localhost:{https.server_address[1]}"
        self.authority_host = self.url
        self.graph_url = self.url + "/v1.0"
        self.introspection_url = f"http://127.0.0.1:{introspection.server_address[1]}/introspect"
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers = []
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def session(self) -> requests.Session:
        """A requests session that trusts the stand-in's CA, and not REQUESTS_CA_BUNDLE from the environment
        (which would otherwise override `verify`)."""
        session = requests.Session()
        session.trust_env = False
        session.verify = str(self.cafile)
        return session

    # -- the app registration and its faults -------------------------------------------------------------------

    def register_certificate(self, pem_path: Path) -> None:
        """Upload a certificate credential: client assertions signed with its key are accepted from now on."""
        for certificate in x509.load_pem_x509_certificates(Path(pem_path).read_bytes()):
            with self._lock:
                self._certificates.append(
                    _Certificate(
                        certificate.public_key(), certificate.fingerprint(hashes.SHA1()), certificate.fingerprint(hashes.SHA256())
                    )
                )

    def revoke_secret(self) -> None:
        """The client secret was deleted in the portal: AADSTS7000215 from now on."""
        with self._lock:
            self._secret_state = "revoked"

    def expire_secret(self) -> None:
        """The client secret passed its end date: AADSTS7000222 from now on."""
        with self._lock:
            self._secret_state = "expired"

    def disable_app(self) -> None:
        """The app registration's service principal was disabled: AADSTS7000112 for every sign-in."""
        with self._lock:
            self._app_disabled = True

    def expire_tokens(self) -> None:
        """Every token issued so far is now refused as expired (Graph 401, introspection inactive); new ones work."""
        with self._lock:
            for token in self._tokens.values():
                token.expired = True

    def deny_permission(self) -> None:
        """The admin consent to Mail.ReadWrite was withdrawn: every Graph call answers 403."""
        with self._lock:
            self._permission_denied = True

    def expire_delta_tokens(self) -> None:
        """The server forgot every sync state: each nextLink and deltaLink answers 410 SyncStateNotFound."""
        with self._lock:
            self._sync.clear()

    def throttle(self, count: int, retry_after: int = 1, status: int = 429) -> None:
        """The next `count` Graph requests answer `status` (429 or 503) with `Retry-After: retry_after`."""
        with self._lock:
            self._throttle = (count, retry_after, status)

    # -- mailboxes and mail ---------------------------------------------------------------------------------------

    def add_mailbox(self, address: str) -> None:
        """A mailbox with Exchange's default folders; the app may not read it until `grant(address)`."""
        with self._lock:
            if address.lower() in self._mailboxes:
                return
            root = _opaque_id("AAMkRoot")
            mailbox = _Mailbox(address=address, user_id=str(uuid.uuid4()), root_id=root)
            for well_known, name in _DEFAULT_FOLDERS.items():
                folder = Folder(_opaque_id("AAMkF"), name, well_known, root)
                mailbox.folders[folder.id] = folder
            self._mailboxes[address.lower()] = mailbox

    def grant(self, address: str, allowed: bool = True) -> None:
        """Let the app read and change the mailbox through Graph (adding the mailbox if needed), or take that away."""
        with self._lock:
            self.add_mailbox(address)
            self._mailboxes[address.lower()].granted = allowed

    def grant_imap(self, address: str, allowed: bool = True) -> None:
        """Let the app sign in to IMAP as `address`.

        Dovecot sends introspection only the token, not the login name, so the stand-in names
        the address granted last; a login as any other address is refused as a name mismatch.
        """
        with self._lock:
            if address in self._imap_grants:
                self._imap_grants.remove(address)
            if allowed:
                self._imap_grants.append(address)

    def add_message(self, address: str, mime: bytes, folder: str = "inbox", received: datetime.datetime | None = None) -> str:
        """Deliver a message into a folder (id, well-known name or display name); returns its id."""
        headers = BytesHeaderParser(policy=default_policy).parsebytes(mime)
        with self._lock:
            mailbox = self._mailbox(address)
            target = self._test_folder(mailbox, folder)
            message = Message(
                id=_opaque_id("AAMkM"),
                mime=bytes(mime),
                is_read=False,
                folder_id=target.id,
                internet_message_id=str(headers["Message-ID"]).strip() if headers["Message-ID"] else None,
                subject=str(headers["Subject"]) if headers["Subject"] is not None else None,
            )
            if received is not None:
                message.received = received
            key = next(self._keys)
            mailbox.messages[key] = message
            self._event(mailbox, target.id, key, message.id, "added")
            return message.id

    def messages(self, address: str, folder: str = "inbox") -> list[Message]:
        """Copies of the messages now in a folder (id, well-known name or display name), oldest first."""
        with self._lock:
            mailbox = self._mailbox(address)
            target = self._test_folder(mailbox, folder)
            return [replace(m) for _, m in self._in_folder(mailbox, target.id)]

    def folders(self, address: str) -> list[Folder]:
        with self._lock:
            return [replace(f) for f in self._mailbox(address).folders.values()]

    def move_message(self, address: str, message_id: str, folder: str) -> str:
        """Move a message as a person in Outlook would (its id changes); returns the new id."""
        with self._lock:
            mailbox = self._mailbox(address)
            key = self._message_key(mailbox, message_id)
            if key is None:
                raise KeyError(message_id)
            return self._move(mailbox, key, self._test_folder(mailbox, folder).id, immutable=False).id

    def delete_message(self, address: str, message_id: str) -> None:
        with self._lock:
            mailbox = self._mailbox(address)
            key = self._message_key(mailbox, message_id)
            if key is None:
                raise KeyError(message_id)
            message = mailbox.messages.pop(key)
            self._event(mailbox, message.folder_id, key, message.id, "removed")

    # -- state, under the lock -------------------------------------------------------------------------------------

    def _mailbox(self, address: str) -> _Mailbox:
        try:
            return self._mailboxes[address.lower()]
        except KeyError:
            raise KeyError(f"no mailbox {address!r}: add_mailbox() first") from None

    def _find_mailbox(self, ref: str) -> _Mailbox | None:
        """By address (user principal name) or user id, as Graph takes either."""
        found = self._mailboxes.get(ref.lower())
        return found or next((m for m in self._mailboxes.values() if m.user_id == ref.lower()), None)

    def _folder_by_ref(self, mailbox: _Mailbox, ref: str) -> Folder | None:
        """As Graph resolves a folder in a path or a destinationId: by id or well-known name."""
        if ref in mailbox.folders:
            return mailbox.folders[ref]
        return next((f for f in mailbox.folders.values() if f.well_known == ref.lower()), None)

    def _test_folder(self, mailbox: _Mailbox, ref: str) -> Folder:
        found = self._folder_by_ref(mailbox, ref) or next(
            (f for f in mailbox.folders.values() if f.display_name.lower() == ref.lower()), None
        )
        if found is None:
            raise KeyError(f"no folder {ref!r} in {mailbox.address}")
        return found

    def _in_folder(self, mailbox: _Mailbox, folder_id: str) -> list[tuple[int, Message]]:
        inside = [(key, m) for key, m in mailbox.messages.items() if m.folder_id == folder_id]
        return sorted(inside, key=lambda pair: (pair[1].received, pair[0]))

    def _message_key(self, mailbox: _Mailbox, message_id: str) -> int | None:
        return next((key for key, m in mailbox.messages.items() if m.id == message_id), None)

    def _event(self, mailbox: _Mailbox, folder_id: str, key: int, message_id: str, kind: str) -> None:
        self._seq += 1
        self._events.append(_Event(self._seq, mailbox.address.lower(), folder_id, key, message_id, kind))

    def _move(self, mailbox: _Mailbox, key: int, folder_id: str, *, immutable: bool) -> Message:
        message = mailbox.messages[key]
        self._event(mailbox, message.folder_id, key, message.id, "removed")
        message.folder_id = folder_id
        if not immutable:
            message.id = _opaque_id("AAMkM")
        self._event(mailbox, folder_id, key, message.id, "added")
        return message

    # -- HTTPS: sign-in and Graph ------------------------------------------------------------------------------

    def _route_https(self, method: str, raw_path: str, headers: HeaderMessage, body: bytes) -> _Reply:
        split = urlsplit(raw_path)
        segments = []
        for raw in split.path.split("/")[1:]:
            segment = unquote(raw)
            keyed = _KEYED_SEGMENT.match(segment)
            segments += [keyed[1], keyed[2].replace("''", "'")] if keyed else [segment]
        query = {name.lower(): value for name, value in parse_qsl(split.query, keep_blank_values=True)}
        is_token = len(segments) == 4 and segments[1:] == ["oauth2", "v2.0", "token"]
        if segments[:1] == ["v1.0"] or is_token:
            recorded = unquote(split.path) + ("?" + unquote_plus(split.query) if split.query else "")
            with self._lock:
                self.requests.append((method, recorded, CaseInsensitiveDict(headers.items())))
        if segments[:1] == ["v1.0"]:
            return self._graph(method, segments[1:], query, headers, body)
        if len(segments) == 4 and segments[1:] == ["v2.0", ".well-known", "openid-configuration"] and method == "GET":
            return self._openid_configuration(segments[0])
        if is_token and method == "POST":
            return self._token(segments[0], dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)))
        return _json(404, {"error": "not_found", "error_description": f"the stand-in has no {method} {split.path}"})

    def _known_tenant(self, tenant: str) -> bool:
        return tenant.lower() in (self.tenant, self.tenant_domain)

    def _openid_configuration(self, tenant: str) -> _Reply:
        if not self._known_tenant(tenant):
            return self._sign_in_error(400, "invalid_tenant", 90002, self._tenant_not_found(tenant))
        base = f"{self.url}/{self.tenant}"
        return _json(
            200,
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
                "jwks_uri": f"{self.url}/{self.tenant}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
                "tenant_region_scope": "EU",
                "cloud_instance_name": "microsoftonline.com",
                "msgraph_host": "graph.microsoft.com",
            },
        )

    def _tenant_not_found(self, tenant: str) -> str:
        return (
            f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the "
            "correct cloud. Check with your subscription administrator, this may happen if there are no active "
            "subscriptions for the tenant."
        )

    def _sign_in_error(self, status: int, error: str, code: int, description: str) -> _Reply:
        now = datetime.datetime.now(datetime.UTC)
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        return _json(
            status,
            {
                "error": error,
                "error_description": f"AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {correlation} "
                f"Timestamp: {now:%Y-%m-%d %H:%M:%SZ}",
                "error_codes": [code],
                "timestamp": f"{now:%Y-%m-%d %H:%M:%SZ}",
                "trace_id": trace,
                "correlation_id": correlation,
                "error_uri": f"{self.url}/error?code={code}",
            },
            **{"Cache-Control": "no-store, no-cache"},
        )

    def _token(self, tenant: str, form: dict[str, str]) -> _Reply:
        with self._lock:
            self.token_requests.append(form)
            return self._token_locked(tenant, form)

    def _token_locked(self, tenant: str, form: dict[str, str]) -> _Reply:
        if not self._known_tenant(tenant):
            return self._sign_in_error(400, "invalid_request", 90002, self._tenant_not_found(tenant))
        if form.get("grant_type") != "client_credentials":
            return self._sign_in_error(
                400, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{form.get('grant_type')}'."
            )
        client_id = form.get("client_id", "")
        if not client_id:
            return self._sign_in_error(
                400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'."
            )
        if client_id.lower() != self.client_id:
            return self._sign_in_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{self.tenant_domain}'. "
                "This can happen if the application has not been installed by the administrator of the tenant or "
                "consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
            )
        if self._app_disabled:
            return self._sign_in_error(
                400, "unauthorized_client", 7000112, f"Application '{self.client_id}'(noarkpipe) is disabled."
            )
        refused = self._check_credential(form)
        if refused is not None:
            return refused
        resource, refused = self._resource(form.get("scope", ""))
        if refused is not None:
            return refused
        access_token = secrets.token_urlsafe(48)
        self._tokens[access_token] = _Token(resource, time.monotonic() + self.token_lifetime_s)
        return _json(
            200,
            {
                "token_type": "Bearer",
                "expires_in": self.token_lifetime_s,
                "ext_expires_in": self.token_lifetime_s,
                "access_token": access_token,
            },
            **{"Cache-Control": "no-store, no-cache"},
        )

    def _check_credential(self, form: dict[str, str]) -> _Reply | None:
        if "client_secret" in form:
            if self._secret_state == "expired" and form["client_secret"] == self.client_secret:
                return self._sign_in_error(
                    401,
                    "invalid_client",
                    7000222,
                    f"The provided client secret keys for app '{self.client_id}' are expired. Visit the Azure portal to "
                    f"create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate "
                    f"credentials for added security: https://aka.ms/certCreds.",
                )
            if self._secret_state != "valid" or form["client_secret"] != self.client_secret:
                return self._sign_in_error(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
                    f"value, not the client secret ID, for a secret added to app '{self.client_id}'.",
                )
            return None
        if "client_assertion" in form:
            if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
                return self._sign_in_error(
                    400, "invalid_request", 50027, "JWT token is invalid or malformed (wrong client_assertion_type)."
                )
            why = self._assertion_refusal(form["client_assertion"])
            if why is not None:
                return self._sign_in_error(401, "invalid_client", 700027, f"Client assertion failed signature validation. {why}")
            return None
        return self._sign_in_error(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )

    def _assertion_refusal(self, assertion: str) -> str | None:
        """Why a client assertion is refused, or None: signed by a registered certificate's key, for this app and server."""
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError as exc:
            return f"The assertion is not a JWT: {exc}."

        def thumbprint(name: str) -> bytes | None:
            value = header.get(name)
            return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)) if isinstance(value, str) else None

        sha1, sha256 = thumbprint("x5t"), thumbprint("x5t#S256")
        keys = [c.public_key for c in self._certificates if c.sha1 == sha1 or c.sha256 == sha256]
        if not keys:
            return f"The key was not found. (Key ID: {header.get('x5t#S256') or header.get('x5t')})"
        for key in keys:
            try:
                claims = jwt.decode(
                    assertion,
                    key,
                    algorithms=["RS256", "PS256"],
                    options={"verify_aud": False, "require": ["exp", "aud", "iss", "sub"]},
                )
            except jwt.ExpiredSignatureError:
                return "Client assertion is not within its valid time range."
            except jwt.PyJWTError:
                continue
            if claims["iss"] != self.client_id or claims["sub"] != self.client_id:
                return "The assertion's iss and sub must be the client id."
            if not str(claims["aud"]).startswith(self.url):
                return f"The assertion's audience {claims['aud']!r} is not this token endpoint."
            return None
        return "The signature does not match the registered certificate."

    def _resource(self, scope: str) -> tuple[str, _Reply | None]:
        scopes = [s for s in scope.split() if s not in _RESERVED_SCOPES]
        if not scopes:
            return "", self._sign_in_error(
                400, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'."
            )
        if len(scopes) > 1 or not scopes[0].endswith("/.default"):
            return "", self._sign_in_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows must have a scope value "
                "with /.default suffixed to the resource identifier (application ID URI).",
            )
        resource = _RESOURCES.get(scopes[0].removesuffix("/.default").rstrip("/").lower())
        if resource is None:
            return "", self._sign_in_error(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named {scopes[0].removesuffix('/.default')} was not found in the tenant named "
                f"{self.tenant_domain}. This can happen if the application has not been installed by the administrator "
                "of the tenant or consented to by any user in the tenant.",
            )
        return resource, None

    def _token_refusal(self, token: str | None, resource: str) -> str | None:
        """Why a bearer token is refused for `resource`, or None."""
        if not token:
            return "Access token is empty."
        found = self._tokens.get(token)
        if found is None:
            return "IDX14100: JWT is not well formed, there are no dots (.)."
        if found.expired or time.monotonic() >= found.expires_at:
            return _EXPIRED
        if found.resource != resource:
            return "Invalid audience."
        return None

    def _graph(self, method: str, segments: list[str], query: dict[str, str], headers: HeaderMessage, body: bytes) -> _Reply:
        with self._lock:
            left, retry_after, status = self._throttle
            if left > 0:
                self._throttle = (left - 1, retry_after, status)
                self.throttled += 1
                code = "TooManyRequests" if status == 429 else "ServiceUnavailable"
                return _graph_error(
                    status, code, "Application is over its MailboxConcurrency limit.", **{"Retry-After": str(retry_after)}
                )
            authorization = headers.get("Authorization", "")
            scheme, _, token = authorization.partition(" ")
            refusal = self._token_refusal(token.strip() if scheme.lower() == "bearer" else None, GRAPH)
            if refusal is not None:
                return _graph_error(
                    401,
                    "InvalidAuthenticationToken",
                    refusal,
                    **{"WWW-Authenticate": f'Bearer realm="", authorization_uri="{self.url}/common/oauth2/authorize"'},
                )
            if self._permission_denied:
                return _graph_error(403, "ErrorAccessDenied", _DENIED)
            if len(segments) < 2 or segments[0].lower() != "users":
                return _graph_error(400, "BadRequest", f"Resource not found for the segment '{'/'.join(segments[:1])}'.")
            mailbox = self._find_mailbox(segments[1])
            if mailbox is None:
                return _graph_error(404, "ErrorInvalidUser", f"The requested user '{segments[1]}' is invalid.")
            if not mailbox.granted:
                return _graph_error(403, "ErrorAccessDenied", _DENIED)
            return self._mail(method, mailbox, segments[2:], query, headers, body)

    def _mail(
        self, method: str, mailbox: _Mailbox, rest: list[str], query: dict[str, str], headers: HeaderMessage, body: bytes
    ) -> _Reply:
        preferences = _preferences(headers)
        match [s.lower() for s in rest], method:
            case ["mailfolders"], "GET":
                return self._list_folders(mailbox, query)
            case ["mailfolders"], "POST":
                return self._create_folder(mailbox, body)
            case ["mailfolders", _], "GET":
                folder = self._folder_by_ref(mailbox, rest[1])
                if folder is None:
                    return _graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
                return _json(200, self._folder_json(mailbox, folder))
            case ["mailfolders", _, "messages", "delta"], "GET":
                return self._delta(mailbox, rest[1], query, preferences)
            case ["messages", _], "GET" | "PATCH":
                return self._message(method, mailbox, rest[1], body)
            case ["messages", _, "$value"], "GET":
                key = self._message_key(mailbox, rest[1])
                if key is None:
                    return _graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
                return _Reply(200, mailbox.messages[key].mime, "text/plain")
            case ["messages", _, "move"], "POST":
                return self._move_request(mailbox, rest[1], body, preferences)
        return _graph_error(400, "BadRequest", f"The stand-in does not answer {method} {'/'.join(rest)}.")

    def _folder_json(self, mailbox: _Mailbox, folder: Folder) -> dict[str, Any]:
        inside = self._in_folder(mailbox, folder.id)
        return {
            "id": folder.id,
            "displayName": folder.display_name,
            "parentFolderId": folder.parent_id,
            "childFolderCount": 0,
            "unreadItemCount": sum(1 for _, m in inside if not m.is_read),
            "totalItemCount": len(inside),
            "isHidden": False,
        }

    def _list_folders(self, mailbox: _Mailbox, query: dict[str, str]) -> _Reply:
        folders = list(mailbox.folders.values())
        if "$filter" in query:
            wanted = _FILTER_DISPLAY_NAME.match(query["$filter"])
            if wanted is None:
                return _graph_error(400, "ErrorInvalidUrlQueryFilter", "The stand-in filters only on displayName eq '...'.")
            name = wanted[1].replace("''", "'").lower()
            folders = [f for f in folders if f.display_name.lower() == name]  # Exchange compares without case
        context = f"{self.graph_url}/$metadata#users('{mailbox.address}')/mailFolders"
        return _json(200, {"@odata.context": context, "value": [self._folder_json(mailbox, f) for f in folders]})

    def _create_folder(self, mailbox: _Mailbox, body: bytes) -> _Reply:
        try:
            name = json.loads(body)["displayName"]
        except (ValueError, KeyError, TypeError):
            return _graph_error(400, "ErrorInvalidRequest", "The request body must be JSON with a displayName.")
        if not isinstance(name, str) or not name.strip():
            return _graph_error(400, "ErrorInvalidRequest", "displayName must be a non-empty string.")
        if any(f.display_name.lower() == name.lower() for f in mailbox.folders.values()):
            return _graph_error(409, "ErrorFolderExists", "A folder with the specified name already exists.")
        folder = Folder(_opaque_id("AAMkF"), name, None, mailbox.root_id)
        mailbox.folders[folder.id] = folder
        return _json(201, self._folder_json(mailbox, folder))

    def _message_json(self, message: Message) -> dict[str, Any]:
        return {
            "@odata.type": "#microsoft.graph.message",
            "id": message.id,
            "receivedDateTime": _utc(message.received),
            "internetMessageId": message.internet_message_id,
            "subject": message.subject,
            "isRead": message.is_read,
            "parentFolderId": message.folder_id,
        }

    def _message(self, method: str, mailbox: _Mailbox, message_id: str, body: bytes) -> _Reply:
        key = self._message_key(mailbox, message_id)
        if key is None:
            return _graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        message = mailbox.messages[key]
        if method == "PATCH":
            try:
                changes = json.loads(body)
            except ValueError:
                return _graph_error(400, "ErrorInvalidRequest", "The request body must be JSON.")
            if not isinstance(changes, dict) or not isinstance(changes.get("isRead", False), bool):
                return _graph_error(400, "ErrorInvalidRequest", "isRead must be true or false.")
            message.is_read = changes.get("isRead", message.is_read)
        return _json(200, self._message_json(message))

    def _move_request(self, mailbox: _Mailbox, message_id: str, body: bytes, preferences: dict[str, str]) -> _Reply:
        key = self._message_key(mailbox, message_id)
        if key is None:
            return _graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        try:
            destination = json.loads(body)["destinationId"]
        except (ValueError, KeyError, TypeError):
            return _graph_error(400, "ErrorInvalidRequest", "The request body must be JSON with a destinationId.")
        folder = self._folder_by_ref(mailbox, str(destination))
        if folder is None:
            return _graph_error(404, "ErrorItemNotFound", "The specified folder was not found in the store.")
        immutable = preferences.get("idtype", "").lower() == "immutableid"
        return _json(201, self._message_json(self._move(mailbox, key, folder.id, immutable=immutable)))

    # -- delta ---------------------------------------------------------------------------------------------------

    def _delta(self, mailbox: _Mailbox, folder_ref: str, query: dict[str, str], preferences: dict[str, str]) -> _Reply:
        unknown = sorted(name for name in query if name not in _DELTA_OPTIONS)
        if unknown:
            return _graph_error(400, "BadRequest", f"Query option '{unknown[0]}' is not allowed for a delta query.")
        requested = preferences.get("odata.maxpagesize") or query.get("$top")
        try:
            page_size = int(requested) if requested else None
        except ValueError:
            return _graph_error(400, "BadRequest", f"Invalid page size {requested!r}.")
        applied = {"Preference-Applied": f"odata.maxpagesize={page_size}"} if preferences.get("odata.maxpagesize") else {}
        if "$skiptoken" in query or "$deltatoken" in query:
            state = self._sync.get(query.get("$skiptoken") or query.get("$deltatoken") or "")
            if state is None or state.mailbox != mailbox.address.lower():
                return _graph_error(410, "SyncStateNotFound", "The sync state generation is not found or has expired.")
            if isinstance(state, _Pages):
                pages = replace(state, page_size=page_size or state.page_size)
            else:
                pages = _Pages(
                    state.mailbox,
                    state.folder_id,
                    self._changes(mailbox, state.folder_id, state.seq),
                    self._seq,
                    page_size or state.page_size,
                )
        else:
            folder = self._folder_by_ref(mailbox, folder_ref)
            if folder is None:
                return _graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
            entries: list[tuple[str, Any]] = [("item", key) for key, _ in self._in_folder(mailbox, folder.id)]
            pages = _Pages(mailbox.address.lower(), folder.id, entries, self._seq, page_size or self.page_size)
        return _json(200, self._page(mailbox, pages), **applied)

    def _changes(self, mailbox: _Mailbox, folder_id: str, since: int) -> list[tuple[str, Any]]:
        """What a deltaLink taken at `since` reports: messages that came into the folder, and ones gone from it.

        A message that only changed (marked read) is not reported again; real Graph would list it as changed.
        """
        first: dict[int, _Event] = {}
        for event in self._events:
            if event.seq > since and event.mailbox == mailbox.address.lower() and event.folder_id == folder_id:
                first.setdefault(event.key, event)
        entries: list[tuple[str, Any]] = []
        for key, event in first.items():
            message = mailbox.messages.get(key)
            present = message is not None and message.folder_id == folder_id
            was_present = event.kind == "removed"
            if present:
                entries.append(("item", key))
            if was_present and (not present or event.message_id != message.id):
                entries.append(("removed", event.message_id))
        return entries

    def _page(self, mailbox: _Mailbox, pages: _Pages) -> dict[str, Any]:
        page, rest = pages.entries[: pages.page_size], pages.entries[pages.page_size :]
        value = []
        for kind, ref in page:
            if kind == "removed":
                value.append({"@odata.type": "#microsoft.graph.message", "id": ref, "@removed": {"reason": "deleted"}})
            elif (message := mailbox.messages.get(ref)) is not None and message.folder_id == pages.folder_id:
                value.append(self._message_json(message))
        token = secrets.token_urlsafe(24)
        link = f"{self.graph_url}/users/{mailbox.user_id}/mailFolders('{pages.folder_id}')/messages/delta"
        body: dict[str, Any] = {"@odata.context": f"{self.graph_url}/$metadata#Collection(message)", "value": value}
        if rest:
            self._sync[token] = replace(pages, entries=rest)
            body["@odata.nextLink"] = f"{link}?$skiptoken={token}"
        else:
            self._sync[token] = _Mark(pages.mailbox, pages.folder_id, pages.base_seq, pages.page_size)
            body["@odata.deltaLink"] = f"{link}?$deltatoken={token}"
        return body

    # -- introspection for Dovecot -------------------------------------------------------------------------------

    def _route_introspection(self, method: str, raw_path: str, headers: HeaderMessage, body: bytes) -> _Reply:
        if method != "POST" or urlsplit(raw_path).path != "/introspect":
            return _json(404, {"error": "not_found"})
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        with self._lock:
            self.introspection_requests.append(form)
            if self._token_refusal(form.get("token"), OUTLOOK) is not None or not self._imap_grants:
                return _json(200, {"active": False})
            return _json(200, {"active": True, "username": self._imap_grants[-1], "client_id": self.client_id})
