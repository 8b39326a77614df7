"""The Microsoft 365 stand-in (tests/helpers/m365.py) behaves as Entra ID and Graph do, for the clients we use.

The Graph source and the IMAP XOAUTH2 tests trust it, so it is checked here with
the real clients: msal signs in as the app (secret and certificate), requests
calls Graph, and a real Dovecot takes XOAUTH2/OAUTHBEARER logins checked against
the stand-in's token introspection, while password users still log in.
"""

from __future__ import annotations

import imaplib
import shutil
from urllib.parse import quote

import msal
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID

from helpers.dovecot import dovecot_binary, start_dovecot
from helpers.m365 import M365
from helpers.tlsca import make_app_certificate, make_ca

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
IMAP_SCOPE = "https://outlook.office365.com/.default"
MAILBOX = "postmottak@fjellvik.kommune.no"


def _mime(n: int, body: bytes = b"Hei.\r\n") -> bytes:
    return f"Message-ID: <{n}@fjellvik.kommune.no>\r\nSubject: Brev {n}\r\nFrom: a@example.org\r\n\r\n".encode() + body


@pytest.fixture
def m365():
    with M365() as server:
        yield server
    assert not server.errors, server.errors


def _app(m365: M365, credential=None, *, tenant: str | None = None, client_id: str | None = None):
    return msal.ConfidentialClientApplication(
        client_id or m365.client_id,
        client_credential=credential if credential is not None else m365.client_secret,
        authority=f"{m365.authority_host}/{tenant or m365.tenant}",
        instance_discovery=False,
        http_client=m365.session(),
    )


def _token(m365: M365, scope: str = GRAPH_SCOPE) -> str:
    result = _app(m365).acquire_token_for_client([scope])
    assert "access_token" in result, result
    return result["access_token"]


class Graph:
    """requests against the stand-in's Graph with one token, paths relative to the mailbox."""

    def __init__(self, m365: M365, token: str | None = None, mailbox: str = MAILBOX) -> None:
        self.m365 = m365
        self.session = m365.session()
        self.session.headers["Authorization"] = f"Bearer {token or _token(m365)}"
        self.base = f"{m365.graph_url}/users/{quote(mailbox)}"

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.session.get(path if path.startswith("https://") else self.base + path, **kwargs)

    def post(self, path: str, json: dict, **kwargs) -> requests.Response:
        return self.session.post(self.base + path, json=json, **kwargs)

    def delta(self, url: str, page_size: int | None = None) -> tuple[list[list[dict]], str]:
        """Every page of one delta round, and the deltaLink it ends with."""
        headers = {"Prefer": f"odata.maxpagesize={page_size}"} if page_size else {}
        pages = []
        while True:
            reply = self.get(url, headers=headers)
            assert reply.status_code == 200, reply.text
            body = reply.json()
            pages.append(body["value"])
            if "@odata.deltaLink" in body:
                assert "@odata.nextLink" not in body
                return pages, body["@odata.deltaLink"]
            url = body["@odata.nextLink"]


def _message_path(message_id: str) -> str:
    return "/messages/" + quote(message_id, safe="")


# -- TLS and sign-in ------------------------------------------------------------------------------------------


def test_the_test_ca_issues_a_leaf_that_requests_trusts_and_a_stranger_does_not(m365, tmp_path):
    assert m365.session().get(f"{m365.authority_host}/{m365.tenant}/v2.0/.well-known/openid-configuration").ok
    stranger = requests.Session()
    stranger.trust_env = False
    stranger.verify = str(make_ca(tmp_path).cafile)
    with pytest.raises(requests.exceptions.SSLError):
        stranger.get(m365.url + "/")
    (tmp_path / "ca").mkdir()
    ca = make_ca(tmp_path / "ca")
    leaf = x509.load_pem_x509_certificate(ca.issue(tmp_path / "ca")[0].read_bytes())
    authority = x509.load_pem_x509_certificate(ca.cafile.read_bytes())
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert (
        leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
        == authority.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    )


def test_msal_signs_in_with_the_secret_once_and_keeps_the_token(m365):
    app = _app(m365)
    first = app.acquire_token_for_client([GRAPH_SCOPE])
    second = app.acquire_token_for_client([GRAPH_SCOPE])
    assert first["token_type"] == "Bearer" and first["expires_in"] == 3600
    assert second["access_token"] == first["access_token"]
    assert len(m365.token_requests) == 1
    assert m365.token_requests[0]["scope"] == GRAPH_SCOPE
    assert [(method, path) for method, path, _ in m365.requests] == [("POST", f"/{m365.tenant}/oauth2/v2.0/token")]
    unknown_user = Graph(m365, first["access_token"]).get(f"{m365.graph_url}/users/nobody@fjellvik.kommune.no")
    assert unknown_user.status_code == 404  # past the token check: Graph took the token
    assert unknown_user.json()["error"]["code"] == "ErrorInvalidUser"


@pytest.mark.parametrize("thumbprint", ["sha1", "sha256"])
def test_msal_signs_in_with_a_registered_certificate(m365, tmp_path, thumbprint):
    pem = make_app_certificate(tmp_path)
    certificate = x509.load_pem_x509_certificates(pem.read_bytes())[0]
    credential = (
        {"private_key": pem.read_text(), "thumbprint": certificate.fingerprint(hashes.SHA1()).hex()}
        if thumbprint == "sha1"
        else {"private_key": pem.read_text(), "public_certificate": pem.read_text()}  # msal signs PS256, x5t#S256
    )
    refused = _app(m365, credential).acquire_token_for_client([IMAP_SCOPE])
    assert refused["error"] == "invalid_client" and refused["error_codes"] == [700027]
    m365.register_certificate(pem)
    assert "access_token" in _app(m365, credential).acquire_token_for_client([IMAP_SCOPE])
    assert "client_secret" not in m365.token_requests[-1]
    (tmp_path / "other").mkdir()
    other = make_app_certificate(tmp_path / "other")
    forged = {"private_key": other.read_text(), "thumbprint": certificate.fingerprint(hashes.SHA1()).hex()}
    assert _app(m365, forged).acquire_token_for_client([IMAP_SCOPE])["error_codes"] == [700027]


@pytest.mark.parametrize(
    ("fault", "status", "error", "code"),
    [
        ("wrong secret", 401, "invalid_client", 7000215),
        ("revoke_secret", 401, "invalid_client", 7000215),
        ("expire_secret", 401, "invalid_client", 7000222),
        ("disable_app", 400, "unauthorized_client", 7000112),
        ("unknown client", 400, "unauthorized_client", 700016),
        ("scope without /.default", 400, "invalid_scope", 1002012),
    ],
)
def test_sign_in_refusals_carry_the_codes_entra_id_sends(m365, fault, status, error, code):
    credential, client_id, scope = m365.client_secret, None, GRAPH_SCOPE
    match fault:
        case "wrong secret":
            credential = "not-the-secret"
        case "unknown client":
            client_id = "11111111-2222-3333-4444-555555555555"
        case "scope without /.default":
            scope = "https://graph.microsoft.com/Mail.Read"
        case _:
            getattr(m365, fault)()
    result = _app(m365, credential, client_id=client_id).acquire_token_for_client([scope])
    assert result["error"] == error
    assert result["error_codes"] == [code]
    assert result["error_description"].startswith(f"AADSTS{code}: ")
    raw = m365.session().post(
        f"{m365.url}/{m365.tenant}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id or m365.client_id,
            "scope": scope,
            "client_secret": credential,
        },
    )
    assert raw.status_code == status


def test_an_unknown_tenant_makes_msal_refuse_at_discovery(m365):
    reply = m365.session().get(f"{m365.url}/fjellvik.example/v2.0/.well-known/openid-configuration")
    assert reply.status_code == 400
    assert reply.json()["error_codes"] == [90002]
    with pytest.raises(ValueError, match="tenant"):
        _app(m365, tenant="fjellvik.example")
    assert "access_token" in _app(m365, tenant=m365.tenant_domain).acquire_token_for_client([GRAPH_SCOPE])


# -- Graph: who may call ---------------------------------------------------------------------------------------


def test_expired_and_wrong_audience_tokens_get_401_and_a_new_token_works(m365):
    m365.grant(MAILBOX)
    graph = Graph(m365)
    assert graph.get("/mailFolders/inbox").status_code == 200
    m365.expire_tokens()
    reply = graph.get("/mailFolders/inbox")
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert "expired" in reply.json()["error"]["message"]
    assert Graph(m365, _token(m365)).get("/mailFolders/inbox").status_code == 200
    imap_token = Graph(m365, _token(m365, IMAP_SCOPE)).get("/mailFolders/inbox")
    assert imap_token.status_code == 401 and imap_token.json()["error"]["message"] == "Invalid audience."
    assert m365.session().get(m365.graph_url + f"/users/{MAILBOX}/mailFolders/inbox").status_code == 401


def test_a_mailbox_not_granted_or_a_withdrawn_permission_gets_403(m365):
    m365.add_mailbox(MAILBOX)
    graph = Graph(m365)
    denied = graph.get("/mailFolders/inbox")
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "ErrorAccessDenied"
    m365.grant(MAILBOX)
    assert graph.get("/mailFolders/inbox").status_code == 200
    m365.grant(MAILBOX, allowed=False)
    assert graph.get("/mailFolders/inbox").status_code == 403
    m365.grant(MAILBOX)
    m365.deny_permission()
    assert graph.get("/mailFolders/inbox").status_code == 403


@pytest.mark.parametrize("status", [429, 503])
def test_throttling_answers_with_retry_after_then_lets_requests_through(m365, status):
    m365.grant(MAILBOX)
    graph = Graph(m365)
    m365.throttle(2, retry_after=7, status=status)
    for _ in range(2):
        reply = graph.get("/mailFolders/inbox")
        assert reply.status_code == status
        assert reply.headers["Retry-After"] == "7"
    assert graph.get("/mailFolders/inbox").status_code == 200


# -- Graph: folders and messages ----------------------------------------------------------------------------------


def test_folders_by_well_known_name_by_filter_and_created_with_a_non_ascii_name(m365):
    m365.grant(MAILBOX)
    graph = Graph(m365)
    inbox = graph.get("/mailFolders/inbox").json()
    assert inbox["displayName"] == "Inbox"
    unencoded = m365.session().get(f"{m365.graph_url}/users/{MAILBOX}/mailFolders/{inbox['id']}", headers=graph.session.headers)
    assert unencoded.json()["id"] == inbox["id"]

    def named(name: str) -> list[dict]:
        escaped = name.replace("'", "''")
        return graph.get("/mailFolders", params={"$filter": f"displayName eq '{escaped}'"}).json()["value"]

    assert named("Journalført") == []
    created = graph.post("/mailFolders", {"displayName": "Journalført"})
    assert created.status_code == 201
    assert [f["id"] for f in named("Journalført")] == [created.json()["id"]]
    assert graph.post("/mailFolders", {"displayName": "journalført"}).status_code == 409
    assert graph.post("/mailFolders", {"displayName": "O'Brien's"}).status_code == 201
    assert [f["displayName"] for f in named("O'Brien's")] == ["O'Brien's"]
    assert any(f.display_name == "Journalført" for f in m365.folders(MAILBOX))


def test_value_gives_back_the_exact_bytes_and_ids_need_url_encoding(m365):
    m365.grant(MAILBOX)
    mime = _mime(1, "Æ ø å\r\n".encode("latin-1") + bytes(range(256)) + b"\r\n.\r\n")
    message_id = m365.add_message(MAILBOX, mime)
    assert {"=", "-", "_"} <= set(message_id)
    graph = Graph(m365)
    reply = graph.get(_message_path(message_id) + "/$value")
    assert reply.status_code == 200 and reply.content == mime
    assert reply.headers["Content-Type"].startswith("text/plain")
    assert graph.get("/messages/" + quote("AAMk-no_such=", safe="") + "/%24value").status_code == 404
    assert any(path.endswith(f"/messages/{message_id}/$value") for _, path, _ in m365.requests)


def test_patch_marks_a_message_read(m365):
    m365.grant(MAILBOX)
    message_id = m365.add_message(MAILBOX, _mime(1))
    graph = Graph(m365)
    reply = graph.session.patch(graph.base + _message_path(message_id), json={"isRead": True})
    assert reply.status_code == 200 and reply.json()["isRead"] is True
    assert m365.messages(MAILBOX)[0].is_read


@pytest.mark.parametrize("immutable", [False, True])
def test_move_gives_a_new_id_unless_immutable_ids_were_asked_for(m365, immutable):
    m365.grant(MAILBOX)
    message_id = m365.add_message(MAILBOX, _mime(1))
    graph = Graph(m365)
    destination = graph.post("/mailFolders", {"displayName": "Journalført"}).json()["id"]
    headers = {"Prefer": 'IdType="ImmutableId"'} if immutable else {}
    moved = graph.post(_message_path(message_id) + "/move", {"destinationId": destination}, headers=headers)
    assert moved.status_code == 201
    assert (moved.json()["id"] == message_id) is immutable
    assert m365.messages(MAILBOX) == []
    assert [m.id for m in m365.messages(MAILBOX, "Journalført")] == [moved.json()["id"]]
    assert graph.get(_message_path(message_id) + "/$value").status_code == (200 if immutable else 404)
    [move_headers] = [h for method, path, h in m365.requests if method == "POST" and path.endswith("/move")]
    assert move_headers.get("Prefer") == headers.get("Prefer")


# -- Graph: delta ---------------------------------------------------------------------------------------------------


def test_delta_pages_through_the_folder_then_its_delta_link_gives_only_what_came_since(m365):
    m365.grant(MAILBOX)
    ids = [m365.add_message(MAILBOX, _mime(n)) for n in range(23)]
    graph = Graph(m365)
    pages, delta_link = graph.delta("/mailFolders/inbox/messages/delta?$select=id,internetMessageId,isRead")
    assert [len(page) for page in pages] == [10, 10, 3]
    assert [item["id"] for page in pages for item in page] == ids
    assert pages[0][0]["internetMessageId"] == "<0@fjellvik.kommune.no>"
    assert "$deltatoken=" in delta_link

    assert graph.delta(delta_link)[0] == [[]]  # nothing new: one empty page
    new = [m365.add_message(MAILBOX, _mime(n)) for n in range(23, 28)]
    pages, next_delta_link = graph.delta(delta_link, page_size=2)
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [item["id"] for page in pages for item in page] == new
    assert [item["id"] for item in graph.delta(delta_link)[0][0]] == new  # a deltaLink may be read again
    assert graph.delta(next_delta_link)[0] == [[]]
    prefers = [headers.get("Prefer") for _, path, headers in m365.requests if "/delta" in path]
    assert "odata.maxpagesize=2" in prefers


def test_a_message_moved_out_shows_as_removed_and_as_new_where_it_went(m365):
    m365.grant(MAILBOX)
    by_person, by_app = m365.add_message(MAILBOX, _mime(1)), m365.add_message(MAILBOX, _mime(2))
    graph = Graph(m365)
    destination = graph.post("/mailFolders", {"displayName": "Journalført"}).json()["id"]
    _, inbox_link = graph.delta("/mailFolders/inbox/messages/delta")
    _, journal_link = graph.delta(f"/mailFolders/{quote(destination, safe='')}/messages/delta")
    new_id = graph.post(_message_path(by_app) + "/move", {"destinationId": destination}).json()["id"]
    elsewhere = m365.move_message(MAILBOX, by_person, "deleteditems")  # as someone in Outlook would

    assert graph.delta(inbox_link)[0] == [
        [
            {"@odata.type": "#microsoft.graph.message", "id": by_app, "@removed": {"reason": "deleted"}},
            {"@odata.type": "#microsoft.graph.message", "id": by_person, "@removed": {"reason": "deleted"}},
        ]
    ]
    assert [item["id"] for item in graph.delta(journal_link)[0][0]] == [new_id]
    assert [m.id for m in m365.messages(MAILBOX, "deleteditems")] == [elsewhere]
    assert elsewhere != by_person


def test_a_forgotten_sync_state_answers_410(m365):
    m365.grant(MAILBOX)
    for n in range(12):
        m365.add_message(MAILBOX, _mime(n))
    graph = Graph(m365)
    _, delta_link = graph.delta("/mailFolders/inbox/messages/delta")
    next_link = graph.get("/mailFolders/inbox/messages/delta").json()["@odata.nextLink"]
    m365.expire_delta_tokens()
    for link in (delta_link, next_link):
        reply = graph.get(link)
        assert reply.status_code == 410
        assert reply.json()["error"]["code"] == "SyncStateNotFound"
    assert graph.get(delta_link.replace("$deltatoken=", "$deltatoken=x")).status_code == 410
    assert len(graph.delta("/mailFolders/inbox/messages/delta")[0]) == 2  # a fresh round starts over


# -- IMAP: Dovecot checks tokens against the stand-in's introspection -------------------------------------------

PASSWORD_USER, PASSWORD = "kari", "blåbærsyltetøy-2026"
TOKEN_USER = "postmottak1"


@pytest.fixture(scope="module")
def imap_server():
    """One stand-in and a Dovecot asking it about tokens; the tests below share them, so they take turns with faults."""
    if dovecot_binary() is None:
        pytest.skip("dovecot is not installed (apt-get install dovecot-imapd)")
    with M365() as m365:
        m365.grant_imap(TOKEN_USER)
        server = start_dovecot(
            {TOKEN_USER: "unused-password", PASSWORD_USER: PASSWORD}, oauth2_introspection_url=m365.introspection_url
        )
        try:
            yield m365, server
        finally:
            server.stop()
            shutil.rmtree(server.root, ignore_errors=True)
    assert not m365.errors, m365.errors


def _sasl(server, mechanism: str, user: str, token: str) -> bool:
    """Log in by XOAUTH2 or OAUTHBEARER; after a refusal the client answers the server's error challenge as the RFCs say."""
    first = (
        f"user={user}\x01auth=Bearer {token}\x01\x01"
        if mechanism == "XOAUTH2"
        else f"n,a={user},\x01host=127.0.0.1\x01port={server.imap_port}\x01auth=Bearer {token}\x01\x01"
    )
    answers = iter([first.encode(), b"" if mechanism == "XOAUTH2" else b"\x01"])
    imap = imaplib.IMAP4("127.0.0.1", server.imap_port, timeout=10)
    try:
        imap.authenticate(mechanism, lambda _challenge: next(answers))
    except imaplib.IMAP4.error:
        return False
    else:
        assert imap.select("INBOX")[0] == "OK"
        return True
    finally:
        imap.logout()


def _password_login(server) -> bool:
    imap = imaplib.IMAP4("127.0.0.1", server.imap_port, timeout=10)
    try:
        return imap.authenticate("PLAIN", lambda _: f"\0{PASSWORD_USER}\0{PASSWORD}".encode())[0] == "OK"
    finally:
        imap.logout()


def test_dovecot_takes_a_valid_token_by_either_mechanism_and_passwords_still(imap_server):
    m365, server = imap_server
    token = _token(m365, IMAP_SCOPE)
    asked = len(m365.introspection_requests)
    assert _sasl(server, "XOAUTH2", TOKEN_USER, token)
    assert _sasl(server, "OAUTHBEARER", TOKEN_USER, token)
    assert [r["token"] for r in m365.introspection_requests[asked:]] == [token, token]  # asked the stand-in each time
    assert _password_login(server)
    assert len(m365.introspection_requests) == asked + 2  # a password is never sent there


def test_dovecot_refuses_tokens_not_good_for_the_mailbox(imap_server):
    """Each refusal costs Dovecot's half-second failure delay, so each case is tried by one mechanism only."""
    m365, server = imap_server
    assert not _sasl(server, "XOAUTH2", PASSWORD_USER, _token(m365, IMAP_SCOPE))  # the app was not granted that mailbox
    assert not _sasl(server, "OAUTHBEARER", TOKEN_USER, _token(m365, GRAPH_SCOPE))  # a Graph token is not for IMAP
    assert not _sasl(server, "XOAUTH2", TOKEN_USER, "not-a-token")


def test_dovecot_refuses_a_token_once_expired_and_takes_a_new_one(imap_server):
    m365, server = imap_server
    token = _token(m365, IMAP_SCOPE)
    assert _sasl(server, "XOAUTH2", TOKEN_USER, token)
    m365.expire_tokens()
    assert not _sasl(server, "XOAUTH2", TOKEN_USER, token)
    assert _sasl(server, "XOAUTH2", TOKEN_USER, _token(m365, IMAP_SCOPE))
    assert _password_login(server)
