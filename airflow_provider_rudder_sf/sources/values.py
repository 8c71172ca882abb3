"""Database values as JSON: what a SQL row's values become in an event (shared by identifies and model rows)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any


def json_value(value: Any) -> Any:
    """Make a database value JSON-friendly: datetimes become ISO 8601 (naive ones are taken as UTC, as
    warehouses store them), dates ISO dates, decimals numbers, bytes UTF-8 text, UUIDs strings."""
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
        return aware.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, uuid.UUID):
        return str(value)
    return value
