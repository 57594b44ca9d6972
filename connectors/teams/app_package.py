"""The Teams app package an administrator uploads: ``manifest.json``, two icons and the German strings.

    data = build_zip(settings)       # bytes of the zip; ``crm-assistant teams package`` writes it
    manifest = build_manifest(settings)

The manifest (schema 1.17) declares the bot (personal chat, teams and group chats), the "Log to CRM"
message action and link unfurling for our own host (``composeExtensions``), and ``validDomains``. Its
texts are English with a German localisation file (``de.json``); the wording lives in ``TEXTS`` below,
both languages side by side. The icons are drawn here (a 192x192 colour icon and a 32x32 white-on-
transparent outline, as Teams requires) so the package needs no binary files in the repository.
``tests/integration/test_teams_package.py`` validates the result against Microsoft's manifest schema.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from typing import Any
from urllib.parse import urlsplit

from PIL import Image, ImageDraw

from assistant.settings import Settings

MANIFEST_VERSION = "1.17"
SCHEMA_URL = (
    f"https://developer.microsoft.com/json-schemas/teams/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"
)
LOCALIZATION_SCHEMA_URL = f"https://developer.microsoft.com/json-schemas/teams/v{MANIFEST_VERSION}/MicrosoftTeams.Localization.schema.json"
ACCENT = "#2E5A88"
LOG_COMMAND = "logToCrm"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")

# What the package says, English and German side by side (limits: name 30/100, description 80/4000,
# command title 32, command description 128).
TEXTS: dict[str, dict[str, str]] = {
    "name.short": {"en": "CRM Assistant", "de": "CRM-Assistent"},
    "name.full": {
        "en": "CRM Assistant: contacts, activities, deals and tasks in chat",
        "de": "CRM-Assistent: Kontakte, Aktivitäten, Deals und Aufgaben im Chat",
    },
    "description.short": {
        "en": "Log calls, find contacts, update deals and see your pipeline by chatting.",
        "de": "Anrufe erfassen, Kontakte finden, Deals pflegen, Pipeline sehen – im Chat.",
    },
    "description.full": {
        "en": "The CRM assistant understands English and German. Tell it about a call or meeting and it "
        "logs the activity; ask for a contact, your open tasks or the pipeline; create contacts, tasks and "
        "deals. Use 'Log to CRM' on any message to file it, and paste a CRM link to see the record. In "
        "channels it answers CRM questions privately. It answers only people linked to a CRM account.",
        "de": "Der CRM-Assistent versteht Deutsch und Englisch. Erzählen Sie ihm von einem Anruf oder "
        "Termin, und er erfasst die Aktivität; fragen Sie nach einem Kontakt, Ihren offenen Aufgaben oder "
        "der Pipeline; legen Sie Kontakte, Aufgaben und Deals an. Mit „Im CRM erfassen“ legen Sie eine "
        "Nachricht ab, ein eingefügter CRM-Link zeigt den Datensatz. In Kanälen antwortet er auf "
        "CRM-Fragen privat. Er antwortet nur Personen, die mit einem CRM-Zugang verknüpft sind.",
    },
    "command.help.title": {"en": "help", "de": "Hilfe"},
    "command.help.description": {"en": "What I can do", "de": "Was ich kann"},
    "command.tasks.title": {"en": "What's on my list today?", "de": "Was steht heute an?"},
    "command.tasks.description": {
        "en": "Your open and due tasks",
        "de": "Ihre offenen und fälligen Aufgaben",
    },
    "command.pipeline.title": {"en": "How does the pipeline look?", "de": "Wie sieht die Pipeline aus?"},
    "command.pipeline.description": {
        "en": "Pipeline totals and forecast",
        "de": "Pipeline-Summen und Prognose",
    },
    "command.log.title": {"en": "Log to CRM", "de": "Im CRM erfassen"},
    "command.log.description": {
        "en": "File this message as an activity in the CRM",
        "de": "Diese Nachricht als Aktivität im CRM ablegen",
    },
}
BOT_COMMANDS = ("help", "tasks", "pipeline")


class PackageError(ValueError):
    """The settings cannot make an installable package (said in words an administrator can act on)."""


def _public(settings: Settings) -> tuple[str, str]:
    url = settings.public_url.rstrip("/")
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise PackageError("CRM_PUBLIC_URL must be the assistant's public https:// address")
    return url, parts.hostname


def _say(key: str, lang: str) -> str:
    return TEXTS[key][lang]


def build_manifest(settings: Settings, *, company: str = "", version: str = "1.0.0") -> dict[str, Any]:
    app_id = settings.teams_app_id
    if not _GUID.match(app_id or ""):
        raise PackageError("TEAMS_APP_ID must be the bot's Microsoft App ID (a GUID)")
    url, host = _public(settings)
    scopes = ["personal", "team", "groupChat"]
    commands = [
        {"title": _say(f"command.{c}.title", "en"), "description": _say(f"command.{c}.description", "en")}
        for c in BOT_COMMANDS
    ]
    return {
        "$schema": SCHEMA_URL,
        "manifestVersion": MANIFEST_VERSION,
        "version": version,
        "id": app_id,
        "localizationInfo": {
            "defaultLanguageTag": "en-us",
            "additionalLanguages": [{"languageTag": "de-de", "file": "de.json"}],
        },
        "developer": {
            "name": (company or host)[:32],
            "websiteUrl": url,
            "privacyUrl": f"{url}/privacy",
            "termsOfUseUrl": f"{url}/terms",
        },
        "name": {"short": _say("name.short", "en"), "full": _say("name.full", "en")},
        "description": {"short": _say("description.short", "en"), "full": _say("description.full", "en")},
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": ACCENT,
        "bots": [
            {
                "botId": app_id,
                "scopes": scopes,
                "supportsFiles": False,
                "isNotificationOnly": False,
                "commandLists": [{"scopes": scopes, "commands": commands}],
            }
        ],
        "composeExtensions": [
            {
                "botId": app_id,
                "commands": [
                    {
                        "id": LOG_COMMAND,
                        "type": "action",
                        "context": ["message"],
                        "title": _say("command.log.title", "en"),
                        "description": _say("command.log.description", "en"),
                        "fetchTask": True,
                    }
                ],
                "messageHandlers": [{"type": "link", "value": {"domains": [host]}}],
            }
        ],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": [host],
    }


def localization(lang: str) -> dict[str, Any]:
    """The strings file for ``lang``: every text of the manifest, translated."""
    strings: dict[str, Any] = {"$schema": LOCALIZATION_SCHEMA_URL}
    for key in ("name.short", "name.full", "description.short", "description.full"):
        strings[key] = _say(key, lang)
    for n, command in enumerate(BOT_COMMANDS):
        strings[f"bots[0].commandLists[0].commands[{n}].title"] = _say(f"command.{command}.title", lang)
        strings[f"bots[0].commandLists[0].commands[{n}].description"] = _say(
            f"command.{command}.description", lang
        )
    strings["composeExtensions[0].commands[0].title"] = _say("command.log.title", lang)
    strings["composeExtensions[0].commands[0].description"] = _say("command.log.description", lang)
    return strings


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def color_icon() -> bytes:
    """192x192: a speech bubble on the accent colour."""
    image = Image.new("RGBA", (192, 192), ACCENT)
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((36, 44, 156, 128), radius=18, fill="white")
    draw.polygon([(64, 126), (64, 156), (94, 126)], fill="white")
    for x in (66, 96, 126):
        draw.ellipse((x - 9, 77, x + 9, 95), fill=ACCENT)
    return _png(image)


def outline_icon() -> bytes:
    """32x32: the same bubble, white lines on a transparent background (Teams' rule for outlines)."""
    image = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((4, 6, 27, 21), radius=3, outline=(255, 255, 255, 255), width=2)
    draw.polygon([(9, 21), (9, 27), (15, 21)], fill=(255, 255, 255, 255))
    return _png(image)


def build_zip(settings: Settings, *, company: str = "", version: str = "1.0.0") -> bytes:
    manifest = build_manifest(settings, company=company, version=version)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
        zf.writestr("de.json", json.dumps(localization("de"), indent=2, ensure_ascii=False))
        zf.writestr("color.png", color_icon())
        zf.writestr("outline.png", outline_icon())
    return out.getvalue()
