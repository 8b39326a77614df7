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
