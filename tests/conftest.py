"""Shared fixtures (a fresh installation per test, one PostgreSQL server per session) and the marker table.

pytest puts tests/ first on sys.path (rootdir-based "prepend" import mode:
tests/ has no __init__.py), so the tests import their factories and servers
from the `helpers` package beside this file: `from helpers import scanfactory`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from helpers import fakes
from noarkpipe import api
from noarkpipe.config import load_settings

TESTS = Path(__file__).resolve().parent

# The one place the markers of pyproject.toml are given: a test file, or file::test for every parametrisation
# of one test. integration: the test needs a real outside program or server (Dovecot, PostgreSQL,
# tesseract/OCRmyPDF, LibreOffice, Chromium, a Dask cluster, bubblewrap). slow: it (or the shared setup of
# its module) takes over ~10 s on the 2-core build machine. `pytest -m "not slow and not integration"` is the
# quick run of docs/contributing.md; CI runs everything.
MARKERS: dict[str, tuple[str, ...]] = {
    "test_archival_copies.py": ("integration", "slow"),
    "test_bench_smoke.py": ("integration", "slow"),
    "test_convert.py": ("integration", "slow"),
    "test_crash.py": ("integration", "slow"),
    "test_dask.py": ("integration", "slow"),
    "test_desk.py": ("integration", "slow"),
    "test_desk_extras.py": ("slow",),
    "test_desk_users.py": ("slow",),
    "test_export.py": ("slow",),
    "test_export_postgres.py": ("integration", "slow"),
    "test_fiks_arkiv.py": ("slow",),
    "test_hostile.py": ("integration", "slow"),
    "test_html_documents.py": ("slow",),
    "test_identify_fast.py": ("slow",),
    "test_images.py": ("integration", "slow"),
    "test_intake_run.py": ("integration", "slow"),
    "test_isolation.py": ("slow",),
    "test_learned.py": ("slow",),
    "test_learned_run.py": ("slow",),
    "test_language.py": ("slow",),
    "test_letter_first.py": ("integration", "slow"),
    "test_m365.py": ("integration", "slow"),
    "test_m365_standin.py::test_dovecot_takes_a_valid_token_by_either_mechanism_and_passwords_still": ("integration",),
    "test_m365_standin.py::test_dovecot_refuses_tokens_not_good_for_the_mailbox": ("integration",),
    "test_m365_standin.py::test_dovecot_refuses_a_token_once_expired_and_takes_a_new_one": ("integration",),
    "test_mailbox.py": ("integration", "slow"),
    "test_postgres.py": ("integration", "slow"),
    "test_real_world_mail.py": ("slow",),
    "test_review_pages.py": ("slow",),
    "test_sandbox.py": ("integration", "slow"),
    "test_scan.py": ("integration", "slow"),
    "test_validate_reports.py": ("slow",),
    "test_validate_reports.py::test_the_html_report_prints_in_a_real_browser": ("integration",),
    "test_cli.py::test_every_command_has_help": ("slow",),
    "test_deploy.py::test_the_installed_commands_run_quietly_as_cron_and_systemd_run_them": ("slow",),
    "test_fixtures.py::test_sample_scans_split_into_letters_with_text": ("integration",),
    "test_inbox_safety.py::test_classify_explain_escapes_what_the_file_says": ("slow",),
    "test_inbox_safety.py::test_sigterm_stops_a_run_whose_inbox_holds_a_fifo": ("slow",),
    "test_numbering.py::test_two_processes_journaling_at_once_get_unique_gap_free_numbers": ("slow",),
    "test_runlog.py::test_warnings_from_the_run_are_captured_as_log_events": ("slow",),
    "test_runreport.py::test_mail_failure_is_noted_and_does_not_change_the_exit_code": ("slow",),
    "test_screening_matcher.py::test_generated_texts_give_the_same_hits_as_one_search_per_keyword": ("slow",),
    "test_screening_matcher.py::test_the_first_look_for_identity_numbers_never_skips_one": ("slow",),
    "test_screening_matcher.py::test_the_keyword_alternation_matches_exactly_where_some_keyword_does": ("slow",),
    "test_validate_cli.py::test_a_clean_package_exits_0_and_writes_both_reports": ("slow",),
    "test_validate_cli.py::test_errors_exit_12_and_the_console_names_them": ("slow",),
    "test_validate_cli.py::test_json_to_standard_output": ("slow",),
    "test_validate_cli.py::test_unusable_input_exits_4_with_a_hint": ("slow",),
    "test_validate_cli.py::test_the_html_report_is_self_contained_escaped_and_shows_the_findings": ("slow",),
    "test_validate_messages.py::test_norwegian_reports_show_norwegian_findings": ("slow",),
    "test_validate_messages.py::test_english_reports_keep_the_english_messages": ("slow",),
    "test_validate_package.py::test_a_gigantic_text_node_is_refused_without_exhausting_memory": ("slow",),
}


@pytest.hookimpl(tryfirst=True)  # before -m deselects by these markers
def pytest_collection_modifyitems(items):
    modules = {}
    for item in items:
        modules.setdefault(item.path.name, getattr(item, "module", None))
        for key in (item.path.name, f"{item.path.name}::{getattr(item, 'originalname', item.name)}"):
            for marker in MARKERS.get(key, ()):
                item.add_marker(marker)
    for key in MARKERS:  # a renamed file or test must not quietly fall out of the table
        filename, _, test = key.partition("::")
        if not (TESTS / filename).is_file() or (test and filename in modules and not hasattr(modules[filename], test)):
            raise pytest.UsageError(f"tests/conftest.py MARKERS names {key}, which does not exist")


@pytest.fixture(autouse=True)
def fresh_fork_server_after_fakes():
    """After a test that put a fake program on PATH, stop the fork server that may carry that PATH."""
    yield
    if fakes.path_changed:
        fakes.stop_fork_server()
        fakes.path_changed = False


@pytest.fixture
def installation(tmp_path):
    """A directory set up by `noarkpipe init`: two municipalities, empty inboxes."""
    config_path = api.init(tmp_path / "site")
    return load_settings(config_path)


def _postgres_required() -> bool:
    """CI and scripts/test.sh (which installs PostgreSQL) must not skip the PostgreSQL tests."""
    return bool(os.environ.get("CI") or os.environ.get("NOARKPIPE_REQUIRE_POSTGRES"))


@pytest.fixture(scope="session")
def postgres():
    """One real PostgreSQL server on loopback for the whole test session (tests/helpers/pgserver.py)."""
    from helpers.pgserver import postgres_bindir, start_postgres

    if postgres_bindir() is None:
        message = "PostgreSQL server binaries not found (apt-get install postgresql)"
        if _postgres_required():
            pytest.fail(message + "; CI / scripts/test.sh require them", pytrace=False)
        pytest.skip(message)
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture
def pg_url(postgres, request):
    """A fresh, empty PostgreSQL database for one test; its SQLAlchemy URL."""
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    url = postgres.create_database(name)
    yield url
    postgres.drop_database(name)
