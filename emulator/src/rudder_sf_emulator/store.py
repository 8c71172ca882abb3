"""Records: an in-memory copy for speed, written through to SQLite so they survive restarts.

Records are sparse dicts keyed by canonical field names (missing = null). Ids are looked up case-insensitively
(``ids.lookup_key``). ``Txn`` is an overlay used for all-or-none writes: changes become visible to the store only
on ``commit()``. Not thread-safe by itself: the server serialises access with one lock.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .ids import lookup_key, make_id

Record = dict[str, Any]


def norm(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


class Store:
    def __init__(self, path: Path | str) -> None:
        self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS records (key TEXT PRIMARY KEY, obj TEXT NOT NULL, seq INTEGER NOT NULL,"
            " data TEXT NOT NULL)"
        )
        self.db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self.objects: dict[str, dict[str, Record]] = {}
        self.seqs: dict[str, int] = {}
        self.indexes: dict[tuple[str, str], dict[Any, set[str]]] = {}
        self.seq = 0
        self.stats: Counter[tuple[str, str]] = Counter()  # (object, "created"/"updated"/"deleted") committed
        for key, obj, seq, data in self.db.execute("SELECT key, obj, seq, data FROM records ORDER BY seq"):
            self.objects.setdefault(obj, {})[key] = json.loads(data)
            self.seqs[key] = seq
            self.seq = max(self.seq, seq)

    # -- meta (schema declarations and the like) --
    def get_meta(self, name: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_meta(self, name: str, value: Any) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, json.dumps(value)))

    # -- records --
    def new_id(self, prefix: str) -> str:
        self.seq += 1
        return make_id(prefix, self.seq)

    def get(self, obj: str, key: str) -> Record | None:
        return self.objects.get(obj.lower(), {}).get(key)

    def records(self, obj: str) -> list[Record]:
        return list(self.objects.get(obj.lower(), {}).values())

    def find_by(self, obj: str, field: str, value: Any) -> list[str]:
        """Keys of the records of ``obj`` whose ``field`` equals ``value`` (strings case-insensitively)."""
        return sorted(self._index(obj.lower(), field).get(norm(value), ()), key=lambda k: self.seqs.get(k, 0))

    def _index(self, obj: str, field: str) -> dict[Any, set[str]]:
        index = self.indexes.get((obj, field))
        if index is None:
            index = {}
            for key, record in self.objects.get(obj, {}).items():
                value = record.get(field)
                if value is not None:
                    index.setdefault(norm(value), set()).add(key)
            self.indexes[(obj, field)] = index
        return index

    def put_many(self, obj: str, records: Iterable[Record]) -> None:
        """Insert or replace records (each carries its ``Id``), in memory and in SQLite, in one transaction."""
        obj_l = obj.lower()
        table = self.objects.setdefault(obj_l, {})
        indexes = [(field, idx) for (o, field), idx in self.indexes.items() if o == obj_l]
        rows = []
        for record in records:
            key = lookup_key(record["Id"])
            old = table.get(key)
            for field, idx in indexes:
                if old is not None and old.get(field) is not None:
                    idx.get(norm(old[field]), set()).discard(key)
                if record.get(field) is not None:
                    idx.setdefault(norm(record[field]), set()).add(key)
            table[key] = record
            if key not in self.seqs:
                self.seq += 1
                self.seqs[key] = self.seq
            rows.append((key, obj_l, self.seqs[key], json.dumps(record)))
        self.db.execute("BEGIN")
        self.db.executemany("INSERT OR REPLACE INTO records (key, obj, seq, data) VALUES (?, ?, ?, ?)", rows)
        self.db.execute("COMMIT")

    def apply(self, changes: dict[tuple[str, str], Record]) -> None:
        by_obj: dict[str, list[Record]] = {}
        for (obj, _key), record in changes.items():
            by_obj.setdefault(obj, []).append(record)
        for obj, records in by_obj.items():
            self.put_many(obj, records)

    def clear(self) -> None:
        self.stats.clear()
        self.objects.clear()
        self.seqs.clear()
        self.indexes.clear()
        self.db.execute("DELETE FROM records")

    def close(self) -> None:
        self.db.close()


class Txn:
    """Pending changes over a store (or over another ``Txn``)."""

    def __init__(self, parent: Store | Txn) -> None:
        self.parent = parent
        self.changes: dict[tuple[str, str], Record] = {}
        self.stats: Counter[tuple[str, str]] = Counter()  # writes made here; counted only once committed

    @property
    def store(self) -> Store:
        parent = self.parent
        while isinstance(parent, Txn):
            parent = parent.parent
        return parent

    def new_id(self, prefix: str) -> str:
        return self.store.new_id(prefix)

    def get(self, obj: str, key: str) -> Record | None:
        found = self.changes.get((obj.lower(), key))
        return found if found is not None else self.parent.get(obj, key)

    def put(self, obj: str, record: Record) -> None:
        self.changes[(obj.lower(), lookup_key(record["Id"]))] = record

    def find_by(self, obj: str, field: str, value: Any) -> list[str]:
        keys = list(self.parent.find_by(obj, field, value))
        wanted = norm(value)
        for (o, key), record in self.changes.items():
            if o != obj.lower():
                continue
            matches = norm(record.get(field)) == wanted
            if matches and key not in keys:
                keys.append(key)
            elif not matches and key in keys:
                keys.remove(key)
        return keys

    def records(self, obj: str) -> list[Record]:
        obj_l = obj.lower()
        mine = {key: rec for (o, key), rec in self.changes.items() if o == obj_l}
        if not mine:
            return self.parent.records(obj)
        out = []
        for record in self.parent.records(obj):
            key = lookup_key(record["Id"])
            out.append(mine.pop(key, record))
        return out + list(mine.values())

    def commit(self) -> None:
        if isinstance(self.parent, Txn):
            self.parent.changes.update(self.changes)
        else:
            self.parent.apply(self.changes)
        self.parent.stats.update(self.stats)
        self.changes = {}
        self.stats = Counter()
