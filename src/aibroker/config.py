"""Settings from the environment (and `.env`), validated once at start-up.

Every name the design documents used (FACTS §S) keeps working; a bad value stops start-up with a
message naming the variable and what it accepts (see `describe_validation_error`).
"""

from __future__ import annotations

import re
from functools import cached_property
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Literal

from limits import RateLimitItem, parse_many
from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from aibroker.domain.rollout import Switches, legacy_url_problem

DEFAULT_DATA_DIR = Path("var")

IPNetwork = IPv4Network | IPv6Network
Percentage = Annotated[int, Field(ge=0, le=100)]
# One CSP source: a keyword, a scheme ("https:"), or [scheme://][*.]host[:port] (nothing that could end the header
# or start another directive).
_FRAME_SOURCE = re.compile(r"^(?:'self'|'none'|https?:|(?:https?://)?(?:\*\.)?[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*"
                           r"(?::(?:\d{1,5}|\*))?)$")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore",
                                      populate_by_name=True)

    # --- where things live -------------------------------------------------------------------
    data_dir: Path = Field(default=DEFAULT_DATA_DIR, validation_alias="AIBROKER_DATA_DIR")
    database_url: str | None = Field(default=None,
                                     validation_alias=AliasChoices("DATABASE_URL", "SUPABASE_DB_URL"))
    supabase_url: str | None = Field(default=None, validation_alias="SUPABASE_URL")
    redis_url: str | None = Field(default=None, validation_alias="REDIS_URL")
    queue_prefix: str = Field(default="bull", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$",
                              validation_alias="QUEUE_PREFIX")
    queue_name: str = Field(default="aibroker", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$",
                            validation_alias="QUEUE_NAME")

    # --- HTTP ------------------------------------------------------------------------------------
    host: str = Field(default="127.0.0.1", validation_alias="HOST")
    port: int = Field(default=8000, ge=1, le=65535, validation_alias="PORT")
    # `aibroker serve` as this many API processes on one socket (api/processes.py): one Python process uses one core.
    api_processes: int = Field(default=1, ge=1, le=64, validation_alias="API_PROCESSES")
    admin_token: SecretStr | None = Field(default=None, validation_alias="AIBROKER_ADMIN_TOKEN")
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=10 * 1024 * 1024,
                                validation_alias="MAX_BODY_BYTES")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", validation_alias="LOG_LEVEL")
    # The lead form's privacy-notice link (PDPA). Default: the built-in page at /privacy.
    privacy_policy_url: str = Field(default="/privacy", min_length=1, max_length=2000,
                                    validation_alias="PRIVACY_POLICY_URL")
    # Who may show our pages in a frame (CSP frame-ancestors): a business embedding the chat on its own site.
    allowed_frame_ancestors: str = Field(default="'self'", min_length=1, max_length=2000,
                                         validation_alias="ALLOWED_FRAME_ANCESTORS")
    # SQL statements and their parameters in the log (still redacted); off, no parameter reaches a log at any level.
    log_sql: bool = Field(default=False, validation_alias="LOG_SQL")

    # --- abuse limits (issue #10): `limits` strings, several separated by `;` ----------------------
    rate_limits_enabled: bool = Field(default=True, validation_alias="RATE_LIMITS_ENABLED")
    rate_limit_leads_per_ip: str = Field(default="5/minute;30/hour", validation_alias="RATE_LIMIT_LEADS_PER_IP")
    rate_limit_messages_per_conversation: str = Field(default="12/minute",
                                                      validation_alias="RATE_LIMIT_MESSAGES_PER_CONVERSATION")
    rate_limit_messages_per_ip: str = Field(default="60/minute", validation_alias="RATE_LIMIT_MESSAGES_PER_IP")
    # Wrong console passwords (issue #12), per client IP and per e-mail address tried.
    rate_limit_console_login_per_ip: str = Field(default="10/minute;100/hour",
                                                 validation_alias="RATE_LIMIT_CONSOLE_LOGIN_PER_IP")
    rate_limit_console_login_per_email: str = Field(default="5/minute;20/hour",
                                                    validation_alias="RATE_LIMIT_CONSOLE_LOGIN_PER_EMAIL")
    # Peers whose X-Forwarded-For is believed (IPs or CIDRs, comma-separated); empty: the TCP peer is the client.
    trusted_proxies: str = Field(default="", validation_alias="TRUSTED_PROXIES")

    # --- worker and queue (FACTS §S: legacy concurrency 3 / 10 jobs/s; ours waits cheaply) --------
    # Free slots cost nothing since the worker fetches one job at a time (bench.queue: ~2,600 jobs/s at 10, 100 and
    # 1000 alike). Capped at 1000 all the same: jobs beyond the database pool (PostgreSQL: 30 connections a process)
    # and the LLM's rate limit would only queue there. Scale out with more worker processes instead.
    worker_concurrency: int = Field(default=100, ge=1, le=1000, validation_alias="WORKER_CONCURRENCY")
    job_attempts: int = Field(default=3, ge=1, le=20, validation_alias="JOB_ATTEMPTS")
    job_backoff_ms: int = Field(default=2000, ge=0, le=600_000, validation_alias="JOB_BACKOFF_MS")
    stalled_interval_ms: int = Field(default=5000, ge=500, le=300_000, validation_alias="STALLED_INTERVAL_MS")
    lock_duration_ms: int = Field(default=10_000, ge=1000, le=600_000, validation_alias="LOCK_DURATION_MS")
    # How many times a job may be picked up again after its worker died; one more and BullMQ fails it (then: apology
    # and handoff). Crashes, not our code, stall jobs (a handler exception is an ordinary failed attempt), so this
    # is set for crash loops: at 2, about 4 % of reply jobs in the chaos benchmark (a worker SIGKILLed every 4 s)
    # met three kills in a row and were handed to a human.
    max_stalled_count: int = Field(default=5, ge=0, le=50, validation_alias="MAX_STALLED_COUNT")
    enqueue_timeout_s: float = Field(default=2.0, gt=0, le=30, validation_alias="ENQUEUE_TIMEOUT_S")
    # A bot-owned conversation with no customer message for this long gives its broker slot back (fractions are
    # allowed so tests need not wait half an hour).
    assignment_idle_minutes: float = Field(default=30.0, ge=0.01, le=60 * 24 * 30,
                                           validation_alias="ASSIGNMENT_IDLE_MINUTES")

    # --- rollout (FACTS §S) -----------------------------------------------------------------------
    enable_bullmq_broker: bool = Field(default=True, validation_alias="ENABLE_BULLMQ_BROKER")
    rollout_percentage: Percentage = Field(
        default=100, validation_alias=AliasChoices("BULLMQ_ROLLOUT_PERCENTAGE", "BULLMQ_TRAFFIC_PERCENTAGE"))
    enable_ai_broker: bool = Field(default=True, validation_alias="ENABLE_AI_BROKER")
    n8n_webhook_url: str | None = Field(default=None, validation_alias="N8N_AI_BROKER_WEBHOOK_URL")
    shadow_mode: bool = Field(default=False, validation_alias="BULLMQ_SHADOW_MODE")
    n8n_timeout_s: float = Field(default=10.0, gt=0, le=120, validation_alias="N8N_TIMEOUT_S")

    # --- reply timing (FACTS §S: P95 < 5 s from customer message to visible reply) ---------------
    reply_sla_ms: int = Field(default=5000, ge=500, le=600_000, validation_alias="REPLY_SLA_MS")
    pacing_enabled: bool = Field(default=True, validation_alias="PACING_ENABLED")
    # The greeting says the persona is an AI assistant working with human specialists (issue #14).
    disclose_ai: bool = Field(default=True, validation_alias="DISCLOSE_AI")

    # --- LLM (any OpenAI-compatible server) -------------------------------------------------------
    openai_api_key: SecretStr | None = Field(default=None, validation_alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(default=None, validation_alias="OPENAI_BASE_URL")
    openai_model: str = Field(default="gpt-4o-mini", min_length=1, validation_alias="OPENAI_MODEL")
    # Short by default: a dead LLM must fall back to the offline responder inside the 5 s reply SLA.
    openai_timeout_s: float = Field(default=4.0, gt=0, le=300, validation_alias="OPENAI_TIMEOUT_S")
    openai_max_retries: int = Field(default=1, ge=0, le=10, validation_alias="OPENAI_MAX_RETRIES")

    # --- Chatwoot (see docs/chatwoot.md) ----------------------------------------------------------
    chatwoot_base_url: str | None = Field(default=None, validation_alias="CHATWOOT_BASE_URL")
    chatwoot_api_token: SecretStr | None = Field(default=None, validation_alias="CHATWOOT_API_TOKEN")
    chatwoot_bot_token: SecretStr | None = Field(default=None, validation_alias="CHATWOOT_BOT_TOKEN")
    chatwoot_account_id: int | None = Field(default=None, ge=1, validation_alias="CHATWOOT_ACCOUNT_ID")
    # One id, or several comma-separated: the first is where the lead form opens conversations; conversations
    # that begin in any of them (widget, API channel) are adopted (issue #11). Unset: every inbox of the account
    # is adopted, and the lead form cannot open conversations in Chatwoot.
    chatwoot_inbox_ids: str | None = Field(default=None, validation_alias="CHATWOOT_INBOX_ID")
    chatwoot_webhook_secret: SecretStr | None = Field(default=None, validation_alias="CHATWOOT_WEBHOOK_SECRET")
    chatwoot_allow_unsigned: bool = Field(default=False, validation_alias="CHATWOOT_ALLOW_UNSIGNED")
    # Per call; a call that times out is retried (a message POST first looks for its own earlier attempt).
    chatwoot_timeout_s: float = Field(default=10.0, gt=0, le=120, validation_alias="CHATWOOT_TIMEOUT_S")

    # --- the broker console and resume links (issue #12) ---------------------------------------------
    # Signs console session cookies and resume links. Unset: the console makes a random one per process start
    # (sessions end with a restart, and several API processes do not share them; start-up logs a warning), and
    # resume links are off. At least 32 characters.
    session_secret: SecretStr | None = Field(default=None, min_length=32, validation_alias="SESSION_SECRET")
    # Where people reach this site, for links that leave it (the Slack handoff notice, alert links to the operations
    # page): e.g. https://broker.example.com. Unset: http://HOST:PORT.
    public_base_url: str | None = Field(default=None, validation_alias="PUBLIC_BASE_URL")

    # --- operating it (issue #13) -------------------------------------------------------------------
    # Each worker serves Prometheus metrics on HOST:WORKER_METRICS_PORT; unset: no metrics port.
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535, validation_alias="WORKER_METRICS_PORT")
    # Alerts go to SLACK_WEBHOOK_URL and/or ALERT_WEBHOOK_URL (JSON); neither set: no alerts are judged.
    alert_webhook_url: str | None = Field(default=None, validation_alias="ALERT_WEBHOOK_URL")
    alert_check_interval_s: float = Field(default=10.0, ge=0.2, le=600, validation_alias="ALERT_CHECK_INTERVAL_S")
    # "No worker heartbeat for 30 s"; workers beat at least three times within it.
    alert_worker_silence_s: float = Field(default=30.0, ge=1, le=3600, validation_alias="ALERT_WORKER_SILENCE_S")
    human_response_alert_minutes: float = Field(default=10.0, ge=0.01, le=24 * 60,
                                                validation_alias="HUMAN_RESPONSE_ALERT_MINUTES")

    # --- notifications and realtime ---------------------------------------------------------------
    # A Slack incoming webhook: one message per handoff, with the reason and a link to the console, and the alerts.
    slack_webhook_url: str | None = Field(default=None, validation_alias="SLACK_WEBHOOK_URL")
    # How long a "continue on another device" link works (once).
    resume_link_ttl_s: int = Field(default=900, ge=60, le=7 * 24 * 3600, validation_alias="RESUME_LINK_TTL_S")
    # Open server-sent-event streams per API process; more answer 503 (the chat page then polls).
    sse_max_connections: int = Field(default=500, ge=1, le=100_000, validation_alias="SSE_MAX_CONNECTIONS")
    enable_ably_realtime: bool = Field(default=False, validation_alias="ENABLE_ABLY_REALTIME")
    ably_api_key: SecretStr | None = Field(default=None, validation_alias="ABLY_API_KEY")
    ably_rest_url: str = Field(default="https://rest.ably.io", min_length=1, max_length=2000,
                               validation_alias="ABLY_REST_URL")

    @field_validator("database_url", "redis_url", "openai_base_url", "chatwoot_base_url", "n8n_webhook_url",
                     "slack_webhook_url", "supabase_url", "worker_metrics_port", "alert_webhook_url",
                     "public_base_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("privacy_policy_url")
    @classmethod
    def _link_shape(cls, value: str) -> str:
        # It becomes a link on the page: only web addresses or a path on this site, never `javascript:`.
        if not value.startswith(("https://", "http://", "/")) or value.startswith("//") or any(
                c.isspace() for c in value):
            raise ValueError("must be an http(s):// URL or a path on this site starting with /")
        return value

    @field_validator("public_base_url", "slack_webhook_url", "alert_webhook_url", "ably_rest_url")
    @classmethod
    def _web_address(cls, value: str | None) -> str | None:
        if value is not None and (not value.startswith(("https://", "http://")) or any(c.isspace() for c in value)):
            raise ValueError("must be an http(s):// URL")
        return value

    @field_validator("rate_limit_leads_per_ip", "rate_limit_messages_per_conversation", "rate_limit_messages_per_ip",
                     "rate_limit_console_login_per_ip", "rate_limit_console_login_per_email")
    @classmethod
    def _rate_limits(cls, value: str) -> str:
        parse_rate_limits(value)
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: str) -> str:
        parse_networks(value)
        return value

    @field_validator("chatwoot_inbox_ids", mode="before")
    @classmethod
    def _inbox_id_list(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        parts = [part.strip() for part in str(value).split(",")]
        if not all(part.isdigit() and int(part) >= 1 for part in parts):
            raise ValueError("must be a Chatwoot inbox id or a comma-separated list of them, e.g. 3 or 3,5")
        return ",".join(str(int(part)) for part in parts)

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("allowed_frame_ancestors")
    @classmethod
    def _frame_ancestors(cls, value: str) -> str:
        sources = value.split()
        bad = [source for source in sources if not _FRAME_SOURCE.match(source)]
        if not sources or bad:
            raise ValueError("must be CSP sources separated by spaces: 'self', 'none', https://example.com or "
                             "https://*.example.com" + (f" (not {', '.join(bad)})" if bad else ""))
        return " ".join(sources)

    @field_validator("database_url")
    @classmethod
    def _database_scheme(cls, value: str | None) -> str | None:
        if value and not value.startswith(("postgres://", "postgresql", "sqlite")):
            raise ValueError("must be a postgresql:// or sqlite:// URL")
        return value

    @model_validator(mode="after")
    def _chatwoot_complete(self) -> Settings:
        if self.chatwoot_base_url:
            # (CHATWOOT_INBOX_ID may be unset: every inbox of the account is adopted, and the lead form is off.)
            missing = ["CHATWOOT_ACCOUNT_ID"] if self.chatwoot_account_id is None else []
            if self.chatwoot_api_token is None and self.chatwoot_bot_token is None:
                missing.append("CHATWOOT_API_TOKEN (or CHATWOOT_BOT_TOKEN)")
            if missing:
                raise ValueError("CHATWOOT_BASE_URL is set, so these are needed too: " + ", ".join(missing))
        problem = legacy_url_problem(Switches(enable_bullmq_broker=self.enable_bullmq_broker,
                                              rollout_percentage=self.rollout_percentage), self.n8n_webhook_url)
        if problem:
            raise ValueError(problem)
        if self.enable_ably_realtime and (self.ably_api_key is None
                                          or ":" not in self.ably_api_key.get_secret_value()):
            raise ValueError("ENABLE_ABLY_REALTIME=true needs ABLY_API_KEY, the app's key as `appId.keyId:secret`")
        if self.supabase_url and not self.database_url:
            if self.supabase_url.startswith(("postgres://", "postgresql")):
                self.database_url = self.supabase_url
            else:
                raise ValueError("SUPABASE_URL is the project's https URL; set DATABASE_URL to its "
                                 "PostgreSQL connection string instead")
        return self

    # --- derived -----------------------------------------------------------------------------------
    @cached_property
    def sqlalchemy_url(self) -> str:
        """The async SQLAlchemy URL: asyncpg for PostgreSQL, aiosqlite for the embedded default."""
        url = self.database_url or f"sqlite:///{(self.data_dir / 'aibroker.db').as_posix()}"
        for plain, driver in (("postgres://", "postgresql+asyncpg://"), ("postgresql://", "postgresql+asyncpg://"),
                              ("sqlite://", "sqlite+aiosqlite://")):
            if url.startswith(plain):
                return driver + url[len(plain):]
        return url

    @cached_property
    def trusted_networks(self) -> tuple[IPNetwork, ...]:
        return parse_networks(self.trusted_proxies)

    @property
    def chatwoot_inbox_id(self) -> int | None:
        """The inbox the lead form opens conversations in: the first of CHATWOOT_INBOX_ID."""
        return int(self.chatwoot_inbox_ids.split(",")[0]) if self.chatwoot_inbox_ids else None

    @property
    def chatwoot_inbox_scope(self) -> frozenset[str]:
        """Inbox ids whose conversations are adopted."""
        return frozenset(self.chatwoot_inbox_ids.split(",")) if self.chatwoot_inbox_ids else frozenset()

    @property
    def public_base(self) -> str:
        """This site's address as people outside reach it (links in Slack notices and alerts)."""
        return (self.public_base_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def console_url(self) -> str:
        return f"{self.public_base}/console"

    @property
    def uses_chatwoot(self) -> bool:
        return self.chatwoot_base_url is not None

    @property
    def ops_page_url(self) -> str:
        return f"{self.public_base}/console/ops"

    @property
    def uses_llm(self) -> bool:
        return self.openai_api_key is not None or self.openai_base_url is not None


def parse_rate_limits(value: str) -> list[RateLimitItem]:
    """`5/minute;30/hour` → the `limits` items; a readable ValueError for anything else."""
    try:
        items = parse_many(value)
    except ValueError as error:
        raise ValueError(f"{error}; expected e.g. 5/minute or 5/minute;30/hour") from None
    if any(item.amount < 1 for item in items):
        raise ValueError("every limit must allow at least 1 request, e.g. 5/minute")
    return items


def parse_networks(value: str) -> tuple[IPNetwork, ...]:
    """`10.0.0.1, 172.16.0.0/12` → networks (a bare address is a /32 or /128)."""
    networks = []
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        try:
            networks.append(ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"{part!r} is not an IP address or CIDR network; expected e.g. "
                             f"10.0.0.1,172.16.0.0/12") from None
    return tuple(networks)


class ConfigurationError(Exception):
    """Raised at start-up when the environment holds an invalid setting."""


def describe_validation_error(error: ValidationError) -> str:
    """One line per bad variable, naming it as the operator wrote it and what it accepts."""
    lines = []
    for item in error.errors():
        name = _env_name(item["loc"])
        given = item.get("input")
        shown = "" if given is None or isinstance(given, dict) or name.endswith(("TOKEN", "KEY", "SECRET")) \
            else f"={given}"
        lines.append(f"{name}{shown}: {item['msg']}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def _env_name(loc: tuple[int | str, ...]) -> str:
    if not loc:
        return "configuration"
    field = Settings.model_fields.get(str(loc[0]))
    alias = field.validation_alias if field else None
    if isinstance(alias, str):
        return alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return str(loc[0]).upper()


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment; raise ConfigurationError with a readable message."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise ConfigurationError(describe_validation_error(error)) from error
