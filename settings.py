"""Configuration: the only module that reads the environment (and a ``.env`` file).

Every other module receives a :class:`Settings` instance from the composition root (``app.py``).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: the default assistant: the ``flows/`` folder shipped inside the package (the checkout's ``flows/``)
DEFAULT_ASSISTANT = str(Path(__file__).resolve().parent / "flows")


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
    assistant: str = Field(DEFAULT_ASSISTANT, validation_alias=_env("HELPDESK_ASSISTANT"))
    host: str = Field("127.0.0.1", validation_alias=_env("HELPDESK_HOST"))
    port: int = Field(5000, validation_alias=_env("HELPDESK_PORT"))
    allowed_origins: str = Field("*", validation_alias=_env("HELPDESK_ALLOWED_ORIGINS"))
    anthropic_api_key: str | None = Field(None, validation_alias=_env("ANTHROPIC_API_KEY"))
    anthropic_base_url: str | None = Field(None, validation_alias=_env("ANTHROPIC_BASE_URL"))
    llm_model: str = Field("claude-sonnet-5-5", validation_alias=_env("HELPDESK_LLM_MODEL"))
    #: total seconds one LLM call may take, the SDK's retries included; then the turn says sorry
    llm_timeout: float = Field(10.0, gt=0, validation_alias=_env("HELPDESK_LLM_TIMEOUT"))
    llm_max_retries: int = Field(2, ge=0, validation_alias=_env("HELPDESK_LLM_MAX_RETRIES"))
    #: more startable flows than this → only the most relevant ones (BM25) enter the prompt
    llm_retrieval_threshold: int = Field(20, ge=1, validation_alias=_env("HELPDESK_LLM_RETRIEVAL_THRESHOLD"))
    #: past turns (a customer message and its replies) shown to the LLM
    llm_history_turns: int = Field(5, ge=0, le=10, validation_alias=_env("HELPDESK_LLM_HISTORY_TURNS"))
    #: USD per million input / output tokens for the cost estimate; unset → the model's list price
    llm_price_input: float | None = Field(None, ge=0, validation_alias=_env("HELPDESK_LLM_PRICE_INPUT"))
    llm_price_output: float | None = Field(None, ge=0, validation_alias=_env("HELPDESK_LLM_PRICE_OUTPUT"))
    #: seconds between looks for changed knowledge documents; 0 → index once at start
    knowledge_reload_seconds: float = Field(5.0, ge=0, validation_alias=_env("HELPDESK_KNOWLEDGE_RELOAD_SECONDS"))
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
    # --- Slack (see the README's "Connect Slack") ---
    #: a customer's top-level messages this many seconds apart join their open conversation (0: never)
    slack_group_window: float = Field(600.0, ge=0, validation_alias=_env("HELPDESK_SLACK_GROUP_WINDOW"))
    #: the emoji (name without colons) whose reaction hands a message's conversation to a person
    slack_ticket_emoji: str = Field("ticket", min_length=1, validation_alias=_env("HELPDESK_SLACK_TICKET_EMOJI"))
    #: an agent's thread message starting with this goes to the customer (others stay internal notes)
    slack_reply_prefix: str = Field("!reply", min_length=1, validation_alias=_env("HELPDESK_SLACK_REPLY_PREFIX"))
    #: seconds between two messages to one Slack channel (Slack allows about one per second)
    slack_pace_seconds: float = Field(1.0, ge=0, validation_alias=_env("HELPDESK_SLACK_PACE_SECONDS"))
    #: a 429's Retry-After up to this many seconds is waited out in place; longer → the outbox retries later
    slack_max_inline_wait: float = Field(5.0, ge=0, validation_alias=_env("HELPDESK_SLACK_MAX_INLINE_WAIT"))
    #: seconds Slack user names, avatars and channel kinds stay cached
    slack_cache_seconds: float = Field(3600.0, ge=0, validation_alias=_env("HELPDESK_SLACK_CACHE_SECONDS"))
    #: the helpdesk's public base URL, for "open in the dashboard" links in handoff cards (optional)
    public_url: str | None = Field(None, validation_alias=_env("HELPDESK_PUBLIC_URL"))
    email_address: str | None = Field(None, validation_alias=_env("HELPDESK_EMAIL_ADDRESS"))
    smtp_url: str | None = Field(None, validation_alias=_env("HELPDESK_SMTP_URL"))
    imap_url: str | None = Field(None, validation_alias=_env("HELPDESK_IMAP_URL"))
    email_inbound_token: str | None = Field(None, validation_alias=_env("HELPDESK_EMAIL_INBOUND_TOKEN"))
    # --- email (see the README's "Connect email") ---
    #: the display name on outgoing mail: "Northwind Support <support@shop.example>"
    email_from_name: str = Field("Support", validation_alias=_env("HELPDESK_EMAIL_FROM_NAME"))
    #: the largest raw message accepted (webhook: 413; IMAP: its headers and a note are stored)
    email_max_bytes: int = Field(25 * 1024 * 1024, gt=0, validation_alias=_env("HELPDESK_EMAIL_MAX_BYTES"))
    #: a larger attachment is listed on the message but not stored
    email_max_attachment_bytes: int = Field(10 * 1024 * 1024, gt=0,
                                            validation_alias=_env("HELPDESK_EMAIL_MAX_ATTACHMENT_BYTES"))
    email_max_attachments: int = Field(20, ge=0, validation_alias=_env("HELPDESK_EMAIL_MAX_ATTACHMENTS"))
    #: automatic (bot) replies to one sender per hour; more are not sent (0: no cap)
    email_auto_reply_limit: int = Field(5, ge=0, validation_alias=_env("HELPDESK_EMAIL_AUTO_REPLY_LIMIT"))
    #: seconds between IMAP polls; with IDLE the wait ends as soon as mail arrives
    imap_interval: float = Field(60.0, gt=0, validation_alias=_env("HELPDESK_IMAP_INTERVAL"))
    imap_idle: bool = Field(True, validation_alias=_env("HELPDESK_IMAP_IDLE"))
    #: the first poll of a mailbox also reads the mail already in it (else only mail arriving from then on)
    imap_import_existing: bool = Field(False, validation_alias=_env("HELPDESK_IMAP_IMPORT_EXISTING"))
    #: socket timeout of SMTP and IMAP connections (well within the outbox lease)
    email_timeout: float = Field(30.0, gt=0, validation_alias=_env("HELPDESK_EMAIL_TIMEOUT"))
    log_level: str = Field("INFO", validation_alias=_env("HELPDESK_LOG_LEVEL"))
    # --- running in production (see the README's "Running in production") ---
    #: text: one readable line per record; json: one JSON object per line (with the conversation id)
    log_format: str = Field("text", pattern="^(text|json)$", validation_alias=_env("HELPDESK_LOG_FORMAT"))
    #: `helpdesk serve`: threads of its one gunicorn worker (a WebSocket holds one while it is open)
    server_threads: int = Field(1000, ge=1, validation_alias=_env("HELPDESK_SERVER_THREADS"))
    #: seconds a stopping process (SIGTERM) has to finish the turns in flight before it exits anyway
    graceful_timeout: float = Field(30.0, gt=0, validation_alias=_env("HELPDESK_GRACEFUL_TIMEOUT"))
    # --- agents and handoff (see the README's "Agents and handoff") ---
    #: auto: waiting conversations go to the least-loaded online agent of their team; manual: agents claim
    handoff_assignment: str = Field("auto", pattern="^(auto|manual)$",
                                    validation_alias=_env("HELPDESK_HANDOFF_ASSIGNMENT"))
    handoff_default_team: str | None = Field(None, validation_alias=_env("HELPDESK_HANDOFF_DEFAULT_TEAM"))
    #: "flow_id=team,flow_id=team": the team a handoff from a flow goes to
    handoff_routes: str | None = Field(None, validation_alias=_env("HELPDESK_HANDOFF_ROUTES"))
    #: hand over after this many "cannot handle" turns in a row (0: never; 3 is a good value)
    handoff_cannot_handle_limit: int = Field(0, ge=0, validation_alias=_env("HELPDESK_HANDOFF_CANNOT_HANDLE_LIMIT"))
    handoff_on_error: bool = Field(True, validation_alias=_env("HELPDESK_HANDOFF_ON_ERROR"))
    handoff_sla_seconds: int = Field(300, gt=0, validation_alias=_env("HELPDESK_HANDOFF_SLA_SECONDS"))
    handoff_inactivity_seconds: int = Field(1800, ge=0, validation_alias=_env("HELPDESK_HANDOFF_INACTIVITY_SECONDS"))
    handoff_agent_response_seconds: int = Field(
        600, ge=0, validation_alias=_env("HELPDESK_HANDOFF_AGENT_RESPONSE_SECONDS"))
    #: the flow the assistant resumes with when an agent releases a conversation ("" for none)
    handoff_resume_flow: str = Field("pattern_customer_satisfaction",
                                     validation_alias=_env("HELPDESK_HANDOFF_RESUME_FLOW"))
    handoff_llm_summary: bool = Field(True, validation_alias=_env("HELPDESK_HANDOFF_LLM_SUMMARY"))
    handoff_wait_samples: int = Field(20, gt=0, validation_alias=_env("HELPDESK_HANDOFF_WAIT_SAMPLES"))
    #: "mon-fri 09:00-17:00; sat 10:00-14:00" (unset: always open); admins may store one per team
    business_hours: str | None = Field(None, validation_alias=_env("HELPDESK_BUSINESS_HOURS"))
    business_timezone: str = Field("UTC", validation_alias=_env("HELPDESK_BUSINESS_TIMEZONE"))
    agent_default_capacity: int = Field(3, ge=0, validation_alias=_env("HELPDESK_AGENT_CAPACITY"))
    agent_heartbeat_timeout: int = Field(90, gt=0, validation_alias=_env("HELPDESK_AGENT_HEARTBEAT_TIMEOUT"))
    agent_token_ttl: int = Field(7 * 24 * 3600, gt=0, validation_alias=_env("HELPDESK_AGENT_TOKEN_TTL"))
    #: run the handoff timers (APScheduler) in the web process; off when `helpdesk worker` runs them
    timers_in_web: bool = Field(True, validation_alias=_env("HELPDESK_TIMERS_IN_WEB"))
    timer_interval: float = Field(5.0, gt=0, validation_alias=_env("HELPDESK_TIMER_INTERVAL"))
    #: deliver the outbox (Slack, email replies) from a background thread of the web process;
    #: false when `helpdesk worker` processes deliver it
    outbox_in_web: bool = Field(True, validation_alias=_env("HELPDESK_OUTBOX_IN_WEB"))
    #: seconds between outbox polls (a commit that queues rows wakes the worker at once)
    outbox_interval: float = Field(1.0, gt=0, validation_alias=_env("HELPDESK_OUTBOX_INTERVAL"))
    #: seconds a claimed outbox row stays invisible to other workers (a worker that died mid-delivery
    #: leaves its rows to be retried after it); channels must time out well within it
    outbox_lease: float = Field(300.0, gt=0, validation_alias=_env("HELPDESK_OUTBOX_LEASE"))
    #: connectors from outside connectors/registry.py: comma-separated "module:Class"
    extra_connectors: str = Field("", validation_alias=_env("HELPDESK_EXTRA_CONNECTORS"))
    #: website widget: secret the host site signs user ids with (HMAC-SHA256); unset → no identities
    widget_site_secret: str | None = Field(None, validation_alias=_env("HELPDESK_WIDGET_SITE_SECRET"))
    widget_token_max_age: int = Field(30 * 24 * 3600, validation_alias=_env("HELPDESK_WIDGET_TOKEN_MAX_AGE"))
    widget_rate_burst: int = Field(10, validation_alias=_env("HELPDESK_WIDGET_RATE_BURST"))
    #: sustained messages (and uploads) per visitor per minute; 0 turns the limit off
    widget_rate_per_minute: float = Field(30, validation_alias=_env("HELPDESK_WIDGET_RATE_PER_MINUTE"))
    widget_history_limit: int = Field(200, validation_alias=_env("HELPDESK_WIDGET_HISTORY_LIMIT"))
    #: threads of the shared turn runner; unset: see :attr:`turn_workers`
    widget_turn_workers: int | None = Field(None, ge=1, validation_alias=_env("HELPDESK_WIDGET_TURN_WORKERS"))
    #: seconds a bot turn runs before the widget shows the bot typing (0: always)
    widget_typing_delay: float = Field(0.3, validation_alias=_env("HELPDESK_WIDGET_TYPING_DELAY"))
    max_attachment_bytes: int = Field(10 * 1024 * 1024, validation_alias=_env("HELPDESK_MAX_ATTACHMENT_BYTES"))
    # --- security and abuse limits (see the README's "Security") ---
    #: proxies in front of the app that append X-Forwarded-For (0: trust no header, key by the peer)
    trusted_proxies: int = Field(0, ge=0, le=5, validation_alias=_env("HELPDESK_TRUSTED_PROXIES"))
    #: key prefix in Redis: the rate-limit buckets and the socket.io pub/sub channel (one per deployment)
    redis_prefix: str = Field("helpdesk", validation_alias=_env("HELPDESK_REDIS_PREFIX"))
    #: messages (every channel) and uploads per client address per minute; 0 turns the limit off
    address_rate_burst: int = Field(60, ge=1, validation_alias=_env("HELPDESK_ADDRESS_RATE_BURST"))
    address_rate_per_minute: float = Field(120, ge=0, validation_alias=_env("HELPDESK_ADDRESS_RATE_PER_MINUTE"))
    #: new widget visitors (and Rasa socket.io sessions) per client address per minute
    new_sessions_burst: int = Field(10, ge=1, validation_alias=_env("HELPDESK_NEW_SESSIONS_BURST"))
    new_sessions_per_minute: float = Field(10, ge=0, validation_alias=_env("HELPDESK_NEW_SESSIONS_PER_MINUTE"))
    #: REST and Rasa socket.io messages per sender (as the widget's per visitor)
    sender_rate_burst: int = Field(10, ge=1, validation_alias=_env("HELPDESK_SENDER_RATE_BURST"))
    sender_rate_per_minute: float = Field(30, ge=0, validation_alias=_env("HELPDESK_SENDER_RATE_PER_MINUTE"))
    #: uploads not sent in a message are deleted after this many seconds
    upload_expiry_seconds: int = Field(3600, gt=0, validation_alias=_env("HELPDESK_UPLOAD_EXPIRY_SECONDS"))
    #: uploads a visitor may hold that no message carries yet
    max_pending_uploads: int = Field(5, ge=1, validation_alias=_env("HELPDESK_MAX_PENDING_UPLOADS"))
    #: failed logins of one account (and 4× that of one address) before each try waits
    login_max_failures: int = Field(5, ge=1, validation_alias=_env("HELPDESK_LOGIN_MAX_FAILURES"))
    #: the wait doubles with each further failure, from 1 s up to this
    login_max_delay: int = Field(900, ge=1, validation_alias=_env("HELPDESK_LOGIN_MAX_DELAY"))
    #: set → GET /metrics needs ``Authorization: Bearer <token>``
    metrics_token: str | None = Field(None, validation_alias=_env("HELPDESK_METRICS_TOKEN"))

    @property
    def turn_workers(self) -> int:
        """Turn worker threads: HELPDESK_WIDGET_TURN_WORKERS, else 8 when turns only compute, or
        256 when they wait on the network (an LLM key or an action server): a turn holds no
        database connection while it waits, and a waiting thread costs no CPU, so the pool is
        sized for the calls in flight (200 conversations at 1.5 s per LLM call → ~130 turns/s)."""
        if self.widget_turn_workers:
            return self.widget_turn_workers
        return 256 if self.anthropic_api_key or self.action_server_url else 8

    @property
    def slack_enabled(self) -> bool:
        """Slack is on with a bot token plus a signing secret (Events API) or an app token (Socket Mode)."""
        return bool(self.slack_bot_token and (self.slack_signing_secret or self.slack_app_token))

    @property
    def origins(self) -> list[str] | str:
        """Allowed origins as python-socketio expects them."""
        if self.allowed_origins.strip() == "*":
            return "*"
        return [o.strip() for o in self.allowed_origins.split(",") if o.strip()]
