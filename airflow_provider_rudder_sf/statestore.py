"""A task's run state (the Bulk job ledger) as small files beside its dead letters, reachable from every worker.

Local directories get the dead letters' protections: directories 0700, files 0600, and each file replaced
atomically (written aside, then renamed), so a worker killed mid-write leaves the previous version. Object storage
writes whole objects, which is atomic already. Names start with ``_``: dead-letter readers never list them.
Object storage is reached through the caller's path factory, as for dead letters: no Airflow here.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from airflow_provider_rudder_sf.deadletter import _create_private, _is_bucket_store, _local_path, _make_private_dirs
from airflow_provider_rudder_sf.sources.files import PathFactory, StoragePath, storage_path


class DirectoryStore:
    """Named files in ``location`` (a local directory or an object-storage URL; ``path_factory`` for the latter)."""

    def __init__(self, location: str, *, path_factory: PathFactory | None = None) -> None:
        self._location = location.rstrip("/")
        self.path_factory = path_factory
        self._local: Path | None = _local_path(self._location)

    @property
    def location(self) -> str:
        return self._location

    def read(self, name: str) -> bytes | None:
        if self._local is not None:
            try:
                return (self._local / name).read_bytes()
            except FileNotFoundError:
                return None
        path = self._object(name)
        return path.read_bytes() if path.exists() else None

    def write(self, name: str, data: bytes) -> None:
        with self.open_write(name) as handle:
            handle.write(data)

    @contextmanager
    def open_write(self, name: str) -> Iterator[IO[bytes]]:
        """A file to stream into; it replaces ``name`` only once the block ends without an error."""
        if self._local is not None:
            _make_private_dirs(self._local)
            aside = self._local / f".{name}.{secrets.token_hex(4)}"
            try:
                with _create_private(aside) as handle:
                    yield handle
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(aside, self._local / name)
            finally:
                aside.unlink(missing_ok=True)
            return
        path = self._object(name)
        if not _is_bucket_store(self._location):
            path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as stream:
            yield stream

    @contextmanager
    def open_read(self, name: str) -> Iterator[IO[bytes] | None]:
        """The file to stream from, or None when there is none."""
        if self._local is not None:
            try:
                handle = (self._local / name).open("rb")
            except FileNotFoundError:
                yield None
                return
            with handle:
                yield handle
            return
        path = self._object(name)
        if not path.exists():
            yield None
            return
        with path.open("rb") as stream:
            yield stream

    def delete(self, name: str) -> None:
        if self._local is not None:
            (self._local / name).unlink(missing_ok=True)
            return
        path = self._object(name)
        if path.exists():
            path.unlink()

    def _object(self, name: str) -> StoragePath:
        return storage_path(f"{self._location}/{name}", self.path_factory)
