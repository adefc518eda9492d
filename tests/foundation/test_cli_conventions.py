"""Every command has help that reads, usage errors exit 2, config masks secrets."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from tests.clitools import run_dxcoder
from worker.cli import cli


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            out += _commands(command, (*prefix, name))
        else:
            out.append((*prefix, name))
    return out


@pytest.mark.parametrize("path", _commands(cli), ids=lambda p: " ".join(p) or "dxcoder")
def test_help_exits_zero_and_explains(path: tuple[str, ...], tmp_path: Path) -> None:
    result = run_dxcoder(*path, "--help", database_url="sqlite:///unused", data_dir=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("Usage: dxcoder")
    description = result.stdout.split("\n\n")[1].strip()
    assert len(description) > 15, f"{' '.join(path)} has no description"


def test_usage_error_exits_two(tmp_path: Path) -> None:
    result = run_dxcoder("codeset", "load", "--effective-from", "yesterday",
                         database_url=f"sqlite:///{tmp_path}/x.db", data_dir=tmp_path)
    assert result.returncode == 2
    assert "'yesterday' is not a date; use YYYY-MM-DD" in result.stderr
    assert run_dxcoder("no-such-command", database_url="sqlite:///x", data_dir=tmp_path
                       ).returncode == 2


def test_config_masks_the_database_password(tmp_path: Path) -> None:
    result = run_dxcoder("config", database_url="postgresql://dx:hunter2@db:5432/dx",
                         data_dir=tmp_path, env={"DXCODER_BROKER_URL": "redis://:pw9@r:6379/0"})
    assert result.returncode == 0
    assert "postgresql+psycopg2://dx:***@db:5432/dx" in result.stdout  # the driver it uses
    assert "hunter2" not in result.stdout and "pw9" not in result.stdout


def test_bad_setting_is_one_line_and_exit_one(tmp_path: Path) -> None:
    result = run_dxcoder("config", database_url="sqlite:///x", data_dir=tmp_path,
                         env={"DXCODER_CHUNK_SIZE": "many"})
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "dxcoder: error: DXCODER_CHUNK_SIZE must be a whole number, not 'many'")


def test_unreachable_database_is_a_clear_failure(tmp_path: Path) -> None:
    result = run_dxcoder("codeset", "list",
                         database_url="postgresql+psycopg2://postgres@127.0.0.1:1/nothing",
                         data_dir=tmp_path)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "database" in result.stderr.lower()
