"""Turn a location (path, directory, glob or object-storage URL) into staged JSON Lines files, and read them.

Local paths use :mod:`pathlib`/:mod:`glob`. Locations with a scheme (``file://``, ``s3://``, ``gs://``, ...) are
reached through a :data:`PathFactory` the caller gives: this module imports no Airflow and reads no connection.
The operator and the example DAGs pass Airflow's ``ObjectStoragePath`` bound to the storage connection
(:func:`airflow_provider_rudder_sf.hooks.connections.object_storage_paths`), so the file system and its
credentials come from an Airflow connection, exactly as users configure them for any other object-storage task.
"""

from __future__ import annotations

import glob as globlib
import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any, Protocol

from airflow_provider_rudder_sf.sources.records import DEFAULT_MAX_LINE_BYTES, StagedRecord, iter_lines

#: Names a directory location picks up: RudderStack backups are ``*.json.gz``; ``*.json*`` also covers ``*.jsonl*``.
STAGED_FILE_PATTERNS: tuple[str, ...] = ("*.json*", "*.gz")

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_GLOB_CHARS = frozenset("*?[")


class StoragePath(Protocol):
    """The part of a path on object storage that the readers and writers use.

    It is the interface of ``universal_pathlib``'s ``UPath``, which Airflow's ``ObjectStoragePath`` implements, so
    either fits. ``protocol`` and ``path`` name the object without the connection id that ``str()`` of an
    ``ObjectStoragePath`` carries.
    """

    @property
    def protocol(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def parent(self) -> StoragePath: ...
    def open(self, mode: str) -> Any: ...
    def exists(self) -> bool: ...
    def is_file(self) -> bool: ...
    def is_dir(self) -> bool: ...
    def iterdir(self) -> Iterator[StoragePath]: ...
    def glob(self, pattern: str) -> Iterator[StoragePath]: ...
    def rglob(self, pattern: str) -> Iterator[StoragePath]: ...
    def mkdir(self, *, parents: bool, exist_ok: bool) -> None: ...
    def read_bytes(self) -> bytes: ...
    def write_bytes(self, data: bytes) -> Any: ...
    def unlink(self) -> None: ...


#: Turns a ``scheme://`` URL into a :class:`StoragePath`. Callers that know the credentials build it (the operator
#: from its ``storage_conn_id``); ``upath.UPath`` itself also fits, with fsspec's own credential look-up.
PathFactory = Callable[[str], StoragePath]


def storage_path(location: str, path_factory: PathFactory | None) -> StoragePath:
    """The path object of a URL location; a URL without a factory is refused with the fix in the message."""
    if path_factory is None:
        raise ValueError(
            f"{location!r} is a URL: reading or writing it needs a path_factory (for example "
            "airflow_provider_rudder_sf.hooks.connections.object_storage_paths(conn_id))"
        )
    return path_factory(location)


@dataclass(frozen=True, slots=True)
class StagedFile:
    """One file to read: ``uri`` names it in origins and errors; ``open`` returns a binary file object."""

    uri: str
    open: Callable[[], AbstractContextManager[Any]]


def has_scheme(location: str) -> bool:
    """True for ``scheme://...`` locations, which are read through a :data:`PathFactory`."""
    return bool(_SCHEME.match(location))


def _is_glob(text: str) -> bool:
    return any(char in _GLOB_CHARS for char in text)


def _wanted(name: str, patterns: Sequence[str]) -> bool:
    """Directory listings skip hidden/marker files (``.part``, ``_SUCCESS``) and keep the staged patterns."""
    return not name.startswith((".", "_")) and any(fnmatch(name, pattern) for pattern in patterns)


def _missing(location: str, what: str) -> FileNotFoundError:
    return FileNotFoundError(f"no staged event files at {location!r}: {what}")


def _local_file(path: Path) -> StagedFile:
    return StagedFile(uri=path.resolve().as_uri(), open=lambda: path.open("rb"))


def _resolve_local(location: str, patterns: Sequence[str], recursive: bool) -> list[StagedFile]:
    path = Path(location).expanduser()
    if path.is_file():
        return [_local_file(path)]
    if path.is_dir():
        found = path.rglob("*") if recursive else path.iterdir()
        files = sorted(p for p in found if p.is_file() and _wanted(p.name, patterns))
        if not files:
            raise _missing(location, f"the directory holds no files matching {', '.join(patterns)}")
        return [_local_file(p) for p in files]
    if _is_glob(location):
        matches = sorted(Path(p) for p in globlib.glob(str(path), recursive=True))
        files = [p for p in matches if p.is_file()]
        if not files:
            raise _missing(location, "the glob matched no files")
        return [_local_file(p) for p in files]
    raise _missing(location, "the path does not exist")


def _split_url_glob(location: str) -> tuple[str, str]:
    """Split ``s3://bucket/a/*/b*.gz`` into the fixed prefix ``s3://bucket/a`` and the pattern ``*/b*.gz``."""
    scheme_end = location.index("://") + 3
    parts = location[scheme_end:].split("/")
    first = next(i for i, part in enumerate(parts) if _is_glob(part))
    if first == 0:
        raise ValueError(f"the bucket/container part of {location!r} cannot contain a glob pattern")
    return location[:scheme_end] + "/".join(parts[:first]), "/".join(parts[first:])


def url_of(path: StoragePath) -> str:
    """The plain URL of an object-storage path: ``str()`` would put the conn id in it (``s3://conn@bucket/...``),
    and origins and dead letters should name the object as users know it."""
    return f"{path.protocol}://{path.path}" if path.protocol else str(path)


def _remote_file(path: StoragePath) -> StagedFile:
    return StagedFile(uri=url_of(path), open=lambda: path.open("rb"))


def _resolve_url(
    location: str, path_factory: PathFactory | None, patterns: Sequence[str], recursive: bool
) -> list[StagedFile]:
    if _is_glob(location):
        base, pattern = _split_url_glob(location)
        matches = sorted(storage_path(base, path_factory).glob(pattern), key=str)
        files = [p for p in matches if p.is_file()]
        if not files:
            raise _missing(location, "the glob matched no files")
        return [_remote_file(p) for p in files]
    path = storage_path(location, path_factory)
    if path.is_file():
        return [_remote_file(path)]
    if path.is_dir():
        found = path.rglob("*") if recursive else path.iterdir()
        selected = sorted((p for p in found if p.is_file() and _wanted(p.name, patterns)), key=str)
        if not selected:
            raise _missing(location, f"the directory holds no files matching {', '.join(patterns)}")
        return [_remote_file(p) for p in selected]
    raise _missing(location, "the path does not exist")


def resolve_files(
    location: str | os.PathLike[str],
    *,
    path_factory: PathFactory | None = None,
    allow_missing: bool = False,
    recursive: bool = False,
    patterns: Sequence[str] = STAGED_FILE_PATTERNS,
) -> list[StagedFile]:
    """List the files a location names, sorted by name, so a run reads them in a stable order.

    A file is taken as is; a directory gives its files matching ``patterns`` (only its own files unless
    ``recursive``; names starting with ``.`` or ``_`` are skipped); a glob gives every file it matches.
    Nothing found raises :class:`FileNotFoundError` naming the location, because a scheduled run whose interval
    has no files usually means an upstream export failed; ``allow_missing=True`` returns ``[]`` instead.
    A URL location needs ``path_factory`` (see :data:`PathFactory`); a local path does not.
    """
    text = os.fspath(location)
    if not text.strip():
        raise ValueError("the staged event location is empty")
    try:
        if has_scheme(text):
            return _resolve_url(text, path_factory, patterns, recursive)
        return _resolve_local(text, patterns, recursive)
    except FileNotFoundError:
        if allow_missing:
            return []
        raise


def staged_files(uris: Sequence[str], *, path_factory: PathFactory | None = None) -> list[StagedFile]:
    """The files named by a list of URIs, as :func:`resolve_files` lists them (``file://`` or object storage, the
    latter through ``path_factory``), in that order. Several tasks reading one listing read exactly the same files,
    even when more arrive meanwhile."""
    from urllib.parse import unquote, urlsplit

    files = []
    for uri in uris:
        if not isinstance(uri, str) or not uri.strip():
            raise ValueError(f"a staged file must be a path or URL, got {uri!r}")
        if uri.startswith("file://"):
            files.append(_local_file(Path(unquote(urlsplit(uri).path))))
        elif has_scheme(uri):
            files.append(_remote_file(storage_path(uri, path_factory)))
        else:
            files.append(_local_file(Path(uri).expanduser()))
    return files


def iter_files(files: Sequence[StagedFile], *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[StagedRecord]:
    """Read the files one after the other, one line at a time; each file is closed before the next opens.

    A damaged file ends with one ``unreadable_file`` record (see :func:`iter_lines`) and the next file is read.
    """
    for staged in files:
        with staged.open() as fileobj:
            yield from iter_lines(fileobj, staged.uri, max_line_bytes=max_line_bytes)


def read_jsonl(
    location: str | os.PathLike[str],
    *,
    path_factory: PathFactory | None = None,
    allow_missing: bool = False,
    recursive: bool = False,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> Iterator[StagedRecord]:
    """Stream the staged events of a JSON Lines location (plain or gzipped files).

    The location is resolved now, so a missing input fails at the call with a clear message; the files are read
    lazily as the iterator is consumed. Lines over ``max_line_bytes`` and damaged files come as records with a
    ``problem`` (see :func:`iter_lines`).
    """
    files = resolve_files(location, path_factory=path_factory, allow_missing=allow_missing, recursive=recursive)
    return iter_files(files, max_line_bytes=max_line_bytes)
