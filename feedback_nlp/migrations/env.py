"""Alembic environment for the feedback store.

Run programmatically by :func:`feedback_nlp.store.open_store` (no ``alembic.ini`` needed): the caller puts
an open connection in ``config.attributes["connection"]``. The ``alembic`` command line also works when
``sqlalchemy.url`` is set on the config (``alembic -x`` is not used).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from feedback_nlp.store_schema import metadata as target_metadata

config = context.config


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds tables when a later migration needs it.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    with engine.connect() as connection:
        _run(connection)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
