"""deploy/: the compose file, the Caddyfile, the env example and the systemd units agree with the code.

Docker cannot run here, so the compose file is checked for its shape: the services and their order of start,
health checks, volumes and secrets that are declared, the proxy pointing at the web service's port, and every
variable of the env example being one the code reads. The systemd units are parsed and their commands run
through the real CLI's ``--help``, so a renamed command or option fails here.
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def cli_help(*args: str) -> str:
    from click.testing import CliRunner

    from assistant.cli.main import cli

    out = CliRunner().invoke(cli, [*args, "--help"])
    assert out.exit_code == 0, out.output
    return out.output


def test_compose_services_start_in_order_and_are_checked(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgres", "init", "web", "proxy", "redis"} <= set(services)
    web = services["web"]
    assert web["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert web["depends_on"]["init"]["condition"] == "service_completed_successfully"
    assert services["proxy"]["depends_on"]["web"]["condition"] == "service_healthy"
    for name in ("postgres", "web", "redis"):
        assert services[name]["healthcheck"]["test"], name
    assert "/health" in " ".join(web["healthcheck"]["test"])
    assert "CRM_WORKERS" in web["environment"]
    assert int(web["stop_grace_period"].rstrip("s")) >= 40  # a worker's clean shutdown (assistant/workers.py)
    assert services["redis"].get("profiles") == [
        "redis"
    ]  # not used by the assistant yet: not started by default


def test_compose_volumes_secrets_and_files_exist(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), (name, source)
            else:
                assert source in declared, (name, source)
        for secret in service.get("secrets", []):
            assert secret in compose["secrets"], (name, secret)
        build = service.get("build")
        if build:
            assert (DEPLOY / build["context"] / build["dockerfile"]).exists()
        env_file = service.get("env_file")
        if env_file:
            assert (DEPLOY / f"{env_file}.example").exists()  # crm.env is made from crm.env.example


def test_the_proxy_reaches_the_web_port(compose: dict[str, Any]) -> None:
    caddy = (DEPLOY / "Caddyfile").read_text()
    upstream = re.search(r"reverse_proxy\s+(\S+):(\d+)", caddy)
    assert upstream is not None
    assert upstream.group(1) == "web"
    assert upstream.group(2) == compose["services"]["web"]["environment"]["CRM_PORT"]
    assert f"{upstream.group(2)}" in compose["services"]["web"]["expose"]
    assert "health_uri /health" in caddy


def test_every_variable_of_the_env_example_is_read_by_the_code() -> None:
    names = [
        line.split("=", 1)[0]
        for line in (DEPLOY / "crm.env.example").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert "CRM_DATABASE_URL" in names and "CRM_WORKERS" in names
    sources = "\n".join(
        p.read_text() for d in ("assistant", "connectors", "crm_store") for p in (ROOT / d).rglob("*.py")
    )
    for name in names:
        assert f'"{name}"' in sources, f"{name} is read nowhere"


def test_systemd_units_run_real_commands() -> None:
    for unit in sorted((DEPLOY / "systemd").glob("*.service")):
        parser = configparser.RawConfigParser(strict=False)  # systemd allows repeated keys (ExecStart)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read(unit)
        assert {"Unit", "Service", "Install"} <= set(parser.sections()), unit
        lines = [
            line.split("=", 1)[1] for line in unit.read_text().splitlines() if line.startswith("ExecStart=")
        ]
        assert lines, unit
        for command in lines:
            words = command.split()
            assert words[0].endswith("/crm-assistant"), command
            options = [w for w in words[1:] if w.startswith("--")]
            subcommand = [w for w in words[1:] if not w.startswith("-")]
            text = cli_help(*subcommand)
            for option in options:
                assert option.split("=")[0] in text, (unit.name, option)
    main = (DEPLOY / "systemd" / "crm-assistant.service").read_text()
    assert "KillSignal=SIGTERM" in main and "EnvironmentFile=" in main
    assert "--workers" in cli_help("serve")
