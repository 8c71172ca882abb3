"""Seed 100,000 Leads into the emulator and read them back; prints seconds (no assertions on time).

Run: ``.venv/bin/python benchmarks/bench_emulator.py [N]``
"""

from __future__ import annotations

import sys
import tempfile
import time

from rudder_sf_emulator import start_emulator


def main(n: int = 100_000) -> None:
    with tempfile.TemporaryDirectory() as data_dir, start_emulator(data_dir) as emu:
        records = [{"LastName": f"L{i}", "Company": "Acme", "Email": f"user{i}@example.com"} for i in range(n)]
        started = time.perf_counter()
        ids = emu.seed("Lead", records)
        print(f"seed {len(ids)} leads: {time.perf_counter() - started:.2f} s")

        sf = emu.simple_salesforce()

        started = time.perf_counter()
        count = sum(1 for _ in sf.query_all_iter("SELECT Id, Email FROM Lead"))
        elapsed = time.perf_counter() - started
        print(f"query all {count} leads ({(count + 1999) // 2000} pages): {elapsed:.2f} s")

        emails = [f"user{i}@example.com" for i in range(0, n, max(1, n // 10_000))][:10_000]
        started = time.perf_counter()
        found = 0
        for start in range(0, len(emails), 200):
            chunk = ", ".join(f"'{e}'" for e in emails[start : start + 200])
            found += sf.query(f"SELECT Id FROM Lead WHERE Email IN ({chunk})")["totalSize"]
        elapsed = time.perf_counter() - started
        print(
            f"look up {len(emails)} e-mails in {(len(emails) + 199) // 200} IN queries: {elapsed:.2f} s ({found} found)"
        )

        started = time.perf_counter()
        for start in range(0, 10_000, 200):
            sf.restful(
                "composite/sobjects",
                method="POST",
                json={
                    "records": [
                        {
                            "attributes": {"type": "Lead"},
                            "LastName": "N",
                            "Company": "C",
                            "Email": f"new{i}@example.com",
                        }
                        for i in range(start, start + 200)
                    ]
                },
            )
        print(f"create 10000 leads in 50 collection calls: {time.perf_counter() - started:.2f} s")
        print(f"api calls counted: {emu.counters()['api_calls']}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
