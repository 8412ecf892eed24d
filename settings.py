"""Configuration: the only module that reads the environment (and a ``.env`` file).

Every other module receives a :class:`Settings` instance from the composition root (``app.py``).
"""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """The helpdesk's settings; see the README's configuration table."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True, populate_by_name=True)

    database_url: str = Field("sqlite:///instance/helpdesk.db", validation_alias=_env("HELPDESK_DATABASE_URL"))
    #: migrate on start: unset → only the embedded SQLite default migrates itself
    auto_migrate: bool | None = Field(None, validation_alias=_env("HELPDESK_AUTO_MIGRATE"))
    redis_url: str | None = Field(None, validation_alias=_env("HELPDESK_REDIS_URL"))
    secret_key: str | None = Field(None, validation_alias=_env("HELPDESK_SECRET_KEY"))
    instance_path: str = Field("instance", validation_alias=_env("HELPDESK_INSTANCE_PATH"))
    assistant: str = Field("flows", validation_alias=_env("HELPDESK_ASSISTANT"))
    host: str = Field("127.0.0.1", validation_alias=_env("HELPDESK_HOST"))
    port: int = Field(5000, validation_alias=_env("HELPDESK_PORT"))
    allowed_origins: str = Field("*", validation_alias=_env("HELPDESK_ALLOWED_ORIGINS"))
    anthropic_api_key: str | None = Field(None, validation_alias=_env("ANTHROPIC_API_KEY"))
    anthropic_base_url: str | None = Field(None, validation_alias=_env("ANTHROPIC_BASE_URL"))
    llm_model: str = Field("claude-sonnet-4-5", validation_alias=_env("HELPDESK_LLM_MODEL"))
    action_server_url: str | None = Field(None, validation_alias=_env("HELPDESK_ACTION_SERVER_URL"))
    action_timeout: float = Field(10.0, validation_alias=_env("HELPDESK_ACTION_TIMEOUT"))
    max_message_chars: int = Field(4000, validation_alias=_env("HELPDESK_MAX_MESSAGE_CHARS"))
    step_limit: int = Field(250, validation_alias=_env("HELPDESK_STEP_LIMIT"))
    slack_bot_token: str | None = Field(None, validation_alias=_env("SLACK_BOT_TOKEN"))
    slack_signing_secret: str | None = Field(None, validation_alias=_env("SLACK_SIGNING_SECRET"))
    slack_app_token: str | None = Field(None, validation_alias=_env("SLACK_APP_TOKEN"))
    slack_api_url: str = Field("https://slack.com/api/", validation_alias=_env("HELPDESK_SLACK_API_URL"))
    slack_support_channels: str | None = Field(None, validation_alias=_env("HELPDESK_SLACK_SUPPORT_CHANNELS"))
    slack_agent_channel: str | None = Field(None, validation_alias=_env("HELPDESK_SLACK_AGENT_CHANNEL"))
    email_address: str | None = Field(None, validation_alias=_env("HELPDESK_EMAIL_ADDRESS"))
    smtp_url: str | None = Field(None, validation_alias=_env("HELPDESK_SMTP_URL"))
    imap_url: str | None = Field(None, validation_alias=_env("HELPDESK_IMAP_URL"))
    email_inbound_token: str | None = Field(None, validation_alias=_env("HELPDESK_EMAIL_INBOUND_TOKEN"))
    log_level: str = Field("INFO", validation_alias=_env("HELPDESK_LOG_LEVEL"))

    @property
    def origins(self) -> list[str] | str:
        """Allowed origins as python-socketio expects them."""
        if self.allowed_origins.strip() == "*":
            return "*"
        return [o.strip() for o in self.allowed_origins.split(",") if o.strip()]
