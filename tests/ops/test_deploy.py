"""docker-compose.yml, deploy/ and .env.example: what can be checked without a Docker engine."""

from __future__ import annotations

import configparser
import dataclasses
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from tests.workers import ROOT
from worker.cli import cli
from worker.ops import envfile
from worker.settings import Settings

DEPLOY = ROOT / "deploy"
APP_SERVICES = {"migrate", "worker", "beat", "flower", "exporter"}
KNOWN = {"DXCODER_" + f.name.upper() for f in dataclasses.fields(Settings)}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _invocations(script: Path) -> list[list[str]]:
    """The dxcoder command lines a start script runs (its `exec` line and any before it)."""
    found = []
    for line in script.read_text().splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0] == "exec":
            words = words[1:]
        if words and words[0] == "dxcoder":
            found.append([w for w in words[1:] if not w.startswith(('"$', "$"))])
    return found


def _check_cli(args: list[str]) -> None:
    """Parse `dxcoder ARGS` as click would, without running it: a typo fails here."""
    command: click.Command = cli
    while isinstance(command, click.Group):
        assert args and args[0] in command.commands, f"`dxcoder {' '.join(args)}` is no command"
        command, args = command.commands[args[0]], args[1:]
    command.make_context(command.name or "", list(args), resilient_parsing=False)


def test_every_service_is_there_and_app_services_share_one_image(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == APP_SERVICES | {"postgres", "redis", "preflight"}
    images = {(services[s]["image"], services[s]["build"]["dockerfile"]) for s in APP_SERVICES}
    assert images == {("dxcoder:latest", "deploy/Dockerfile")}
    for name in APP_SERVICES:
        keys = set(services[name]) - {"command", "environment", "depends_on", "healthcheck",
                                      "ports", "volumes", "restart", "deploy"}
        assert keys == {"image", "build", "env_file", "stop_grace_period"}, name
    assert "worker" not in {s.get("container_name") for s in services.values()}
    assert "ports" not in services["worker"]  # so `--scale worker=N` works
    assert services["beat"]["deploy"]["replicas"] == 1
    assert services["migrate"]["restart"] == "no"
    for name in APP_SERVICES - {"migrate"}:
        assert services[name]["depends_on"]["migrate"]["condition"] == \
            "service_completed_successfully"


def test_the_servers_are_configured_as_the_design_says(compose: dict[str, Any]) -> None:
    services = compose["services"]
    redis_command = " ".join(services["redis"]["command"])
    for flag in ("--appendonly yes", "--maxmemory-policy noeviction", "--requirepass"):
        assert flag in redis_command
    assert any(v.endswith(":/data") for v in services["redis"]["volumes"])
    assert any(v.endswith(":/var/lib/postgresql/data") for v in services["postgres"]["volumes"])
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"]
    flower_env = services["flower"]["environment"]
    assert {"DXCODER_FLOWER_USER", "DXCODER_FLOWER_PASSWORD"} <= set(flower_env)


def test_the_stack_refuses_the_placeholder_passwords_before_anything_starts(
        compose: dict[str, Any]) -> None:
    services = compose["services"]
    preflight = services["preflight"]
    for name in ("postgres", "redis"):
        assert services[name]["depends_on"]["preflight"]["condition"] == \
            "service_completed_successfully", name
    checked = {"POSTGRES_PASSWORD", "REDIS_PASSWORD", "DXCODER_FLOWER_PASSWORD"}
    assert set(preflight["environment"]) == checked
    assert all(":?" in value for value in preflight["environment"].values())  # empty: refused
    script = ROOT / preflight["command"][0]
    base = {"PATH": "/usr/bin:/bin"}
    real = dict.fromkeys(checked, "a-real-one")
    assert subprocess.run([str(script)], env={**base, **real}, capture_output=True,
                          check=False).returncode == 0
    example = {line.split("=", 1)[0]: line.split("=", 1)[1]
               for line in (ROOT / ".env.example").read_text().splitlines()
               if line.split("=", 1)[0] in checked}
    assert set(example) == checked
    refused = subprocess.run([str(script)], env={**base, **real, **example}, capture_output=True,
                             text=True, check=False)
    assert refused.returncode == 1
    assert "POSTGRES_PASSWORD REDIS_PASSWORD DXCODER_FLOWER_PASSWORD still empty or " \
        ".env.example's placeholder 'change-me'" in refused.stderr
    one = subprocess.run([str(script)], env={**base, **real, "REDIS_PASSWORD": "change-me"},
                         capture_output=True, text=True, check=False)
    assert one.returncode == 1 and "preflight: REDIS_PASSWORD still" in one.stderr


def test_listeners_are_published_on_this_machine_only_and_data_is_a_volume(
        compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["flower"]["ports"] == ["${FLOWER_PUBLISH:-127.0.0.1:5555}:5555"]
    assert services["exporter"]["ports"] == ["${EXPORTER_PUBLISH:-127.0.0.1:9808}:9808"]
    assert Settings().flower_address == Settings().exporter_address == "127.0.0.1"
    # The header's `dxcoder submit /data/claims.csv` runs in a worker: /data must be mounted.
    text = (ROOT / "docker-compose.yml").read_text()
    assert "dxcoder submit /data/" in text
    assert any(v.split("#")[0].strip().endswith(":/data") for v in services["worker"]["volumes"])
    health = " ".join(services["flower"]["healthcheck"]["test"])
    assert "Authorization" in health and "/healthcheck" in health


def test_every_command_exists_in_our_cli(compose: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        service = compose["services"][name]
        script = ROOT / service["command"][0]
        assert script.parent == DEPLOY and script.exists(), service["command"]
        text = script.read_text()
        assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text
        assert script.stat().st_mode & 0o111, f"{script} is not executable"
        invocations = _invocations(script)
        assert invocations, f"{script.name} runs no dxcoder command"
        for args in invocations:
            _check_cli(args)
        last = [line for line in text.splitlines() if line.strip()][-1]
        assert last.startswith("exec "), f"{script.name} must exec its process (signals)"
        health = service.get("healthcheck", {}).get("test", [])
        if health[:2] == ["CMD", "dxcoder"]:
            _check_cli(health[2:])
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^USER dxcoder$", dockerfile, re.M)
    health = re.search(r'CMD \["dxcoder", (.*)\]', dockerfile)
    assert health
    _check_cli([a.strip(' "') for a in health.group(1).split(",")])


def test_every_variable_compose_sets_is_a_setting(compose: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        assert set(compose["services"][name].get("environment", {})) <= KNOWN, name
    text = (ROOT / "docker-compose.yml").read_text()
    interpolated = set(re.findall(r"\$\{([A-Z_]+)", text))
    documented = {line.split("=", 1)[0].lstrip("#")
                  for line in (ROOT / ".env.example").read_text().splitlines()
                  if re.match(r"#?[A-Z_]+=", line)}
    assert interpolated <= documented


def test_env_example_lists_every_setting() -> None:
    text = (ROOT / ".env.example").read_text()
    assert text == envfile.render(), \
        "regenerate: .venv/bin/python -m worker.ops.envfile > .env.example"
    listed = set(re.findall(r"^#?(DXCODER_[A-Z_0-9]+)=", text, re.M))
    assert listed == KNOWN


def test_systemd_units_run_the_start_scripts() -> None:
    units = sorted((DEPLOY / "systemd").glob("*.service"))
    assert {u.name for u in units} == {"dxcoder-worker@.service", "dxcoder-beat.service",
                                       "dxcoder-flower.service", "dxcoder-exporter.service"}
    for unit in units:
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        parser.read(unit)
        service = parser["Service"]
        script = Path(service["ExecStart"].split()[0].replace("/opt/dxcoder/app", str(ROOT)))
        assert script.parent == DEPLOY and script.exists(), unit.name
        assert service["User"] == "dxcoder" and service["Restart"] == "always"
        assert service["EnvironmentFile"] == "/etc/dxcoder/dxcoder.env"
        assert service["UMask"] == "0077", unit.name  # claims data is never world-readable
    worker = configparser.ConfigParser(interpolation=None, strict=False)
    worker.read(DEPLOY / "systemd" / "dxcoder-worker@.service")
    # Longer than the task time limit, so a warm shutdown can finish running chunks.
    assert int(worker["Service"]["TimeoutStopSec"]) > Settings().task_time_limit
    assert worker["Service"]["KillMode"] == "mixed"
