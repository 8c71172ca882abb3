"""Write builders shared by the writer tests (a uniquely named module: tests/ has several conftest.py)."""

from __future__ import annotations

from typing import Any

from airflow_provider_rudder_sf.mapping.model import Write


def lead_create(n: int, email: str | None = None, **fields: Any) -> Write:
    email = email or f"lead{n}@example.com"
    values = {"LastName": f"Last{n}", "Company": "Acme", "Email": email, **fields}
    return Write(
        key=f"Lead:email:{email.lower()}",
        sobject="Lead",
        operation="create",
        record_id=None,
        fields=values,
        sources=(n,),
        natural_key=("Email", email),
    )


def lead_creates(count: int, start: int = 0) -> list[Write]:
    return [lead_create(n) for n in range(start, start + count)]
