"""The feedback store on PostgreSQL: the same checks as on SQLite, in a schema of its own per test.

Runs when FEEDBACK_NLP_TEST_POSTGRES_URL is set (``.ci/run`` starts a local server from Debian's packages
and sets it), e.g. ``postgresql+psycopg://feedback_nlp:feedback_nlp_ci@127.0.0.1:5432/feedback_nlp_test``.
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import quote

import pytest
import store_checks
from sqlalchemy import create_engine, text

from feedback_nlp.store import open_store

POSTGRES_URL = os.environ.get("FEEDBACK_NLP_TEST_POSTGRES_URL", "")

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not POSTGRES_URL, reason="FEEDBACK_NLP_TEST_POSTGRES_URL is not set"),
]


@pytest.fixture
def store():
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    opened = open_store(f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}')}")
    try:
        yield opened
    finally:
        opened.close()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_migrations_create_the_store_schema(store):
    assert store.engine.dialect.name == "postgresql"
    store_checks.check_schema_is_store_schema(store)


def test_same_id_updates_and_replaces_units(store):
    store_checks.check_same_id_updates_and_replaces_units(store)


def test_batch_writes_each_id_once(store):
    store_checks.check_batch_writes_each_id_once(store)


def test_queries(store):
    store_checks.check_queries(store)


def test_concurrent_writers_never_duplicate(store):
    store_checks.check_concurrent_writers_never_duplicate(store)
