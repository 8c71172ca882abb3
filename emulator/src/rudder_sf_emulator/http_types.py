"""Plain request/response values passed between the HTTP layer and the endpoint code."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Request:
    method: str
    path: str  # path without the query string, e.g. /services/data/v59.0/query/
    query: dict[str, str]
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body.strip() else None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json;charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)
    data: Any = None  # the decoded JSON body, kept for Composite subrequests

    @classmethod
    def json(cls, status: int, data: Any, headers: dict[str, str] | None = None) -> Response:
        return cls(status, json.dumps(data).encode("utf-8"), headers=headers or {}, data=data)

    @classmethod
    def error(cls, status: int, code: str, message: str, fields: list[str] | None = None) -> Response:
        item: dict[str, Any] = {"message": message, "errorCode": code}
        if fields is not None:
            item["fields"] = fields
        return cls.json(status, [item])

    @classmethod
    def empty(cls, status: int = 204) -> Response:
        return cls(status, b"", content_type="")
