"""The Teams app package: built by the CLI, valid against Microsoft's manifest schema (vendored, offline)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from PIL import Image

from assistant.settings import Settings
from connectors.teams.app_package import PackageError, build_manifest, build_zip

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "teams" / "schema"
APP_ID = "5b1f0c4e-7d2a-4f3b-9e8c-0a1b2c3d4e5f"
ENV = {"TEAMS_APP_ID": APP_ID, "CRM_PUBLIC_URL": "https://crm.example.com/"}


def _validator(name: str) -> Any:
    return jsonschema_rs.Draft4Validator(json.loads((SCHEMAS / name).read_text()))


def _errors(validator: Any, document: Any) -> list[str]:
    return [f"{e.instance_path}: {e.message}" for e in validator.iter_errors(document)]


def _settings(**env: str) -> Settings:
    return Settings.from_env({**ENV, **env}, database_url="sqlite://")


def test_the_cli_writes_a_package_that_the_schema_accepts(tmp_path: Path) -> None:
    out = tmp_path / "app.zip"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "assistant.cli.main",
            "teams",
            "package",
            "-o",
            str(out),
            "--company",
            "Example GmbH",
        ],
        env={**os.environ, **ENV, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == ["color.png", "de.json", "manifest.json", "outline.png"]
        manifest = json.loads(zf.read("manifest.json"))
        german = json.loads(zf.read("de.json"))
        color = Image.open(io.BytesIO(zf.read("color.png")))
        outline = Image.open(io.BytesIO(zf.read("outline.png")))
    assert _errors(_validator("MicrosoftTeams.schema.json"), manifest) == []
    assert _errors(_validator("MicrosoftTeams.Localization.schema.json"), german) == []
    assert (
        manifest["id"] == manifest["bots"][0]["botId"] == manifest["composeExtensions"][0]["botId"] == APP_ID
    )
    assert manifest["developer"]["name"] == "Example GmbH"
    assert manifest["developer"]["privacyUrl"] == "https://crm.example.com/privacy"
    assert manifest["validDomains"] == ["crm.example.com"]
    assert manifest["composeExtensions"][0]["messageHandlers"][0]["value"]["domains"] == ["crm.example.com"]
    assert german["name.short"] == "CRM-Assistent"
    assert german["composeExtensions[0].commands[0].title"] == "Im CRM erfassen"
    assert (color.format, color.size) == ("PNG", (192, 192))
    assert (outline.format, outline.size, outline.mode) == ("PNG", (32, 32), "RGBA")
    colours = {c for _, c in outline.getcolors(32 * 32) if c[3]}  # outline: white on transparent only
    assert colours == {(255, 255, 255, 255)}


def test_the_schema_is_strict_enough_to_catch_mistakes() -> None:
    """The check is not a formality: a name over its length or an unknown key is refused."""
    validator = _validator("MicrosoftTeams.schema.json")
    manifest = build_manifest(_settings())
    too_long = {**manifest, "name": {**manifest["name"], "short": "x" * 31}}
    assert any("name" in e for e in _errors(validator, too_long))
    assert _errors(validator, {**manifest, "unknownKey": 1}) != []
    assert _errors(validator, {**manifest, "id": "not-a-guid"}) != []


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"TEAMS_APP_ID": "my-bot"}, "GUID"),
        ({"CRM_PUBLIC_URL": "http://crm.example.com"}, "https://"),
        ({"CRM_PUBLIC_URL": ""}, "https://"),
    ],
)
def test_settings_that_make_no_installable_package_are_named(env: dict[str, str], problem: str) -> None:
    with pytest.raises(PackageError, match=problem):
        build_zip(_settings(**env))
