"""The `noarkpipe` command: argument parsing and presentation only; the work is in `noarkpipe.api`.

One module per command group (`run`, `status`, `review`, `classify`,
`journal`, `period`, `export`, `validate`, `setup` for init, check-config and
the separator sheet); what they print for a person is drawn in `present`
(which says why every quoted string passes through `printable`), the one
progress bar of the long commands is `progress`. The stderr log uses
`PrintableFormatter` for the same reason. Exit codes are mapped here, in `main`.
"""

from __future__ import annotations

import logging
import sys

import click

from noarkpipe import __version__
from noarkpipe.cli import classify, desk, export, journal, period, review, run, setup, status, validate
from noarkpipe.core.printable import PrintableFormatter, printable_block
from noarkpipe.errors import ExitCode, NoarkpipeError

log = logging.getLogger("noarkpipe")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="noarkpipe")
@click.option("-v", "--verbose", is_flag=True, help="Log each step to stderr.")
def cli(verbose: bool) -> None:
    """Nightly intake and Noark 5 journaling for municipal post rooms.

    \b
    Typical use:
      noarkpipe init /srv/noarkpipe          write a sample config and folders
      noarkpipe run -c /srv/noarkpipe/noarkpipe.toml     the nightly job (cron/systemd)
      noarkpipe status -c ...                what happened, what waits for review

    Exit codes are listed in the README ("Exit codes").
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(PrintableFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])


for command in (
    setup.init, setup.check_config, setup.separator_sheet, run.run, status.status, review.review,
    classify.classify, journal.journal, period.period, export.export, validate.validate, desk.desk,
):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """Entry point: map failures to the documented exit codes."""
    try:
        cli.main(args=argv, prog_name="noarkpipe", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(ExitCode.ctrl_c)
    except click.ClickException as exc:
        exc.show()
        sys.exit(ExitCode.bad_args)
    except NoarkpipeError as exc:
        click.echo(printable_block(f"noarkpipe: error: {exc}"), err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(ExitCode.ctrl_c)
    except Exception:
        log.exception("unexpected failure")
        click.echo(
            "noarkpipe: internal error (a bug): the traceback is above; please report it.", err=True
        )
        sys.exit(ExitCode.internal_error)
