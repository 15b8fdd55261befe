"""A small on-disk cache: one SQLite table from a binary key to a stored value.

SQLite gives atomic writes and concurrent readers for free, so the training job's workers can share one
cache folder. The embedding, prepared-unit and alignment-signal caches are subclasses that name their file,
their table and how a value is stored.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

# SQLite limits the number of bound parameters in one statement.
_KEYS_PER_QUERY = 500


class SqliteCache:
    """Values by key in the SQLite file ``path``: table ``table``, columns ``key`` and ``value_column``.

    Subclasses override :meth:`encode` and :meth:`decode` to store something other than what SQLite keeps
    as is (text, bytes, numbers).
    """

    table = "cache"
    value_column = "value"
    value_type = "BLOB"

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # a job may prepare on one thread while it embeds on another (stages.prepare_and_embed): each cache
        # is still used by one thread at a time, which is all that SQLite's same-thread check guards
        self._connection = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
        self._connection.execute("PRAGMA journal_mode=WAL")
        columns = f"key BLOB PRIMARY KEY, {self.value_column} {self.value_type}"
        self._connection.execute(f"CREATE TABLE IF NOT EXISTS {self.table} ({columns})")

    def encode(self, value: Any) -> Any:
        return value

    def decode(self, stored: Any) -> Any:
        return stored

    def get_many(self, keys: Sequence[bytes]) -> dict[bytes, Any]:
        """The cached values of those ``keys`` that are in the cache."""
        keys = list(dict.fromkeys(keys))
        found: dict[bytes, Any] = {}
        for start in range(0, len(keys), _KEYS_PER_QUERY):
            chunk = keys[start : start + _KEYS_PER_QUERY]
            placeholders = ",".join("?" * len(chunk))
            rows = self._connection.execute(
                f"SELECT key, {self.value_column} FROM {self.table} WHERE key IN ({placeholders})", chunk
            )
            found.update((bytes(key), self.decode(stored)) for key, stored in rows)
        return found

    def put_many(self, items: Iterable[tuple[bytes, Any]]) -> None:
        """Store ``(key, value)`` pairs, replacing what was stored under the same keys, in one transaction."""
        rows = [(key, self.encode(value)) for key, value in items]
        with self._connection:
            self._connection.executemany(
                f"INSERT OR REPLACE INTO {self.table} (key, {self.value_column}) VALUES (?, ?)", rows
            )

    def close(self) -> None:
        self._connection.close()
