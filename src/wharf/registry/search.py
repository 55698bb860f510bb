"""The repository index: the catalog and ``GET /v1/search`` (``docker search``) on SQLite.

The index lives in ``<root>/_search.db`` (WAL, so several processes on one root share
it). A repository is added when it first gets a blob or a manifest; the catalog pages
with an ordered range query instead of walking the storage tree, and search is an FTS5
match over the name's words. The index only mirrors the storage: when the file is
missing, :meth:`RepositoryIndex.rebuild` refills it from a walk of the store.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

__all__ = ["RepositoryIndex"]

_TOKEN = re.compile(r"[a-z0-9]+")


def _words(name: str) -> str:
    """Name components as words, so ``demo/busy-box`` matches ``busy`` and ``box``."""
    return " ".join([name, *_TOKEN.findall(name)])


class RepositoryIndex:
    """Every repository name, ordered and full-text searchable.

    Args:
        path: the SQLite file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        fresh = not path.exists()
        db = self._db()
        with db:
            db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS repos USING fts5(name UNINDEXED, words)")
            db.execute("CREATE TABLE IF NOT EXISTS names (name TEXT PRIMARY KEY)")
        self.fresh = fresh

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    def add(self, name: str) -> None:
        """Index a repository (idempotent)."""
        db = self._db()
        if db.execute("SELECT 1 FROM names WHERE name = ?", (name,)).fetchone():
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("INSERT OR IGNORE INTO names VALUES (?)", (name,)).rowcount:
                db.execute("INSERT INTO repos VALUES (?, ?)", (name, _words(name)))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def rebuild(self, names: Iterable[str]) -> None:
        """Add every name of an existing store."""
        for name in names:
            self.add(name)

    def names(self, *, after: str, limit: int | None) -> list[str]:
        """Names sorted in byte order, starting after ``after``, at most ``limit``."""
        rows = self._db().execute(
            "SELECT name FROM names WHERE name > ? ORDER BY name LIMIT ?",
            (after, -1 if limit is None else limit),
        )
        return [r[0] for r in rows.fetchall()]

    def search(self, query: str, *, limit: int, offset: int) -> tuple[int, list[str]]:
        """``(total matches, names on this page)`` for a query of words (prefixes match)."""
        words = _TOKEN.findall(query.lower())
        db = self._db()
        if not words:
            total = db.execute("SELECT count(*) FROM names").fetchone()[0]
            rows = db.execute(
                "SELECT name FROM names ORDER BY name LIMIT ? OFFSET ?", (limit, offset)
            ).fetchall()
            return int(total), [r[0] for r in rows]
        match = " AND ".join(f'"{w}"*' for w in words)
        total = db.execute("SELECT count(*) FROM repos WHERE repos MATCH ?", (match,)).fetchone()[0]
        rows = db.execute(
            "SELECT name FROM repos WHERE repos MATCH ? ORDER BY rank, name LIMIT ? OFFSET ?",
            (match, limit, offset),
        ).fetchall()
        return int(total), [r[0] for r in rows]
