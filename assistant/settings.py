"""Settings: one frozen value read from a mapping (the environment by default), never at import time."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from crm_store.db import default_database_url

# The project's own training data (an editable install or a checkout); CRM_TRAINING_DATA overrides it.
PROJECT_DATA = Path(__file__).resolve().parents[1] / "training_data"


class SettingsError(ValueError):
    """Unsafe or invalid configuration; the server refuses to start."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    model_dir: Path = Path("models")
    training_data: Path = PROJECT_DATA
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
    slack_app_token: str = ""  # xapp-...: Socket Mode, for installs without a public URL
    slack_team_ids: tuple[str, ...] = ()  # Slack workspaces/enterprises heard (empty: where the app is installed)
    teams_app_id: str = ""
    teams_app_password: str = ""
    teams_openid_url: str = "https://login.botframework.com/v1/.well-known/openidconfiguration"
    teams_token_url: str = ""  # doctor's token check; default: the authority's token endpoint (single-tenant)
    teams_auth_type: str = "client_secret"  # certificate, user_managed_identity, system_managed_identity, ...
    teams_app_tenant_id: str = ""  # the bot registration's tenant (default: the first of TEAMS_TENANT_IDS)
    teams_authority: str = ""  # e.g. https://login.microsoftonline.us/<tenant> (default: public cloud, our tenant)
    teams_entra_openid_url: str = ""  # keys of single-tenant Entra tokens (default: the authority's metadata)
    teams_authority_discovery: bool = True  # MSAL instance discovery (off for private/test authorities)
    teams_cert_pfx_file: str = ""
    teams_federated_client_id: str = ""
    teams_member_lookup: bool = True  # ask the Bot Connector for an unknown Teams user's e-mail
    teams_tenant_ids: tuple[str, ...] = ()  # Azure AD tenants whose users may talk to the bot (required)
    smtp_host: str = ""
    smtp_port: int = 25
    mail_from: str = "support@example.com"
    routing_config: Path | None = None
    smtp_listen_host: str = "127.0.0.1"  # inbound mail (triage): the SMTP endpoint's address
    smtp_listen_port: int = 0  # 0: no inbound SMTP endpoint
    mail_domains: tuple[str, ...] = ()  # inbound SMTP accepts recipients in these domains only (empty: any)
    imap_host: str = ""  # empty: no IMAP poller
    imap_port: int = 993
    imap_ssl: bool = True
    imap_user: str = ""
    imap_password: str = ""
    imap_mailboxes: tuple[str, ...] = ("INBOX",)
    mail_ack: bool = True  # acknowledge triaged mail (needs smtp_host)
    mail_authserv_id: str = ""  # our MTA's RFC 8601 authserv-id; "": trust the top-most Authentication-Results
    sla_escalation: bool = False  # escalate overdue tickets to the team lead by e-mail (needs smtp_host)
    sla_fallback_to: str = ""  # who gets the escalation when a ticket's team has no lead
    secret_key: str = ""  # signs customer chat tokens; empty disables customer login in the web chat
    chat_rate: float = 1.0  # sustained messages per second per conversation
    chat_burst: int = 10
    customer_proof_idle_seconds: int = 1800  # what an anonymous chat proved (a mailed code) lapses after this idle
    trusted_proxies: tuple[str, ...] = ()  # IPs/CIDRs of reverse proxies whose X-Forwarded-For is believed
    rasa_url: str = ""  # a real Rasa server as the dialogue engine (connectors/rasa_engine.py); empty: in-process
    rasa_token: str = ""  # Rasa's --auth-token, for its HTTP API (the language slot)
    retention_schedule: str = "daily"  # CRM_RETENTION_SCHEDULE: "daily" (03:00 UTC) or "off"
    retention_config: Path | None = None  # CRM_RETENTION_CONFIG: YAML {rule: days}; None: the defaults
    workers: int = 1  # CRM_WORKERS: web worker processes forked after the models are loaded (>1 needs PostgreSQL)
    pipeline_stalled_days: int = 30  # CRM_PIPELINE_STALLED_DAYS: no activity this long = stalled / at risk
    pipeline_stage_age_days: int = 60  # CRM_PIPELINE_STAGE_AGE_DAYS: in one stage this long = at risk
    handover_wait_seconds: int = 300  # CRM_HANDOVER_WAIT_SECONDS: a handed-over customer waits this long, then is told
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        env = os.environ if environ is None else environ
        s = cls(
            database_url=default_database_url(env),
            model_dir=Path(env.get("CRM_MODEL_DIR", "models")),
            training_data=Path(env["CRM_TRAINING_DATA"]) if env.get("CRM_TRAINING_DATA") else PROJECT_DATA,
            embedding_model=env.get("CRM_EMBEDDING_MODEL") or None,
            host=env.get("CRM_HOST", "127.0.0.1"),
            port=int(env.get("CRM_PORT", "8080")),
            public_url=env.get("CRM_PUBLIC_URL", ""),
            default_timezone=env.get("CRM_TIMEZONE", "Europe/Berlin"),
            allowed_origins=tuple(o for o in env.get("CRM_ALLOWED_ORIGINS", "").split(",") if o),
            slack_bot_token=env.get("SLACK_BOT_TOKEN", ""),
            slack_signing_secret=env.get("SLACK_SIGNING_SECRET", ""),
            slack_api_url=env.get("SLACK_API_URL", "https://slack.com/api/"),
            slack_app_token=env.get("SLACK_APP_TOKEN", ""),
            slack_team_ids=tuple(t.strip() for t in env.get("SLACK_TEAM_IDS", "").split(",") if t.strip()),
            teams_app_id=env.get("TEAMS_APP_ID", ""),
            teams_app_password=env.get("TEAMS_APP_PASSWORD", ""),
            teams_openid_url=env.get("TEAMS_OPENID_URL", cls.teams_openid_url),
            teams_token_url=env.get("TEAMS_TOKEN_URL", ""),
            teams_auth_type=env.get("TEAMS_AUTH_TYPE", "client_secret"),
            teams_app_tenant_id=env.get("TEAMS_APP_TENANT_ID", ""),
            teams_authority=env.get("TEAMS_AUTHORITY", ""),
            teams_entra_openid_url=env.get("TEAMS_ENTRA_OPENID_URL", ""),
            teams_authority_discovery=env.get("TEAMS_AUTHORITY_DISCOVERY", "1").lower() not in ("0", "false", "no"),
            teams_cert_pfx_file=env.get("TEAMS_CERT_PFX_FILE", ""),
            teams_federated_client_id=env.get("TEAMS_FEDERATED_CLIENT_ID", ""),
            teams_member_lookup=env.get("TEAMS_MEMBER_LOOKUP", "1").lower() not in ("0", "false", "no"),
            teams_tenant_ids=tuple(t.strip() for t in env.get("TEAMS_TENANT_IDS", "").split(",") if t.strip()),
            smtp_host=env.get("CRM_SMTP_HOST", ""),
            smtp_port=int(env.get("CRM_SMTP_PORT", "25")),
            mail_from=env.get("CRM_MAIL_FROM", "support@example.com"),
            routing_config=Path(env["CRM_ROUTING_CONFIG"]) if env.get("CRM_ROUTING_CONFIG") else None,
            smtp_listen_host=env.get("CRM_SMTP_LISTEN_HOST", "127.0.0.1"),
            smtp_listen_port=int(env.get("CRM_SMTP_LISTEN_PORT", "0")),
            mail_domains=tuple(d.strip().lower() for d in env.get("CRM_MAIL_DOMAINS", "").split(",") if d.strip()),
            imap_host=env.get("CRM_IMAP_HOST", ""),
            imap_port=int(env.get("CRM_IMAP_PORT", "993")),
            imap_ssl=env.get("CRM_IMAP_SSL", "1").lower() not in ("0", "false", "no", "off"),
            imap_user=env.get("CRM_IMAP_USER", ""),
            imap_password=env.get("CRM_IMAP_PASSWORD", ""),
            imap_mailboxes=tuple(m.strip() for m in env.get("CRM_IMAP_MAILBOXES", "INBOX").split(",") if m.strip()),
            mail_ack=env.get("CRM_MAIL_ACK", "1").lower() not in ("0", "false", "no", "off"),
            mail_authserv_id=env.get("CRM_MAIL_AUTHSERV_ID", "").strip().lower(),
            sla_escalation=env.get("CRM_SLA_ESCALATION", "0").lower() in ("1", "true", "yes", "on"),
            sla_fallback_to=env.get("CRM_SLA_FALLBACK_TO", ""),
            secret_key=env.get("CRM_SECRET_KEY", ""),
            chat_rate=float(env.get("CRM_CHAT_RATE", "1.0")),
            chat_burst=int(env.get("CRM_CHAT_BURST", "10")),
            customer_proof_idle_seconds=int(env.get("CRM_CUSTOMER_PROOF_IDLE_SECONDS", "1800")),
            trusted_proxies=tuple(p.strip() for p in env.get("CRM_TRUSTED_PROXIES", "").split(",") if p.strip()),
            rasa_url=env.get("CRM_RASA_URL", ""),
            rasa_token=env.get("CRM_RASA_TOKEN", ""),
            retention_schedule=env.get("CRM_RETENTION_SCHEDULE", "daily").strip().lower() or "daily",
            retention_config=Path(env["CRM_RETENTION_CONFIG"]) if env.get("CRM_RETENTION_CONFIG") else None,
            workers=int(env.get("CRM_WORKERS", "1")),
            pipeline_stalled_days=int(env.get("CRM_PIPELINE_STALLED_DAYS", "30")),
            pipeline_stage_age_days=int(env.get("CRM_PIPELINE_STAGE_AGE_DAYS", "60")),
            handover_wait_seconds=int(env.get("CRM_HANDOVER_WAIT_SECONDS", "300")),
        )
        s = replace(s, **overrides) if overrides else s  # type: ignore[arg-type]
        if not s.teams_token_url:  # single-tenant: the bot registration's own tenant (sovereign: TEAMS_AUTHORITY)
            tenant = s.teams_app_tenant_id or (s.teams_tenant_ids[0] if s.teams_tenant_ids else "botframework.com")
            base = s.teams_authority.rstrip("/") or f"https://login.microsoftonline.com/{tenant}"
            s = replace(s, teams_token_url=f"{base}/oauth2/v2.0/token")
        return s

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token)

    def check(self) -> None:
        """Refuse unsafe configurations outside demo mode."""
        if self.slack_bot_token and not self.slack_signing_secret and not self.slack_app_token:
            raise SettingsError("SLACK_BOT_TOKEN is set but neither SLACK_SIGNING_SECRET (HTTP mode) nor SLACK_APP_TOKEN (Socket Mode)")
        if self.slack_app_token and not self.slack_app_token.startswith("xapp-"):
            raise SettingsError("SLACK_APP_TOKEN is not an app-level token (xapp-...)")
        if self.slack_app_token and not self.slack_bot_token:
            raise SettingsError("SLACK_APP_TOKEN is set but SLACK_BOT_TOKEN is empty")
        if self.teams_app_id and self.teams_auth_type == "client_secret" and not self.teams_app_password and not self.demo:
            raise SettingsError("TEAMS_APP_ID is set but TEAMS_APP_PASSWORD is empty")
        teams_auth_types = ("client_secret", "certificate", "user_managed_identity", "system_managed_identity",
                            "federated_credentials")
        if self.teams_app_id and self.teams_auth_type not in teams_auth_types:
            raise SettingsError(f"TEAMS_AUTH_TYPE must be one of {', '.join(teams_auth_types)}")
        if self.teams_app_id and not self.teams_tenant_ids and not self.demo:
            raise SettingsError(
                "TEAMS_APP_ID is set but TEAMS_TENANT_IDS is empty: list the Azure AD tenants whose users may "
                "talk to the bot (another tenant's administrator controls its users' e-mail addresses)"
            )
        if self.imap_host and not (self.imap_user and self.imap_password):
            raise SettingsError("CRM_IMAP_HOST is set but CRM_IMAP_USER or CRM_IMAP_PASSWORD is empty")
        if self.rasa_url and not self.secret_key:
            # the action server runs in another process: without a shared key it could verify no speaker
            raise SettingsError("CRM_RASA_URL is set but CRM_SECRET_KEY is empty: give our server and "
                                "`crm-assistant actions serve` the same CRM_SECRET_KEY (it signs the speaker)")
        if self.workers < 1:
            raise SettingsError("CRM_WORKERS must be at least 1")
        if self.workers > 1 and self.database_url.startswith("sqlite"):
            raise SettingsError("CRM_WORKERS > 1 needs PostgreSQL (CRM_DATABASE_URL): SQLite is one process's store")
        if self.pipeline_stalled_days < 1 or self.pipeline_stage_age_days < 1:
            raise SettingsError(
                "CRM_PIPELINE_STALLED_DAYS and CRM_PIPELINE_STAGE_AGE_DAYS must be at least 1"
            )
        if self.retention_schedule not in ("daily", "off"):
            raise SettingsError("CRM_RETENTION_SCHEDULE must be 'daily' or 'off'")
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise SettingsError(f"CRM_TRUSTED_PROXIES: {proxy!r} is not an IP address or CIDR") from None
