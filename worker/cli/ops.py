"""`dxcoder health|exporter|flower`: what operators and container healthchecks run."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from worker import private
from worker.settings import get_settings

# .env.example's placeholder: a stack started from the example unchanged must not come up.
PLACEHOLDER_PASSWORDS = frozenset({"change-me"})
_MARK = {"ok": "ok  ", "fail": "FAIL", "skip": "skip"}


@click.command("health")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--workers/--no-workers", default=True, show_default=True,
              help="Require a worker consuming the queue to answer (off for beat/Flower checks).")
@click.option("--this-host", is_flag=True,
              help="Require a worker on this host (a worker container's own healthcheck).")
def health_command(as_json: bool, workers: bool, this_host: bool) -> None:
    """Check the deployment: database reachable and migrated, a release loaded, Redis reachable,
    breakers closed, queue depth, oldest queued chunk, workers online.

    Exit 0 when healthy, 1 when not (the failing checks say what to do).
    """
    from tasks import broker
    from worker.ops.health import run_checks

    report = run_checks(get_settings(), broker, workers=workers, this_host=this_host)
    if as_json:
        click.echo(json.dumps(report.as_dict(), default=str))
    else:
        for check in report.checks:
            click.echo(f"{_MARK[check.status]} {check.name:<10} {check.detail}")
        click.echo("healthy" if report.healthy else
                   "unhealthy: " + ", ".join(c.name for c in report.failures))
    sys.exit(0 if report.healthy else 1)


@click.command("exporter")
@click.option("--port", type=click.IntRange(1, 65535),
              help="Port for /metrics (default: DXCODER_EXPORTER_PORT).")
@click.option("--address", help="Address to bind (default: DXCODER_EXPORTER_ADDRESS, "
              "127.0.0.1).")
def exporter_command(port: int | None, address: str | None) -> None:
    """Serve dxcoder's Prometheus metrics on /metrics: lines by status and method, chunk
    durations, redeliveries, breaker states, queue depth, oldest queued chunk."""
    from tasks import broker
    from worker.ops.exporter import serve

    settings = get_settings()
    serve(settings, broker, port or settings.exporter_port,
          address or settings.exporter_address)


def celery_program() -> str:
    """The `celery` installed next to this Python (a venv need not be on PATH), else PATH's."""
    beside = Path(sys.executable).with_name("celery")
    return str(beside) if beside.exists() else "celery"


def flower_argv(extra: tuple[str, ...] = ()) -> tuple[list[str], dict[str, str]]:
    """The `celery -A tasks flower` command line and environment our settings call for, run
    through tasks.flower so that /metrics and /healthcheck need the credentials too.

    The credentials go through FLOWER_BASIC_AUTH, not argv, so `ps` never shows the password.
    """
    settings = get_settings()
    if not (settings.flower_user and settings.flower_password):
        raise click.UsageError("Flower runs with authentication: set DXCODER_FLOWER_USER and "
                               "DXCODER_FLOWER_PASSWORD")
    if settings.flower_password in PLACEHOLDER_PASSWORDS:
        raise click.UsageError(f"DXCODER_FLOWER_PASSWORD is still the placeholder "
                               f"{settings.flower_password!r} of .env.example; set a password "
                               "of your own")
    if ":" in settings.flower_user or "," in settings.flower_password:
        raise click.UsageError("DXCODER_FLOWER_USER may not contain ':' and "
                               "DXCODER_FLOWER_PASSWORD may not contain ','")
    state = Path(settings.flower_db or Path(settings.data_dir) / "flower.db")
    state.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "tasks.flower", "-A", "tasks", "flower",
            f"--address={settings.flower_address}", f"--port={settings.flower_port}",
            f"--max_tasks={settings.flower_max_tasks}", "--persistent=True", f"--db={state}",
            # Flower takes milliseconds; saving as it goes means a crash loses one interval.
            f"--state_save_interval={settings.flower_state_save_interval * 1000}", *extra]
    env = dict(os.environ)
    env["FLOWER_BASIC_AUTH"] = f"{settings.flower_user}:{settings.flower_password}"
    return argv, env


@click.command("flower", context_settings={"ignore_unknown_options": True})
@click.argument("flower_args", nargs=-1, type=click.UNPROCESSED)
def flower_command(flower_args: tuple[str, ...]) -> None:
    """Start Flower with basic auth, bounded memory and persistent state, from DXCODER_FLOWER_*
    (extra arguments go to `celery flower`)."""
    argv, env = flower_argv(flower_args)
    os.umask(private.umask())  # Flower's state file (dbm) is created with the process's umask
    os.execvpe(argv[0], argv, env)


COMMANDS = [health_command, exporter_command, flower_command]
