"""Bulk API 2.0 CSV, both ways: write values exactly as Salesforce parses them, read its result files.

Salesforce reads a job's CSV as RFC 4180 in UTF-8 with a header of API names. A cell's text is the value; an
empty cell means "leave the field as it is" (unset on insert), and ``#N/A`` sets the field to null. So:

* ``None`` (an explicit null) and ``""`` (which REST also stores as null) become ``#N/A``;
* booleans become ``true``/``false``, numbers their JSON text (``3``, ``2.5``, ``1e+20``);
* every other string is quoted, embedded quotes doubled, newlines and commas kept inside the quotes. Quoting every
  string means a value starting with ``=`` or padded with spaces reaches the field exactly as it is.

A string that IS ``#N/A``, a nested object or list, and a non-finite float cannot be said in CSV:
:func:`encode_value` answers ``None`` for them and the caller sends those records over REST instead.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import IO, Any

NULL = "#N/A"

# ``CODE:message:fields`` with the fields part a comma- or space-separated list of API names (possibly empty,
# sometimes followed by ``--``).
_FIELDS_TAIL = re.compile(r"^\s*(?:[A-Za-z][A-Za-z0-9_]*(?:[\s,]+[A-Za-z][A-Za-z0-9_]*)*)?\s*(?:--)?\s*$")
_CODE = re.compile(r"^[A-Z][A-Z0-9_]*$")


def encode_value(value: Any) -> str | None:
    """The CSV field (quoted where needed) for one JSON value; None when CSV cannot carry it faithfully."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return json.dumps(value) if math.isfinite(value) else None
    if isinstance(value, str):
        if value == "":
            return NULL
        if value == NULL:
            return None  # Salesforce would read it as null, not as the text
        return '"' + value.replace('"', '""') + '"'
    return None


def encode_fields(values: Mapping[str, Any]) -> dict[str, str] | None:
    """:func:`encode_value` for each of a record's fields; None when one cannot be carried. Plain text, most of a
    run's cells, is quoted here without the call: a million-record job has millions of cells."""
    cells: dict[str, str] = {}
    for name, value in values.items():
        if type(value) is str and value and value != NULL:
            cells[name] = '"' + value.replace('"', '""') + '"'
            continue
        encoded = encode_value(value)
        if encoded is None:
            return None
        cells[name] = encoded
    return cells


def cell_text(field: str) -> str:
    """What Salesforce reads back from an encoded field (the inverse of the quoting in :func:`encode_value`)."""
    if len(field) >= 2 and field[0] == '"' and field[-1] == '"':
        return field[1:-1].replace('""', '"')
    return field


def csv_line(fields: Sequence[str]) -> bytes:
    """One CSV record (fields already encoded; API names need no quoting) with the job's LF line ending."""
    return (",".join(fields) + "\n").encode("utf-8")


def parse_csv(data: bytes | str) -> tuple[list[str], list[dict[str, str]]]:
    """A result file: its header and one dict per row. An empty body (no results) is an empty file."""
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data.removeprefix("\ufeff")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        return [], []
    header = rows[0]
    return header, [dict(zip(header, row, strict=False)) for row in rows[1:] if row]


def iter_csv(data: bytes | IO[bytes], *, lower_names: bool = False) -> Iterator[dict[str, str]]:
    """A result file's rows one at a time, decoded as they are read (from memory or from a file): a million-row
    file never becomes a million dicts, nor a decoded copy of itself, in memory. ``lower_names`` lower-cases the
    header's names (query results, whose column spelling follows the SOQL)."""
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    reader = csv.reader(io.TextIOWrapper(source, encoding="utf-8-sig", newline=""))
    header = next(reader, None)
    if header is None:
        return
    if lower_names:
        header = [name.lower() for name in header]
    for row in reader:
        if row:
            yield dict(zip(header, row, strict=False))


def parse_error(text: str) -> tuple[str, str]:
    """``sf__Error`` (``CODE:message:fields``) → (code, message). Messages may contain colons themselves."""
    code, sep, rest = text.partition(":")
    code = code.strip()
    if not sep or not _CODE.match(code):
        return "UNKNOWN_ERROR", text.strip()
    message, sep, tail = rest.rpartition(":")
    if sep and _FIELDS_TAIL.match(tail):
        return code, message.strip()
    return code, rest.strip()


def union_columns(field_sets: Iterable[Iterable[str]], first: Sequence[str] = ()) -> tuple[str, ...]:
    """Column names in first-seen order: ``first``, then every field any record sets."""
    seen = dict.fromkeys(first)
    for names in field_sets:
        for name in names:
            if name not in seen:
                seen[name] = None
    return tuple(seen)
