"""One TOML file → validated settings, for one or more records creators.

Relative paths in the file are relative to the folder holding the file, so a
config and its data directory can be moved together.
"""

from __future__ import annotations

import csv
import difflib
import os
import re
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from noarkpipe.core.context import IntakeLimits
from noarkpipe.core.strict import StrictModel
from noarkpipe.errors import ConfigError

DEFAULT_CONFIG_NAME = "noarkpipe.toml"


class KlasseSpec(StrictModel):
    klasseID: str
    tittel: str


class ArkivSettings(StrictModel):
    tittel: str


class ArkivdelSettings(StrictModel):
    tittel: str
    start: date = Field(description="first day of the archive period (arkivperiodeStartDato)")


class KlassifikasjonssystemSettings(StrictModel):
    tittel: str = "Arkivnøkkel for kommunene (K-koder)"
    klassifikasjonstype: str = "Funksjonsbasert, hierarkisk"
    klasser_csv: Path | None = Field(
        default=None, description="CSV with columns klasseID;tittel (';' or ',' separated)"
    )
    klasser: tuple[KlasseSpec, ...] = ()
    default_klasse: str = Field(description="klasseID for new cases nothing else classifies")
    rules: Path | None = Field(default=None, description="classification rules (TOML) archivists maintain")
    model_threshold: float = Field(
        default=0.8, ge=0, le=1, description="a learned suggestion below this confidence goes to review"
    )
    quoted_case_unknown_sender: Literal["review", "journal"] = Field(
        default="review",
        description="a letter quoting an existing case from a sender who is no party of it: "
        "'review' places it in that case awaiting review (M), 'journal' journals it there (J)",
    )


class OAuth2Settings(StrictModel):
    """An app registration in Microsoft Entra ID signing in by the client-credentials flow (Microsoft 365)."""

    tenant_id: str = Field(min_length=1, description="the directory (tenant) id, or the tenant's domain")
    client_id: str = Field(min_length=1, description="the app registration's application (client) id")
    client_secret_env: str | None = Field(default=None, description="environment variable holding the client secret")
    certificate: Path | None = Field(
        default=None, description="PEM file with the app's private key and certificate (instead of a secret)"
    )
    authority_host: str = Field(default="https://login.microsoftonline.com", description="the sign-in service")
    scope: str | None = Field(
        default=None,
        description="default: https://outlook.office365.com/.default (IMAP), https://graph.microsoft.com/.default (Graph)",
    )
    cafile: Path | None = Field(default=None, description="CA bundle for a sign-in service with a private certificate")
    timeout_s: float = Field(default=60, gt=0)

    @model_validator(mode="after")
    def _one_credential(self) -> OAuth2Settings:
        if bool(self.client_secret_env) == bool(self.certificate):
            raise ValueError(
                "set either client_secret_env (the name of an environment variable holding the client secret) "
                "or certificate (a PEM file with the app's private key and certificate)"
            )
        if not self.authority_host.startswith("https://"):
            raise ValueError("authority_host must be an https:// address")
        return self


class ImapSettings(StrictModel):
    """The official post mailbox, fetched at the start of every run."""

    host: str
    port: int | None = Field(default=None, description="default 993 for tls = 'ssl', else 143")
    tls: Literal["ssl", "starttls", "none"] = Field(
        default="ssl", description="'none' is only allowed for a server on loopback (tests)"
    )
    username: str
    auth: Literal["password", "xoauth2", "oauthbearer"] = Field(
        default="password",
        description="'xoauth2' or 'oauthbearer': an OAuth2 access token from [arkivskaper.imap.oauth2] (Microsoft 365)",
    )
    password_env: str | None = Field(default=None, description="environment variable holding the password")
    password: str | None = Field(default=None, description="discouraged: prefer password_env")
    oauth2: OAuth2Settings | None = Field(default=None, description="the app registration, for auth = 'xoauth2'")
    folder: str = "INBOX"
    after_fetch: Literal["move", "flag"] = Field(
        default="move", description="once journaled: move to `move_to`, or only flag as seen"
    )
    move_to: str = "Journalfoert"
    cafile: Path | None = Field(default=None, description="CA bundle for a server with a private certificate")
    timeout_s: float = Field(default=60, gt=0)

    @property
    def effective_port(self) -> int:
        return self.port or (993 if self.tls == "ssl" else 143)

    @model_validator(mode="after")
    def _credentials_and_tls(self) -> ImapSettings:
        if self.auth == "password":
            if not self.password_env and self.password is None:
                raise ValueError("set password_env (the name of an environment variable holding the password)")
        elif self.oauth2 is None:
            raise ValueError(f"auth = '{self.auth}' needs the app registration in [arkivskaper.imap.oauth2]")
        elif self.password_env or self.password is not None:
            raise ValueError(f"auth = '{self.auth}' signs in with a token: remove password_env/password")
        if self.tls == "none" and self.host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError("tls = 'none' sends the credentials in clear text: only allowed for localhost")
        return self


class GraphSettings(StrictModel):
    """The official post mailbox through Microsoft Graph (Microsoft 365), fetched at the start of every run."""

    mailbox: str = Field(min_length=3, description="the mailbox's address, e.g. postmottak@fjellvik.kommune.no")
    folder: str = Field(default="inbox", description="a well-known folder name (inbox) or a top-level folder's name")
    after_fetch: Literal["move", "flag"] = Field(
        default="move", description="once journaled: move to `move_to`, or only mark as read"
    )
    move_to: str = Field(default="Journalført", description="a top-level folder, created when missing")
    oauth2: OAuth2Settings
    base_url: str = Field(default="https://graph.microsoft.com/v1.0", description="the Graph service")
    cafile: Path | None = Field(default=None, description="CA bundle for a Graph address with a private certificate")
    timeout_s: float = Field(default=60, gt=0)
    max_retry_wait_s: float = Field(
        default=300, ge=0, description="the longest total wait when Graph throttles (429/503 with Retry-After)"
    )
    page_size: int = Field(default=50, ge=1, le=1000, description="messages per page of a delta query")

    @field_validator("base_url")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError("base_url must be an https:// address")
        return value.rstrip("/")


class FiksSystemSettings(StrictModel):
    """A system that sends arkivmeldinger (KS Fiks Arkiv), and how far its messages are trusted."""

    name: str = Field(min_length=1, description="the system as its arkivmelding names itself (<system>), e.g. 'eByggesak'")
    trust: Literal["journal", "review"] = Field(
        default="review",
        description="'journal': its journalposts are journaled (J) as it asks; 'review': they wait in the review queue (M)",
    )


class FiksArkivSettings(StrictModel):
    """Arkivmeldinger from form services and specialist systems, in KS Fiks Arkiv's format."""

    systems: list[FiksSystemSettings] = Field(default_factory=list, description="the known sending systems")
    unknown_systems: Literal["review", "refuse"] = Field(
        default="review",
        description="a system not listed: its messages go to the review queue, or are refused with a feilmelding",
    )

    def system(self, name: str) -> FiksSystemSettings | None:
        return next((s for s in self.systems if s.name.casefold() == name.casefold()), None)


class DeponeringSettings(StrictModel):
    """Who delivers one records creator's deposits to the depot (named in every transfer package)."""

    kontaktperson: str = Field(min_length=1, description="the person the depot contacts about a delivery")
    telefon: str | None = None
    epost: str | None = None
    adresse: str | None = Field(default=None, description="postal address, one line")
    leveranse: str | None = Field(
        default=None, description="what is delivered (DELIVERYSPECIFICATION); default: the arkivdel titles"
    )
    administrativ_enhet: str = Field(
        default="Postmottak",
        min_length=1,
        description="administrativEnhet of cases the store has none for (cases opened by intake)",
    )


class DepotSettings(StrictModel):
    """The regional depot (IKA) that receives the deposits: the PRESERVATION agent of a package."""

    navn: str = Field(min_length=1, description="e.g. 'IKA Eksempel IKS'")
    avtale: str | None = Field(default=None, description="the deposit agreement (SUBMISSIONAGREEMENT)")


class ArkivskaperSettings(StrictModel):
    kode: str = Field(description="short id used in folder names and numbering, e.g. 'fjellvik'")
    navn: str
    organisasjonsnummer: str | None = None
    postmottak: str | None = Field(default=None, description="the official post e-mail address")
    inbox: Path
    quarantine: Path
    outbox: Path = Field(
        description="answers to senders: the kvitteringer of arkivmeldinger (default outbox/<kode> beside inbox/<kode>)"
    )
    arkiv: ArkivSettings
    arkivdel: ArkivdelSettings
    klassifikasjonssystem: KlassifikasjonssystemSettings
    imap: ImapSettings | None = None
    graph: GraphSettings | None = Field(default=None, description="the post mailbox through Microsoft Graph")
    screening_rules: Path | None = Field(default=None, description="screening rules (TOML); default: the standard set")
    maildir: Path | None = Field(default=None, description="a maildir folder whose new mail is taken in")
    deponering: DeponeringSettings | None = Field(default=None, description="contact for deposits (export)")
    fiks_arkiv: FiksArkivSettings = Field(default_factory=FiksArkivSettings, description="arkivmeldinger (KS Fiks Arkiv)")

    @model_validator(mode="before")
    @classmethod
    def _outbox_beside_the_inbox(cls, data: object) -> object:
        # Settings made without load_settings (tests, the API) get the same default it gives.
        if isinstance(data, dict) and data.get("outbox") is None and data.get("inbox") and data.get("kode"):
            return {**data, "outbox": Path(data["inbox"]).parent.parent / "outbox" / str(data["kode"])}
        return data

    @field_validator("kode")
    @classmethod
    def _kode_is_a_folder_name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,39}", value):
            raise ValueError("use 1-40 lowercase letters a-z, digits, '-' or '_', e.g. 'fjellvik'")
        return value

    @field_validator("organisasjonsnummer")
    @classmethod
    def _nine_digits(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d{9}", value.replace(" ", "")):
            raise ValueError("an organisasjonsnummer has 9 digits")
        return value.replace(" ", "") if value else value


class IntakeSettings(StrictModel):
    limits: IntakeLimits = IntakeLimits()
    ocr_languages: str = Field(default="nor+eng", description="tesseract languages for scanned mail")


def default_workers() -> int:
    """One conversion per core, at most 8: each may hold a LibreOffice or OCRmyPDF process of its own."""
    return max(1, min(os.cpu_count() or 2, 8))


class ConvertSettings(StrictModel):
    """[convert]: how archival copies are made, and how many at once (see noarkpipe.convert)."""

    pdfa_profile: Literal["1b", "2b", "3b"] = Field(
        default="2b", description="PDF/A part and level of the archival copies; depots ask for 2b"
    )
    ocr_mode: Literal["skip", "redo"] = Field(
        default="skip", description="skip: OCR only pages without text; redo: also replace an earlier OCR layer"
    )
    timeout_s: float = Field(
        default=900, gt=0, description="per document, all steps together; a hung converter is killed after it"
    )
    max_pages: int = Field(default=1000, ge=1, description="longer documents are quarantined, not converted")
    sandbox: Literal["bwrap", "off"] = Field(
        default="bwrap",
        description="bwrap: converters run with no network and write only in the work area (bubblewrap); "
        "off: unsafe, converters may fetch what documents link to",
    )
    max_worker_memory_mb: int = Field(
        default=4096,
        ge=1024,
        description="address space of each conversion worker and of each program it starts (RLIMIT_AS); "
        "a document that needs more gets no archival copy, its letter goes to review",
    )
    workers: int = Field(
        default_factory=default_workers, ge=1, le=64, description="documents converted at the same time"
    )
    scheduler: str | None = Field(
        default=None,
        pattern=r"^(tcp|tls)://[^\s/]+$",
        description="a Dask scheduler (tcp://host:8786) whose workers make the copies instead of this machine; "
        "they must see the data directory under the same path",
    )


class LoggingSettings(StrictModel):
    json_file: Path | None = Field(
        default=None, description="structured run log, JSON lines, appended per run; default data_dir/logs/noarkpipe.jsonl"
    )


class ReportSettings(StrictModel):
    """The run report is always written to data_dir/reports; with mail_to it is also mailed."""

    mail_to: tuple[str, ...] = Field(default=(), description="archivists who get the report after every run")
    mail_from: str | None = Field(default=None, description="default noarkpipe@<this host>")
    smtp_host: str = "localhost"
    smtp_port: int | None = Field(
        default=None, gt=0, lt=65536, description="default 465 with ssl, else 587 with starttls, else 25"
    )
    starttls: bool = Field(default=True, description="upgrade the connection with STARTTLS (refused if the server can't)")
    ssl: bool = Field(default=False, description="TLS from the first byte (port 465) instead of STARTTLS")
    username: str | None = None
    password_env: str | None = Field(default=None, description="environment variable holding the SMTP password")
    cafile: Path | None = Field(default=None, description="CA bundle for a server with a private certificate")
    timeout_s: float = Field(default=30, gt=0)

    @property
    def effective_port(self) -> int:
        return self.smtp_port or (465 if self.ssl else 587 if self.starttls else 25)

    @property
    def use_starttls(self) -> bool:
        return self.starttls and not self.ssl

    @field_validator("mail_to", mode="before")
    @classmethod
    def _addresses(cls, value):
        value = (value,) if isinstance(value, str) else value
        for address in value if isinstance(value, list | tuple) else ():
            if not isinstance(address, str):
                raise ValueError("write the addresses as a list of strings: [\"arkiv@kommune.no\"]")
            if not re.fullmatch(r"[^@\s<>,]+@[^@\s<>,]+", address):
                raise ValueError(f"'{address}' is not an e-mail address (write a list: [\"arkiv@kommune.no\"])")
        return value

    @model_validator(mode="after")
    def _credentials_and_tls(self) -> ReportSettings:
        if self.ssl and self.starttls and "starttls" in self.model_fields_set:
            raise ValueError("choose one of ssl = true (port 465) and starttls = true (port 587), not both")
        if self.username and not self.password_env:
            raise ValueError("username needs password_env (the name of an environment variable holding the password)")
        loopback = self.smtp_host in ("127.0.0.1", "::1", "localhost")
        if self.username and not (self.ssl or self.starttls) and not loopback:
            raise ValueError("logging in without ssl or starttls sends the password in clear text: only allowed for localhost")
        return self


class DeskSettings(StrictModel):
    """`noarkpipe desk`: the review desk in a browser."""

    host: str = Field(default="127.0.0.1", description="the address it listens on; behind a reverse proxy keep loopback")
    port: int = Field(default=8470, gt=0, lt=65536)
    secure_cookies: bool = Field(
        default=False, description="send the session cookie over HTTPS only: set true when a TLS proxy serves the desk"
    )
    session_hours: float = Field(default=8, gt=0, le=24 * 7, description="a login lasts this long")
    trusted_user_header: str | None = Field(
        default=None, description="single sign-on: the reverse proxy's header naming the authenticated user"
    )
    trusted_proxies: tuple[str, ...] = Field(
        default=("127.0.0.1", "::1"), description="addresses whose trusted_user_header is believed"
    )


class Settings(StrictModel):
    config_path: Path
    data_dir: Path
    store_url: str
    actor: str = Field(description="who noarkpipe records as opprettetAv / endretAv")
    lang: Literal["nb", "en"] | None = Field(
        default=None, description="language of the validation reports, the run report and the review commands "
        "(the desk's default too); default: the locale (nb_NO, nn_NO, no → nb)",
    )
    intake: IntakeSettings = Field(default_factory=lambda: IntakeSettings())
    convert: ConvertSettings = Field(default_factory=lambda: ConvertSettings())
    depot: DepotSettings | None = Field(default=None, description="the depot receiving exports")
    logging: LoggingSettings = Field(default_factory=lambda: LoggingSettings())
    report: ReportSettings = Field(default_factory=lambda: ReportSettings())
    desk: DeskSettings = Field(default_factory=lambda: DeskSettings())
    arkivskaper: tuple[ArkivskaperSettings, ...]

    @model_validator(mode="after")
    def _unique_kode(self) -> Settings:
        seen = set()
        for a in self.arkivskaper:
            if a.kode in seen:
                raise ValueError(f"arkivskaper kode '{a.kode}' appears twice; each must be unique")
            seen.add(a.kode)
        return self

    @property
    def lock_path(self) -> Path:
        return self.data_dir / "run.lock"

    @property
    def work_dir(self) -> Path:
        return self.data_dir / "work"

    @property
    def documents_dir(self) -> Path:
        return self.data_dir / "documents"

    @property
    def runs_dir(self) -> Path:
        return self.data_dir / "runs"

    @property
    def json_log_path(self) -> Path:
        return self.logging.json_file or self.data_dir / "logs" / "noarkpipe.jsonl"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def desk_secret_path(self) -> Path:
        """The key that signs the desk's session cookies; made on first start, readable by its owner only."""
        return self.data_dir / "desk-secret"

    def creator(self, kode: str) -> ArkivskaperSettings:
        for a in self.arkivskaper:
            if a.kode == kode:
                return a
        raise ConfigError(f"no arkivskaper with kode '{kode}' in {self.config_path}")


def error_location(loc: tuple, raw: Mapping | None = None) -> str:
    """Where a validation error is, as the file's author writes it.

    In the config (no `raw`): `arkivskaper[0].navn`. In a rules file, given
    its raw TOML: an entry of an array of tables (`[[rule]]`) is named by its
    number from 1 and its `name`, if it has one, then the dotted key:
    `rule 2 ('x'): sources.0`.
    """
    if raw is None:
        parts: list[str] = []
        for item in loc:
            if isinstance(item, int):
                parts[-1] = f"{parts[-1]}[{item}]" if parts else f"[{item}]"
            else:
                parts.append(str(item))
        return ".".join(parts) or "top level"
    if len(loc) > 1 and isinstance(loc[1], int) and isinstance(raw.get(loc[0]), list):
        entries, index = raw[loc[0]], loc[1]
        entry = entries[index] if index < len(entries) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        label = f"{loc[0]} {index + 1}" + (f" ({name!r})" if name else "")
        rest = ".".join(str(part) for part in loc[2:])
        return f"{label}: {rest}" if rest else label
    return ".".join(str(part) for part in loc) or "top level"


def _fields_at(model: type[BaseModel], loc: tuple) -> tuple[str, ...]:
    """The keys a table may have at `loc` of `model`, following nested models; empty if unknown."""
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) or next(
            (f for f in model.model_fields.values() if f.alias == part), None
        )
        nested = _model_in(field.annotation) if field is not None else None
        if nested is None:
            return ()
        model = nested
    return tuple(field.alias or name for name, field in model.model_fields.items())


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, tuple, list, typing.Annotated):
        return next((m for arg in typing.get_args(annotation) if (m := _model_in(arg)) is not None), None)
    return None


def describe_validation_error(
    exc: ValidationError,
    source: str | Path,
    *,
    raw: Mapping | None = None,
    model: type[BaseModel] | None = None,
    noun: str = "key",
    messages: Mapping[str, str] | None = None,
    rename: Callable[[str], str] = str,
    hint: str | Callable[[str], str | None] | None = None,
) -> ConfigError:
    """The one ConfigError for a pydantic error in a file the operator writes (config, rules files).

    A misspelt key also makes the real one "missing", so an unknown key is
    named first, and the hint starts with the closest known key of `model` at
    that place ("did you mean 'klasse'?"). `raw` names `[[table]]` entries by
    number and name (see `error_location`); `messages` replaces pydantic's
    message per error type; `rename` rewrites the location; `hint` is fixed or
    chosen by location.
    """
    errors = exc.errors()
    first = next((error for error in errors if error["type"] == "extra_forbidden"), errors[0])
    where = rename(error_location(first["loc"], raw))
    base_hint = hint(where) if callable(hint) else hint
    message = first["msg"].removeprefix("Value error, ")
    if messages and first["type"] in messages:
        message = messages[first["type"]]
    elif first["type"] == "missing":
        message = "is required but missing"
    elif first["type"] == "extra_forbidden":
        message = f"is not a known {noun} (misspelt?)"
        key = first["loc"][-1]
        known = _fields_at(model, first["loc"][:-1]) if model is not None else ()
        if isinstance(key, str) and (close := difflib.get_close_matches(key, known, n=1)):
            base_hint = f"did you mean {close[0]!r}?" + (f" {base_hint}" if base_hint else "")
    more = f" ({exc.error_count() - 1} more problem(s) after this one)" if exc.error_count() > 1 else ""
    return ConfigError(f"{source}: {where}: {message}{more}", hint=base_hint)


def _resolve(base: Path, value: str | Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base / path)


def _resolve_tls_files(base: Path, source: dict) -> dict:
    """A mailbox source's cafile, and its app registration's cafile and certificate, relative to the config."""
    source = dict(source)
    if source.get("cafile"):
        source["cafile"] = _resolve(base, source["cafile"])
    oauth2 = source.get("oauth2")
    if isinstance(oauth2, dict):
        source["oauth2"] = {
            key: _resolve(base, value) if key in ("cafile", "certificate") and value else value
            for key, value in oauth2.items()
        }
    return source


def load_klasser_csv(path: Path) -> tuple[KlasseSpec, ...]:
    """Read K-codes from a CSV with a header row naming klasseID and tittel."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read the class list {path}: {exc}",
            hint="klasser_csv must be a UTF-8 CSV file with the columns klasseID;tittel",
        ) from exc
    dialect = csv.Sniffer().sniff(text.splitlines()[0] if text else ";", delimiters=";,\t")
    rows = list(csv.DictReader(text.splitlines(), dialect=dialect))
    if not rows or not {"klasseID", "tittel"} <= set(rows[0]):
        raise ConfigError(
            f"the class list {path} has no klasseID and tittel columns",
            hint="first line must be the header 'klasseID;tittel'",
        )
    klasser = []
    for number, row in enumerate(rows, start=2):
        klasse_id, tittel = (row.get("klasseID") or "").strip(), (row.get("tittel") or "").strip()
        if not klasse_id or not tittel:
            raise ConfigError(f"{path} line {number}: klasseID and tittel must both be filled in")
        klasser.append(KlasseSpec(klasseID=klasse_id, tittel=tittel))
    return tuple(klasser)


def read_toml(path: Path, what: str, missing_hint: str) -> dict:
    """A TOML file the operator maintains (config, rules); unreadable or invalid → ConfigError naming it."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{what} not found: {path}", hint=missing_hint) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc


def load_settings(config_path: str | Path) -> Settings:
    """Read and validate a config file; every problem becomes one ConfigError."""
    path = Path(config_path).expanduser().resolve()
    raw = read_toml(path, "config file", "create one with 'noarkpipe init DIR' or pass --config PATH")

    base = path.parent
    general = raw.get("noarkpipe", {})
    if not isinstance(general, dict):
        raise ConfigError(f"{path}: [noarkpipe] must be a table")
    data_dir = _resolve(base, general.get("data_dir", "data"))
    creators = raw.get("arkivskaper", [])
    if not isinstance(creators, list) or not creators:
        raise ConfigError(
            f"{path}: no [[arkivskaper]] section",
            hint="add at least one [[arkivskaper]] table; see 'noarkpipe init' for a sample",
        )
    unknown = set(raw) - {"noarkpipe", "intake", "convert", "arkivskaper", "depot", "logging", "report", "desk"}
    if unknown:
        raise ConfigError(
            f"{path}: unknown section(s) {sorted(unknown)}; "
            "allowed: noarkpipe, intake, convert, arkivskaper, depot, logging, report, desk"
        )
    intake = raw.get("intake", {})
    if not isinstance(intake, dict):
        raise ConfigError(f"{path}: [intake] must be a table")
    # [intake] is flat in the file: limits and ocr_languages side by side.
    limits = {key: value for key, value in intake.items() if key != "ocr_languages"}
    intake = {"limits": limits} | ({"ocr_languages": intake["ocr_languages"]} if "ocr_languages" in intake else {})
    unknown = set(general) - {"data_dir", "store_url", "actor", "lang"}
    if unknown:
        raise ConfigError(
            f"{path}: unknown key(s) noarkpipe.{sorted(unknown)[0]}",
            hint="allowed keys in [noarkpipe]: data_dir, store_url, actor, lang",
        )

    prepared = []
    for index, creator in enumerate(creators):
        if not isinstance(creator, dict):
            raise ConfigError(f"{path}: arkivskaper[{index}] must be a table")
        creator = dict(creator)
        kode = creator.get("kode", f"arkivskaper{index}")
        for key, default in (("inbox", f"inbox/{kode}"), ("quarantine", f"quarantine/{kode}"), ("outbox", f"outbox/{kode}")):
            creator[key] = _resolve(data_dir, creator.get(key, default))
        if creator.get("maildir"):
            creator["maildir"] = _resolve(data_dir, creator["maildir"])
        for source in ("imap", "graph"):
            if isinstance(creator.get(source), dict):
                creator[source] = _resolve_tls_files(base, creator[source])
        if creator.get("screening_rules"):
            creator["screening_rules"] = _resolve(base, creator["screening_rules"])
        system = creator.get("klassifikasjonssystem")
        if isinstance(system, dict) and system.get("rules"):
            system = creator["klassifikasjonssystem"] = dict(system, rules=_resolve(base, system["rules"]))
        if isinstance(system, dict) and system.get("klasser_csv"):
            system = dict(system)
            csv_path = _resolve(base, system["klasser_csv"])
            system["klasser_csv"] = csv_path
            system["klasser"] = [k.model_dump() for k in load_klasser_csv(csv_path)] + list(
                system.get("klasser", [])
            )
            creator["klassifikasjonssystem"] = system
        prepared.append(creator)

    store_url = general.get("store_url") or f"sqlite:///{data_dir / 'noarkpipe.sqlite'}"
    try:
        settings = Settings(
            config_path=path,
            data_dir=data_dir,
            store_url=store_url,
            actor=general.get("actor", "noarkpipe"),
            lang=general.get("lang"),
            intake=intake,
            arkivskaper=prepared,
            **({"convert": raw["convert"]} if "convert" in raw else {}),
            **({"depot": raw["depot"]} if "depot" in raw else {}),
            **({"desk": raw["desk"]} if "desk" in raw else {}),
            **_ops_sections(raw, base, path),
        )
    except ValidationError as exc:
        raise describe_validation_error(
            exc,
            path,
            model=Settings,
            noun="setting",
            rename=lambda where: where.replace("intake.limits.", "intake."),
            hint=_hint_for,
        ) from None

    for creator in settings.arkivskaper:
        known = {k.klasseID for k in creator.klassifikasjonssystem.klasser}
        if creator.klassifikasjonssystem.default_klasse not in known:
            raise ConfigError(
                f"{path}: arkivskaper '{creator.kode}': klassifikasjonssystem.default_klasse "
                f"'{creator.klassifikasjonssystem.default_klasse}' is not one of its classes",
                hint="add it to klasser_csv or pick a klasseID that is listed there",
            )
    return settings


_HINTS = {
    "store_url": "e.g. sqlite:////var/lib/noarkpipe/noarkpipe.sqlite or postgresql+psycopg://user@host/db",
    "arkivdel.start": "write a TOML date without quotes, e.g. start = 2024-01-01",
    "kode": "e.g. kode = \"fjellvik\"",
    "default_klasse": "the klasseID used when nothing else decides, e.g. default_klasse = \"000\"",
    "lang": "the language of the reports and the review commands: \"nb\" (bokmål) or \"en\"",
    "convert.pdfa_profile": "one of \"1b\", \"2b\" (what depots ask for) or \"3b\"",
    "convert.workers": "documents converted at once; one per core is a good start",
    "convert.timeout_s": "seconds per document; a scanned page takes about 1-2 s on one core",
    "convert.sandbox": "\"bwrap\" (converters with no network; needs bubblewrap) or \"off\" (unsafe)",
}


def _ops_sections(raw: dict, base: Path, path: Path) -> dict:
    """[logging] and [report], with their paths resolved against the config's folder."""
    sections = {}
    for name, path_keys in (("logging", ("json_file",)), ("report", ("cafile",))):
        if name not in raw:
            continue
        section = raw[name]
        if not isinstance(section, dict):
            raise ConfigError(f"{path}: [{name}] must be a table")
        sections[name] = section | {
            key: _resolve(base, section[key]) for key in path_keys if isinstance(section.get(key), str) and section[key]
        }
    return sections


def _hint_for(where: str) -> str | None:
    return next((hint for key, hint in _HINTS.items() if where.endswith(key)), None)
