"""Settings shared by the command line, the service and the report (``FEEDBACK_NLP_`` environment prefix)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODELS_DIR = Path("models")
DEFAULT_DATABASE_URL = "sqlite:///feedback.sqlite"


class Settings(BaseSettings):
    """Read from the environment (``FEEDBACK_NLP_MODELS_DIR`` ...) or a ``.env`` file."""

    model_config = SettingsConfigDict(env_prefix="FEEDBACK_NLP_", env_file=".env", extra="ignore")

    models_dir: Path = DEFAULT_MODELS_DIR
    database_url: str = DEFAULT_DATABASE_URL
    # comma-separated keys; secrets have no defaults
    api_keys: str = ""
    admin_keys: str = ""
    max_batch_items: int = Field(default=256, ge=1)
    max_body_bytes: int = Field(default=2_000_000, ge=1024)
    max_text_chars: int = Field(default=20_000, ge=100)
    reload_poll_seconds: float = Field(default=10.0, ge=0)
    # comma-separated extra columns (metadata) stored as written by ingest and the API; every other one has
    # personal data redacted (the training job's equivalent is raw_metadata_columns in its config)
    raw_metadata_columns: str = ""

    @field_validator("database_url")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("FEEDBACK_NLP_DATABASE_URL is empty; leave it unset for the SQLite default")
        return value.strip()

    @staticmethod
    def split_keys(value: str) -> list[str]:
        return [key.strip() for key in value.split(",") if key.strip()]


@lru_cache
def get_settings() -> Settings:
    return Settings()
