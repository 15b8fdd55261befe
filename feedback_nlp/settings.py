"""Settings shared by the command line, the service and the report (``FEEDBACK_NLP_`` environment prefix)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from feedback_nlp.errors import ConfigError

DEFAULT_MODELS_DIR = Path("models")
# The store's default: a SQLite file beside the models dir (models/ -> feedback.sqlite next to it), so every
# command and the service find the same store whatever the current directory (see Settings.store_url).
DEFAULT_STORE_FILE = "feedback.sqlite"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
ENV_PREFIX = "FEEDBACK_NLP_"
# Names under the prefix that are read outside this class: the model signing key (artifact trust), the
# golden snapshot's update switch and the benchmarks' data folder; FEEDBACK_NLP_TEST_* belong to the tests.
OTHER_ENV_NAMES = frozenset(
    {"FEEDBACK_NLP_MODEL_SIGNING_KEY", "FEEDBACK_NLP_UPDATE_GOLDEN", "FEEDBACK_NLP_SHARED_DATA"}
)
IGNORED_ENV_PREFIXES = ("FEEDBACK_NLP_TEST_",)


class Settings(BaseSettings):
    """Read from the environment (``FEEDBACK_NLP_MODELS_DIR`` ...) or a ``.env`` file."""

    # extra="ignore" keeps other tools' keys in a shared .env working; our own prefix is checked below
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=".env", extra="ignore")

    models_dir: Path = DEFAULT_MODELS_DIR
    # SQLAlchemy URL of the feedback store; unset: sqlite beside the models dir (store_url)
    database_url: str | None = None
    # comma-separated keys; secrets have no defaults
    api_keys: str = ""
    # curators (between read and admin): may also record curation and corrections (/v1/curation)
    curator_keys: str = ""
    admin_keys: str = ""
    max_batch_items: int = Field(default=256, ge=1)
    max_body_bytes: int = Field(default=2_000_000, ge=1024)
    max_text_chars: int = Field(default=20_000, ge=100)
    # The work budget of one request (see batch_chars_limit and units_per_item_limit for the defaults):
    # preparation costs CPU in proportion to characters, the encoder in proportion to units.
    max_batch_chars: int | None = Field(default=None, ge=100)
    max_units_per_item: int | None = Field(default=None, ge=1)
    # scoring longer than this answers 503 with Retry-After (0: no limit); see service/work_budget.py
    score_timeout_seconds: float = Field(default=30.0, ge=0)
    # per API key, and per client address for requests without a valid key ("" turns a limit off);
    # the syntax of the ``limits`` library: "600/minute", "10/second;600/hour"
    rate_limit: str = "600/minute"
    rate_limit_unauthenticated: str = "60/minute"
    reload_poll_seconds: float = Field(default=10.0, ge=0)
    # HMAC-SHA256 key the training job signs model folders with; when set, the service loads only folders
    # signed with it (FEEDBACK_NLP_MODEL_SIGNING_KEY, the variable the CLI and the library read too).
    model_signing_key: SecretStr | None = None
    # comma-separated extra columns (metadata) stored as written by ingest and the API; every other one has
    # personal data redacted (the training job's equivalent is raw_metadata_columns in its config)
    raw_metadata_columns: str = ""
    # Closed by default: the API description lists every route, limit and the version (a map for an
    # attacker) and metrics show traffic and the model version; /healthz and a bare /readyz stay open for
    # probes. Open the docs on an internal or development deployment to browse them without a key, and the
    # metrics for a scraper that cannot send X-API-Key.
    public_docs: bool = False
    public_metrics: bool = False
    # the service's log: level (feedback-nlp serve --log-level) and format; "json" writes one JSON object
    # per line for log collectors, "text" one readable line
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    log_format: Literal["text", "json"] = "text"
    # Support-desk webhooks (service/routers/webhooks.py): each desk's signing secret (a desk without one is
    # refused with 404), and how old a signed delivery may be (replay protection; Intercom retries a failed
    # delivery once after a minute, Zendesk within minutes, so five minutes lets retries through).
    zendesk_webhook_secret: SecretStr | None = None
    intercom_client_secret: SecretStr | None = None
    webhook_tolerance_seconds: int = Field(default=300, ge=1)
    # Owner notifications and the weekly digest (feedback_nlp/notify): who gets what where, the link put in
    # every message, and the SMTP relay for e-mail (Slack URLs are named in notifications.yaml).
    notifications_file: Path | None = None
    public_base_url: str = "http://127.0.0.1:8000"
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: SecretStr | None = None
    # "starttls" (port 587), "tls" (implicit, port 465) or "none" (a relay on localhost only)
    smtp_security: str = Field(default="starttls", pattern="^(starttls|tls|none)$")
    smtp_from: str = "feedback-nlp@localhost"
    # The outbox sender: attempts before a message is dead-lettered, the first retry's delay (doubled per
    # attempt), and how long a claimed message is reserved before another sender may take it over.
    outbox_max_attempts: int = Field(default=8, ge=1)
    outbox_backoff_seconds: float = Field(default=30.0, ge=0)
    outbox_lease_seconds: float = Field(default=120.0, gt=0)
    # Threads for the encoder (torch intra-op, ONNX Runtime), BLAS and OpenMP in the commands, and the cores
    # the service shares among its scoring threads (batch_max_concurrent); None: the cores this process may
    # run on (os.sched_getaffinity). Lower it when the process shares its cores with other CPU-bound work
    # (feedback_nlp/threads.py).
    threads: int | None = Field(default=None, ge=1)
    # What runs the encoder when scoring; None: the backend the model was trained with (its metadata.json).
    # torch and onnx give the same vectors, so either scores a model trained with the other; onnx-int8
    # scores only a model trained with it (feedback_nlp/onnx_encoder.py).
    encoder_backend: Literal["torch", "onnx", "onnx-int8"] | None = None
    # where ONNX exports of the encoder are kept (exported once per weights and backend); None:
    # $XDG_CACHE_HOME/feedback-nlp/encoders, else ~/.cache/feedback-nlp/encoders
    encoder_cache_dir: Path | None = None
    # Adaptive batching (feedback_nlp/service/batcher.py): concurrent scoring requests are gathered into one
    # encoder call of at most batch_max_items items; while the batches being scored use every core, the queue
    # waits for one to end, but its first request at most batch_max_wait_ms (0 turns batching off: each
    # request is scored on its own). 50 ms is about one gathered batch of short tickets on 2 idle cores: the
    # bound on how long a slow batch (a 20 KB text) holds up the others before another starts beside it.
    batch_max_items: int = Field(default=64, ge=1)
    batch_max_wait_ms: float = Field(default=50.0, ge=0)
    # Scoring threads: batches (or parts of a large one) scored at once, the cores (threads) shared among
    # them. None: one per core, each running the encoder on one thread (two batches of 4 on 2 cores did a
    # third more than one at a time on both, benchmarks/README.md), and at least 2, so that a slow batch
    # does not hold up all the others on a one-core machine.
    batch_max_concurrent: int | None = Field(default=None, ge=1)
    # Signs the workbench's session cookies (/ui). Unset: a random secret per process, so sign-ins end when
    # the service restarts and do not carry across several workers; set it for a multi-worker deployment.
    session_secret: SecretStr | None = None
    session_hours: float = Field(default=8.0, gt=0, le=24 * 30)

    @field_validator("database_url")
    @classmethod
    def _not_empty(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("FEEDBACK_NLP_DATABASE_URL is empty; leave it unset for the SQLite default")
        return None if value is None else value.strip()

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    def store_url(self, models_dir: Path | None = None) -> str:
        """``database_url``, else ``sqlite:///<folder of the models dir>/feedback.sqlite`` (absolute).

        Args:
            models_dir: the models dir a command was given (``--models-dir``); default ``models_dir``.
        """
        if self.database_url:
            return self.database_url
        folder = Path(models_dir or self.models_dir).expanduser().resolve().parent
        return f"sqlite:///{folder / DEFAULT_STORE_FILE}"

    @field_validator("rate_limit", "rate_limit_unauthenticated")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        from limits import parse_many

        value = value.strip()
        if value:
            try:
                parse_many(value)
            except ValueError:
                raise ValueError(
                    f"rate limit {value!r} not understood; write e.g. '600/minute' or '10/second;600/hour', "
                    "or leave it empty for no limit"
                ) from None
        return value

    @property
    def batch_chars_limit(self) -> int:
        """Most characters of text in one request: ``max_batch_chars``, by default 1,000 (about one unit)
        per allowed batch item, and never more than the body limit (256,000 with the defaults)."""
        if self.max_batch_chars is not None:
            return self.max_batch_chars
        return min(self.max_body_bytes, self.max_batch_items * 1_000)

    @property
    def units_per_item_limit(self) -> int:
        """Most units one item may split into: ``max_units_per_item``, by default one per 50 characters of
        ``max_text_chars`` (400 with the defaults; a call note's unit is a sentence or more)."""
        if self.max_units_per_item is not None:
            return self.max_units_per_item
        return max(1, self.max_text_chars // 50)

    @field_validator("model_signing_key")
    @classmethod
    def _usable_signing_key(cls, value: SecretStr | None) -> SecretStr | None:
        from feedback_nlp.artifact import signing_key_from
        from feedback_nlp.errors import ConfigError

        if value is None:
            return None
        try:
            key = signing_key_from(value.get_secret_value())
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return None if key is None else SecretStr(key.decode("utf-8"))

    @property
    def signing_key(self) -> str:
        """The signing key to require ('' when none is set, so that the environment is not read again)."""
        return "" if self.model_signing_key is None else self.model_signing_key.get_secret_value()

    @staticmethod
    def split_keys(value: str) -> list[str]:
        return [key.strip() for key in value.split(",") if key.strip()]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # A misspelt variable would otherwise be ignored and its default used without a word, as the
        # training config and taxonomy already refuse unknown keys.
        check_env_names(getattr(env_settings, "env_vars", {}), "environment variable")
        env_file = getattr(dotenv_settings, "env_file", None)
        check_env_names(getattr(dotenv_settings, "env_vars", {}), f"{env_file} key")
        return init_settings, env_settings, dotenv_settings, file_secret_settings

    @classmethod
    def env_names(cls) -> list[str]:
        """The environment variable of every setting (``FEEDBACK_NLP_MODELS_DIR`` ...)."""
        return sorted(ENV_PREFIX + name.upper() for name in cls.model_fields)


def check_env_names(names: Iterable[str], what: str) -> None:
    """Refuse a ``FEEDBACK_NLP_*`` name that is no setting, naming the closest one.

    Raises:
        ConfigError: for the first unknown name, with the known ones.
    """
    known = Settings.env_names()
    for raw in sorted(names):
        name = raw.upper()  # names are matched case-insensitively, as the settings read them
        if not name.startswith(ENV_PREFIX) or name.startswith(IGNORED_ENV_PREFIXES):
            continue
        if name in known or name in OTHER_ENV_NAMES:
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}? " if close else ""
        raise ConfigError(
            f"{what} {name} is not a feedback-nlp setting; {hint}known: {', '.join(known)} "
            "(remove or rename it)"
        )


@lru_cache
def get_settings() -> Settings:
    return Settings()


# What each setting does, for docs/CONFIGURATION.md (generated; a test checks every setting has a line).
SETTING_DOCS: dict[str, str] = {
    "models_dir": "folder of model versions; its `LATEST` names the one to use (`--models-dir`)",
    "database_url": "SQLAlchemy URL of the feedback store, e.g. `postgresql+psycopg://user:pw@host/db` "
    "(needs the `postgres` extra); unset: `feedback.sqlite` beside the models dir, whatever the current "
    "directory",
    "api_keys": "comma-separated API keys for scoring and reading (`X-API-Key`); the service refuses to "
    "start without keys unless `--insecure-dev`",
    "admin_keys": "comma-separated API keys that may also use `/v1/admin/*`",
    "curator_keys": "comma-separated API keys that may also record curation and corrections (`/v1/curation`, "
    "the workbench's forms): between read and admin",
    "session_secret": "key that signs the workbench's session cookies; unset: a random one per process "
    "(sign-ins end on restart; set it when several workers serve)",
    "session_hours": "how long a workbench sign-in lasts",
    "max_batch_items": "most items in one `POST /v1/score` batch",
    "max_body_bytes": "most bytes in one request body (413 past it, before the body is read)",
    "max_text_chars": "most characters in one item's text (422 naming the field past it)",
    "max_batch_chars": "most characters of text in one request; unset: 1,000 per allowed batch item, at "
    "most the body limit",
    "max_units_per_item": "most units one item may split into; unset: one per 50 characters of the text "
    "limit",
    "score_timeout_seconds": "scoring longer than this answers 503 with `Retry-After` and stores nothing "
    "(0: no limit)",
    "rate_limit": "requests per API key, in the `limits` library's syntax (`600/minute`, "
    "`10/second;600/hour`; empty: no limit); 429 with `Retry-After` past it",
    "rate_limit_unauthenticated": "requests per client address without a valid key (guessing keys is slow)",
    "reload_poll_seconds": "how often the service checks `LATEST` for a new model (0: never; `POST "
    "/v1/admin/reload` still works)",
    "model_signing_key": "HMAC-SHA256 key (32 characters or more) model folders are signed with; when set, "
    "only folders signed with it are loaded",
    "raw_metadata_columns": "comma-separated metadata fields stored as written by ingest and the API; every "
    "other one has personal data redacted",
    "public_docs": "`true` opens `/docs`, `/redoc` and `/openapi.json` without a key (an internal "
    "deployment)",
    "public_metrics": "`true` opens `/metrics` without a key (a scraper that cannot send `X-API-Key`)",
    "log_level": "the service's log level (`serve --log-level`): critical, error, warning, info (one access "
    "line per request, with its `X-Request-ID`) or debug",
    "log_format": "`text` lines or `json`, one object per line for log collectors (`serve --log-format`)",
    "zendesk_webhook_secret": "signing secret of the Zendesk webhook (`POST /v1/webhooks/zendesk`); unset: "
    "that endpoint answers 404",
    "intercom_client_secret": "client secret of the Intercom app that signs `X-Hub-Signature` (`POST "
    "/v1/webhooks/intercom`); unset: that endpoint answers 404",
    "webhook_tolerance_seconds": "how old a signed webhook delivery may be before it is refused as a replay",
    "notifications_file": "owners' channels (`notifications.yaml`: Slack webhook URLs, e-mail addresses, "
    "alert rules) for owner alerts and `report --send`",
    "public_base_url": "the service's address put in every notification and digest as the link to follow",
    "smtp_host": "SMTP relay for e-mail notifications and digests (empty: no e-mail)",
    "smtp_port": "SMTP port (587 with STARTTLS, 465 with implicit TLS)",
    "smtp_username": "SMTP login (empty: no login)",
    "smtp_password": "SMTP password",
    "smtp_security": "`starttls`, `tls` (implicit) or `none` (a relay on localhost only)",
    "smtp_from": "the From address of e-mail notifications and digests",
    "outbox_max_attempts": "delivery attempts before a message is dead-lettered (visible in "
    "`/v1/admin/outbox` and `/metrics`)",
    "outbox_backoff_seconds": "the first retry's delay; doubled per attempt, with jitter",
    "outbox_lease_seconds": "how long a claimed message is reserved before another sender may take it over",
    "threads": "threads for the encoder, BLAS and OpenMP in the commands, and the cores the service shares "
    "among its scoring threads; unset: the cores this process may run on; lower it when other CPU-bound "
    "work shares the cores",
    "encoder_backend": "what runs the encoder when scoring: `torch`, `onnx` or `onnx-int8`; unset: the "
    "backend the model was trained with (`torch` and `onnx` stand in for each other; a model trained with "
    "`onnx-int8` is refused by the others)",
    "encoder_cache_dir": "where ONNX exports of the encoder are kept (one per weights and backend, exported "
    "on first use); unset: `~/.cache/feedback-nlp/encoders` (`$XDG_CACHE_HOME`)",
    "batch_max_items": "adaptive batching: most items gathered from concurrent scoring requests into one "
    "encoder call",
    "batch_max_wait_ms": "adaptive batching: while the batches being scored use every core, queued "
    "requests wait for one to end, the first at most this long before another batch starts beside them "
    "(0: no batching)",
    "batch_max_concurrent": "adaptive batching: scoring threads, i.e. batches (or parts of a large one) "
    "scored at once, the `FEEDBACK_NLP_THREADS` cores shared among them; unset: one per core, each running "
    "the encoder on one thread, and at least 2 (so that a slow batch does not hold up the others)",
}
