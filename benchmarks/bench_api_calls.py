"""API calls and wall time: the operator versus a hand-written per-event loop, against the local emulator.

    .venv/bin/python benchmarks/bench_api_calls.py                         # 10,000 events, both approaches
    .venv/bin/python benchmarks/bench_api_calls.py --sizes 1000,10000,100000 --naive-max 10000 \\
        --json docs/benchmarks/api_calls.json                              # the figures behind the chart

Data per size N: N eligible identify events over 0.8 N distinct e-mails (synthetic, deterministic); half of the
e-mails are seeded first as existing Leads, and 1 % of those are converted, with their Contacts (both approaches run
with ``use_contact_id``, so those events update the Contact). Generation and seeding are not timed.

- ``operator``: ``IdentifyToSalesforceOperator(...).execute(context={})`` on a JSON Lines file: batched e-mail look-ups
  (SOQL ``IN``) and sObject Collections writes of 200.
- ``per-event``: what a user writes by hand, and what RudderStack's cloud destination does: for every event one SOQL
  look-up by e-mail and one single-record ``sf.Lead.create`` / ``sf.Lead.update`` (or ``sf.Contact.update``) through
  simple-salesforce, with the same trait mapping (``map_traits``).

The emulator is reset (and the data seeded again) before each approach; API calls are the emulator's own counter.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
from simple_salesforce import Salesforce
from simple_salesforce.format import format_soql

from airflow_provider_rudder_sf.mapping import IdentifyEvent, MappingOptions, classify, map_traits
from airflow_provider_rudder_sf.mapping.traits import Mapped
from rudder_sf_emulator import EmulatorHandle, start_emulator
from rudder_sf_emulator.synthetic import SyntheticSpec, email_for, generate_lines

CUSTOM_FIELDS = {
    "plan__c": {"type": "string", "length": 40},
    "newsletter__c": {"type": "boolean"},
    "logins__c": {"type": "double"},
}
CONVERTED_EVERY = 100  # 1 % of the seeded Leads are converted


def dataset(n: int, seed: int = 11) -> tuple[list[str], int]:
    distinct = max(1, int(n * 0.8))
    spec = SyntheticSpec(
        events=n, distinct_emails=distinct, seed=seed, bad_fraction=0.0, not_enabled_fraction=0.0, track_fraction=0.0
    )
    return list(generate_lines(spec)), distinct


def prepare(emu: EmulatorHandle, distinct: int) -> None:
    """Reset, declare the custom fields, seed every other e-mail as a Lead (1 % of them converted)."""
    emu.reset(schema=True)
    for sobject in ("Lead", "Contact"):
        emu.declare_fields(sobject, CUSTOM_FIELDS)
    seeded = list(range(0, distinct, 2))
    converted = seeded[::CONVERTED_EVERY]
    contact_ids = (
        emu.seed("Contact", [{"LastName": f"Converted{i}", "Email": email_for(i)} for i in converted])
        if converted
        else []
    )
    contact_of = dict(zip(converted, contact_ids, strict=True))
    leads = []
    for i in seeded:
        lead: dict[str, Any] = {"LastName": f"Seed{i}", "Company": "Seeded", "Email": email_for(i)}
        if i in contact_of:
            lead.update(IsConverted=True, ConvertedContactId=contact_of[i], Status="Closed - Converted")
        leads.append(lead)
    for start in range(0, len(leads), 50_000):
        emu.seed("Lead", leads[start : start + 50_000])


def run_operator(emu: EmulatorHandle, lines: list[str], workdir: Path) -> dict[str, Any]:
    from airflow_provider_rudder_sf.operators.identify import IdentifyToSalesforceOperator

    path = workdir / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    os.environ["AIRFLOW_CONN_RUDDER_SALESFORCE_DEFAULT"] = emu.connection_json()
    operator = IdentifyToSalesforceOperator(
        task_id="bench", events=str(path), use_contact_id=True, dead_letter=str(workdir / "dead")
    )
    started = time.perf_counter()
    summary = operator.execute(context={})
    wall = time.perf_counter() - started
    counters = emu.counters()
    return {
        "wall_s": round(wall, 3),
        "api_calls": counters["api_calls"],
        "by_endpoint": counters["by_endpoint"],
        "applied": summary["applied"],
        "created": summary["created"],
        "updated": summary["updated"],
        "dead_lettered": summary["dead_lettered"],
    }


def _login(emu: EmulatorHandle) -> Salesforce:
    return emu.simple_salesforce()  # type: ignore[no-any-return]


def _with_defaults(fields: dict[str, Any], sobject: str) -> dict[str, Any]:
    fields.setdefault("LastName", "n/a")
    if sobject == "Lead":
        fields.setdefault("Company", "n/a")
    return fields


def run_per_event(emu: EmulatorHandle, lines: list[str]) -> dict[str, Any]:
    """The hand-written loop: parse, look up the e-mail, create or update one record, next event."""
    sf = _login(emu)
    options = MappingOptions(use_contact_id=True)
    decode = msgspec.json.Decoder().decode
    created = updated = failed = 0
    started = time.perf_counter()
    for seq, line in enumerate(lines):
        event = classify(line, seq, options, decode)
        if not isinstance(event, IdentifyEvent) or not event.email:
            failed += 1
            continue
        found = sf.query(
            format_soql("SELECT Id, IsConverted, ConvertedContactId FROM Lead WHERE Email = {} LIMIT 2", event.email)
        )["records"]
        try:
            if not found:
                mapped = map_traits(event.traits, "Lead", map_properties=True)
                assert isinstance(mapped, Mapped)
                sf.Lead.create(_with_defaults(dict(mapped.fields), "Lead"))
                created += 1
            elif found[0]["IsConverted"]:
                mapped = map_traits(event.traits, "Contact", map_properties=True)
                assert isinstance(mapped, Mapped)
                sf.Contact.update(found[0]["ConvertedContactId"], dict(mapped.fields))
                updated += 1
            else:
                mapped = map_traits(event.traits, "Lead", map_properties=True)
                assert isinstance(mapped, Mapped)
                sf.Lead.update(found[0]["Id"], dict(mapped.fields))
                updated += 1
        except Exception as exc:  # a hand-written loop logs and moves on
            failed += 1
            if failed <= 3:
                print(f"  per-event write failed: {type(exc).__name__}: {str(exc)[:200]}", file=sys.stderr)
    wall = time.perf_counter() - started
    counters = emu.counters()
    return {
        "wall_s": round(wall, 3),
        "api_calls": counters["api_calls"],
        "by_endpoint": counters["by_endpoint"],
        "created": created,
        "updated": updated,
        "failed": failed,
    }


def check_state(emu: EmulatorHandle, distinct: int) -> int:
    """Every e-mail ends as exactly one Lead: the count of e-mails that do not (0 when correct)."""
    per_email: dict[str, int] = {}
    for lead in emu.records("Lead"):
        email = (lead.get("Email") or "").lower()
        per_email[email] = per_email.get(email, 0) + 1
    return sum(1 for i in range(distinct) if per_email.get(email_for(i), 0) != 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000", help="comma-separated event counts (default 10000)")
    parser.add_argument("--naive-max", type=int, default=10_000, help="largest size the per-event loop runs at")
    parser.add_argument("--json", help="write the raw figures to this JSON file")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    logging.basicConfig(level=logging.WARNING)  # the operator's per-batch INFO lines would drown the figures
    logging.getLogger("airflow").setLevel(logging.WARNING)

    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, start_emulator(Path(tmp) / "emu", daily_limit=100_000_000) as emu:
        for n in sizes:
            lines, distinct = dataset(n)
            row: dict[str, Any] = {"events": n, "distinct_emails": distinct, "seeded_leads": len(range(0, distinct, 2))}
            prepare(emu, distinct)
            workdir = Path(tmp) / f"op-{n}"
            workdir.mkdir()
            row["operator"] = run_operator(emu, lines, workdir)
            row["operator"]["emails_not_exactly_one_lead"] = check_state(emu, distinct)
            if n <= args.naive_max:
                prepare(emu, distinct)
                row["per_event"] = run_per_event(emu, lines)
                row["per_event"]["emails_not_exactly_one_lead"] = check_state(emu, distinct)
            results.append(row)
            _print_row(row)

    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "benchmark": "benchmarks/bench_api_calls.py",
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "note": "Wall times on a shared 2-core machine; noisy. API calls are exact (emulator counter).",
        }
        out.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
        print(f"wrote {out}")


def _print_row(row: dict[str, Any]) -> None:
    n, op = row["events"], row["operator"]
    print(f"\n== {n:,} eligible identify events, {row['distinct_emails']:,} e-mails, {row['seeded_leads']:,} existing")
    print(
        f"operator : {op['api_calls']:>7,} API calls  {op['wall_s']:>8.2f} s  {n / op['wall_s']:>9,.0f} events/s  "
        f"(created {op['created']:,}, updated {op['updated']:,}, dead letters {op['dead_lettered']:,}, "
        f"e-mails not exactly one Lead: {op['emails_not_exactly_one_lead']})"
    )
    print(f"           {op['by_endpoint']}")
    naive = row.get("per_event")
    if naive:
        print(
            f"per-event: {naive['api_calls']:>7,} API calls  {naive['wall_s']:>8.2f} s  "
            f"{n / naive['wall_s']:>9,.0f} events/s  (created {naive['created']:,}, updated {naive['updated']:,}, "
            f"failed {naive['failed']:,}, e-mails not exactly one Lead: {naive['emails_not_exactly_one_lead']})"
        )
        print(
            f"ratio    : {naive['api_calls'] / max(op['api_calls'], 1):,.0f}x fewer API calls, "
            f"{naive['wall_s'] / op['wall_s']:,.1f}x faster"
        )


if __name__ == "__main__":
    main()
