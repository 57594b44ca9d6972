"""Settings: one frozen value read from a mapping (the environment by default), never at import time."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from crm_store.db import default_database_url


class SettingsError(ValueError):
    """Unsafe or invalid configuration; the server refuses to start."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    model_dir: Path = Path("models")
    training_data: Path = Path("training_data")
    embedding_model: str | None = None  # None: the packaged all-MiniLM-L6-v2
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""
    demo: bool = False
    default_timezone: str = "Europe/Berlin"
    default_language: str = "en"
    max_message_chars: int = 4000
    max_body_bytes: int = 1_000_000
    allowed_origins: tuple[str, ...] = ()
    slack_bot_token: str = ""
    slack_signing_secret: str = ""
    slack_api_url: str = "https://slack.com/api/"
    teams_app_id: str = ""
    teams_app_password: str = ""
    smtp_host: str = ""
    smtp_port: int = 25
    mail_from: str = "support@example.com"
    routing_config: Path | None = None
    secret_key: str = ""  # signs customer chat tokens; empty disables customer login in the web chat
    chat_rate: float = 1.0  # sustained messages per second per conversation
    chat_burst: int = 10
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        env = os.environ if environ is None else environ
        s = cls(
            database_url=default_database_url(env),
            model_dir=Path(env.get("CRM_MODEL_DIR", "models")),
            training_data=Path(env.get("CRM_TRAINING_DATA", "training_data")),
            embedding_model=env.get("CRM_EMBEDDING_MODEL") or None,
            host=env.get("CRM_HOST", "127.0.0.1"),
            port=int(env.get("CRM_PORT", "8080")),
            public_url=env.get("CRM_PUBLIC_URL", ""),
            default_timezone=env.get("CRM_TIMEZONE", "Europe/Berlin"),
            allowed_origins=tuple(o for o in env.get("CRM_ALLOWED_ORIGINS", "").split(",") if o),
            slack_bot_token=env.get("SLACK_BOT_TOKEN", ""),
            slack_signing_secret=env.get("SLACK_SIGNING_SECRET", ""),
            slack_api_url=env.get("SLACK_API_URL", "https://slack.com/api/"),
            teams_app_id=env.get("TEAMS_APP_ID", ""),
            teams_app_password=env.get("TEAMS_APP_PASSWORD", ""),
            smtp_host=env.get("CRM_SMTP_HOST", ""),
            smtp_port=int(env.get("CRM_SMTP_PORT", "25")),
            mail_from=env.get("CRM_MAIL_FROM", "support@example.com"),
            routing_config=Path(env["CRM_ROUTING_CONFIG"]) if env.get("CRM_ROUTING_CONFIG") else None,
            secret_key=env.get("CRM_SECRET_KEY", ""),
        )
        return replace(s, **overrides) if overrides else s  # type: ignore[arg-type]

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token)

    def check(self) -> None:
        """Refuse unsafe configurations outside demo mode."""
        if self.slack_bot_token and not self.slack_signing_secret:
            raise SettingsError("SLACK_BOT_TOKEN is set but SLACK_SIGNING_SECRET is empty: requests could not be verified")
        if self.teams_app_id and not self.teams_app_password and not self.demo:
            raise SettingsError("TEAMS_APP_ID is set but TEAMS_APP_PASSWORD is empty")
