"""The `dxcoder` command line: one group, sub-commands registered from their own modules."""

from __future__ import annotations

import sys

import click

from worker import __version__
from worker.cli.base import run_main
from worker.cli.codeset import codeset
from worker.cli.config import config_command, db_group
from worker.cli.edits import edits_command
from worker.cli.inbox import COMMANDS as INBOX_COMMANDS
from worker.cli.jobs import COMMANDS as JOB_COMMANDS
from worker.cli.jobs import jobs_command
from worker.cli.lifecycle import purge_command
from worker.cli.ops import COMMANDS as OPS_COMMANDS
from worker.cli.override import override
from worker.cli.recode import recode
from worker.cli.resolve import resolve_command
from worker.cli.review import review


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="dxcoder")
def cli() -> None:
    """dxcoder: resolve claim diagnosis entries to the ICD-10-CM code valid on the date of service.

    Settings come from DXCODER_* environment variables (see `dxcoder config`). With none set,
    everything runs embedded: a SQLite database under ./.dxcoder and no servers.
    """


cli.add_command(config_command)
cli.add_command(db_group)
cli.add_command(codeset)
cli.add_command(recode)
cli.add_command(resolve_command)
cli.add_command(override)
cli.add_command(edits_command)
jobs_command.add_command(purge_command)
cli.add_command(review)
for _command in JOB_COMMANDS:
    cli.add_command(_command)
for _command in OPS_COMMANDS:
    cli.add_command(_command)
for _command in INBOX_COMMANDS:
    cli.add_command(_command)


def main() -> None:
    sys.exit(run_main(cli))
