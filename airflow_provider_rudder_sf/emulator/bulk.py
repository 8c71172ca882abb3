"""Bulk API 2.0 ingest jobs (filled in below)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .http_types import Request, Response
from .store import Txn

if TYPE_CHECKING:
    from .app import Emulator


def ingest(app: Emulator, req: Request, version: str, parts: list[str], txn: Txn) -> Response:
    return Response.error(404, "NOT_FOUND", "Bulk API 2.0 is not implemented yet")
