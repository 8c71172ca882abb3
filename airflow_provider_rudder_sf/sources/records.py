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
from typing import Any, NamedTuple, Protocol

GZIP_MAGIC = b"\x1f\x8b"
_READ_BUFFER = 1 << 20  # 1 MiB: few calls into remote file systems, bounded memory.


#: Longest staged line read into memory; longer lines become ``line_too_long`` records (design section 8).
DEFAULT_MAX_LINE_BYTES = 1_048_576


class SourceProblem(NamedTuple):
    """Why a staged record holds no event: ``code`` for machines (the dead-letter code), ``reason`` for people."""

    code: str
    reason: str


@dataclass(frozen=True, slots=True)
class StagedRecord:
    """One staged event as read: ``raw`` is the line text (no trailing newline) or the original dict.

    ``origin`` says where it came from (``file:///data/part-0001.jsonl.gz:17``, ``sql:warehouse:3``, ``list:0``)
    so a dead letter can be traced back to its input. ``problem`` is set when the input could not be read as an
    event at all (a line over ``max_line_bytes``, a corrupt file): ``raw`` is then a small dict saying where, and
    the record belongs in the dead letter with stage ``parse`` and the problem's code and reason.
    """

    raw: str | dict[str, Any]
    origin: str
    problem: SourceProblem | None = None


class SourceReadError(OSError):
    """A staged file could not be read to its end (a truncated or corrupt gzip stream).

    The file readers report such damage as an ``unreadable_file`` record instead of raising; this stays for
    callers that would rather stop on it.
    """


#: What a truncated or corrupt gzip stream raises while being read.
_CORRUPT_STREAM: tuple[type[Exception], ...] = (EOFError, zlib.error, gzip.BadGzipFile)


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


def iter_lines(
    fileobj: _Readable, origin: str, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[StagedRecord]:
    """Yield one :class:`StagedRecord` per non-blank line of a plain or gzipped JSON Lines stream.

    Bytes are decoded as UTF-8 with ``errors="replace"``: an invalid byte becomes U+FFFD instead of stopping the
    run, and the mapping core then decides whether the line is still a valid event. A UTF-8 byte-order mark on
    the first line, the newline and a ``\\r`` before it are removed; whitespace-only lines are skipped. Line
    numbers in ``origin`` are physical (blank lines count), so they match ``sed -n 17p``.

    At most ``max_line_bytes`` (plus a line end) are held in memory: a longer line is skipped while its bytes are
    counted, and yields one record with ``problem=SourceProblem("line_too_long", ...)``. A truncated or corrupt
    gzip stream yields the lines read before the break, then one ``unreadable_file`` record, and ends without
    raising: damaged input is data for the dead letter, not an outage.
    """
    if max_line_bytes < 1:
        raise ValueError(f"max_line_bytes must be at least 1, got {max_line_bytes}")
    number = 0  # lines completely read so far
    try:
        stream = open_decompressed(fileobj)
        # Room for a line of exactly max_line_bytes plus "\r\n": reading that much tells whether it is longer.
        limit = max_line_bytes + 2
        while True:
            chunk = stream.readline(limit)
            if not chunk:
                return
            size, tail = len(chunk), chunk[-2:]
            if len(chunk) == limit and not chunk.endswith(b"\n"):
                skipped, tail = _skip_rest_of_line(stream, tail)
                size += skipped
            size -= _line_end_length(tail)
            number += 1
            if size > max_line_bytes:
                yield _too_long(origin, number, size, max_line_bytes)
                continue
            text = chunk.decode("utf-8", errors="replace")
            if number == 1 and text.startswith("\ufeff"):
                text = text[1:]
            if text.endswith("\n"):
                text = text[:-1]
            if text.endswith("\r"):
                text = text[:-1]
            if text.strip():
                yield StagedRecord(text, f"{origin}:{number}")
    except _CORRUPT_STREAM as exc:
        yield _unreadable(origin, number, exc)


def _line_end_length(tail: bytes) -> int:
    """Length of the line end (``\\r\\n``, ``\\n`` or none at the end of the file) given a line's last bytes."""
    if tail.endswith(b"\r\n"):
        return 2
    return 1 if tail.endswith(b"\n") else 0


def _skip_rest_of_line(stream: io.BufferedIOBase, tail: bytes) -> tuple[int, bytes]:
    """Read and drop the rest of an over-long line in bounded pieces.

    Returns the bytes dropped (line end included) and the line's last two bytes, so a ``\\r\\n`` split across
    two pieces is still recognised as the line end.
    """
    skipped = 0
    while True:
        piece = stream.readline(_READ_BUFFER)
        if not piece:
            return skipped, tail
        skipped += len(piece)
        tail = (tail + piece)[-2:]
        if piece.endswith(b"\n"):
            return skipped, tail


def _too_long(origin: str, number: int, size: int, max_line_bytes: int) -> StagedRecord:
    return StagedRecord(
        {"file": origin, "line": number, "bytes": size},
        f"{origin}:{number}",
        SourceProblem("line_too_long", f"Line {number} is {size} bytes, above max_line_bytes={max_line_bytes}."),
    )


def _unreadable(origin: str, lines_read: int, exc: BaseException) -> StagedRecord:
    cause = str(exc) or type(exc).__name__
    return StagedRecord(
        {"file": origin, "unread_from_line": lines_read + 1},
        f"{origin}:{lines_read + 1}",
        SourceProblem(
            "unreadable_file",
            f"{origin} cannot be read past line {lines_read}: {cause}; the rest of this file was not read",
        ),
    )


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
