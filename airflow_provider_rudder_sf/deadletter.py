"""Dead letters: the events a run could not apply, with why, as JSON Lines files that can be read back and replayed.

Each task try writes its own file, ``<base>/<dag_id>/<run_id>/<task_id>[.<map_index>]/try-<n>.jsonl[.gz]``, so a
retry never mixes its dead letters with an earlier try's. The writer only writes what it is given: callers pass
the original event, the stage, a code and a one-sentence reason, never credentials or session data.

Dead letters hold personal data: local files are created ``0600`` and the directories the writer creates ``0700``.
:meth:`DeadLetterWriter.check` proves the location writable before a run sends anything to Salesforce.

No Airflow here: object-storage locations are reached through the :data:`~airflow_provider_rudder_sf.sources.files.
PathFactory` the caller gives, and the task's ids come as plain values (the operator reads them off its context).
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import logging
import os
import re
import secrets
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal
from urllib.parse import urlsplit
from urllib.request import url2pathname

from airflow_provider_rudder_sf.mapping.events import nests_too_deep
from airflow_provider_rudder_sf.mapping.model import STAGES, Rejected, Stage
from airflow_provider_rudder_sf.sources.files import (
    PathFactory,
    StagedFile,
    StoragePath,
    has_scheme,
    resolve_files,
    storage_path,
)
from airflow_provider_rudder_sf.sources.records import iter_lines

log = logging.getLogger(__name__)

DEAD_LETTER_PATTERNS: tuple[str, ...] = ("*.jsonl", "*.jsonl.gz")

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_MAX_PART = 120
_FLUSH_EVERY = 100
_CORE_KEYS = frozenset({"event", "event_format", "stage", "code", "reason", "origin", "seq", "written_at"})
#: A dead letter holds an event of up to the run's ``max_line_bytes`` plus its reason: read back with room to spare.
DEAD_LETTER_MAX_LINE_BYTES = 64 << 20
# Object stores have no real directories, and their mkdir creates a missing bucket: a typo in the location would
# quietly become a new bucket (with default, possibly public, settings) instead of an error.
_BUCKET_STORES = frozenset({"s3", "s3a", "gs", "gcs", "abfs", "abfss", "az", "adl", "oss"})
_PROBE_PREFIX = ".rudder-sf-write-check-"  # a leading "." keeps read_dead_letters from ever listing a probe


class DeadLetterLocationError(ValueError):
    """The dead-letter location cannot be written to; raised by :meth:`DeadLetterWriter.check`."""


def _local_path(location: str) -> Path | None:
    """The local path of a plain path or a ``file://`` URL (written with owner-only modes like any local path);
    ``None`` for object storage."""
    if not has_scheme(location):
        return Path(location).expanduser()
    parts = urlsplit(location)
    if parts.scheme == "file" and parts.netloc in ("", "localhost"):
        return Path(url2pathname(parts.path))
    return None


def _is_bucket_store(location: str) -> bool:
    """True for URLs of object stores whose ``mkdir`` would create a bucket (see :data:`_BUCKET_STORES`)."""
    return urlsplit(location).scheme.lower() in _BUCKET_STORES


def _make_private_dirs(directory: Path) -> None:
    """Create the missing directories down to ``directory``, each 0700. Directories that already exist keep their
    mode: they are not ours to change. (``Path.mkdir(parents=True)`` would create the parents with default modes.)"""
    missing: list[Path] = []
    current = directory
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:  # created meanwhile by a parallel task: fine
            if not path.is_dir():
                raise


def _create_private(path: Path) -> IO[bytes]:
    """Create a new file readable by its owner only; ``FileExistsError`` if the name is taken."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def _cause(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__).rstrip(".")


def _safe_part(value: str) -> str:
    """Make one path segment safe for file systems and object keys, keeping distinct inputs distinct.

    Characters outside ``[A-Za-z0-9._-]`` (run ids hold ``:`` and ``+``) become ``_``, a leading ``.`` becomes
    ``_`` (no ``..`` traversal, no hidden files). Whenever the text had to change, or is too long, a short hash of
    the original is appended, so ``a:b`` and ``a+b`` never share a directory.
    """
    cleaned = _UNSAFE.sub("_", value)
    if cleaned.startswith("."):
        cleaned = "_" + cleaned[1:]
    if cleaned == value and 0 < len(value) <= _MAX_PART:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{cleaned[:_MAX_PART]}-{digest}" if cleaned else f"_{digest}"


def _utc_stamp(now: dt.datetime | None) -> str:
    moment = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    return moment.strftime("%Y%m%dT%H%M%S%fZ")


def dead_letter_path(
    base: str | os.PathLike[str],
    *,
    dag_id: str | None,
    run_id: str | None,
    task_id: str | None,
    map_index: int | None = None,
    try_number: int | None = None,
    compress: bool = False,
    now: dt.datetime | None = None,
    token: str | None = None,
) -> str:
    """Return the dead-letter file for one task try under ``base`` (a directory path or object-storage URL).

    ``<base>/<dag_id>/<run_id>/<task_id>[.<map_index>]/try-<n>.jsonl`` (``.jsonl.gz`` when ``compress``); a
    ``map_index`` of ``None`` or ``-1`` (unmapped) adds nothing. Without a DAG run (an operator executed with
    ``context={}``) the file is ``<base>/manual/<UTC timestamp>-<token>/try-1.jsonl``: ``token`` defaults to a
    random one; pass ``now`` and ``token`` to make the result deterministic. Each part goes through
    :func:`_safe_part`.
    """
    suffix = ".jsonl.gz" if compress else ".jsonl"
    if dag_id is None or run_id is None or task_id is None:
        unique = f"{_utc_stamp(now)}-{token or secrets.token_hex(4)}"
        parts = ["manual", _safe_part(unique), f"try-{try_number or 1}{suffix}"]
    else:
        task = task_id if map_index is None or map_index < 0 else f"{task_id}.{map_index}"
        attempt = str(try_number) if try_number is not None else f"{_utc_stamp(now)}-{token or secrets.token_hex(4)}"
        parts = [_safe_part(dag_id), _safe_part(run_id), _safe_part(task), f"try-{_safe_part(attempt)}{suffix}"]
    text = os.fspath(base)
    if not text.strip():
        raise ValueError("the dead-letter location is empty")
    if has_scheme(text):
        return "/".join([text.rstrip("/"), *parts])
    return str(Path(text).expanduser().joinpath(*parts))


def event_for_dead_letter(raw: object) -> tuple[Any, Literal["json", "text"]]:
    """The original event as it goes into ``event``: a line of valid JSON as its parsed value, anything else as
    the original text; the second value says which, so a replay knows whether ``event`` was text."""
    if isinstance(raw, str):
        if nests_too_deep(raw):  # kept as text: a reader at the default recursion limit could not parse it
            return raw, "text"
        try:
            value = json.loads(raw)
            json.dumps(value)  # what cannot be written back as JSON stays text
            return value, "json"
        except (ValueError, RecursionError):  # RecursionError: nested deeper than Python can parse
            return raw, "text"
    return raw, "json"


def _dumps(record: Mapping[str, Any]) -> bytes:
    try:
        text = json.dumps(record, ensure_ascii=False, default=str)
    except RecursionError:  # an event dict nested too deeply to serialise: say so rather than crash the run
        record = {**record, "event": "<event nested too deeply to serialise>", "event_format": "unserialisable"}
        text = json.dumps(record, ensure_ascii=False, default=str)
    try:
        return text.encode("utf-8") + b"\n"
    except UnicodeEncodeError:  # lone surrogates from "\ud800" escapes: keep them escaped
        return json.dumps(record, ensure_ascii=True, default=str).encode("ascii") + b"\n"


class DeadLetterWriter:
    """Stream dead letters into one JSON Lines file (gzipped when the name ends with ``.gz``).

    The file is created on the first :meth:`write` (no dead letters, no file) and never overwrites an existing
    one: if the name is taken (the same try id seen twice), ``try-<n>-2.jsonl`` and so on is used, and
    :attr:`location` tells the name actually written. Records are flushed every 100 writes and on close, so a
    killed worker leaves readable lines behind. ``path_factory`` reaches object-storage URLs (plain paths and
    ``file://`` URLs are written directly, with owner-only modes).
    """

    def __init__(self, location: str | os.PathLike[str], *, path_factory: PathFactory | None = None) -> None:
        self.location = os.fspath(location)
        if not self.location.strip():
            raise ValueError("the dead-letter location is empty")
        self.path_factory = path_factory
        self.count = 0
        self._counts: Counter[str] = Counter()
        self._raw: IO[bytes] | None = None
        self._out: IO[bytes] | gzip.GzipFile | None = None
        self._closed = False

    @property
    def counts(self) -> dict[str, int]:
        """Dead letters written so far, by code."""
        return dict(self._counts)

    @property
    def compressed(self) -> bool:
        return self.location.endswith(".gz")

    def _candidates(self) -> Iterator[str]:
        yield self.location
        stem, dot, ext = self.location.rpartition(".jsonl")
        if not dot:
            stem, ext = self.location, ""
        for attempt in range(2, 1000):
            yield f"{stem}-{attempt}{dot}{ext}"

    def _open_raw(self) -> IO[bytes]:
        local = _local_path(self.location)
        if local is None:
            return self._open_object()
        for candidate in self._candidates():
            path = _local_path(candidate) or local  # a file:// location keeps its URL as the location
            _make_private_dirs(path.parent)
            try:
                handle = _create_private(path)
            except FileExistsError:
                continue
            self.location = candidate
            return handle
        raise FileExistsError(f"no free dead-letter file name next to {self.location!r}")

    def _object(self, location: str) -> StoragePath:
        return storage_path(location, self.path_factory)

    def _open_object(self) -> IO[bytes]:
        for candidate in self._candidates():
            path = self._object(candidate)
            if not path.exists():
                if not _is_bucket_store(candidate):
                    path.parent.mkdir(parents=True, exist_ok=True)
                self.location = candidate
                return path.open("wb")  # type: ignore[no-any-return]
        raise FileExistsError(f"no free dead-letter file name next to {self.location!r}")

    @property
    def directory(self) -> str:
        """The directory (or object-storage prefix) the dead-letter file goes into."""
        local = _local_path(self.location)
        if local is not None and not has_scheme(self.location):
            return str(local.parent)
        return self.location.rstrip("/").rpartition("/")[0]

    def check(self) -> None:
        """Prove the location writable before anything is sent to Salesforce: create its directory, then write and
        delete a small probe file next to where the dead letters go.

        Raises :class:`DeadLetterLocationError` with one message naming the location and the cause; without this,
        a wrong location would only show after the run had written to Salesforce, with the dead letters lost.
        """
        try:
            self._probe()
        except Exception as exc:  # any failure means the same here: not writable; the message says why
            raise DeadLetterLocationError(
                f"The dead-letter location {self.directory!r} is not writable: {_cause(exc)}. Fix the dead_letter "
                "argument or the permissions; nothing was sent to Salesforce."
            ) from None  # the cause is in the message; a chained traceback would only bury it

    def _probe(self) -> None:
        name = f"{_PROBE_PREFIX}{secrets.token_hex(4)}"
        local = _local_path(self.location)
        if local is not None:
            _make_private_dirs(local.parent)
            with _create_private(local.parent / name) as probe:
                probe.write(b"{}\n")
            (local.parent / name).unlink()
            return
        path = self._object(f"{self.directory}/{name}")
        if not _is_bucket_store(self.location):
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"{}\n")
        path.unlink()

    def _stream(self) -> IO[bytes] | gzip.GzipFile:
        if self._closed:
            raise ValueError(f"the dead-letter writer for {self.location!r} is closed")
        if self._out is None:
            self._raw = self._open_raw()
            self._out = gzip.GzipFile(fileobj=self._raw, mode="wb", filename="") if self.compressed else self._raw
        return self._out

    def write(
        self,
        event: object,
        *,
        stage: Stage,
        code: str,
        reason: str,
        origin: str | None = None,
        seq: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """Write one dead letter: ``event`` is the staged ``raw`` value (text or dict), passed unchanged.

        ``extra`` adds context keys (for example the sObject of a failed write); it cannot replace the core keys.
        """
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {sorted(STAGES)}, got {stage!r}")
        value, event_format = event_for_dead_letter(event)
        record: dict[str, Any] = {k: v for k, v in (extra or {}).items() if k not in _CORE_KEYS}
        record.update(
            event=value,
            event_format=event_format,
            stage=stage,
            code=code,
            reason=reason,
            origin=origin,
            seq=seq,
            written_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        )
        self._stream().write(_dumps(record))
        self.count += 1
        self._counts[code] += 1
        if self.count % _FLUSH_EVERY == 0:
            self.flush()

    def write_rejected(self, rejected: Rejected, *, origin: str | None = None) -> None:
        """Write a mapping-core :class:`Rejected` value."""
        self.write(
            rejected.raw,
            stage=rejected.stage,
            code=rejected.code,
            reason=rejected.reason,
            origin=origin,
            seq=rejected.seq if rejected.seq >= 0 else None,
        )

    def flush(self) -> None:
        """Push buffered records to the file (a gzip sync point, so the lines are readable after a crash)."""
        if self._out is not None:
            self._out.flush()
            if self._raw is not None and self._raw is not self._out:
                self._raw.flush()

    def close(self) -> None:
        """Finish the file (the gzip trailer) and close it; closing twice is harmless."""
        if self._out is not None:
            try:
                self._out.close()
            finally:
                if self._raw is not None and self._raw is not self._out:
                    self._raw.close()
        self._out = self._raw = None
        self._closed = True

    @property
    def written(self) -> bool:
        """True once a file exists (at least one dead letter was written)."""
        return self.count > 0

    def __enter__(self) -> DeadLetterWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def read_dead_letters(
    location: str | os.PathLike[str],
    *,
    path_factory: PathFactory | None = None,
    allow_missing: bool = False,
    max_line_bytes: int = DEAD_LETTER_MAX_LINE_BYTES,
) -> Iterator[dict[str, Any]]:
    """Yield every dead letter under ``location`` (a file, or a directory/URL searched recursively), file by file
    in name order. Lines that are not JSON objects (a write cut off by a killed worker), lines over
    ``max_line_bytes`` and a truncated gzip end are logged and skipped, so one damaged file does not block a
    replay of the rest. ``path_factory`` reaches object-storage URLs."""
    files = resolve_files(
        location, path_factory=path_factory, allow_missing=allow_missing, recursive=True, patterns=DEAD_LETTER_PATTERNS
    )
    return _iter_dead_letters(files, max_line_bytes)


def _iter_dead_letters(files: list[StagedFile], max_line_bytes: int) -> Iterator[dict[str, Any]]:
    for staged in files:
        with staged.open() as fileobj:
            for record in iter_lines(fileobj, staged.uri, max_line_bytes=max_line_bytes):
                if record.problem is not None:
                    log.warning("Skipping dead letters that cannot be read: %s", record.problem.reason)
                    continue
                try:
                    value = json.loads(str(record.raw))
                except ValueError:
                    value = None
                if isinstance(value, dict):
                    yield value
                else:
                    log.warning("Skipping a damaged dead-letter line at %s", record.origin)
