"""Access tokens for Microsoft 365 mailboxes: an app registration's client-credentials flow, through msal.

Exchange Online takes no passwords: IMAP (SASL XOAUTH2/OAUTHBEARER) and
Microsoft Graph want an OAuth2 access token for the app registration named
in `[arkivskaper.imap.oauth2]` or `[arkivskaper.graph.oauth2]`. msal gets it
with the app's client secret (from an environment variable) or its
certificate, keeps it in memory and gets a new one once fewer than five
minutes are left; `token(fresh=True)` drops the kept one when a server said
it had expired anyway.

Every refusal from the sign-in service comes back as an `AADSTS` code; the
ones an IT operator meets (a wrong, expired or revoked secret, an app not in
the tenant, a disabled app, a wrong tenant) become one `SourceUnavailableError`
naming the setting and the fix, so the run goes on with the other sources and
ends with exit 11. Tokens and secrets never reach a log or a message.
"""

from __future__ import annotations

import hashlib
import os
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msal
import requests
from requests.adapters import HTTPAdapter

from noarkpipe.config import OAuth2Settings
from noarkpipe.errors import ConfigError, SourceUnavailableError

IMAP_SCOPE = "https://outlook.office365.com/.default"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"

_PORTAL = "Microsoft Entra admin center → App registrations → the app"


class _TrustingAdapter(HTTPAdapter):
    """Verifies against one CA bundle; unlike `Session.verify`, REQUESTS_CA_BUNDLE in the environment cannot override it."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)


class _TimedSession(requests.Session):
    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self._timeout_s = timeout_s

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self._timeout_s)
        return super().request(*args, **kwargs)


def https_session(cafile: Path | None, timeout_s: float, *, setting: str) -> requests.Session:
    """A session that verifies TLS (against `cafile` when given) and gives every request `timeout_s`.

    `setting` names the cafile key in messages, e.g. 'graph.cafile'.
    """
    session = _TimedSession(timeout_s)
    session.trust_env = False  # no proxy or CA bundle from the environment: the config says where to connect
    if cafile is not None:
        try:
            context = ssl.create_default_context(cafile=str(cafile))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"{setting} {cafile} cannot be used: {getattr(exc, 'strerror', None) or exc}",
                hint="cafile must be a readable PEM file with the CA certificate(s)",
            ) from exc
        session.mount("https://", _TrustingAdapter(context))
    return session


class TokenSource:
    """Access tokens for one app registration and one resource (`scope`)."""

    def __init__(
        self,
        settings: OAuth2Settings,
        scope: str,
        *,
        setting: str = "oauth2",
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """`setting` names the settings' table in messages, e.g. 'imap.oauth2'."""
        self.settings = settings
        self.scope = settings.scope or scope
        self._setting = setting
        self._credential = _credential(settings, setting, os.environ if environ is None else environ)
        self._app: msal.ConfidentialClientApplication | None = None

    @property
    def authority(self) -> str:
        return f"{self.settings.authority_host.rstrip('/')}/{self.settings.tenant_id}"

    def token(self, *, fresh: bool = False) -> str:
        """A valid access token; `fresh` forgets the one kept, e.g. after a server answered that it expired."""
        app = self._application()
        if fresh:
            cache = app.token_cache
            for item in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                cache.remove_at(item)
        try:
            result = app.acquire_token_for_client(scopes=[self.scope])
        except requests.RequestException as exc:
            raise self._unreachable(exc) from exc
        if "access_token" in result:
            return str(result["access_token"])
        raise self._refused(result)

    def _application(self) -> msal.ConfidentialClientApplication:
        if self._app is None:
            session = https_session(
                self.settings.cafile, self.settings.timeout_s, setting=f"{self._setting}.cafile"
            )
            try:
                # msal reads the tenant's OpenID configuration here: a wrong tenant or host fails now.
                self._app = msal.ConfidentialClientApplication(
                    self.settings.client_id,
                    client_credential=self._credential,
                    authority=self.authority,
                    instance_discovery=False,
                    http_client=session,
                )
            except requests.RequestException as exc:
                raise self._unreachable(exc) from exc
            except ValueError as exc:
                raise SourceUnavailableError(
                    f"the sign-in service does not know the tenant {self.settings.tenant_id} "
                    f"({self._setting}.tenant_id) at {self.settings.authority_host}",
                    hint=f"set {self._setting}.tenant_id to the Directory (tenant) ID shown in {_PORTAL} → Overview",
                ) from exc
        return self._app

    def _unreachable(self, exc: requests.RequestException) -> SourceUnavailableError:
        if isinstance(exc, requests.exceptions.SSLError):
            return SourceUnavailableError(
                f"the sign-in service {self.settings.authority_host} has a certificate that is not trusted",
                hint=f"if it uses a private CA, set {self._setting}.cafile to that CA's certificate (PEM)",
            )
        why = "no answer in time" if isinstance(exc, requests.Timeout) else "cannot connect"
        return SourceUnavailableError(
            f"the sign-in service {self.settings.authority_host} ({self._setting}.authority_host): {why}",
            hint="check the network path to login.microsoftonline.com (firewall, proxy); "
            "files already in the inbox are still taken in",
        )

    def _refused(self, result: Mapping[str, Any]) -> SourceUnavailableError:
        codes = {int(code) for code in result.get("error_codes") or ()}
        described = str(result.get("error_description") or result.get("error") or "no reason given")
        said = described.splitlines()[0]
        app = f"the app {self.settings.client_id} ({self._setting}.client_id)"
        secret = self.settings.client_secret_env
        new_secret = (
            f"create a new client secret in {_PORTAL} → Certificates & secrets and put its Value (not its ID) "
            f"in the environment variable {secret}"
        )
        known: list[tuple[int, str, str]] = [
            (7000222, f"the client secret of {app} in {secret} has expired", new_secret),
            (7000215, f"the client secret in {secret} is not valid for {app}: wrong, or revoked", new_secret),
            (
                700027,
                f"the certificate {self.settings.certificate} ({self._setting}.certificate) is not one of {app}'s",
                f"upload its public part (.cer) in {_PORTAL} → Certificates & secrets",
            ),
            (
                7000112,
                f"{app} is disabled in the tenant {self.settings.tenant_id}",
                "an administrator must enable it: Entra admin center → Enterprise applications → the app → "
                "Properties → Enabled for users to sign in",
            ),
            (
                700016,
                f"{app} is not registered in the tenant {self.settings.tenant_id} ({self._setting}.tenant_id)",
                f"check client_id and tenant_id against {_PORTAL} → Overview, and that an administrator has "
                "granted admin consent",
            ),
            (
                90002,
                f"the tenant {self.settings.tenant_id} ({self._setting}.tenant_id) does not exist",
                f"set {self._setting}.tenant_id to the Directory (tenant) ID shown in {_PORTAL} → Overview",
            ),
            (
                70011,
                f"the scope {self.scope} is not valid for {app}",
                f"remove {self._setting}.scope to use the default, or end it in '/.default'",
            ),
        ]
        for code, message, hint in known:
            if code in codes:
                return SourceUnavailableError(f"sign-in refused: {message} (AADSTS{code})", hint=hint)
        return SourceUnavailableError(
            f"sign-in refused for {app} in the tenant {self.settings.tenant_id}: {said}",
            hint=f"check [{self._setting}] against {_PORTAL}",
        )


def _credential(settings: OAuth2Settings, setting: str, environ: Mapping[str, str]) -> str | dict[str, str]:
    if settings.client_secret_env:
        secret = environ.get(settings.client_secret_env)
        if not secret:
            raise ConfigError(
                f"the environment variable {settings.client_secret_env} ({setting}.client_secret_env) is not set",
                hint=f"set {settings.client_secret_env} in the environment of the cron job or systemd unit "
                "(e.g. EnvironmentFile=)",
            )
        return secret
    assert settings.certificate is not None  # OAuth2Settings requires one of the two
    return _certificate_credential(settings.certificate, f"{setting}.certificate")


def _certificate_credential(path: Path, setting: str) -> dict[str, str]:
    """msal's form of a certificate credential: the private key and the certificate's SHA-1 thumbprint."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, load_pem_private_key

    try:
        pem = path.read_bytes()
        certificate = x509.load_pem_x509_certificate(pem)
        load_pem_private_key(pem, password=None)
    except OSError as exc:
        raise ConfigError(f"{setting} {path} cannot be read: {exc.strerror or exc}") from exc
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"{setting} {path} is not a PEM file holding both an unencrypted private key and its certificate",
            hint="e.g. cat app.key app.crt > app.pem (openssl pkcs12 -in app.pfx -nodes -out app.pem from a .pfx)",
        ) from exc
    thumbprint = hashlib.sha1(certificate.public_bytes(Encoding.DER)).hexdigest()  # Entra ID names it by SHA-1 (x5t)
    return {"private_key": pem.decode("ascii"), "thumbprint": thumbprint}
