"""Settings shared by the command line, the service and the report (``FEEDBACK_NLP_`` environment prefix)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from feedback_nlp.errors import ConfigError

DEFAULT_MODELS_DIR = Path("models")
DEFAULT_DATABASE_URL = "sqlite:///feedback.sqlite"
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
    database_url: str = DEFAULT_DATABASE_URL
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
    # Signs the workbench's session cookies (/ui). Unset: a random secret per process, so sign-ins end when
    # the service restarts and do not carry across several workers; set it for a multi-worker deployment.
    session_secret: SecretStr | None = None
    session_hours: float = Field(default=8.0, gt=0, le=24 * 30)

    @field_validator("database_url")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("FEEDBACK_NLP_DATABASE_URL is empty; leave it unset for the SQLite default")
        return value.strip()

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
