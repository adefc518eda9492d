"""CLI conventions shared by every command: exit codes, one-line errors, logging set-up."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import signal
from collections.abc import Iterator
from typing import Any

import click
import sqlalchemy.exc

from worker.errors import DxcoderError
from worker.logs import setup_logging
from worker.settings import get_settings, mask_url

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
log = logging.getLogger("dxcoder.cli")


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block SIGTERM (a scheduler stopping the command, `timeout`, `kill`) interrupts
    as Ctrl-C does, so the command's own clean-up runs: a cut-off `run` keeps no unfinished job
    and no partial results file, a cut-off `submit` deletes what it staged. By default SIGTERM
    would end the process on the spot and leave both behind."""
    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_main(group: click.Group) -> int:
    """Run the CLI: 0 success, 1 failure (one clear line on stderr), 2 usage error."""
    try:
        settings = get_settings()
        # The CLI talks to people through its own messages; log events (JSON) stay quiet unless
        # they are errors or DXCODER_LOG_LEVEL asks for more than the default.
        setup_logging(settings)
        if settings.log_level.upper() == "INFO":
            logging.getLogger().setLevel(logging.ERROR)
        group.main(standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except click.Abort:
        click.echo("dxcoder: interrupted", err=True)
        return EXIT_FAILURE
    except click.UsageError as exc:
        exc.show()
        return EXIT_USAGE
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except DxcoderError as exc:
        click.echo(f"dxcoder: error: {exc}", err=True)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        click.echo("dxcoder: interrupted", err=True)
        return EXIT_FAILURE
    except sqlalchemy.exc.OperationalError as exc:
        url = mask_url(get_settings().effective_database_url)
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        click.echo(f"dxcoder: error: cannot use the database at {url} ({reason}); check "
                   "DXCODER_DATABASE_URL and that the server is running", err=True)
        return EXIT_FAILURE
    except (sqlalchemy.exc.ArgumentError, sqlalchemy.exc.NoSuchModuleError) as exc:
        # A URL SQLAlchemy cannot parse, or a dialect (mysql://, oracle://) it has no plugin for.
        url = mask_url(get_settings().effective_database_url)
        click.echo(f"dxcoder: error: DXCODER_DATABASE_URL {url} is not a database dxcoder can "
                   f"use ({type(exc).__name__}); set postgresql://USER@HOST/DB, or leave it "
                   "empty for the embedded SQLite database", err=True)
        return EXIT_FAILURE
    except Exception as exc:  # the last line of defence: one line, no PHI; details at DEBUG
        log.debug("cli.crashed", exc_info=True)
        click.echo(f"dxcoder: error: {_unexpected(exc)}", err=True)
        return EXIT_FAILURE
    return EXIT_OK


def _unexpected(exc: Exception) -> str:
    """One line for an error no handler expected, with what to do next."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, ModuleNotFoundError):
        url = get_settings().effective_database_url
        driver = url.split("://", 1)[0] if "://" in url else ""
        if driver not in ("postgresql+psycopg2", "sqlite"):
            return (f"DXCODER_DATABASE_URL's scheme {driver}:// needs a driver dxcoder does not "
                    f"install ({first}); use postgresql://USER@HOST/DB (psycopg2, installed "
                    "with dxcoder)")
        return (f"a module dxcoder needs is missing ({first}); reinstall dxcoder "
                "(`make setup`, or `pip install` of this package) in the environment you run")
    return (f"unexpected {type(exc).__name__}: {first}; run again with DXCODER_LOG_LEVEL=DEBUG "
            "for where it happened, and report it if it persists")


def ensure_schema() -> None:
    """Commands that need tables call this: migrate an embedded database, refuse an old server one."""
    from worker import migrate

    if get_settings().is_embedded:
        migrate.upgrade()
    else:
        migrate.require_current()


def echo_err(message: str) -> None:
    click.echo(message, err=True)


def fail(message: str) -> Any:
    raise DxcoderError(message)




def date_option(_ctx: click.Context, _param: click.Parameter, value: str | None
                ) -> dt.date | None:
    """click callback for date options: the forms a file's date of service may take
    (YYYY-MM-DD, YYYYMMDD, MM/DD/YYYY), or a usage error (exit 2) saying so."""
    from worker.ingest.common import parse_date

    if value is None:
        return None
    parsed, problem = parse_date("date", value)
    if parsed is None:
        what = "a real date" if problem and "real date" in problem else "a date"
        raise click.BadParameter(f"{value!r} is not {what}; use YYYY-MM-DD, YYYYMMDD or "
                                 "MM/DD/YYYY") from None
    return parsed
