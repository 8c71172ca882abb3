"""The value every staged-event reader yields, and the Airflow-free line reader behind the file sources.

Readers do not parse JSON: the mapping core parses ``raw`` so that a broken line becomes a dead letter with stage
``parse`` instead of an exception that stops the run. Readers only turn bytes into text, one line at a time.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

GZIP_MAGIC = b"\x1f\x8b"
_READ_BUFFER = 1 << 20  # 1 MiB: few calls into remote file systems, bounded memory.


@dataclass(frozen=True, slots=True)
class StagedRecord:
    """One staged event as read: ``raw`` is the line text (no trailing newline) or the original dict.

    ``origin`` says where it came from (``file:///data/part-0001.jsonl.gz:17``, ``sql:warehouse:3``, ``list:0``)
    so a dead letter can be traced back to its input.
    """

    raw: str | dict[str, Any]
    origin: str


class SourceReadError(OSError):
    """A staged file could not be read to its end (a truncated or corrupt gzip stream)."""


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


class _HeadThenRest(io.RawIOBase):
    """A raw stream that replays already-read leading bytes, then reads on from the source.

    Lets us sniff the gzip magic bytes on any file object (object-storage files cannot always seek back).
    """

    def __init__(self, source: _Readable, head: bytes) -> None:
        super().__init__()
        self._source = source
        self._head = head

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._head:
            size = min(len(view), len(self._head))
            view[:size] = self._head[:size]
            self._head = self._head[size:]
            return size
        data = self._source.read(len(view))
        view[: len(data)] = data
        return len(data)


def open_decompressed(fileobj: _Readable) -> io.BufferedIOBase:
    """Return a buffered binary stream of ``fileobj``'s content, gunzipped when it starts with gzip magic bytes.

    The magic bytes decide, not the name: a ``.gz`` object that a store already decompressed still reads, and a
    gzip file without the suffix is not read as garbage.
    """
    head = fileobj.read(2)
    buffered = io.BufferedReader(_HeadThenRest(fileobj, head), buffer_size=_READ_BUFFER)
    if head == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=buffered, mode="rb")
    return buffered


def iter_lines(fileobj: _Readable, origin: str) -> Iterator[StagedRecord]:
    """Yield one :class:`StagedRecord` per non-blank line of a plain or gzipped JSON Lines stream.

    Bytes are decoded as UTF-8 with ``errors="replace"``: an invalid byte becomes U+FFFD instead of stopping the
    run, and the mapping core then decides whether the line is still a valid event. A UTF-8 byte-order mark on
    the first line, the newline and a ``\\r`` before it are removed; whitespace-only lines are skipped. Line
    numbers in ``origin`` are physical (blank lines count), so they match ``sed -n 17p``. Only one line is held
    in memory at a time.
    """
    stream = open_decompressed(fileobj)
    number = 0
    try:
        for number, line in enumerate(stream, start=1):
            text = line.decode("utf-8", errors="replace")
            if number == 1 and text.startswith("\ufeff"):
                text = text[1:]
            if text.endswith("\n"):
                text = text[:-1]
            if text.endswith("\r"):
                text = text[:-1]
            if text.strip():
                yield StagedRecord(text, f"{origin}:{number}")
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise SourceReadError(f"{origin}: cannot read past line {number}: {exc}") from exc


def iter_dicts(events: Iterable[Any], prefix: str = "list") -> Iterator[StagedRecord]:
    """Yield in-memory events as :class:`StagedRecord` values with origin ``list:<index>``.

    Dicts are passed through unchanged (not copied; the mapping core never mutates them); a string is treated
    as one JSON line; anything else (``None``, a number, a list) is serialised to JSON text so the mapping core
    rejects it with a reason instead of the reader guessing.
    """
    for index, event in enumerate(events):
        raw: str | dict[str, Any]
        if isinstance(event, dict):
            raw = event
        elif isinstance(event, Mapping):
            raw = dict(event)
        elif isinstance(event, str):
            raw = event
        else:
            raw = json.dumps(event, default=str)
        yield StagedRecord(raw, f"{prefix}:{index}")
