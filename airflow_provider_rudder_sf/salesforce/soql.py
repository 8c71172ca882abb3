"""SOQL literals and API-name checks: the only way values and names reach a query or a URL."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator

from simple_salesforce.format import quote_soql_value, soql_escapes

from airflow_provider_rudder_sf.mapping.names import is_api_name


def check_api_name(name: str, what: str = "API name") -> str:
    """Return ``name`` if it is a valid Salesforce object or field API name, else raise ValueError."""
    if not is_api_name(name):
        raise ValueError(f"{what} {name!r} is not a valid Salesforce API name (letters, digits, underscores)")
    return name


# The characters simple-salesforce escapes: most values (e-mails) hold none, and are quoted without a translate,
# which costs a microsecond per value and a look-up quotes every value it asks for.
_ESCAPED = re.compile("[" + re.escape("".join(map(chr, soql_escapes))) + "]")


def soql_literal(value: str) -> str:
    """A single-quoted SOQL string literal; backslash, quotes and control characters escaped."""
    text = str(value)
    if _ESCAPED.search(text) is None:
        return "'" + text + "'"
    return quote_soql_value(text)


def in_clause_chunks(
    values: Iterable[str], *, base_length: int, max_length: int, literal: Callable[[str], str] | None = None
) -> Iterator[list[str]]:
    """Split ``values`` so that each ``... IN ('v1','v2',...)`` query URL stays within ``max_length``.

    ``base_length`` is the URL length for the query with an empty list. Percent-encoding works character by
    character, so each literal adds exactly its :func:`url_encoded_length` plus an encoded comma (3 bytes).
    A value that alone would not fit is dropped (Salesforce could not hold it in a queryable field anyway).
    """
    chunk: list[str] = []
    length = base_length
    as_literal = literal or soql_literal
    for value in values:
        cost = url_encoded_length(as_literal(value))
        if base_length + cost > max_length:
            continue
        extra = cost if not chunk else cost + 3
        if chunk and length + extra > max_length:
            yield chunk
            chunk, length, extra = [], base_length, cost
        chunk.append(value)
        length += extra
    if chunk:
        yield chunk


# What ``quote_plus`` (the encoding requests gives a query's ``q``) leaves as it is.
_URL_SAFE = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~"


def url_encoded_length(text: str) -> int:
    """``len(quote_plus(text))`` without building it (a look-up sizes every value it asks for): a safe byte stays,
    a space becomes ``+``, any other UTF-8 byte ``%XX``."""
    data = text.encode("utf-8")
    escaped = len(data.translate(None, _URL_SAFE))
    return len(data) + 2 * (escaped - data.count(b" "))
