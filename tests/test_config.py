import re
import subprocess
import sys

import pytest

from noarkpipe import api
from noarkpipe.config import load_settings
from noarkpipe.errors import ConfigError, ExitCode


def test_init_writes_a_config_that_loads(tmp_path):
    config_path = api.init(tmp_path / "site")
    settings = load_settings(config_path)
    assert [c.kode for c in settings.arkivskaper] == ["fjellvik", "strandby"]
    fjellvik = settings.creator("fjellvik")
    assert fjellvik.inbox == settings.data_dir / "inbox" / "fjellvik"
    assert fjellvik.inbox.is_dir() and fjellvik.quarantine.is_dir()
    klasser = {k.klasseID: k.tittel for k in fjellvik.klassifikasjonssystem.klasser}
    assert klasser["232"] == "Eiendomsskatt"
    assert klasser["L42"] == "Byggesaker"
    assert settings.store_url == f"sqlite:///{settings.data_dir / 'noarkpipe.sqlite'}"


def test_init_refuses_to_overwrite(tmp_path):
    api.init(tmp_path / "site")
    with pytest.raises(ConfigError, match="already exists"):
        api.init(tmp_path / "site")


def _write(tmp_path, text):
    path = tmp_path / "noarkpipe.toml"
    path.write_text(text, encoding="utf-8")
    return path


BASE = """
[[arkivskaper]]
kode = "fjellvik"
navn = "Fjellvik kommune"
[arkivskaper.arkiv]
tittel = "Arkiv"
[arkivskaper.arkivdel]
tittel = "Sakarkiv"
start = 2024-01-01
[arkivskaper.klassifikasjonssystem]
default_klasse = "000"
klasser = [{klasseID = "000", tittel = "Generelt"}]
"""


def test_minimal_config_with_inline_classes(tmp_path):
    settings = load_settings(_write(tmp_path, BASE))
    assert settings.creator("fjellvik").klassifikasjonssystem.default_klasse == "000"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda t: t.replace('navn = "Fjellvik kommune"\n', ""), r"arkivskaper\[0\]\.navn: is required"),
        (lambda t: t.replace("start = 2024-01-01", 'start = "1. januar"'), r"arkivskaper\[0\]\.arkivdel\.start"),
        (lambda t: t.replace('kode = "fjellvik"', 'kode = "Fjell vik/../x"'), r"arkivskaper\[0\]\.kode: use 1-40 lowercase"),
        (lambda t: t.replace('default_klasse = "000"', 'default_klasse = "999"'), r"default_klasse '999' is not one of its classes"),
        (lambda t: t + '\n[noarkpipe]\ndata_dri = "x"\n', r"unknown key\(s\) noarkpipe\.data_dri"),
        (lambda t: t.replace('navn = "Fjellvik kommune"', 'navn = "Fjellvik kommune"\ninboks = "x"'), r"arkivskaper\[0\]\.inboks: is not a known setting"),
        (lambda t: t.replace("[arkivskaper.arkiv]", "[arkivskaper.arkiv"), r"is not valid TOML"),
        (lambda t: "", r"no \[\[arkivskaper\]\] section"),
    ],
)
def test_bad_config_names_the_key(tmp_path, change, expected):
    with pytest.raises(ConfigError) as raised:
        load_settings(_write(tmp_path, change(BASE)))
    assert re.search(expected, str(raised.value)), str(raised.value)
    assert raised.value.exit_code is ExitCode.invalid_config


def test_class_list_csv_with_norwegian_titles_and_bom(tmp_path):
    (tmp_path / "klasser.csv").write_bytes("\ufeffklasseID;tittel\nA20;Barnehager\nØ1;Ærlig åpen øy\n".encode())
    text = BASE.replace('klasser = [{klasseID = "000", tittel = "Generelt"}]', 'klasser_csv = "klasser.csv"')
    text = text.replace('default_klasse = "000"', 'default_klasse = "A20"')
    settings = load_settings(_write(tmp_path, text))
    klasser = settings.creator("fjellvik").klassifikasjonssystem.klasser
    assert [(k.klasseID, k.tittel) for k in klasser] == [("A20", "Barnehager"), ("Ø1", "Ærlig åpen øy")]


def test_class_list_without_header_is_refused(tmp_path):
    (tmp_path / "klasser.csv").write_text("A20;Barnehager\n", encoding="utf-8")
    text = BASE.replace('klasser = [{klasseID = "000", tittel = "Generelt"}]', 'klasser_csv = "klasser.csv"')
    with pytest.raises(ConfigError, match="klasseID and tittel"):
        load_settings(_write(tmp_path, text))


def test_cli_bad_config_exit_code_and_single_message(tmp_path):
    path = _write(tmp_path, BASE.replace('navn = "Fjellvik kommune"\n', ""))
    done = subprocess.run(
        [sys.executable, "-m", "noarkpipe.cli", "check-config", "-c", str(path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == ExitCode.invalid_config == 3
    assert "arkivskaper[0].navn: is required but missing" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_missing_config_file(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "noarkpipe.cli", "run", "-c", str(tmp_path / "nope.toml")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 3
    assert "config file not found" in done.stderr and "noarkpipe init" in done.stderr


def test_a_misspelt_setting_is_named_first_with_the_setting_it_resembles(tmp_path):
    # The misspelling also makes the real setting missing; it is named first.
    text = BASE.replace('navn = "Fjellvik kommune"', 'nanv = "Fjellvik kommune"')
    with pytest.raises(ConfigError) as raised:
        load_settings(_write(tmp_path, text))
    assert "arkivskaper[0].nanv: is not a known setting (misspelt?) (1 more problem(s) after this one)" in str(
        raised.value
    )
    assert raised.value.hint == "did you mean 'navn'?"


def test_describe_validation_error_is_the_one_formatter():
    from pydantic import BaseModel, ConfigDict, ValidationError

    from noarkpipe.config import describe_validation_error

    class Table(BaseModel):
        model_config = ConfigDict(extra="forbid")
        workers: int

    try:
        Table.model_validate({"workers": "many"})
    except ValidationError as exc:
        error = describe_validation_error(exc, "noarkpipe.toml", hint="see the sample config")
    assert error.message == "noarkpipe.toml: workers: Input should be a valid integer, unable to parse string as an integer"
    assert error.hint == "see the sample config"


M365_APP = """
tenant_id = "fjellvik.onmicrosoft.com"
client_id = "3f1c0a52-8e55-4d7b-a1a0-0c8f3f0e2b11"
"""


def test_microsoft_365_sources_load_with_paths_beside_the_config(tmp_path):
    text = BASE + (
        '[arkivskaper.graph]\nmailbox = "postmottak@fjellvik.kommune.no"\nbase_url = "https://graph.example/v1.0/"\n'
        '[arkivskaper.graph.oauth2]' + M365_APP + 'certificate = "app.pem"\ncafile = "ca.pem"\n'
        '[arkivskaper.imap]\nhost = "outlook.office365.com"\nusername = "postmottak@fjellvik.kommune.no"\n'
        'auth = "xoauth2"\n[arkivskaper.imap.oauth2]' + M365_APP + 'client_secret_env = "M365_SECRET"\n'
    )
    settings = load_settings(_write(tmp_path, text))
    creator = settings.creator("fjellvik")
    assert creator.graph.oauth2.certificate == tmp_path / "app.pem"
    assert creator.graph.oauth2.cafile == tmp_path / "ca.pem"
    assert creator.graph.base_url == "https://graph.example/v1.0"  # no trailing slash to double
    assert (creator.graph.folder, creator.graph.move_to) == ("inbox", "Journalført")
    assert creator.imap.auth == "xoauth2" and creator.imap.oauth2.client_secret_env == "M365_SECRET"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # token sign-in without the app registration
        ('[arkivskaper.imap]\nhost = "h"\nusername = "u"\nauth = "xoauth2"\n', r"needs the app registration"),
        # a password and a token at once
        (
            '[arkivskaper.imap]\nhost = "h"\nusername = "u"\nauth = "oauthbearer"\npassword_env = "P"\n'
            "[arkivskaper.imap.oauth2]" + M365_APP + 'client_secret_env = "S"\n',
            r"signs in with a token: remove password_env",
        ),
        # neither a secret nor a certificate
        (
            '[arkivskaper.graph]\nmailbox = "postmottak@x.no"\n[arkivskaper.graph.oauth2]' + M365_APP,
            r"set either client_secret_env .* or certificate",
        ),
        # both
        (
            '[arkivskaper.graph]\nmailbox = "postmottak@x.no"\n[arkivskaper.graph.oauth2]' + M365_APP
            + 'client_secret_env = "S"\ncertificate = "a.pem"\n',
            r"set either client_secret_env",
        ),
        # a sign-in service or Graph in clear text
        (
            '[arkivskaper.graph]\nmailbox = "postmottak@x.no"\nbase_url = "http://graph.example"\n'
            "[arkivskaper.graph.oauth2]" + M365_APP + 'client_secret_env = "S"\n',
            r"base_url must be an https:// address",
        ),
        (
            '[arkivskaper.graph]\nmailbox = "postmottak@x.no"\n[arkivskaper.graph.oauth2]' + M365_APP
            + 'client_secret_env = "S"\nauthority_host = "http://login.example"\n',
            r"authority_host must be an https:// address",
        ),
    ],
)
def test_microsoft_365_settings_that_cannot_work_are_refused(tmp_path, source, expected):
    with pytest.raises(ConfigError, match=expected):
        load_settings(_write(tmp_path, BASE + source))


def test_check_config_warns_of_an_unset_client_secret(tmp_path, monkeypatch):
    monkeypatch.delenv("NOARKPIPE_TEST_M365_SECRET", raising=False)
    text = BASE + (
        '[arkivskaper.graph]\nmailbox = "postmottak@fjellvik.kommune.no"\n'
        "[arkivskaper.graph.oauth2]" + M365_APP + 'client_secret_env = "NOARKPIPE_TEST_M365_SECRET"\n'
    )
    warnings = api.config_warnings(load_settings(_write(tmp_path, text)))
    assert any("NOARKPIPE_TEST_M365_SECRET (graph.oauth2.client_secret_env) is not set" in w for w in warnings)
