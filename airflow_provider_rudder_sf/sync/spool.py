"""Hold a run's eligible events with bounded memory, grouped so all events of one record stay together.

Small runs stay in memory as one group. Past ``memory_limit`` events or ``memory_bytes`` of event text, everything
spills to ``partitions`` temporary JSON Lines files by a hash of the record key, and each partition is read back
and planned on its own: memory is bounded by the partition size, and folding stays exact because a record never
spans two partitions.

Spilled events are personal data at rest: the spool directory is ``0700`` and its files ``0600``. Directories live
under one parent per user (:func:`spool_parent`) and are named ``rudder-sf-spool-<pid>-<host>-<random>``, so a new
spool can remove the ones a killed worker (SIGKILL, OOM killer) left behind: their owner is no longer alive.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import msgspec

from airflow_provider_rudder_sf.mapping import IdentifyEvent, record_key, shard_of
from airflow_provider_rudder_sf.mapping.model import Target

Entry = tuple[IdentifyEvent, str]

DEFAULT_MEMORY_BYTES = 64 << 20
SPOOL_PREFIX = "rudder-sf-spool-"
# An event handed over as a dict has no line to measure, and serialising it only to measure it would cost as much
# as classifying it; such events come from in-memory lists, which are small, so a flat guess is good enough.
_DICT_EVENT_BYTES = 1024
# msgspec, not json: the spill is on the hot path of every large run. Values JSON cannot say (a SQL row's
# datetime, Decimal, ...) are written as their text, as json.dumps(default=str) would.
_encode = msgspec.json.Encoder(enc_hook=str).encode
_decode = msgspec.json.Decoder().decode
_SPOOL_NAME = re.compile(re.escape(SPOOL_PREFIX) + r"(\d+)-([0-9a-f]{8})-")


def spool_parent() -> Path:
    """``<tempdir>/rudder-sf-spool-u<uid>``: one parent per user, because a worker running tasks as several users
    (``run_as_user``) must not find its spool parent owned, and closed, by another user."""
    return Path(tempfile.gettempdir()) / f"rudder-sf-spool-u{os.getuid()}"


def _host_tag() -> str:
    """Short tag of this host: a /tmp shared between hosts or containers must not make a live worker elsewhere, whose
    PID means nothing here, look dead."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _is_private(directory: Path) -> bool:
    """A real directory (not a symlink) owned by this user that nobody else can write to or read."""
    try:
        info = directory.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077


def _private_parent(parent: Path) -> Path:
    """Create ``parent`` 0700, or accept it only if :func:`_is_private`: otherwise another local user could plant
    or read spool files through it."""
    with contextlib.suppress(FileExistsError):
        parent.mkdir(mode=0o700)
    if not _is_private(parent):
        raise PermissionError(f"refusing to spool under {parent}: not a private directory owned by this user")
    return parent


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def remove_stale_spools(parent: Path | None = None) -> list[Path]:
    """Remove spool directories under ``parent`` left by processes of this host that no longer run; return them."""
    parent = parent or spool_parent()
    host = _host_tag()
    removed: list[Path] = []
    if not _is_private(parent):  # no parent yet (nothing ever spilled here), or not ours to clean
        return removed
    for entry in parent.iterdir():
        match = _SPOOL_NAME.match(entry.name)
        if match is None or match.group(2) != host or _alive(int(match.group(1))):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def _create_private(path: str) -> IO[bytes]:
    """Open a new file readable by its owner only: created 0600, never through an existing name."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return open(descriptor, "wb", buffering=1 << 16)


def _estimated_bytes(raw: object) -> int:
    return len(raw) if isinstance(raw, str) else _DICT_EVENT_BYTES


class Spool:
    """Collects eligible events and yields them back in groups; see the module docstring.

    ``memory_bytes`` bounds the raw event text held before spilling (the parsed events cost a small multiple of
    it); ``spool_dir`` overrides the parent directory of the spill files (default :func:`spool_parent`).
    """

    def __init__(
        self,
        *,
        memory_limit: int = 50_000,
        partitions: int = 32,
        memory_bytes: int = DEFAULT_MEMORY_BYTES,
        spool_dir: str | os.PathLike[str] | None = None,
    ):
        if memory_limit < 1 or partitions < 1 or memory_bytes < 1:
            raise ValueError("memory_limit, memory_bytes and partitions must be positive")
        self._memory_limit = memory_limit
        self._memory_bytes_limit = memory_bytes
        self._partitions = partitions
        self._parent = Path(spool_dir) if spool_dir is not None else spool_parent()
        self._memory: list[Entry] = []
        self._memory_bytes = 0
        self._dir: str | None = None
        self._files: list[IO[bytes]] = []
        self._paths: list[str] = []
        self.count = 0
        remove_stale_spools(self._parent)

    @property
    def directory(self) -> str | None:
        """The spill directory, once the spool has spilled."""
        return self._dir

    @property
    def spilled(self) -> bool:
        return self._dir is not None

    @property
    def groups(self) -> int:
        return self._partitions if self.spilled else 1

    def add(self, event: IdentifyEvent, origin: str) -> None:
        self.count += 1
        if self._dir is None:
            self._memory.append((event, origin))
            self._memory_bytes += _estimated_bytes(event.raw)
            if len(self._memory) > self._memory_limit or self._memory_bytes > self._memory_bytes_limit:
                self._spill()
        else:
            self._write(event, origin)

    def _spill(self) -> None:
        parent = _private_parent(self._parent)
        # mkdtemp creates the directory 0700; the PID and host tag let a later spool tell whether its owner lives.
        self._dir = tempfile.mkdtemp(prefix=f"{SPOOL_PREFIX}{os.getpid()}-{_host_tag()}-", dir=parent)
        self._paths = [os.path.join(self._dir, f"part-{i:03d}.jsonl") for i in range(self._partitions)]
        self._files = [_create_private(path) for path in self._paths]
        for event, origin in self._memory:
            self._write(event, origin)
        self._memory = []
        self._memory_bytes = 0

    def _write(self, event: IdentifyEvent, origin: str) -> None:
        # The classified event as it is, its line included (dead letters and resumes need it): read back, it is not
        # classified a second time.
        entry = [origin, *event]
        try:
            line = _encode(entry)
        except UnicodeEncodeError:  # a lone surrogate in a dict event: escaped, as json.dumps does
            line = json.dumps(entry, ensure_ascii=True, default=str).encode("ascii")
        self._files[shard_of(record_key(event), self._partitions)].write(line + b"\n")

    def groups_of_events(self) -> Iterator[list[Entry]]:
        """Yields every event exactly once, one group at a time; each record's events are in one group."""
        if self._dir is None:
            if self._memory:
                yield self._memory
            self._memory = []
            self._memory_bytes = 0
            return
        for handle in self._files:
            handle.close()
        for path in self._paths:
            with open(path, "rb") as stream:
                group = [self._restore(line) for line in stream]
            os.unlink(path)
            if group:
                yield group

    def _restore(self, line: bytes) -> Entry:
        try:
            entry = _decode(line)
        except msgspec.DecodeError:  # a lone surrogate, escaped by json.dumps: msgspec refuses to read it back
            entry = json.loads(line)
        origin, raw, seq, message_id, timestamp, traits, email, targets, mapped = entry
        event = IdentifyEvent(
            raw, seq, message_id, timestamp, traits, email, tuple(Target(*target) for target in targets), mapped
        )
        return event, origin

    def close(self) -> None:
        for handle in self._files:
            handle.close()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
