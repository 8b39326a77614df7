"""One TOML file → validated settings, for one or more records creators.

Relative paths in the file are relative to the folder holding the file, so a
config and its data directory can be moved together.
"""

from __future__ import annotations

import csv
import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError
from .intake.context import IntakeLimits

DEFAULT_CONFIG_NAME = "noarkpipe.toml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KlasseSpec(_Strict):
    klasseID: str
    tittel: str


class ArkivSettings(_Strict):
    tittel: str


class ArkivdelSettings(_Strict):
    tittel: str
    start: date = Field(description="first day of the archive period (arkivperiodeStartDato)")


class KlassifikasjonssystemSettings(_Strict):
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


class ImapSettings(_Strict):
    """The official post mailbox, fetched at the start of every run."""

    host: str
    port: int | None = Field(default=None, description="default 993 for tls = 'ssl', else 143")
    tls: Literal["ssl", "starttls", "none"] = Field(
        default="ssl", description="'none' is only allowed for a server on loopback (tests)"
    )
    username: str
    password_env: str | None = Field(default=None, description="environment variable holding the password")
    password: str | None = Field(default=None, description="discouraged: prefer password_env")
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
        if not self.password_env and self.password is None:
            raise ValueError("set password_env (the name of an environment variable holding the password)")
        if self.tls == "none" and self.host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError("tls = 'none' sends the password in clear text: only allowed for localhost")
        return self


class ArkivskaperSettings(_Strict):
    kode: str = Field(description="short id used in folder names and numbering, e.g. 'fjellvik'")
    navn: str
    organisasjonsnummer: str | None = None
    postmottak: str | None = Field(default=None, description="the official post e-mail address")
    inbox: Path
    quarantine: Path
    arkiv: ArkivSettings
    arkivdel: ArkivdelSettings
    klassifikasjonssystem: KlassifikasjonssystemSettings
    imap: ImapSettings | None = None
    screening_rules: Path | None = Field(default=None, description="screening rules (TOML); default: the standard set")
    maildir: Path | None = Field(default=None, description="a maildir folder whose new mail is taken in")

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


class IntakeSettings(_Strict):
    limits: IntakeLimits = IntakeLimits()
    ocr_languages: str = Field(default="nor+eng", description="tesseract languages for scanned mail")


class Settings(_Strict):
    config_path: Path
    data_dir: Path
    store_url: str
    actor: str = Field(description="who noarkpipe records as opprettetAv / endretAv")
    intake: IntakeSettings = Field(default_factory=lambda: IntakeSettings())
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

    def creator(self, kode: str) -> ArkivskaperSettings:
        for a in self.arkivskaper:
            if a.kode == kode:
                return a
        raise ConfigError(f"no arkivskaper with kode '{kode}' in {self.config_path}")


def _error_location(loc: tuple) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]}[{item}]" if parts else f"[{item}]"
        else:
            parts.append(str(item))
    return ".".join(parts)


def _resolve(base: Path, value: str | Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base / path)


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


def load_settings(config_path: str | Path) -> Settings:
    """Read and validate a config file; every problem becomes one ConfigError."""
    path = Path(config_path).expanduser().resolve()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"config file not found: {path}",
            hint="create one with 'noarkpipe init DIR' or pass --config PATH",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc

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
    unknown = set(raw) - {"noarkpipe", "intake", "arkivskaper"}
    if unknown:
        raise ConfigError(
            f"{path}: unknown section(s) {sorted(unknown)}; allowed: noarkpipe, intake, arkivskaper"
        )
    intake = raw.get("intake", {})
    if not isinstance(intake, dict):
        raise ConfigError(f"{path}: [intake] must be a table")
    # [intake] is flat in the file: limits and ocr_languages side by side.
    limits = {key: value for key, value in intake.items() if key != "ocr_languages"}
    intake = {"limits": limits} | ({"ocr_languages": intake["ocr_languages"]} if "ocr_languages" in intake else {})
    unknown = set(general) - {"data_dir", "store_url", "actor"}
    if unknown:
        raise ConfigError(
            f"{path}: unknown key(s) noarkpipe.{sorted(unknown)[0]}",
            hint="allowed keys in [noarkpipe]: data_dir, store_url, actor",
        )

    prepared = []
    for index, creator in enumerate(creators):
        if not isinstance(creator, dict):
            raise ConfigError(f"{path}: arkivskaper[{index}] must be a table")
        creator = dict(creator)
        kode = creator.get("kode", f"arkivskaper{index}")
        for key, default in (("inbox", f"inbox/{kode}"), ("quarantine", f"quarantine/{kode}")):
            creator[key] = _resolve(data_dir, creator.get(key, default))
        if creator.get("maildir"):
            creator["maildir"] = _resolve(data_dir, creator["maildir"])
        imap = creator.get("imap")
        if isinstance(imap, dict) and imap.get("cafile"):
            creator["imap"] = dict(imap, cafile=_resolve(base, imap["cafile"]))
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
            intake=intake,
            arkivskaper=prepared,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = _error_location(first["loc"]).replace("intake.limits.", "intake.")
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "missing":
            message = "is required but missing"
        elif first["type"] == "extra_forbidden":
            message = "is not a known setting (misspelt?)"
        more = f" ({exc.error_count() - 1} more problem(s) after this one)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{path}: {where}: {message}{more}", hint=_hint_for(where)) from None

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
}


def _hint_for(where: str) -> str | None:
    return next((hint for key, hint in _HINTS.items() if where.endswith(key)), None)
