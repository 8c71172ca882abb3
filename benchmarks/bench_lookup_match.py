"""The e-mail look-up's match check, before and after it became a set look-up (issue: quadratic at 50,000 e-mails).

    .venv/bin/python benchmarks/bench_lookup_match.py --emails 50000

Seeds N Leads in the emulator, then times ``SalesforceWriter.lookup_leads`` for all N e-mails (SOQL ``IN`` chunks over
HTTPS plus the match check), and times the match check alone both ways on the same records: the wave-1 code tested
``email in wanted`` against a list (one scan per record found: quadratic), the code now tests a set.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from airflow_provider_rudder_sf.salesforce.client import SalesforceClient
from airflow_provider_rudder_sf.salesforce.settings import SalesforceSettings
from airflow_provider_rudder_sf.salesforce.writer import SalesforceWriter
from rudder_sf_emulator import start_emulator
from rudder_sf_emulator.synthetic import email_for


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--emails", type=int, default=50_000)
    args = parser.parse_args()
    emails = [email_for(i) for i in range(args.emails)]
    with tempfile.TemporaryDirectory() as folder, start_emulator(folder) as emulator:
        emulator.seed("Lead", [{"Email": e, "LastName": "L", "Company": "C"} for e in emails])
        settings = SalesforceSettings(
            username=emulator.username,
            password=emulator.password,
            security_token=emulator.security_token,
            login_url=emulator.base_url,
            ca_bundle=emulator.ca_path,
        )
        writer = SalesforceWriter(SalesforceClient(settings, api_reserve=0.0), lookup_strategy="in")  # IN chunks
        started = time.perf_counter()
        found = writer.lookup_leads(emails)
        lookup = time.perf_counter() - started
        records = [{"Email": e.upper()} for e in emails]  # what the queries return, in another case
    wanted_list = [e.lower() for e in emails]
    wanted_set = set(wanted_list)
    started = time.perf_counter()
    hits_set = sum(1 for r in records if str(r["Email"]).lower() in wanted_set)
    as_set = time.perf_counter() - started
    # The list check is timed on every 50th record (spread over the list, as real answers are) and scaled up.
    picked = records[::50]
    sample = len(picked)
    started = time.perf_counter()
    hits_list = sum(1 for r in picked if str(r["Email"]).lower() in wanted_list)
    as_list = (time.perf_counter() - started) * args.emails / sample
    assert hits_set == args.emails and hits_list == sample and len(found) == args.emails
    print(f"e-mails looked up:                 {args.emails:,} ({len(found):,} found)")
    print(f"lookup_leads over HTTPS, now:      {lookup:.2f} s wall")
    print(f"match check, list (wave 1):        {as_list:.2f} s (measured on {sample:,} records, scaled)")
    print(f"match check, set (now):            {as_set * 1000:.1f} ms")


if __name__ == "__main__":
    main()
